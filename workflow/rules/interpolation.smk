localrules:
    plot_interpolation,


rule interpolate:
    input:
        a=lambda wc: endpoint_checkpoint(PAIRS[wc.pair]["a"]),
        b=lambda wc: endpoint_checkpoint(PAIRS[wc.pair]["b"]),
        train=f"results/data/{config['landscape']['split']}.pt",
        test="results/data/test.pt",
        bn_data="results/data/train.pt",
    output:
        npz="results/interpolation/{pair}.npz",
        json="results/interpolation/{pair}.json",
    log:
        "results/logs/interpolation/{pair}/interpolate.log",
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **chunk_resources(curve_points(lambda: config["interpolation"]["alpha"])),
    params:
        landscape=curve_json(section="interpolation"),
        alpha=config["interpolation"]["alpha"],
    shell:
        "python -m lossland --threads {threads} interpolate --a {input.a} --b {input.b} --train {input.train}"
        " --test {input.test} --landscape {params.landscape:q} --alpha {params.alpha} --bn-data {input.bn_data}"
        " --out {output.npz}"
        " > {log} 2>&1"


rule plot_interpolation:
    input:
        "results/interpolation/{pair}.npz",
    output:
        report(
            "results/interpolation/{pair}.png",
            caption="../report/interpolation.rst",
            category="interpolation",
            labels={"pair": "{pair}"},
        ),
    log:
        "results/logs/interpolation/{pair}/plot.log",
    conda:
        ENV
    params:
        title=lambda wc: f"{PAIRS[wc.pair]['a']} (A) to {PAIRS[wc.pair]['b']} (B)",
    shell:
        "python -m lossland --threads 1 plot-curve --kind interpolation --curve {input} --title {params.title:q}"
        " --out {output} > {log} 2>&1"
