localrules:
    plot_interpolation,


rule interpolate:
    """The loss along the straight line between two checkpoints, on both splits."""
    input:
        unpack(job_inputs("interpolate")),
    output:
        npz=paths.INTERPOLATION,
        json=paths.INTERPOLATION_JSON,
    log:
        paths.log("interpolation/{pair}/interpolate"),
    benchmark:
        paths.benchmark("interpolation/{pair}/interpolate")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("interpolate"),
    params:
        **job_params("interpolate"),
        torch_threads=configured_threads("chunk"),
    shell:
        "python -m lossland --threads {params.torch_threads} interpolate --spec {params.spec:q} > {log} 2>&1"


rule plot_interpolation:
    """A pair's interpolation figure."""
    input:
        curve=paths.INTERPOLATION,
    output:
        png=report(
            paths.INTERPOLATION_FIGURE,
            caption="../report/interpolation.rst",
            category="interpolation",
            labels={"pair": "{pair}"},
        ),
    log:
        paths.log("interpolation/{pair}/plot"),
    benchmark:
        paths.benchmark("interpolation/{pair}/plot")
    conda:
        ENV
    params:
        **job_params("plot_interpolation"),
    shell:
        "python -m lossland --threads 1 plot_interpolation --spec {params.spec:q} > {log} 2>&1"
