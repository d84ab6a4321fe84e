rule train:
    input:
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        checkpoint="results/models/{model}.pt",
        history="results/train/{model}/history.csv",
    log:
        "results/logs/train/{model}.log",
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    params:
        spec=job_spec("train", resume="results/train/{model}/resume.pt"),
    shell:
        "python -m lossland --threads {threads} train --spec {params.spec:q} > {log} 2>&1"
