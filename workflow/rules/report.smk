localrules:
    report,
    page,


rule report:
    """The summary table and figures across models."""
    input:
        **PLAN.inputs("report", {}),
    output:
        summary_csv=report("results/summary.csv", caption="../report/summary.rst", category="training"),
        summary_md="results/summary.md",
        curves=report("results/figures/training_curves.png", caption="../report/training_curves.rst", category="training"),
        landscapes=report(
            "results/figures/landscapes.png",
            caption="../report/landscapes.rst",
            category="landscapes",
            labels={"model": "all", "figure": "contours on one scale"},
        ),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        ENV
    params:
        **job_params("report"),
    shell:
        "python -m lossland --threads 1 report --spec {params.spec:q} > {log} 2>&1"


rule page:
    """The interactive HTML page of every model's surface."""
    input:
        **PLAN.inputs("page", {}),
    output:
        html=report(
            "results/landscapes.html",
            caption="../report/page.rst",
            category="landscapes",
            labels={"model": "all", "figure": "interactive page (3-D, rotatable)"},
        ),
    log:
        "results/logs/page.log",
    benchmark:
        "results/benchmarks/page.tsv"
    conda:
        ENV
    params:
        **job_params("page"),
    shell:
        "python -m lossland --threads 1 page --spec {params.spec:q} > {log} 2>&1"
