localrules:
    sweep_table,
    ablation,


rule sweep_train:
    """One run of the Net sweep trained."""
    input:
        train=paths.DATA.format(split="train"),
        test=paths.DATA.format(split="test"),
    output:
        checkpoint=paths.SWEEP_CHECKPOINT,
        history=paths.SWEEP_HISTORY,
    log:
        paths.log("sweep/{run}"),
    benchmark:
        paths.benchmark("sweep/{run}")
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("sweep_train"),
    params:
        **job_params("sweep_train", resume=paths.SWEEP_RESUME),
    shell:
        job_command("sweep_train")


checkpoint sweep_table:
    """The Net sweep's tables and heat maps."""
    input:
        **PLAN.inputs("sweep_table", {}),
    output:
        table=report(paths.SWEEP_TABLE, caption="../report/sweep_table.rst", category="sweep"),
        markdown=expand(paths.SWEEP_TABLE_MD, lr=PLAN.sweep_lrs),
        heatmaps=report(
            expand(paths.SWEEP_HEATMAP, lr=PLAN.sweep_lrs),
            caption="../report/sweep_heatmap.rst",
            category="sweep",
        ),
    log:
        paths.log("sweep/table"),
    benchmark:
        paths.benchmark("sweep/table")
    conda:
        ENV
    params:
        **job_params("sweep_table"),
    shell:
        job_command("sweep_table")


rule ablation:
    """The augmentation ablation table of the sweep."""
    input:
        table=paths.SWEEP_TABLE,
        augmented=augmented_history,
    output:
        md=report(paths.ABLATION, caption="../report/ablation.rst", category="sweep"),
    log:
        paths.log("sweep/ablation"),
    benchmark:
        paths.benchmark("sweep/ablation")
    conda:
        ENV
    params:
        **job_params("ablation"),
    shell:
        job_command("ablation")
