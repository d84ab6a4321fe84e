localrules:
    plot_trajectory,


rule trajectory_directions:
    """The optimizer path's plane: PCA of its weight snapshots."""
    input:
        checkpoint=paths.CHECKPOINT,
        snapshots=paths.SNAPSHOTS,
    output:
        directions=paths.fill(paths.DIRECTIONS, plane="trajectory"),
    log:
        paths.log("trajectory/{model}/directions"),
    benchmark:
        paths.benchmark("trajectory/{model}/directions")
    group:
        chunk_group("trajectory")
    conda:
        ENV
    params:
        **job_params("trajectory_directions"),
    shell:
        job_command("trajectory_directions")


rule plot_trajectory:
    """A model's optimizer path over its PCA-plane surface."""
    input:
        surface=paths.fill(paths.SURFACE, plane="trajectory"),
        directions=paths.fill(paths.DIRECTIONS, plane="trajectory"),
    output:
        png=report(
            paths.TRAJECTORY_FIGURE,
            caption="../report/trajectory.rst",
            category="trajectories",
            labels={"model": "{model}"},
        ),
        npz=paths.TRAJECTORY,
    log:
        paths.log("trajectory/{model}/plot"),
    benchmark:
        paths.benchmark("trajectory/{model}/plot")
    conda:
        ENV
    params:
        **job_params("plot_trajectory"),
    shell:
        job_command("plot_trajectory")
