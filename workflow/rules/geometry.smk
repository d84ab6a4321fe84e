localrules:
    eigen_map,
    plot_eigen,
    geometry_table,
    density_figure,
    plot_hessian_plane,


rule hessian:
    input:
        unpack(job_inputs("hessian")),
    output:
        json="results/geometry/{model}/hessian.json",
    log:
        "results/logs/geometry/{model}/hessian.log",
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
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule eigen_chunk:
    input:
        unpack(job_inputs("eigen_chunk")),
    output:
        csv="results/geometry/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/geometry/{model}/chunk{chunk}.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("eigen_chunk"),
    params:
        **job_params("eigen_chunk"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule eigen_map:
    input:
        unpack(job_inputs("eigen_map")),
    output:
        npz="results/geometry/{model}/eigen.npz",
        json="results/geometry/{model}/eigen.json",
    log:
        "results/logs/geometry/{model}/eigen_map.log",
    conda:
        ENV
    params:
        **job_params("eigen_map"),
    shell:
        "python -m lossland --threads 1 merge --spec {params.spec:q} > {log} 2>&1"


rule plot_eigen:
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
    conda:
        ENV
    params:
        **job_params("plot_eigen"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"


rule flatness:
    input:
        unpack(job_inputs("flatness")),
    output:
        npz="results/geometry/{model}/flatness.npz",
        json="results/geometry/{model}/flatness.json",
    log:
        "results/logs/geometry/{model}/flatness.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("flatness"),
    params:
        **job_params("flatness"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule hessian_directions:
    input:
        unpack(job_inputs("hessian_directions")),
    output:
        directions="results/hessian/{model}/directions.pt",
    log:
        "results/logs/hessian/{model}/directions.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("hessian_directions"),
    params:
        **job_params("hessian_directions"),
    shell:
        "python -m lossland --threads {threads} directions --spec {params.spec:q} > {log} 2>&1"


rule plot_hessian_plane:
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
    conda:
        ENV
    params:
        **job_params("plot_hessian_plane"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"


rule density:
    input:
        unpack(job_inputs("density")),
    output:
        npz="results/geometry/{model}/density.npz",
        json="results/geometry/{model}/density.json",
    log:
        "results/logs/geometry/{model}/density.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("density"),
    params:
        **job_params("density"),
    shell:
        "python -m lossland --threads {threads} measure --spec {params.spec:q} > {log} 2>&1"


rule density_figure:
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
    conda:
        ENV
    params:
        **job_params("density_figure"),
    shell:
        "python -m lossland --threads 1 table --spec {params.spec:q} > {log} 2>&1"


rule geometry_table:
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
    conda:
        ENV
    params:
        **job_params("geometry_table"),
    shell:
        "python -m lossland --threads 1 table --spec {params.spec:q} > {log} 2>&1"
