rule train:
    """One model trained (resumable, bit-identical after a kill)."""
    input:
        unpack(job_inputs("train")),
    output:
        checkpoint=paths.CHECKPOINT,
        history=paths.HISTORY,
    log:
        paths.log("train/{model}"),
    benchmark:
        paths.benchmark("train/{model}")
    wildcard_constraints:
        model=alternatives(PLAN.snapshot_runs(False)),
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    params:
        **job_params("train", resume=paths.RESUME),
    shell:
        job_command("train")


use rule train as train_with_snapshots with:
    output:
        checkpoint=paths.CHECKPOINT,
        history=paths.HISTORY,
        snapshots=paths.SNAPSHOTS,
    wildcard_constraints:
        model=alternatives(PLAN.snapshot_runs()),


rule import_checkpoint:
    """A checkpoint trained elsewhere, fitted to the model the config builds."""
    input:
        unpack(job_inputs("import_checkpoint")),
    output:
        checkpoint=paths.CHECKPOINT,
    log:
        paths.log("import/{model}"),
    benchmark:
        paths.benchmark("import/{model}")
    wildcard_constraints:
        model=alternatives(PLAN.imported),
    conda:
        ENV
    params:
        **job_params("import_checkpoint"),
    shell:
        job_command("import_checkpoint")
