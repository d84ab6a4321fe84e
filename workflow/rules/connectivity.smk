localrules:
    connectivity_table,


rule connectivity:
    """The loss between two training seeds, straight and after weight matching, on both splits."""
    input:
        unpack(job_inputs("connectivity")),
    output:
        npz="results/connectivity/{model}/{seeds}.npz",
        json="results/connectivity/{model}/{seeds}.json",
    log:
        "results/logs/connectivity/{model}/{seeds}.log",
    benchmark:
        "results/benchmarks/connectivity/{model}/{seeds}.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("connectivity"),
    params:
        **job_params("connectivity"),
    shell:
        "python -m lossland --threads {threads} connectivity --spec {params.spec:q} > {log} 2>&1"


rule connectivity_table:
    """The barriers between seeds of every model, as a table and a figure."""
    input:
        **PLAN.inputs("connectivity_table", {}),
    output:
        csv="results/connectivity.csv",
        md=report("results/connectivity.md", caption="../report/connectivity.rst", category="connectivity"),
        png=report(
            "results/figures/connectivity.png",
            caption="../report/connectivity.rst",
            category="connectivity",
            labels={"model": "all", "figure": "mode connectivity"},
        ),
    log:
        "results/logs/connectivity/table.log",
    benchmark:
        "results/benchmarks/connectivity/table.tsv"
    conda:
        ENV
    params:
        **job_params("connectivity_table"),
    shell:
        "python -m lossland --threads 1 connectivity_table --spec {params.spec:q} > {log} 2>&1"
