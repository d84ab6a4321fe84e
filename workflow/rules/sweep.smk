localrules:
    sweep_table,
    ablation,


rule sweep_train:
    input:
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        checkpoint="results/sweep/runs/{run}/model.pt",
        history="results/sweep/runs/{run}/history.csv",
    log:
        "results/logs/sweep/{run}.log",
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **train_resources(lambda wc: (config["sweep"]["model"], run_settings(config, wc.run))),
    params:
        model=config["sweep"]["model"],
        settings=lambda wc: json.dumps(run_settings(config, wc.run), sort_keys=True),
        resume="results/sweep/runs/{run}/resume.pt",
    shell:
        TRAIN_SHELL


checkpoint sweep_table:
    input:
        expand("results/sweep/runs/{run}/history.csv", run=SWEEP_RUNS),
    output:
        table=report("results/sweep/table.csv", caption="../report/sweep_table.rst", category="sweep"),
        markdown=expand("results/sweep/table_lr{lr}.md", lr=SWEEP_LRS),
        heatmaps=report(
            expand("results/sweep/heatmap_lr{lr}.png", lr=SWEEP_LRS),
            caption="../report/sweep_heatmap.rst",
            category="sweep",
        ),
    log:
        "results/logs/sweep/table.log",
    conda:
        ENV
    params:
        runs=SWEEP_RUNS,
        epochs=config["sweep"]["epochs"],
        lrs=SWEEP_LRS,
        scheduled="--scheduled" if SWEEP_SCHEDULED else "",
    shell:
        "python -m lossland sweep-table --runs {params.runs} --histories {input} --epochs {params.epochs}"
        " --lrs {params.lrs}"
        " {params.scheduled} --table {output.table} --markdown {output.markdown} --heatmaps {output.heatmaps}"
        " > {log} 2>&1"


rule ablation:
    input:
        table="results/sweep/table.csv",
        augmented=augmented_history,
    output:
        report("results/ablation/augmentation.md", caption="../report/ablation.rst", category="sweep"),
    log:
        "results/logs/sweep/ablation.log",
    conda:
        ENV
    params:
        baseline=lambda wc: json.dumps(config["sweep"]["baseline"]),
        images=json.dumps(sweep_images(config)),
    shell:
        "python -m lossland ablation --table {input.table} --augmented {input.augmented}"
        " --baseline {params.baseline:q} --images {params.images:q} --out {output} > {log} 2>&1"
