localrules:
    report,


rule report:
    input:
        **report_targets(),
    output:
        summary_csv="results/summary.csv",
        summary_md="results/summary.md",
        curves="results/figures/training_curves.png",
        landscapes="results/figures/landscapes.png",
    params:
        models=MODELS,
    log:
        "results/logs/report.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 report --models {params.models} --metrics {input.metrics}"
        " --histories {input.histories} --surfaces {input.surfaces} --summary-csv {output.summary_csv}"
        " --summary-md {output.summary_md} --curves {output.curves} --landscapes {output.landscapes} > {log} 2>&1"
