localrules:
    surface,
    plot_landscape,


rule directions:
    input:
        "results/models/{model}.pt",
    output:
        "results/landscape/{model}/directions.pt",
    params:
        seed=config["landscape"]["seed"],
    log:
        "results/logs/directions/{model}.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 --device cpu directions --checkpoint {input} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule landscape_chunk:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/landscape/{model}/directions.pt",
        data=f"results/data/{config['landscape']['split']}.pt",
    output:
        "results/landscape/{model}/chunks/{chunk}.csv",
    params:
        landscape=landscape_json(),
    log:
        "results/logs/landscape/{model}/chunk{chunk}.log",
    threads: config["threads"]["chunk"]
    resources:
        **chunk_resources(),
    conda:
        ENV
    shell:
        "python -m lossland --threads {threads} chunk --checkpoint {input.checkpoint} --directions {input.directions}"
        " --data {input.data} --landscape {params.landscape:q} --chunk {wildcards.chunk} --out {output}"
        " > {log} 2>&1"


rule surface:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/landscape/{model}/directions.pt",
        chunks=chunk_files,
    output:
        npz="results/landscape/{model}/surface.npz",
        json="results/landscape/{model}/surface.json",
    params:
        landscape=landscape_json(),
    log:
        "results/logs/landscape/{model}/surface.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 surface --checkpoint {input.checkpoint} --directions {input.directions}"
        " --landscape {params.landscape:q} --chunks {input.chunks} --npz {output.npz} --json {output.json}"
        " > {log} 2>&1"


rule plot_landscape:
    input:
        surface="results/landscape/{model}/surface.npz",
        metrics="results/metrics/{model}.json",
    output:
        report(
            "results/landscape/{model}.png",
            caption="../report/landscape.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "loss surface"},
        ),
    log:
        "results/logs/landscape/{model}/plot.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 plot --surface {input.surface} --metrics {input.metrics} --model {wildcards.model}"
        " --out {output} > {log} 2>&1"
