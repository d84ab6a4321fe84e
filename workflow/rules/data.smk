localrules:
    prepare_data,  # may download: on the submitting host, not on a compute node that may be offline


rule prepare_data:
    """One split of the data set as a tensor file."""
    output:
        split="results/data/{split}.pt",
    log:
        "results/logs/data/{split}.log",
    benchmark:
        "results/benchmarks/data/{split}.tsv"
    conda:
        ENV
    threads: config["threads"]["data"]
    params:
        **job_params("prepare_data"),
    shell:
        "python -m lossland --threads {threads} prepare_data --spec {params.spec:q} > {log} 2>&1"
