localrules:
    prepare_data,  # may download: on the submitting host, not on a compute node that may be offline


rule prepare_data:
    output:
        "results/data/{split}.pt",
    log:
        "results/logs/data/{split}.log",
    conda:
        ENV
    threads: config["threads"]["data"]
    params:
        source=config["data"]["source"],
        root=config["data"]["root"],
        download="--download" if config["data"].get("download") else "",
        size=lambda wc: config["data"]["subset"].get(wc.split) or "",
        seed=config["data"]["seed"],
    shell:
        "python -m lossland --threads {threads} prepare-data --source {params.source} --root {params.root:q}"
        " --split {wildcards.split} {params.download} --seed {params.seed}"
        " $([ -n '{params.size}' ] && echo --size {params.size}) --out {output} > {log} 2>&1"
