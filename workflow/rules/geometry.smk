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
        json=paths.HESSIAN,
    log:
        paths.log("geometry/{model}/hessian"),
    benchmark:
        paths.benchmark("geometry/{model}/hessian")
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
        job_command("hessian")


rule eigen_chunk:
    """The Hessian's extreme eigenvalues at one chunk of a plane's grid points."""
    input:
        unpack(job_inputs("eigen_chunk")),
    output:
        csv=paths.EIGEN_CHUNK,
    log:
        paths.log("geometry/{model}/chunk{chunk}"),
    benchmark:
        paths.benchmark("geometry/{model}/chunk{chunk}")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("eigen_chunk"),
    params:
        **job_params("eigen_chunk"),
    shell:
        job_command("eigen_chunk")


rule eigen_map:
    """An eigenvalue-ratio map, merged from its chunks."""
    input:
        unpack(job_inputs("eigen_map")),
    output:
        npz=paths.EIGEN_MAP,
        json=paths.EIGEN_MAP_JSON,
    log:
        paths.log("geometry/{model}/eigen_map"),
    benchmark:
        paths.benchmark("geometry/{model}/eigen_map")
    conda:
        ENV
    params:
        **job_params("eigen_map"),
    shell:
        job_command("eigen_map")


rule plot_eigen:
    """A model's eigenvalue-ratio map figure."""
    input:
        map=paths.EIGEN_MAP,
        surface=paths.fill(paths.SURFACE, plane="landscape"),
    output:
        png=report(
            paths.EIGEN_MAP_FIGURE,
            caption="../report/eigen.rst",
            category="geometry",
            labels={"model": "{model}", "figure": "eigenvalue ratio"},
        ),
    log:
        paths.log("geometry/{model}/plot"),
    benchmark:
        paths.benchmark("geometry/{model}/plot")
    conda:
        ENV
    params:
        **job_params("plot_eigen"),
    shell:
        job_command("plot_eigen")


rule flatness:
    """Flatness along random directions and the sharpness of the trained point."""
    input:
        unpack(job_inputs("flatness")),
    output:
        npz=paths.FLATNESS_NPZ,
        json=paths.FLATNESS,
    log:
        paths.log("geometry/{model}/flatness"),
    benchmark:
        paths.benchmark("geometry/{model}/flatness")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("flatness"),
    params:
        **job_params("flatness"),
    shell:
        job_command("flatness")


rule hessian_directions:
    """The plane of the Hessian's top two eigenvectors."""
    input:
        unpack(job_inputs("hessian_directions")),
    output:
        directions=paths.fill(paths.DIRECTIONS, plane="hessian"),
    log:
        paths.log("hessian/{model}/directions"),
    benchmark:
        paths.benchmark("hessian/{model}/directions")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("hessian_directions"),
    params:
        **job_params("hessian_directions"),
    shell:
        job_command("hessian_directions")


rule plot_hessian_plane:
    """A model's random plane beside its Hessian plane."""
    input:
        random=paths.fill(paths.SURFACE, plane="landscape"),
        hessian=paths.fill(paths.SURFACE, plane="hessian"),
        directions=paths.fill(paths.DIRECTIONS, plane="hessian"),
    output:
        png=report(
            paths.HESSIAN_PLANE_FIGURE,
            caption="../report/hessian_plane.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "random and Hessian planes"},
        ),
    log:
        paths.log("hessian/{model}/plot"),
    benchmark:
        paths.benchmark("hessian/{model}/plot")
    conda:
        ENV
    params:
        **job_params("plot_hessian_plane"),
    shell:
        job_command("plot_hessian_plane")


rule density:
    """The Hessian's eigenvalue density (stochastic Lanczos quadrature)."""
    input:
        unpack(job_inputs("density")),
    output:
        npz=paths.DENSITY,
        json=paths.DENSITY_JSON,
    log:
        paths.log("geometry/{model}/density"),
    benchmark:
        paths.benchmark("geometry/{model}/density")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("density"),
    params:
        **job_params("density"),
    shell:
        job_command("density")


rule density_figure:
    """The eigenvalue densities of every model in one figure."""
    input:
        **PLAN.inputs("density_figure", {}),
    output:
        png=report(
            paths.DENSITY_FIGURE,
            caption="../report/density.rst",
            category="geometry",
            labels={"model": "all", "figure": "Hessian eigenvalue density"},
        ),
    log:
        paths.log("geometry/density"),
    benchmark:
        paths.benchmark("geometry/density")
    conda:
        ENV
    params:
        **job_params("density_figure"),
    shell:
        job_command("density_figure")


rule geometry_table:
    """The geometry table, its figure and the claims across models."""
    input:
        **PLAN.inputs("geometry_table", {}),
    output:
        csv=report(paths.GEOMETRY_TABLE, caption="../report/geometry.rst", category="geometry"),
        md=paths.GEOMETRY_TABLE_MD,
        figure=report(
            paths.GEOMETRY_FIGURE,
            caption="../report/geometry_figure.rst",
            category="geometry",
            labels={"model": "all", "figure": "geometry against depth"},
        ),
        claims_csv=paths.CLAIMS,
        claims_md=report(paths.CLAIMS_MD, caption="../report/claims.rst", category="geometry"),
    log:
        paths.log("geometry/table"),
    benchmark:
        paths.benchmark("geometry/table")
    conda:
        ENV
    params:
        **job_params("geometry_table"),
    shell:
        job_command("geometry_table")
