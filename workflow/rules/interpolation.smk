localrules:
    plot_interpolation,


rule interpolate:
    """The loss along the straight line between two checkpoints, on both splits."""
    input:
        unpack(job_inputs("interpolate")),
    output:
        npz="results/interpolation/{pair}.npz",
        json="results/interpolation/{pair}.json",
    log:
        "results/logs/interpolation/{pair}/interpolate.log",
    benchmark:
        "results/benchmarks/interpolation/{pair}/interpolate.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("interpolate"),
    params:
        **job_params("interpolate"),
    shell:
        "python -m lossland --threads {threads} interpolate --spec {params.spec:q} > {log} 2>&1"


rule plot_interpolation:
    """A pair's interpolation figure."""
    input:
        curve="results/interpolation/{pair}.npz",
    output:
        png=report(
            "results/interpolation/{pair}.png",
            caption="../report/interpolation.rst",
            category="interpolation",
            labels={"pair": "{pair}"},
        ),
    log:
        "results/logs/interpolation/{pair}/plot.log",
    benchmark:
        "results/benchmarks/interpolation/{pair}/plot.tsv"
    conda:
        ENV
    params:
        **job_params("plot_interpolation"),
    shell:
        "python -m lossland --threads 1 plot_interpolation --spec {params.spec:q} > {log} 2>&1"
