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
        **job_resources("sweep_train"),
    params:
        **job_params("sweep_train", resume="results/sweep/runs/{run}/resume.pt"),
    shell:
        "python -m lossland --threads {threads} train --spec {params.spec:q} > {log} 2>&1"


checkpoint sweep_table:
    input:
        **PLAN.inputs("sweep_table", {}),
    output:
        table=report("results/sweep/table.csv", caption="../report/sweep_table.rst", category="sweep"),
        markdown=expand("results/sweep/table_lr{lr}.md", lr=PLAN.sweep_lrs),
        heatmaps=report(
            expand("results/sweep/heatmap_lr{lr}.png", lr=PLAN.sweep_lrs),
            caption="../report/sweep_heatmap.rst",
            category="sweep",
        ),
    log:
        "results/logs/sweep/table.log",
    conda:
        ENV
    params:
        **job_params("sweep_table"),
    shell:
        "python -m lossland table --spec {params.spec:q} > {log} 2>&1"


rule ablation:
    input:
        table="results/sweep/table.csv",
        augmented=augmented_history,
    output:
        md=report("results/ablation/augmentation.md", caption="../report/ablation.rst", category="sweep"),
    log:
        "results/logs/sweep/ablation.log",
    conda:
        ENV
    params:
        **job_params("ablation"),
    shell:
        "python -m lossland table --spec {params.spec:q} > {log} 2>&1"
