localrules:
    prepare_data,  # may download: on the submitting host, not on a compute node that may be offline


rule prepare_data:
    output:
        split="results/data/{split}.pt",
    log:
        "results/logs/data/{split}.log",
    conda:
        ENV
    threads: config["threads"]["data"]
    params:
        **job_params("data"),
    shell:
        "python -m lossland --threads {threads} prepare-data --spec {params.spec:q} > {log} 2>&1"
