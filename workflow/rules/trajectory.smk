localrules:
    plot_trajectory,


rule trajectory_directions:
    input:
        "results/models/{model}.pt",
    output:
        "results/trajectory/{model}/directions.pt",
    log:
        "results/logs/trajectory/{model}/directions.log",
    group:
        chunk_group("trajectory")
    conda:
        ENV
    params:
        ignore=config["landscape"]["directions"]["ignore"],
        type=config["landscape"]["directions"]["type"],
        grid=config["trajectory"]["grid"],
        margin=config["trajectory"]["margin"],
    shell:
        "python -m lossland --threads 1 --device cpu trajectory-directions --checkpoint {input}"
        " --ignore {params.ignore} --type {params.type} --grid {params.grid} --margin {params.margin}"
        " --out {output} > {log} 2>&1"


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
    shell:
        "python -m lossland --threads 1 plot-trajectory --surface {input.surface} --directions {input.directions}"
        " --model {wildcards.model} --png {output.png} --npz {output.npz} > {log} 2>&1"
