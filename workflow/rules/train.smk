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
        **train_resources(lambda wc: (wc.model, train_settings(config, wc.model))),
    params:
        model="{model}",
        settings=settings_json,
        resume="results/train/{model}/resume.pt",
    shell:
        TRAIN_SHELL
