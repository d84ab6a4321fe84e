localrules:
    eigen_map,
    plot_eigen,
    geometry_table,
    density_figure,
    plot_hessian_plane,


rule hessian:
    """The Hessian's top eigenvalues, lowest eigenvalue and trace, on disjoint image subsets."""
    input:
        unpack(job_inputs("hessian")),
    output:
        json="results/geometry/{model}/hessian.json",
    log:
        "results/logs/geometry/{model}/hessian.log",
    benchmark:
        "results/benchmarks/geometry/{model}/hessian.tsv"
    # the slowest job of a small run (a deep PlainNet's ill-conditioned Hessian): first in line once its checkpoint
    # exists, so that it runs beside the other jobs instead of alone at the end
    priority: 1
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("hessian"),
    params:
        **job_params("hessian"),
    shell:
        "python -m lossland --threads {threads} hessian --spec {params.spec:q} > {log} 2>&1"


rule eigen_chunk:
    """The Hessian's extreme eigenvalues at one chunk of a plane's grid points."""
    input:
        unpack(job_inputs("eigen_chunk")),
    output:
        csv="results/geometry/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/geometry/{model}/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/geometry/{model}/chunk{chunk}.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("eigen_chunk"),
    params:
        **job_params("eigen_chunk"),
    shell:
        "python -m lossland --threads {threads} eigen_chunk --spec {params.spec:q} > {log} 2>&1"


rule eigen_map:
    """An eigenvalue-ratio map, merged from its chunks."""
    input:
        unpack(job_inputs("eigen_map")),
    output:
        npz="results/geometry/{model}/eigen.npz",
        json="results/geometry/{model}/eigen.json",
    log:
        "results/logs/geometry/{model}/eigen_map.log",
    benchmark:
        "results/benchmarks/geometry/{model}/eigen_map.tsv"
    conda:
        ENV
    params:
        **job_params("eigen_map"),
    shell:
        "python -m lossland --threads 1 eigen_map --spec {params.spec:q} > {log} 2>&1"


rule plot_eigen:
    """A model's eigenvalue-ratio map figure."""
    input:
        map="results/geometry/{model}/eigen.npz",
        surface="results/landscape/{model}/surface.npz",
    output:
        png=report(
            "results/geometry/{model}_eigen.png",
            caption="../report/eigen.rst",
            category="geometry",
            labels={"model": "{model}", "figure": "eigenvalue ratio"},
        ),
    log:
        "results/logs/geometry/{model}/plot.log",
    benchmark:
        "results/benchmarks/geometry/{model}/plot.tsv"
    conda:
        ENV
    params:
        **job_params("plot_eigen"),
    shell:
        "python -m lossland --threads 1 plot_eigen --spec {params.spec:q} > {log} 2>&1"


rule flatness:
    """Flatness along random directions and the sharpness of the trained point."""
    input:
        unpack(job_inputs("flatness")),
    output:
        npz="results/geometry/{model}/flatness.npz",
        json="results/geometry/{model}/flatness.json",
    log:
        "results/logs/geometry/{model}/flatness.log",
    benchmark:
        "results/benchmarks/geometry/{model}/flatness.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("flatness"),
    params:
        **job_params("flatness"),
    shell:
        "python -m lossland --threads {threads} flatness --spec {params.spec:q} > {log} 2>&1"


rule hessian_directions:
    """The plane of the Hessian's top two eigenvectors."""
    input:
        unpack(job_inputs("hessian_directions")),
    output:
        directions="results/hessian/{model}/directions.pt",
    log:
        "results/logs/hessian/{model}/directions.log",
    benchmark:
        "results/benchmarks/hessian/{model}/directions.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("hessian_directions"),
    params:
        **job_params("hessian_directions"),
    shell:
        "python -m lossland --threads {threads} hessian_directions --spec {params.spec:q} > {log} 2>&1"


rule plot_hessian_plane:
    """A model's random plane beside its Hessian plane."""
    input:
        random="results/landscape/{model}/surface.npz",
        hessian="results/hessian/{model}/surface.npz",
        directions="results/hessian/{model}/directions.pt",
    output:
        png=report(
            "results/hessian/{model}.png",
            caption="../report/hessian_plane.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "random and Hessian planes"},
        ),
    log:
        "results/logs/hessian/{model}/plot.log",
    benchmark:
        "results/benchmarks/hessian/{model}/plot.tsv"
    conda:
        ENV
    params:
        **job_params("plot_hessian_plane"),
    shell:
        "python -m lossland --threads 1 plot_hessian_plane --spec {params.spec:q} > {log} 2>&1"


rule density:
    """The Hessian's eigenvalue density (stochastic Lanczos quadrature)."""
    input:
        unpack(job_inputs("density")),
    output:
        npz="results/geometry/{model}/density.npz",
        json="results/geometry/{model}/density.json",
    log:
        "results/logs/geometry/{model}/density.log",
    benchmark:
        "results/benchmarks/geometry/{model}/density.tsv"
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("density"),
    params:
        **job_params("density"),
    shell:
        "python -m lossland --threads {threads} density --spec {params.spec:q} > {log} 2>&1"


rule density_figure:
    """The eigenvalue densities of every model in one figure."""
    input:
        **PLAN.inputs("density_figure", {}),
    output:
        png=report(
            "results/figures/density.png",
            caption="../report/density.rst",
            category="geometry",
            labels={"model": "all", "figure": "Hessian eigenvalue density"},
        ),
    log:
        "results/logs/geometry/density.log",
    benchmark:
        "results/benchmarks/geometry/density.tsv"
    conda:
        ENV
    params:
        **job_params("density_figure"),
    shell:
        "python -m lossland --threads 1 density_figure --spec {params.spec:q} > {log} 2>&1"


rule geometry_table:
    """The geometry table, its figure and the claims across models."""
    input:
        **PLAN.inputs("geometry_table", {}),
    output:
        csv=report("results/geometry.csv", caption="../report/geometry.rst", category="geometry"),
        md="results/geometry.md",
        figure=report(
            "results/figures/geometry.png",
            caption="../report/geometry_figure.rst",
            category="geometry",
            labels={"model": "all", "figure": "geometry against depth"},
        ),
        claims_csv="results/claims.csv",
        claims_md=report("results/claims.md", caption="../report/claims.rst", category="geometry"),
    log:
        "results/logs/geometry/table.log",
    benchmark:
        "results/benchmarks/geometry/table.tsv"
    conda:
        ENV
    params:
        **job_params("geometry_table"),
    shell:
        "python -m lossland --threads 1 geometry_table --spec {params.spec:q} > {log} 2>&1"
