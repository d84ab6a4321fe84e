rule evaluate:
    """Loss and accuracy of a checkpoint on both splits."""
    input:
        checkpoint=paths.CHECKPOINT,
        train=paths.DATA.format(split="train"),
        test=paths.DATA.format(split="test"),
    output:
        json=paths.METRICS,
    log:
        paths.log("evaluate/{model}"),
    benchmark:
        paths.benchmark("evaluate/{model}")
    conda:
        ENV
    threads: config["threads"]["evaluate"]
    resources:
        **job_resources("evaluate"),
    params:
        **job_params("evaluate"),
        torch_threads=configured_threads("evaluate"),
    shell:
        "python -m lossland --threads {params.torch_threads} evaluate --spec {params.spec:q} > {log} 2>&1"
