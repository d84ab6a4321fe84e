localrules:
    surface,
    plot_landscape,
    plot_line,
    export_paraview,


rule directions:
    """A plane's two seeded random directions (Li et al.'s filter-normalized)."""
    input:
        checkpoint=paths.CHECKPOINT,
    output:
        directions=paths.fill(paths.DIRECTIONS, plane="landscape"),
    log:
        paths.log("directions/{model}"),
    benchmark:
        paths.benchmark("directions/{model}")
    group:
        chunk_group("landscape")
    conda:
        ENV
    params:
        **job_params("directions"),
    shell:
        job_command("directions")


rule landscape_chunk:
    """The loss and accuracy at one chunk of a plane's grid points."""
    input:
        unpack(job_inputs("landscape_chunk")),
    output:
        csv=paths.CHUNK,
    log:
        paths.log("{plane}/{model}/chunk{chunk}"),
    benchmark:
        paths.benchmark("{plane}/{model}/chunk{chunk}")
    group:
        chunk_group()
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("landscape_chunk"),
    params:
        **job_params("landscape_chunk"),
    shell:
        job_command("landscape_chunk")


rule surface:
    """A plane's surface, merged from its chunks."""
    input:
        unpack(job_inputs("surface")),
    output:
        npz=paths.SURFACE,
        json=paths.SURFACE_JSON,
    log:
        paths.log("{plane}/{model}/surface"),
    benchmark:
        paths.benchmark("{plane}/{model}/surface")
    conda:
        ENV
    params:
        **job_params("surface"),
    shell:
        job_command("surface")


rule plot_landscape:
    """A model's loss-surface contour figure."""
    input:
        surface=paths.fill(paths.SURFACE, plane="landscape"),
        metrics=paths.METRICS,
    output:
        png=report(
            paths.LANDSCAPE_FIGURE,
            caption="../report/landscape.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "loss surface"},
        ),
    log:
        paths.log("landscape/{model}/plot"),
    benchmark:
        paths.benchmark("landscape/{model}/plot")
    conda:
        ENV
    params:
        **job_params("plot_landscape"),
    shell:
        job_command("plot_landscape")


rule line:
    """A 1-D curve along the first direction, on both splits."""
    input:
        unpack(job_inputs("line")),
    output:
        npz=paths.LINE,
        json=paths.LINE_JSON,
    log:
        paths.log("landscape/{model}/line"),
    benchmark:
        paths.benchmark("landscape/{model}/line")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("line"),
    params:
        **job_params("line"),
    shell:
        job_command("line")


rule plot_line:
    """A model's 1-D curve figure."""
    input:
        curve=paths.LINE,
    output:
        png=report(
            paths.LINE_FIGURE,
            caption="../report/line.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "1-D curve"},
        ),
    log:
        paths.log("landscape/{model}/plot_line"),
    benchmark:
        paths.benchmark("landscape/{model}/plot_line")
    conda:
        ENV
    params:
        **job_params("plot_line"),
    shell:
        job_command("plot_line")


rule export_paraview:
    """A model's surface as a ParaView file (.vts)."""
    input:
        surface=paths.fill(paths.SURFACE, plane="landscape"),
    output:
        vts=paths.PARAVIEW,
    log:
        paths.log("landscape/{model}/paraview"),
    benchmark:
        paths.benchmark("landscape/{model}/paraview")
    conda:
        ENV
    params:
        **job_params("export_paraview"),
    shell:
        job_command("export_paraview")
