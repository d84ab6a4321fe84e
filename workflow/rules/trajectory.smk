localrules:
    plot_trajectory,


rule trajectory_directions:
    """The optimizer path's plane: PCA of its weight snapshots."""
    input:
        checkpoint="results/models/{model}.pt",
        snapshots="results/train/{model}/snapshots.pt",
    output:
        directions="results/trajectory/{model}/directions.pt",
    log:
        "results/logs/trajectory/{model}/directions.log",
    benchmark:
        "results/benchmarks/trajectory/{model}/directions.tsv"
    group:
        chunk_group("trajectory")
    conda:
        ENV
    params:
        **job_params("trajectory_directions"),
    shell:
        "python -m lossland --threads 1 --device cpu trajectory_directions --spec {params.spec:q} > {log} 2>&1"


rule plot_trajectory:
    """A model's optimizer path over its PCA-plane surface."""
    input:
        surface="results/trajectory/{model}/surface.npz",
        directions="results/trajectory/{model}/directions.pt",
    output:
        png=report(
            "results/trajectory/{model}.png",
            caption="../report/trajectory.rst",
            category="trajectories",
            labels={"model": "{model}"},
        ),
        npz="results/trajectory/{model}.npz",
    log:
        "results/logs/trajectory/{model}/plot.log",
    benchmark:
        "results/benchmarks/trajectory/{model}/plot.tsv"
    conda:
        ENV
    params:
        **job_params("plot_trajectory"),
    shell:
        "python -m lossland --threads 1 plot_trajectory --spec {params.spec:q} > {log} 2>&1"
