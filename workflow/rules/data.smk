localrules:
    prepare_data,  # may download: on the submitting host, not on a compute node that may be offline


rule prepare_data:
    """One split of the data set as a tensor file."""
    output:
        split=paths.DATA,
    log:
        paths.log("data/{split}"),
    benchmark:
        paths.benchmark("data/{split}")
    conda:
        ENV
    threads: config["threads"]["data"]
    params:
        **job_params("prepare_data"),
    shell:
        job_command("prepare_data")
