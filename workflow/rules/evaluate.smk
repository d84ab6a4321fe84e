rule evaluate:
    """Loss and accuracy of a checkpoint on both splits."""
    input:
        checkpoint="results/models/{model}.pt",
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        json="results/metrics/{model}.json",
    log:
        "results/logs/evaluate/{model}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}.tsv"
    conda:
        ENV
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("evaluate"),
    params:
        **job_params("evaluate"),
    shell:
        "python -m lossland --threads {threads} evaluate --spec {params.spec:q} > {log} 2>&1"
