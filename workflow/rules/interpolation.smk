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
    shell:
        job_command("interpolate")


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
        job_command("plot_interpolation")
