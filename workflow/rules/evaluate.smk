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
    shell:
        job_command("evaluate")
