localrules:
    sweep_table,
    ablation,


rule sweep_train:
    """One run of the Net sweep trained."""
    input:
        train="results/data/train.pt",
        test="results/data/test.pt",
    output:
        checkpoint="results/sweep/runs/{run}/model.pt",
        history="results/sweep/runs/{run}/history.csv",
    log:
        "results/logs/sweep/{run}.log",
    benchmark:
        "results/benchmarks/sweep/{run}.tsv"
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("sweep_train"),
    params:
        **job_params("sweep_train", resume="results/sweep/runs/{run}/resume.pt"),
    shell:
        "python -m lossland --threads {threads} sweep_train --spec {params.spec:q} > {log} 2>&1"


checkpoint sweep_table:
    """The Net sweep's tables and heat maps."""
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
    benchmark:
        "results/benchmarks/sweep/table.tsv"
    conda:
        ENV
    params:
        **job_params("sweep_table"),
    shell:
        "python -m lossland sweep_table --spec {params.spec:q} > {log} 2>&1"


rule ablation:
    """The augmentation ablation table of the sweep."""
    input:
        table="results/sweep/table.csv",
        augmented=augmented_history,
    output:
        md=report("results/ablation/augmentation.md", caption="../report/ablation.rst", category="sweep"),
    log:
        "results/logs/sweep/ablation.log",
    benchmark:
        "results/benchmarks/sweep/ablation.tsv"
    conda:
        ENV
    params:
        **job_params("ablation"),
    shell:
        "python -m lossland ablation --spec {params.spec:q} > {log} 2>&1"
