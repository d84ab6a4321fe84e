localrules:
    eigen_map,
    plot_eigen,
    geometry_table,


rule hessian:
    input:
        checkpoint="results/models/{model}.pt",
        data=f"results/data/{config['landscape']['split']}.pt",
    output:
        "results/geometry/{model}/hessian.json",
    log:
        "results/logs/geometry/{model}/hessian.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **geometry_resources(
            lambda: HVP_EVALUATIONS * (EIGSH_PRODUCTS + config["geometry"]["probes"]) * config["geometry"]["repeats"]
        ),
    params:
        geometry=geometry_json("hessian"),
    shell:
        "python -m lossland --threads {threads} hessian --checkpoint {input.checkpoint} --data {input.data}"
        " --geometry {params.geometry:q} --out {output} > {log} 2>&1"


rule eigen_chunk:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/landscape/{model}/directions.pt",
        data=f"results/data/{config['landscape']['split']}.pt",
    output:
        "results/geometry/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/geometry/{model}/chunk{chunk}.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **geometry_resources(
            lambda: HVP_EVALUATIONS
            * EIGSH_PRODUCTS
            * math.ceil(config["geometry"]["grid"][2] ** 2 / config["geometry"]["chunks"])
        ),
    params:
        geometry=geometry_json("eigen"),
    shell:
        "python -m lossland --threads {threads} eigen-chunk --checkpoint {input.checkpoint}"
        " --directions {input.directions} --data {input.data} --geometry {params.geometry:q} --chunk {wildcards.chunk}"
        " --out {output} > {log} 2>&1"


rule eigen_map:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/landscape/{model}/directions.pt",
        chunks=lambda wc: expand(
            "results/geometry/{model}/chunks/{chunk}.csv", model=wc.model, chunk=range(config["geometry"]["chunks"])
        ),
    output:
        npz="results/geometry/{model}/eigen.npz",
        json="results/geometry/{model}/eigen.json",
    log:
        "results/logs/geometry/{model}/eigen_map.log",
    conda:
        ENV
    params:
        geometry=geometry_json("eigen"),
    shell:
        "python -m lossland --threads 1 eigen-map --checkpoint {input.checkpoint} --directions {input.directions}"
        " --geometry {params.geometry:q} --chunks {input.chunks} --npz {output.npz} --json {output.json} > {log} 2>&1"


rule plot_eigen:
    input:
        map="results/geometry/{model}/eigen.npz",
        surface="results/landscape/{model}/surface.npz",
    output:
        report(
            "results/geometry/{model}_eigen.png",
            caption="../report/eigen.rst",
            category="geometry",
            labels={"model": "{model}", "figure": "eigenvalue ratio"},
        ),
    log:
        "results/logs/geometry/{model}/plot.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 plot-eigen --map {input.map} --surface {input.surface}"
        " --model {wildcards.model} --out {output} > {log} 2>&1"


rule flatness:
    input:
        checkpoint="results/models/{model}.pt",
        data=f"results/data/{config['landscape']['split']}.pt",
    output:
        npz="results/geometry/{model}/flatness.npz",
        json="results/geometry/{model}/flatness.json",
    log:
        "results/logs/geometry/{model}/flatness.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **geometry_resources(lambda: config["geometry"]["directions"] * config["geometry"]["line"][2]),
    params:
        geometry=geometry_json("flatness"),
        options=json.dumps(config["landscape"]["directions"], sort_keys=True),
    shell:
        "python -m lossland --threads {threads} flatness --checkpoint {input.checkpoint} --data {input.data}"
        " --geometry {params.geometry:q} --options {params.options:q} --npz {output.npz} --json {output.json}"
        " > {log} 2>&1"


rule geometry_table:
    input:
        hessians=expand("results/geometry/{model}/hessian.json", model=MODELS),
        flatness=expand("results/geometry/{model}/flatness.json", model=MODELS),
        metrics=expand("results/metrics/{model}.json", model=MODELS),
    output:
        csv=report("results/geometry.csv", caption="../report/geometry.rst", category="geometry"),
        md="results/geometry.md",
        figure=report(
            "results/figures/geometry.png",
            caption="../report/geometry_figure.rst",
            category="geometry",
            labels={"model": "all", "figure": "geometry against depth"},
        ),
    log:
        "results/logs/geometry/table.log",
    conda:
        ENV
    params:
        models=MODELS,
    shell:
        "python -m lossland --threads 1 geometry-table --models {params.models} --hessians {input.hessians}"
        " --flatness {input.flatness} --metrics {input.metrics} --csv {output.csv} --md {output.md}"
        " --figure {output.figure} > {log} 2>&1"
