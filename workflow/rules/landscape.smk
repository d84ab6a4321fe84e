localrules:
    surface,
    plot_landscape,
    plot_line,
    export_paraview,


rule directions:
    input:
        "results/models/{model}.pt",
    output:
        "results/landscape/{model}/directions.pt",
    log:
        "results/logs/directions/{model}.log",
    group:
        chunk_group("landscape")
    conda:
        ENV
    params:
        seed=config["landscape"]["seed"],
        options=" ".join(f"--{k} {v}" for k, v in sorted(config["landscape"]["directions"].items())),
    shell:
        "python -m lossland --threads 1 --device cpu directions --checkpoint {input} --seed {params.seed}"
        " {params.options} --out {output} > {log} 2>&1"


rule landscape_chunk:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/{plane}/{model}/directions.pt",
        data=f"results/data/{config['landscape']['split']}.pt",
        bn_data="results/data/train.pt",
    output:
        "results/{plane}/{model}/chunks/{chunk}.csv",
    log:
        "results/logs/{plane}/{model}/chunk{chunk}.log",
    group:
        chunk_group()
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **chunk_resources(),
    params:
        landscape=plane_json,
    shell:
        "python -m lossland --threads {threads} chunk --checkpoint {input.checkpoint} --directions {input.directions}"
        " --data {input.data} --landscape {params.landscape:q} --chunk {wildcards.chunk} --bn-data {input.bn_data}"
        " --out {output}"
        " > {log} 2>&1"


rule surface:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/{plane}/{model}/directions.pt",
        chunks=chunk_files,
    output:
        npz="results/{plane}/{model}/surface.npz",
        json="results/{plane}/{model}/surface.json",
    log:
        "results/logs/{plane}/{model}/surface.log",
    conda:
        ENV
    params:
        landscape=plane_json,
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


rule line:
    input:
        checkpoint="results/models/{model}.pt",
        directions="results/landscape/{model}/directions.pt",
        train=f"results/data/{config['landscape']['split']}.pt",
        test="results/data/test.pt",
        bn_data="results/data/train.pt",
    output:
        npz="results/landscape/{model}/line.npz",
        json="results/landscape/{model}/line.json",
    log:
        "results/logs/landscape/{model}/line.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **chunk_resources(curve_points(lambda: config["landscape"]["line"])),
    params:
        landscape=curve_json("line"),
    shell:
        "python -m lossland --threads {threads} line --checkpoint {input.checkpoint} --directions {input.directions}"
        " --train {input.train} --test {input.test} --landscape {params.landscape:q} --bn-data {input.bn_data}"
        " --out {output.npz}"
        " > {log} 2>&1"


rule plot_line:
    input:
        "results/landscape/{model}/line.npz",
    output:
        report(
            "results/landscape/{model}_1d.png",
            caption="../report/line.rst",
            category="landscapes",
            labels={"model": "{model}", "figure": "1-D curve"},
        ),
    log:
        "results/logs/landscape/{model}/plot_line.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 plot-curve --kind line --curve {input} --out {output}"
        " --title '{wildcards.model}: loss and accuracy along direction 1' > {log} 2>&1"


rule export_paraview:
    input:
        "results/landscape/{model}/surface.npz",
    output:
        "results/landscape/{model}.vts",
    log:
        "results/logs/landscape/{model}/paraview.log",
    conda:
        ENV
    shell:
        "python -m lossland --threads 1 paraview --surface {input} --out {output} > {log} 2>&1"
