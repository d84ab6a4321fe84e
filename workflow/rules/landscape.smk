localrules:
    surface,
    plot_landscape,
    plot_line,
    export_paraview,


rule directions:
    input:
        checkpoint="results/models/{model}.pt",
    output:
        directions="results/landscape/{model}/directions.pt",
    log:
        "results/logs/directions/{model}.log",
    group:
        chunk_group("landscape")
    conda:
        ENV
    params:
        **job_params("directions"),
    shell:
        "python -m lossland --threads 1 --device cpu directions --spec {params.spec:q} > {log} 2>&1"


rule landscape_chunk:
    input:
        unpack(job_inputs("chunk")),
    output:
        csv="results/{plane}/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/{plane}/{model}/chunk{chunk}.log",
    group:
        chunk_group()
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("chunk"),
    params:
        **job_params("chunk"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule surface:
    input:
        unpack(job_inputs("surface")),
    output:
        npz="results/{plane}/{model}/surface.npz",
        json="results/{plane}/{model}/surface.json",
    log:
        "results/logs/{plane}/{model}/surface.log",
    conda:
        ENV
    params:
        **job_params("surface"),
    shell:
        "python -m lossland --threads 1 merge --spec {params.spec:q} > {log} 2>&1"


rule plot_landscape:
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
    conda:
        ENV
    params:
        **job_params("plot_landscape"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"


rule line:
    input:
        unpack(job_inputs("line")),
    output:
        npz="results/landscape/{model}/line.npz",
        json="results/landscape/{model}/line.json",
    log:
        "results/logs/landscape/{model}/line.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("line"),
    params:
        **job_params("line"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule plot_line:
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
    conda:
        ENV
    params:
        **job_params("plot_line"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"


rule export_paraview:
    input:
        surface="results/landscape/{model}/surface.npz",
    output:
        vts="results/landscape/{model}.vts",
    log:
        "results/logs/landscape/{model}/paraview.log",
    conda:
        ENV
    params:
        **job_params("paraview"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"
