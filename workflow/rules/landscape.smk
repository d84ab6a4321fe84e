localrules:
    surface,
    plot_landscape,
    plot_line,
    export_paraview,


rule directions:
    """A plane's two seeded random directions (Li et al.'s filter-normalized)."""
    input:
        checkpoint="results/models/{model}.pt",
    output:
        directions="results/landscape/{model}/directions.pt",
    log:
        "results/logs/directions/{model}.log",
    benchmark:
        "results/benchmarks/directions/{model}.tsv"
    group:
        chunk_group("landscape")
    conda:
        ENV
    params:
        **job_params("directions"),
    shell:
        "python -m lossland --threads 1 --device cpu directions --spec {params.spec:q} > {log} 2>&1"


rule landscape_chunk:
    """The loss and accuracy at one chunk of a plane's grid points."""
    input:
        unpack(job_inputs("landscape_chunk")),
    output:
        csv="results/{plane}/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/{plane}/{model}/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/{plane}/{model}/chunk{chunk}.tsv"
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
        "python -m lossland --threads {threads} landscape_chunk --spec {params.spec:q} > {log} 2>&1"


rule surface:
    """A plane's surface, merged from its chunks."""
    input:
        unpack(job_inputs("surface")),
    output:
        npz="results/{plane}/{model}/surface.npz",
        json="results/{plane}/{model}/surface.json",
    log:
        "results/logs/{plane}/{model}/surface.log",
    benchmark:
        "results/benchmarks/{plane}/{model}/surface.tsv"
    conda:
        ENV
    params:
        **job_params("surface"),
    shell:
        "python -m lossland --threads 1 surface --spec {params.spec:q} > {log} 2>&1"


rule plot_landscape:
    """A model's loss-surface contour figure."""
    input:
        surface="results/landscape/{model}/surface.npz",
        metrics="results/metrics/{model}.json",
    output:
        png=report(
            "results/landscape/{model}.png",
            caption="../report/landscape.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "loss surface"},
        ),
    log:
        "results/logs/landscape/{model}/plot.log",
    benchmark:
        "results/benchmarks/landscape/{model}/plot.tsv"
    conda:
        ENV
    params:
        **job_params("plot_landscape"),
    shell:
        "python -m lossland --threads 1 plot_landscape --spec {params.spec:q} > {log} 2>&1"


rule line:
    """A 1-D curve along the first direction, on both splits."""
    input:
        unpack(job_inputs("line")),
    output:
        npz="results/landscape/{model}/line.npz",
        json="results/landscape/{model}/line.json",
    log:
        "results/logs/landscape/{model}/line.log",
    benchmark:
        "results/benchmarks/landscape/{model}/line.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("line"),
    params:
        **job_params("line"),
    shell:
        "python -m lossland --threads {threads} line --spec {params.spec:q} > {log} 2>&1"


rule plot_line:
    """A model's 1-D curve figure."""
    input:
        curve="results/landscape/{model}/line.npz",
    output:
        png=report(
            "results/landscape/{model}_1d.png",
            caption="../report/line.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "1-D curve"},
        ),
    log:
        "results/logs/landscape/{model}/plot_line.log",
    benchmark:
        "results/benchmarks/landscape/{model}/plot_line.tsv"
    conda:
        ENV
    params:
        **job_params("plot_line"),
    shell:
        "python -m lossland --threads 1 plot_line --spec {params.spec:q} > {log} 2>&1"


rule export_paraview:
    """A model's surface as a ParaView file (.vts)."""
    input:
        surface="results/landscape/{model}/surface.npz",
    output:
        vts="results/landscape/{model}.vts",
    log:
        "results/logs/landscape/{model}/paraview.log",
    benchmark:
        "results/benchmarks/landscape/{model}/paraview.tsv"
    conda:
        ENV
    params:
        **job_params("export_paraview"),
    shell:
        "python -m lossland --threads 1 export_paraview --spec {params.spec:q} > {log} 2>&1"
