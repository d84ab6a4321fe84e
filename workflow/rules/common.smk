import os
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

PACKAGE_DIR = Path(workflow.basedir) / "workflow"
# a user's model builder (architectures.<model>.builder) is imported from the working directory, the repository
# root, or PYTHONPATH: here to find its source file, in the jobs to build it
USER_PATHS = [os.getcwd(), workflow.basedir]
sys.path[:0] = [str(PACKAGE_DIR), *USER_PATHS]

import pandas as pd  # noqa: E402
from lossland import paths  # noqa: E402
from lossland.gpus import visible_gpu_count  # noqa: E402
from lossland.kinds import KINDS  # noqa: E402
from lossland.plan import Plan, alternatives, every_problem, spec_json  # noqa: E402
from lossland.sweep import best_row, run_name  # noqa: E402

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
ENV = "../../envs/environment.yaml"


def stop(messages: list[str]) -> None:
    """End Snakemake with one line on stderr per problem, before any job runs (no traceback for a user mistake)."""
    sys.exit("\n".join(f"config error: {message}" for message in messages))


def validate_config() -> None:
    """Every problem of the config at once (`plan.every_problem`), and nothing runs on a bad config."""
    found = every_problem(config, SCHEMA)
    if found:
        stop(found)


validate_config()
# Jobs run `python -m lossland`: under --sdm conda the env's python, otherwise the interpreter running Snakemake
# (a venv's). Set here, not in params, so that moving the venv or switching device does not invalidate results.
PYTHON_PATH = (
    ""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else (f"export PATH={Path(sys.executable).parent}:$PATH; ")
)
shell.prefix(
    f"set -euo pipefail; {PYTHON_PATH}export PYTHONPATH={PACKAGE_DIR}:{':'.join(USER_PATHS)}"
    "${{PYTHONPATH:+:$PYTHONPATH}}; "
    f"export LOSSLAND_DEVICE={config['device']}; "
)


def gpu_pool() -> int:
    """GPUs the jobs of this Snakemake process may use: on one machine, its visible CUDA GPUs (none with `device:
    cpu|mps`); inside a cluster submission, the ones SLURM gave it; none when submitting to a cluster."""
    if workflow.remote_exec:
        return int(os.environ.get("SLURM_GPUS_ON_NODE") or 0)
    if not workflow.local_exec or config["device"] in ("cpu", "mps"):
        return 0
    return visible_gpu_count()


# At most as many GPU jobs at once as there are GPUs (unless `--resources gpu=N` says otherwise): on a machine with
# GPUs every computing job takes one (each claims its own at start: lossland/gpus.py); in a cluster batch of GPU
# chunks that asked for one GPU, the chunks run on it one after another.
GPU_POOL = gpu_pool()
if GPU_POOL and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", GPU_POOL)

PLAN = Plan(config, local_gpus=0 if workflow.remote_exec else GPU_POOL)
MODELS = PLAN.models


wildcard_constraints:
    **PLAN.wildcard_constraints(),


def named(files) -> dict:
    """A rule's input or output as {name: path or list of paths}."""
    return {name: list(value) if isinstance(value, list) else str(value) for name, value in files.items()}


def job_params(kind: str, **scratch: str) -> dict:
    """A rule's params: `spec`, the job as `python -m lossland` reads it (plan.Plan.spec), and `settings`, what
    defines its result; for a kind with a threads group, `torch_threads` (`configured_threads`). Snakemake leaves
    params computed from a job's input or output (as `spec` is) out of its rerun trigger; `settings`, computed from
    the wildcards alone, is what makes a changed setting rerun the job."""

    def settings(wildcards) -> str:
        return spec_json(PLAN.settings(kind, dict(wildcards.items())))

    def spec(wildcards, input, output) -> str:
        values = dict(wildcards.items())
        extra = {name: path.format(**values) for name, path in scratch.items()}
        return spec_json(PLAN.spec(kind, values, named(input), named(output), extra))

    group = KINDS[kind].threads
    return {"settings": settings, "spec": spec, **({"torch_threads": configured_threads(group)} if group else {})}


def configured_threads(group: str):
    """A job's torch threads, the config's `threads.<group>`, for its shell line: Snakemake lowers a rule's `{threads}`
    to `--cores`, and a CPU job's bits depend on its threads. A function of the job's input and output, as `spec` is,
    so the rerun trigger leaves it out, as it leaves the device."""
    return lambda wildcards, input, output: config["threads"][group]


def job_command(kind: str) -> str:
    """The shell line of every job: `python -m lossland <kind> --spec <its spec>`, its output into the rule's log,
    with the torch threads of the kind's group (else 1) and, where the kind always runs on one device, that one."""
    threads = "{params.torch_threads}" if KINDS[kind].threads else "1"
    device = f" --device {KINDS[kind].device}" if KINDS[kind].device else ""
    return f"python -m lossland --threads {threads}{device} {kind} --spec {{params.spec:q}} > {{log}} 2>&1"


def job_inputs(kind: str):
    return lambda wildcards: PLAN.inputs(kind, dict(wildcards.items()))


def job_resources(kind: str) -> dict:
    """GPU, memory and runtime of a computing job (plan.Plan: the cost model); memory and runtime grow with each
    retry (`attempt`), so a job killed for time or memory comes back with more."""
    return {
        **PLAN.gpu(PLAN.section(kind)),
        "mem_mb": lambda wc, attempt: PLAN.mem_mb(kind, attempt),
        "runtime": lambda wc, attempt: PLAN.runtime(kind, dict(wc.items()), attempt),
    }


def chunk_group(plane: str | None = None):
    """Cluster batching (ignored locally): see plan.Plan.group."""
    return lambda wildcards: PLAN.group(plane or wildcards.plane, wildcards.model)


def augmented_history(wildcards) -> str:
    """The best sweep configuration, trained again with augmentation (known once the sweep table exists)."""
    table = pd.read_csv(checkpoints.sweep_table.get().output.table)
    best = best_row(table)
    run = run_name(int(best["batch"]), float(best["lr"]), int(best["epochs"]), augment=True)
    return paths.SWEEP_HISTORY.format(run=run)
