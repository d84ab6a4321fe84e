rule evaluate:
    input:
        checkpoint="results/models/{model}.pt",
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        "results/metrics/{model}.json",
    log:
        "results/logs/evaluate/{model}.log",
    conda:
        ENV
    threads: config["threads"]["evaluate"]
    resources:
        **gpu_resources(),
    params:
        batch_size=lambda wc: train_settings(config, wc.model)["eval_batch_size"],
    shell:
        "python -m lossland --threads {threads} evaluate --checkpoint {input.checkpoint} --train {input.train}"
        " --test {input.test} --batch-size {params.batch_size} --out {output} > {log} 2>&1"
