localrules:
    report,
    page,


rule report:
    """The summary table and figures across models."""
    input:
        **PLAN.inputs("report", {}),
    output:
        summary_csv=report(paths.SUMMARY, caption="../report/summary.rst", category="training"),
        summary_md=paths.SUMMARY_MD,
        curves=report(paths.TRAINING_CURVES, caption="../report/training_curves.rst", category="training"),
        landscapes=report(
            paths.LANDSCAPES_FIGURE,
            caption="../report/landscapes.rst",
            category="landscapes",
            labels={"model": "all", "figure": "contours on one scale"},
        ),
    log:
        paths.log("report"),
    benchmark:
        paths.benchmark("report")
    conda:
        ENV
    params:
        **job_params("report"),
    shell:
        job_command("report")


rule page:
    """The interactive HTML page of every model's surface and connectivity."""
    input:
        **PLAN.inputs("page", {}),
    output:
        html=report(
            paths.PAGE,
            caption="../report/page.rst",
            category="landscapes",
            labels={"model": "all", "figure": "interactive page (3-D, rotatable)"},
        ),
    log:
        paths.log("page"),
    benchmark:
        paths.benchmark("page")
    conda:
        ENV
    params:
        **job_params("page"),
    shell:
        job_command("page")
