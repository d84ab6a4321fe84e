import json
import math
import os
import re
import sys
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

PACKAGE_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(PACKAGE_DIR))

import pandas as pd  # noqa: E402
from lossland.config import config_problem, endpoints, sweep_images, train_settings, trajectory_models  # noqa: E402
from lossland.gpus import visible_gpu_count  # noqa: E402
from lossland.sweep import RUN_PATTERN, best_row, grid_runs, is_scheduled, run_name, run_settings  # noqa: E402

RUN_PATTERN_PLAIN = re.sub(r"\(\?P<\w+>", "(", RUN_PATTERN)  # Snakemake wildcard regexes take no named groups

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
ENV = "../../envs/environment.yaml"


def stop(message: str) -> None:
    """End Snakemake with one line on stderr, before any job runs (no traceback for a user mistake)."""
    sys.exit(f"config error: {message}")


def validate_config() -> None:
    """Schema first (naming the key and value), then what a schema cannot say; nothing runs on a bad config."""
    try:
        validate(config, str(SCHEMA))
    except WorkflowError:
        import yaml

        schema = yaml.safe_load(SCHEMA.read_text())
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        stop(f"{key}: {error.message}: fix it in your config file")
    problem = config_problem(config)
    if problem:
        stop(problem)


validate_config()
# Jobs run `python -m lossland`: under --sdm conda the env's python, otherwise the interpreter running Snakemake
# (a venv's). Set here, not in params, so that moving the venv or switching device does not invalidate results.
PYTHON_PATH = (
    ""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else (f"export PATH={Path(sys.executable).parent}:$PATH; ")
)
shell.prefix(
    f"set -euo pipefail; {PYTHON_PATH}export PYTHONPATH={PACKAGE_DIR}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    f"export LOSSLAND_DEVICE={config['device']}; "
)
MODELS = config["models"]


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
LOCAL_GPUS = 0 if workflow.remote_exec else GPU_POOL
if GPU_POOL and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", GPU_POOL)


TRAJECTORY_MODELS = trajectory_models(config)
PAIRS = {pair["name"]: pair for pair in config["interpolation"]["pairs"]}
PLANES = "landscape|trajectory"


wildcard_constraints:
    model="|".join(MODELS),
    plane=PLANES,
    pair="|".join(map(re.escape, PAIRS)) or "(?!)",
    run=RUN_PATTERN_PLAIN,
    split="train|test",
    chunk=r"\d+",


# One training command for the study's models and the sweep's runs.
TRAIN_SHELL = (
    "python -m lossland --threads {threads} train --model {params.model} --settings {params.settings:q}"
    " --train {input.train} --test {input.test} --checkpoint {output.checkpoint}"
    " --history {output.history} --resume {params.resume} > {log} 2>&1"
)


def settings_json(wildcards) -> str:
    return json.dumps(train_settings(config, wildcards.model), sort_keys=True)


def plane_spec(plane: str) -> dict:
    """What a chunk job of a plane needs: the evaluation settings, the grid (for a trajectory, its point counts;
    the range comes from the path) and the chunk count. Line and direction options are left out, so changing them
    reruns no chunk by itself."""
    spec = {k: v for k, v in config["landscape"].items() if k not in ("directions", "line", *BN_KEYS)}
    spec.update(bn_spec())
    if plane == "trajectory":
        trajectory = config["trajectory"]
        (nx, ny), chunks = trajectory["grid"], trajectory["chunks"]
        spec.update(x=[-1.0, 1.0, nx], y=[-1.0, 1.0, ny], chunks=chunks)
    return spec


def plane_json(wildcards) -> str:
    return json.dumps(plane_spec(wildcards.plane), sort_keys=True)


BN_KEYS = ("bn", "bn_samples")


def bn_spec(section: str = "landscape") -> dict:
    """How BN statistics are treated off the trained point: an interpolation always chooses (interpolation.bn);
    a plane or line only when its directions move them (landscape.directions.type: states). Otherwise empty, so
    that the keys rerun nothing that does not use them."""
    settings = config[section]
    if section == "landscape" and settings["directions"]["type"] != "states":
        return {}
    return {key: settings[key] for key in BN_KEYS}


def curve_json(*extra: str, section: str = "landscape") -> str:
    """The evaluation settings a line or interpolation job uses (and `extra` landscape keys), nothing else."""
    keys = ("split", "samples", "seed", "batch_size", "fold_bn", "precision", "compile", *extra)
    spec = {k: config["landscape"][k] for k in keys if k in config["landscape"]}
    return json.dumps({**spec, **bn_spec(section)}, sort_keys=True)


def curve_points(axis_key):
    """Points a line or interpolation job evaluates: the axis' num, on both splits."""
    return lambda wildcards: 2 * int(axis_key()[2])


def chunk_files(wildcards) -> list[str]:
    return expand(
        "results/{plane}/{model}/chunks/{chunk}.csv",
        plane=wildcards.plane,
        model=wildcards.model,
        chunk=range(plane_spec(wildcards.plane)["chunks"]),
    )


GEOMETRY_KEYS = {
    "hessian": ("top_k", "probes", "tol", "params", "maxiter", "repeats"),
    "eigen": ("tol", "grid", "chunks", "params", "maxiter"),
    "flatness": ("directions", "line", "delta"),
}


def geometry_json(job: str) -> str:
    """The geometry settings one kind of job uses, so that changing another's reruns nothing here."""
    keys = ("samples", "seed", "batch_size", *GEOMETRY_KEYS[job])
    return json.dumps({k: config["geometry"][k] for k in keys}, sort_keys=True)


def geometry_targets() -> list[str]:
    return [
        "results/geometry.csv",
        "results/geometry.md",
        "results/figures/geometry.png",
        *expand("results/geometry/{model}_eigen.png", model=eigen_map_models()),
    ]


HVP_EVALUATIONS = 6  # one Hessian-vector product ~ two forward+backward passes ~ six loss evaluations
EIGSH_PRODUCTS = 100  # Hessian-vector products one eigsh call (both ends) takes at tol 1e-3 (a generous estimate)


def eigen_map_models() -> list[str]:
    """`geometry.maps`: null = every model, [] = none; models not in `models` are skipped."""
    maps = config["geometry"]["maps"]
    return MODELS if maps is None else [model for model in maps if model in MODELS]


def geometry_resources(evaluations_per_job) -> dict:
    """A geometry job costs about `evaluations_per_job()` loss evaluations on geometry.samples images."""
    res = config["resources"]["chunk"]

    def runtime(wildcards, attempt) -> int:
        per_point = point_seconds(wildcards.model, config["geometry"]["samples"])
        return math.ceil(10 + 2 * per_point * evaluations_per_job() / 60) * attempt

    return {**gpu_resources(res), "mem_mb": lambda wc, attempt: res["mem_mb"] * attempt, "runtime": runtime}


def endpoint_checkpoint(name: str) -> str:
    return endpoints(config)[name][1]


def report_targets() -> dict[str, list[str]]:
    return {
        "metrics": expand("results/metrics/{model}.json", model=MODELS),
        "histories": expand("results/train/{model}/history.csv", model=MODELS),
        "surfaces": expand("results/landscape/{model}/surface.npz", model=MODELS),
    }


def all_targets() -> list[str]:
    return [*study_targets(), *sweep_targets(), *expand("results/interpolation/{pair}.png", pair=SWEEP_PAIRS)]


def study_targets() -> list[str]:
    """Everything of the 7 models (training, surfaces, views, geometry, reports), without the Net sweep."""
    return [
        *expand("results/landscape/{model}.png", model=MODELS),
        *report_targets()["metrics"],
        "results/summary.csv",
        "results/summary.md",
        "results/figures/training_curves.png",
        "results/figures/landscapes.png",
        *view_targets(sweep=False),
        *geometry_targets(),
    ]


def view_targets(sweep: bool = True) -> list[str]:
    """loss-landscape's other views: 1-D curves, interpolations, optimizer trajectories, ParaView files."""
    pairs = [pair for pair in PAIRS if sweep or pair not in SWEEP_PAIRS]
    return [
        *expand("results/landscape/{model}_1d.png", model=MODELS),
        *expand("results/interpolation/{pair}.png", pair=pairs),
        *expand("results/trajectory/{model}.png", model=TRAJECTORY_MODELS),
        *paraview_targets(),
    ]


def paraview_targets() -> list[str]:
    return expand("results/landscape/{model}.vts", model=MODELS)


SWEEP_SCHEDULED = is_scheduled(config)
SWEEP_RUNS = grid_runs(config["sweep"], SWEEP_SCHEDULED)
SWEEP_LRS = [f"{lr:g}" for lr in config["sweep"]["lrs"]]
SWEEP_PAIRS = [name for name, pair in PAIRS.items() if pair["a"] in SWEEP_RUNS or pair["b"] in SWEEP_RUNS]


def augmented_history(wildcards) -> str:
    """The best sweep configuration, trained again with augmentation (known once the sweep table exists)."""
    table = pd.read_csv(checkpoints.sweep_table.get().output.table)
    best = best_row(table)
    run = run_name(int(best["batch"]), float(best["lr"]), int(best["epochs"]), augment=True)
    return f"results/sweep/runs/{run}/history.csv"


def sweep_targets() -> list[str]:
    return [
        "results/sweep/table.csv",
        *expand("results/sweep/table_lr{lr}.md", lr=SWEEP_LRS),
        *expand("results/sweep/heatmap_lr{lr}.png", lr=SWEEP_LRS),
        "results/ablation/augmentation.md",
    ]


def train_resources(model_and_settings) -> dict:
    """GPU, memory and runtime of a training job: runtime from the model's depth, epochs and batch size; memory and
    runtime grow with each retry (`attempt`), so a job killed for time or memory comes back with more."""
    res = config["resources"]["train"]

    def runtime(wildcards, attempt) -> int:
        model, settings = model_and_settings(wildcards)
        per_epoch = res["minutes_per_epoch"].get(model, 1.0) * max(1.0, 128 / settings["batch_size"])
        return math.ceil(10 + 2 * per_epoch * settings["epochs"]) * attempt

    return {**gpu_resources(res), "mem_mb": lambda wc, attempt: res["mem_mb"] * attempt, "runtime": runtime}


def gpu_resources(res: dict | None = None) -> dict:
    """On this machine with GPUs: one (see LOCAL_GPUS). On a cluster: `res`' `gpu` (and `gpu_model` when set),
    which the SLURM plugin turns into --gpus=[model:]N; none for a job without `res`."""
    if LOCAL_GPUS:
        return {"gpu": 1}
    if res is None:
        return {}
    return {"gpu": res["gpu"], **({"gpu_model": res["gpu_model"]} if res["gpu_model"] else {})}


def point_seconds(model: str, samples: int) -> float:
    """Seconds one grid point of `model` takes on `samples` images by the cost model (resources.chunk)."""
    return config["resources"]["chunk"]["seconds_per_point"].get(model, 50) * samples / 10_000


def chunk_minutes(plane: str, model: str) -> float:
    """Expected minutes of one chunk job of `plane` for `model` (no safety margin)."""
    spec = plane_spec(plane)
    points = math.ceil(spec["x"][2] * spec["y"][2] / spec["chunks"])
    return point_seconds(model, spec["samples"]) * points / 60


def chunk_group(plane: str | None = None):
    """Cluster batching (ignored locally): chunks expected to take under `chunk_batch_minutes` go into one
    submission per model and plane, with its directions job; longer ones are each their own job, spread over nodes."""

    def group(wildcards):
        small = chunk_minutes(plane or wildcards.plane, wildcards.model) < config["chunk_batch_minutes"]
        return "landscape" if small else None

    return group


def chunk_resources(points_per_job=None) -> dict:
    """Resources of a job evaluating grid points: a chunk (its share of its plane's grid) or `points_per_job(wc)`
    points on the landscape's samples (lines, interpolations)."""
    res, landscape = config["resources"]["chunk"], config["landscape"]

    def chunk_points(wildcards) -> int:
        spec = plane_spec(wildcards.plane)
        return math.ceil(spec["x"][2] * spec["y"][2] / spec["chunks"])

    points = points_per_job or chunk_points

    def runtime(wildcards, attempt) -> int:
        model = wildcards.model if hasattr(wildcards, "model") else endpoints(config)[PAIRS[wildcards.pair]["a"]][0]
        return math.ceil(10 + 2 * point_seconds(model, landscape["samples"]) * points(wildcards) / 60) * attempt

    return {**gpu_resources(res), "mem_mb": lambda wc, attempt: res["mem_mb"] * attempt, "runtime": runtime}
