localrules:
    plot_interpolation,


rule interpolate:
    input:
        unpack(job_inputs("interpolation")),
    output:
        npz="results/interpolation/{pair}.npz",
        json="results/interpolation/{pair}.json",
    log:
        "results/logs/interpolation/{pair}/interpolate.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("interpolation"),
    params:
        **job_params("interpolation"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule plot_interpolation:
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
    conda:
        ENV
    params:
        **job_params("plot_interpolation"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"
