localrules:
    plot_trajectory,


rule trajectory_directions:
    input:
        checkpoint="results/models/{model}.pt",
        snapshots="results/train/{model}/snapshots.pt",
    output:
        directions="results/trajectory/{model}/directions.pt",
    log:
        "results/logs/trajectory/{model}/directions.log",
    group:
        chunk_group("trajectory")
    conda:
        ENV
    params:
        **job_params("trajectory_directions"),
    shell:
        "python -m lossland --threads 1 --device cpu directions --spec {params.spec:q} > {log} 2>&1"


rule plot_trajectory:
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
    conda:
        ENV
    params:
        **job_params("plot_trajectory"),
    shell:
        "python -m lossland --threads 1 plot --spec {params.spec:q} > {log} 2>&1"
