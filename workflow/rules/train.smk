rule train:
    input:
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        checkpoint="results/models/{model}.pt",
        history="results/train/{model}/history.csv",
    params:
        settings=settings_json,
        resume="results/train/{model}/resume.pt",
    log:
        "results/logs/train/{model}.log",
    threads: config["threads"]["train"]
    conda:
        ENV
    shell:
        "python -m lossland --threads {threads} train --model {wildcards.model} --settings {params.settings:q}"
        " --train {input.train} --test {input.test} --checkpoint {output.checkpoint}"
        " --history {output.history} --resume {params.resume} > {log} 2>&1"
