rule train:
    """One model trained (resumable, bit-identical after a kill)."""
    input:
        unpack(job_inputs("train")),
    output:
        checkpoint="results/models/{model}.pt",
        history="results/train/{model}/history.csv",
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model=alternatives(PLAN.snapshot_runs(False)),
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    params:
        **job_params("train", resume="results/train/{model}/resume.pt"),
    shell:
        "python -m lossland --threads {threads} train --spec {params.spec:q} > {log} 2>&1"


use rule train as train_with_snapshots with:
    output:
        checkpoint="results/models/{model}.pt",
        history="results/train/{model}/history.csv",
        snapshots="results/train/{model}/snapshots.pt",
    wildcard_constraints:
        model=alternatives(PLAN.snapshot_runs()),


rule import_checkpoint:
    """A checkpoint trained elsewhere, fitted to the model the config builds."""
    input:
        unpack(job_inputs("import_checkpoint")),
    output:
        checkpoint="results/models/{model}.pt",
    log:
        "results/logs/import/{model}.log",
    benchmark:
        "results/benchmarks/import/{model}.tsv"
    wildcard_constraints:
        model=alternatives(PLAN.imported),
    conda:
        ENV
    params:
        **job_params("import_checkpoint"),
    shell:
        "python -m lossland --threads 1 import_checkpoint --spec {params.spec:q} > {log} 2>&1"
