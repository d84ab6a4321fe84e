localrules:
    report,


rule report:
    input:
        **report_targets(),
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
    conda:
        ENV
    params:
        models=MODELS,
    shell:
        "python -m lossland --threads 1 report --models {params.models} --metrics {input.metrics}"
        " --histories {input.histories} --surfaces {input.surfaces} --summary-csv {output.summary_csv}"
        " --summary-md {output.summary_md} --curves {output.curves} --landscapes {output.landscapes} > {log} 2>&1"
