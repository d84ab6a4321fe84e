"""Every kind of job, described once: its name, what it makes, the function that runs it, the settings that define its
result, the files it reads and what it costs.

A kind's name is its rule's name and its command's: rule `landscape_chunk` runs `python -m lossland
landscape_chunk --spec <job spec>` (its log and benchmark: the rule's `log:` and `benchmark:`). A job spec is
{"settings", "inputs", "outputs"} (and "scratch" for training's resume point), made by `plan.Plan.spec`.

- `settings(plan, wildcards)`: what its provenance records; changing any other config key reruns nothing.
- `inputs(plan, wildcards)`: the files a rule cannot spell as a fixed pattern (None: the rule spells them all).
- `cost(plan, wildcards)`: minutes one job takes by the cost model (None: a cheap local job). Measurements give it
  as loss evaluations of their images times the model's seconds per point (`resources.chunk.seconds_per_point`).

Adding a kind is one entry here, its function, its rule and a test (docs/contributing.md).
"""

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

from . import paths
from .config import train_settings

HESSIAN_PLANE_RISE = 5.0  # a Hessian plane spans ±r, r where ½·λ1·r² = this (the quadratic model's rise, loss units)
WARM_START = 0.5  # a warm map point's share of a cold run's products (a real ResNet-20 chunk: 7 points, 85 vs 7 × 21 cold)
GEOMETRY_KEYS = {  # the geometry section's keys each geometry kind depends on (with samples, seed, batch_size)
    "hessian": ("top_k", "probes", "tol", "params", "maxiter", "repeats"),
    "eigen_chunk": ("chunks", "params", "maxiter"),  # and its grid as x, y, and map_tol as tol
    "flatness": ("directions", "line", "delta", "sharpness"),
    "density": ("params", "density"),
    "hessian_directions": ("params", "tol", "maxiter"),
}


STAGES = {"data": "data", "training": "training", "evaluation": "evaluation", "surfaces": "surfaces",
          "lines": "lines, interpolations, connectivity", "hessians": "Hessians, densities, flatness",
          "maps": "eigenvalue maps", "figures": "figures, tables, page"}  # the estimate's rows, in order


@dataclass(frozen=True)
class Kind:
    what: str  # what one job makes: the command's help line
    run: str  # "module:function" of this package that runs one job spec
    settings: Callable[..., dict]
    inputs: Callable[..., dict] | None = None
    cost: Callable[..., float] | None = None
    section: str = "chunk"  # resources.<section>: memory, GPUs and (train) minutes per epoch
    stage: str = "figures"  # the estimate's row for its time (a key of STAGES)
    threads: str | None = None  # its torch threads: the config's threads.<this> (a CPU job's bits depend on them); 1
    device: str | None = None  # where it always runs (its result must not depend on a GPU); else the config's device

    def function(self) -> Callable[[dict, str], None]:
        import importlib

        module, _, name = self.run.partition(":")
        return getattr(importlib.import_module(f"lossland.{module}"), name)


def name_of(wildcards: dict) -> str:
    """The model of a job's `model` wildcard (a run: "resnet56/seed1" is resnet56's)."""
    from .runs import model_and_seed

    return model_and_seed(wildcards["model"])[0]


# ---- settings


def data_settings(plan, wildcards: dict) -> dict:
    data = plan.config["data"]
    name = {"name": data["name"]} if data["name"] != "cifar10" else {}
    return {"source": data["source"], "root": str(data["root"]), "download": bool(data["download"]),
            "size": data["subset"].get(wildcards["split"]), "seed": data["seed"], "split": wildcards["split"], **name}


def train_job_settings(plan, wildcards: dict) -> dict:
    from .runs import model_and_seed

    name, seed = model_and_seed(wildcards["model"])
    settings = train_settings(plan.config, name)
    return {"model": name, "settings": {**settings, "seed": settings["seed"] + seed} if seed else settings}


def sweep_train_settings(plan, wildcards: dict) -> dict:
    from .sweep import run_settings

    return {"model": plan.config["sweep"]["model"], "settings": run_settings(plan.config, wildcards["run"])}


def import_settings(plan, wildcards: dict) -> dict:
    """What evaluating a checkpoint trained elsewhere depends on: its input normalization and architecture."""
    name = name_of(wildcards)
    settings = train_settings(plan.config, name)
    kept = ("normalize", "mean", "std", "shortcut", "conv_bias", "width", "architecture")
    return {"model": name, "settings": {key: settings[key] for key in kept if key in settings}}


def evaluate_settings(plan, wildcards: dict) -> dict:
    name = name_of(wildcards)
    return {"batch_size": train_settings(plan.config, name)["eval_batch_size"], **plan.model_settings(name)}


def directions_settings(plan, wildcards: dict) -> dict:
    landscape = plan.config["landscape"]
    return {"span": "random", "seed": landscape["seed"], **landscape["directions"],
            **plan.model_settings(name_of(wildcards))}


def trajectory_directions_settings(plan, wildcards: dict) -> dict:
    directions, trajectory = plan.config["landscape"]["directions"], plan.config["trajectory"]
    return {"span": "trajectory", "ignore": directions["ignore"], "type": directions["type"],
            "grid": trajectory["grid"], "margin": trajectory["margin"], **plan.model_settings(name_of(wildcards))}


def hessian_directions_settings(plan, wildcards: dict) -> dict:
    landscape = plan.config["landscape"]
    return {"span": "hessian", "rise": HESSIAN_PLANE_RISE, "points": [landscape["x"][2], landscape["y"][2]],
            **plan.geometry_settings("hessian_directions"), **plan.model_settings(name_of(wildcards))}


def surface_settings(plan, wildcards: dict) -> dict:
    """A plane's (or a trajectory's) grid, its images and numerics; a chunk's settings add its index."""
    span = "trajectory" if wildcards["plane"] == "trajectory" else "plane"
    return {"measure": "loss", "span": span, **plan.grid(wildcards["plane"]), "cap": plan.config["landscape"]["cap"],
            **plan.evaluation_settings(), **plan.model_settings(name_of(wildcards))}


def chunk_settings(plan, wildcards: dict) -> dict:
    return {**surface_settings(plan, wildcards), "chunk": int(wildcards["chunk"])}


def line_settings(plan, wildcards: dict) -> dict:
    return {"measure": "loss", "span": "line", "line": plan.config["landscape"]["line"], **plan.evaluation_settings(),
            **plan.model_settings(name_of(wildcards))}


def interpolate_settings(plan, wildcards: dict) -> dict:
    custom = plan.endpoints[plan.pairs[wildcards["pair"]]["a"]][2].get("architecture")
    return {"measure": "loss", "span": "interpolation", "alpha": plan.config["interpolation"]["alpha"],
            **plan.evaluation_settings("interpolation"), **({"architecture": custom} if custom else {})}


def eigen_map_settings(plan, wildcards: dict) -> dict:
    geometry = plan.config["geometry"]
    return {"measure": "hessian", "span": "plane", "x": geometry["grid"], "y": geometry["grid"],
            **plan.geometry_settings("eigen_chunk"), "tol": geometry["map_tol"],
            **plan.model_settings(name_of(wildcards))}


def eigen_chunk_settings(plan, wildcards: dict) -> dict:
    return {**eigen_map_settings(plan, wildcards), "chunk": int(wildcards["chunk"])}


def hessian_settings(plan, wildcards: dict) -> dict:
    return {"measure": "spectrum", "span": "point", **plan.geometry_settings("hessian"),
            **plan.model_settings(name_of(wildcards))}


def density_settings(plan, wildcards: dict) -> dict:
    return {"measure": "density", "span": "point", **plan.geometry_settings("density"),
            **plan.model_settings(name_of(wildcards))}


def flatness_settings(plan, wildcards: dict) -> dict:
    return {"measure": "loss", "span": "random", "options": copy.deepcopy(plan.config["landscape"]["directions"]),
            **plan.geometry_settings("flatness"), **plan.model_settings(name_of(wildcards))}


def figure_settings(plan, wildcards: dict) -> dict:
    """One model's figure: its name and (where it is not its name) its label."""
    return {"model": wildcards["model"], **plan.labelled(wildcards["model"])}


def plot_interpolation_settings(plan, wildcards: dict) -> dict:
    pair = plan.pairs[wildcards["pair"]]
    return {"title": f"{pair['a']} (A) to {pair['b']} (B)"}


def paraview_settings(plan, wildcards: dict) -> dict:
    return {"log_height": False}


def report_settings(plan, wildcards: dict) -> dict:
    return {"models": plan.models, "runs": plan.run_index(plan.all_runs()),
            "trained": plan.run_index(plan.all_runs(trained_only=True)), **plan.labels()}


def geometry_table_settings(plan, wildcards: dict) -> dict:
    """`widths` only where a model's is not 1 (the claims' notes): a config without one rebuilds nothing."""
    widths = {model: width for model in plan.models if (width := train_settings(plan.config, model).get("width", 1)) != 1}
    return {"models": plan.models, "runs": plan.run_index(plan.views_of("geometry")),
            "all_runs": plan.run_index(plan.all_runs()),
            "connectivity_pairs": connectivity_table_settings(plan, wildcards)["pairs"],
            **({"widths": widths} if widths else {}), **plan.labels()}


def density_figure_settings(plan, wildcards: dict) -> dict:
    return {"runs": plan.run_index(plan.density_runs()), **plan.labels()}


def connectivity_settings(plan, wildcards: dict) -> dict:
    section = plan.config["connectivity"]
    curve = {"curve": True} if section["curve"]["epochs"] else {}
    matching = {"matching": "activations"} if section["matching"] == "activations" else {}  # weights: unchanged
    return {"measure": "loss", "span": "connectivity", "alpha": section["alpha"], "matching_seed": section["seed"],
            **plan.evaluation_settings("landscape"), "bn": "recompute", "bn_samples": section["bn_samples"], **curve,
            **matching}


def curve_settings(plan, wildcards: dict) -> dict:
    """The bend's training: the model's recipe for `connectivity.curve.epochs` epochs (no snapshots), its t and batch
    order seeded by `connectivity.seed`."""
    section, name = plan.config["connectivity"], name_of(wildcards)
    recipe = {**train_settings(plan.config, name), "epochs": section["curve"]["epochs"], "seed": section["seed"]}
    recipe.pop("snapshots", None)
    return {"model": name, "train": recipe, "seed": section["seed"], **plan.model_settings(name)}


def connectivity_table_settings(plan, wildcards: dict) -> dict:
    return {"pairs": [[model, pair] for model, pairs in plan.connectivity.items() for pair in pairs], **plan.labels()}


def page_settings(plan, wildcards: dict) -> dict:
    pairs = connectivity_table_settings(plan, wildcards)["pairs"]  # only where there are: no page rebuilt for none
    return {"models": plan.models, "cap": plan.config["landscape"]["cap"],
            **({"connectivity_pairs": pairs} if pairs else {}), **plan.labels()}


def sweep_table_settings(plan, wildcards: dict) -> dict:
    return {"runs": plan.sweep_runs, "epochs": plan.config["sweep"]["epochs"], "lrs": plan.sweep_lrs,
            "scheduled": plan.scheduled}


def ablation_settings(plan, wildcards: dict) -> dict:
    from .sweep import sweep_images

    return {"baseline": plan.config["sweep"]["baseline"], "images": sweep_images(plan.config)}


# ---- inputs (what a rule cannot spell as a fixed pattern)


def split_file(plan) -> str:
    return paths.DATA.format(split=plan.config["landscape"]["split"])


def on_plane(model: str, plane: str = "landscape") -> dict:
    """A model's checkpoint and a plane's directions: where a measurement on that plane starts."""
    return {"checkpoint": paths.CHECKPOINT.format(model=model), "directions": paths.DIRECTIONS.format(plane=plane, model=model)}


def train_inputs(plan, wildcards: dict) -> dict:
    builder = plan.builder_file(name_of(wildcards))
    return {"train": paths.DATA.format(split="train"), "test": paths.DATA.format(split="test"),
            **({"builder": builder[0]} if builder else {})}


def import_inputs(plan, wildcards: dict) -> dict:
    name = name_of(wildcards)
    builder = plan.builder_file(name)
    return {"source": str(plan.config["checkpoints"][name]), "train": paths.DATA.format(split="train"),
            **({"builder": builder[0]} if builder else {})}


def chunk_inputs(plan, wildcards: dict) -> dict:
    return {**on_plane(wildcards["model"], wildcards["plane"]), "data": split_file(plan), **plan.bn_input("landscape")}


def surface_inputs(plan, wildcards: dict) -> dict:
    chunks = [paths.CHUNK.format(**wildcards, chunk=k)
              for k in range(plan.grid(wildcards["plane"])["chunks"])]
    return {**chunk_inputs(plan, wildcards), "chunks": chunks}


def line_inputs(plan, wildcards: dict) -> dict:
    return {**on_plane(wildcards["model"]), "train": split_file(plan), "test": paths.DATA.format(split="test"),
            **plan.bn_input("landscape")}


def interpolate_inputs(plan, wildcards: dict) -> dict:
    pair = plan.pairs[wildcards["pair"]]
    return {"a": plan.endpoints[pair["a"]][1], "b": plan.endpoints[pair["b"]][1], "train": split_file(plan),
            "test": paths.DATA.format(split="test"), **plan.bn_input("interpolation")}


def eigen_chunk_inputs(plan, wildcards: dict) -> dict:
    return {**on_plane(wildcards["model"]), "data": split_file(plan)}


def eigen_map_inputs(plan, wildcards: dict) -> dict:
    chunks = [paths.EIGEN_CHUNK.format(model=wildcards["model"], chunk=k) for k in range(plan.config["geometry"]["chunks"])]
    return {**eigen_chunk_inputs(plan, wildcards), "chunks": chunks}


def point_inputs(plan, wildcards: dict) -> dict:
    """The checkpoint and the images of a measurement at the trained point (Hessian, density, flatness)."""
    return {"checkpoint": paths.CHECKPOINT.format(model=wildcards["model"]), "data": split_file(plan)}


def density_figure_inputs(plan, wildcards: dict) -> dict:
    return {"densities": [paths.DENSITY.format(model=m) for m in plan.density_runs()]}


def connectivity_inputs(plan, wildcards: dict) -> dict:
    a, b = plan.connectivity[wildcards["model"]][wildcards["seeds"]]
    bend = {"bend": paths.CURVE.format(**wildcards)} if plan.config["connectivity"]["curve"]["epochs"] else {}
    return {"a": paths.CHECKPOINT.format(model=a), "b": paths.CHECKPOINT.format(model=b), "train": split_file(plan),
            "test": paths.DATA.format(split="test"), "bn_data": paths.DATA.format(split="train"), **bend}


def curve_inputs(plan, wildcards: dict) -> dict:
    a, b = plan.connectivity[wildcards["model"]][wildcards["seeds"]]
    return {"a": paths.CHECKPOINT.format(model=a), "b": paths.CHECKPOINT.format(model=b),
            "train": paths.DATA.format(split="train"), "test": paths.DATA.format(split="test")}


def connectivity_table_inputs(plan, wildcards: dict) -> dict:
    return {"paths": plan.connectivity_paths()}


def sweep_table_inputs(plan, wildcards: dict) -> dict:
    return {"histories": [paths.SWEEP_HISTORY.format(run=run) for run in plan.sweep_runs]}


def geometry_table_inputs(plan, wildcards: dict) -> dict:
    runs = plan.views_of("geometry")
    return {"hessians": [paths.HESSIAN.format(model=m) for m in runs],
            "flatness": [paths.FLATNESS.format(model=m) for m in runs],
            "metrics": [paths.METRICS.format(model=m) for m in runs],
            "all_metrics": [paths.METRICS.format(model=m) for m in plan.all_runs()],
            "connectivity": plan.connectivity_paths()}


def report_inputs(plan, wildcards: dict) -> dict:
    return plan.report_inputs()


def page_inputs(plan, wildcards: dict) -> dict:
    """The first run of every model, as in the report's contour figure."""
    first = [runs[0] for runs in plan.runs.values()]
    return {"surfaces": [paths.SURFACE.format(plane="landscape", model=m) for m in first],
            "lines": [paths.LINE.format(model=m) for m in first],
            "metrics": [paths.METRICS.format(model=m) for m in first], "geometry": paths.GEOMETRY_TABLE,
            "connectivity": plan.connectivity_paths()}


# ---- cost: minutes one job takes by the cost model


def training_minutes(plan, settings: dict, model: str) -> float:
    """resources.train.minutes_per_epoch of the model (50,000 images at batch 128; smaller batches take longer),
    scaled to the images it trains on and its width (k× the channels: ~k² the work), times its epochs."""
    from .config import split_size

    images = split_size(plan.config, "train") - (settings.get("validation") or {}).get("images", 0)
    per_epoch = (plan.config["resources"]["train"]["minutes_per_epoch"].get(model, 1.0)
                 * max(1.0, 128 / settings["batch_size"]) * images / 50_000 * settings.get("width", 1) ** 2)
    return per_epoch * settings["epochs"]


def curve_cost(plan, wildcards: dict) -> float:
    """As a training of the curve's epochs (the weights combined per batch: assumed a small share of a step)."""
    return training_minutes(plan, curve_settings(plan, wildcards)["train"], name_of(wildcards))


def train_cost(plan, wildcards: dict) -> float:
    return training_minutes(plan, train_job_settings(plan, wildcards)["settings"], name_of(wildcards))


def sweep_train_cost(plan, wildcards: dict) -> float:
    return training_minutes(plan, sweep_train_settings(plan, wildcards)["settings"],
                            plan.config["sweep"]["model"])


def job_model(plan, wildcards: dict) -> str:
    return name_of(wildcards)


def evaluation_cost(evaluations: Callable[..., int], section: str = "landscape",
                    model_of: Callable[..., str] = job_model) -> Callable[..., float]:
    """Minutes of a measurement: `evaluations(plan, wildcards)` loss evaluations on `<section>.samples` images, at
    the seconds per point of the model `model_of(plan, wildcards)`."""

    def cost(plan, wildcards: dict) -> float:
        seconds = plan.point_seconds(model_of(plan, wildcards), plan.config[section]["samples"])
        return seconds * evaluations(plan, wildcards) / 60

    return cost


def chunk_points(plan, wildcards: dict) -> int:
    grid = plan.grid(wildcards["plane"])
    return math.ceil(grid["x"][2] * grid["y"][2] / grid["chunks"])


def line_points(plan, wildcards: dict) -> int:
    return 2 * int(plan.config["landscape"]["line"][2])  # both splits


def interpolation_points(plan, wildcards: dict) -> int:
    return 2 * int(plan.config["interpolation"]["alpha"][2])


def pair_model(plan, wildcards: dict) -> str:
    return plan.endpoints[plan.pairs[wildcards["pair"]]["a"]][0]


def connectivity_points(plan, wildcards: dict) -> float:
    """Two paths (as trained, aligned), each point on both splits and a BN pass on bn_samples images."""
    section, samples = plan.config["connectivity"], plan.config["landscape"]["samples"]
    return 2 * section["alpha"][2] * (2 + section["bn_samples"] / samples)


def eigsh_products(tol: float) -> float:
    """Hessian-vector products a Lanczos run for both ends of the spectrum takes from a random start: 20 at tol 0.1,
    60 at 0.01, 100 at 1e-3 (measured: 21 for the smoke preset's ResNet-20 at 0.1, 54-70 for the seeds preset's at
    0.01; at 1e-3, 54 for the laptop preset's Net and 234 for a 2-epoch PlainNet-110). It depends on the spectrum:
    the estimate assumes it, and says so."""
    return 20 + 40 * max(0.0, math.log10(0.1 / tol))


def hvp_evaluations(plan) -> float:
    return plan.config["resources"]["chunk"]["hvp_evaluations"]


def hessian_products(plan, wildcards: dict) -> float:
    geometry = plan.config["geometry"]
    return hvp_evaluations(plan) * (eigsh_products(geometry["tol"]) + geometry["probes"]) * geometry["repeats"]


def density_products(plan, wildcards: dict) -> float:
    density = plan.config["geometry"]["density"]
    return hvp_evaluations(plan) * density["runs"] * density["steps"]


def hessian_plane_products(plan, wildcards: dict) -> float:
    return hvp_evaluations(plan) * eigsh_products(plan.config["geometry"]["tol"])


def eigen_chunk_products(plan, wildcards: dict) -> float:
    geometry = plan.config["geometry"]
    points = math.ceil(geometry["grid"][2] ** 2 / geometry["chunks"])  # the first cold, the rest warm-started
    return hvp_evaluations(plan) * eigsh_products(geometry["map_tol"]) * (1 + (points - 1) * WARM_START)


def evaluate_images(plan, wildcards: dict) -> float:
    """Both splits, once: as many images' evaluations as `landscape.samples`-image points."""
    from .config import split_size

    images = split_size(plan.config, "train") + split_size(plan.config, "test")
    return images / plan.config["landscape"]["samples"]


def flatness_evaluations(plan, wildcards: dict) -> int:
    geometry = plan.config["geometry"]
    sharpness = geometry["sharpness"]  # a gradient ~ 3 evaluations
    return geometry["directions"] * geometry["line"][2] + sharpness["draws"] * (2 + 3 * sharpness["steps"])


KINDS: dict[str, Kind] = {
    # data and training
    "prepare_data": Kind("one split of the data set as a tensor file", "jobs:prepare_data", data_settings, stage="data",
                         threads="data"),
    "train": Kind("one model trained (resumable, bit-identical after a kill)", "jobs:train", train_job_settings,
                  train_inputs, train_cost, section="train", stage="training", threads="train"),
    "sweep_train": Kind("one run of the Net sweep trained", "jobs:train", sweep_train_settings, cost=sweep_train_cost,
                        section="train", stage="training", threads="train"),
    "import_checkpoint": Kind("a checkpoint trained elsewhere, fitted to the model the config builds",
                              "jobs:import_checkpoint", import_settings, import_inputs, stage="training"),
    "evaluate": Kind("loss and accuracy of a checkpoint on both splits", "jobs:evaluate_model", evaluate_settings,
                     cost=evaluation_cost(evaluate_images), stage="evaluation", threads="evaluate"),
    # directions
    "directions": Kind("a plane's two seeded random directions (Li et al.'s filter-normalized)",
                       "jobs:random_plane", directions_settings, stage="surfaces", device="cpu"),
    "trajectory_directions": Kind("the optimizer path's plane: PCA of its weight snapshots", "jobs:trajectory_plane",
                                  trajectory_directions_settings, stage="surfaces", device="cpu"),
    "hessian_directions": Kind("the plane of the Hessian's top two eigenvectors", "jobs:hessian_plane",
                               hessian_directions_settings, point_inputs, evaluation_cost(hessian_plane_products,
                                                                                          "geometry"),
                               stage="surfaces", threads="chunk"),
    # measurements
    "landscape_chunk": Kind("the loss and accuracy at one chunk of a plane's grid points", "measure:plane_chunk",
                            chunk_settings, chunk_inputs, evaluation_cost(chunk_points), stage="surfaces", threads="chunk"),
    "surface": Kind("a plane's surface, merged from its chunks", "measure:merge", surface_settings, surface_inputs,
                    stage="surfaces"),
    "line": Kind("a 1-D curve along the first direction, on both splits", "measure:line", line_settings, line_inputs,
                 evaluation_cost(line_points), stage="lines", threads="chunk"),
    "interpolate": Kind("the loss along the straight line between two checkpoints, on both splits",
                        "measure:interpolation", interpolate_settings, interpolate_inputs,
                        evaluation_cost(interpolation_points, model_of=pair_model), stage="lines", threads="chunk"),
    "curve": Kind("the bend of a trained Bezier curve between two training seeds (resumable)", "curve:train",
                  curve_settings, curve_inputs, curve_cost, section="train", stage="training", threads="train"),
    "connectivity": Kind("the loss between two training seeds, straight, after weight matching and along the "
                         "trained curve, on both splits",
                         "measure:connectivity", connectivity_settings, connectivity_inputs,
                         evaluation_cost(connectivity_points), stage="lines", threads="chunk"),
    "hessian": Kind("the Hessian's top eigenvalues, lowest eigenvalue and trace, on disjoint image subsets",
                    "measure:spectrum", hessian_settings, point_inputs, evaluation_cost(hessian_products, "geometry"),
                    stage="hessians", threads="chunk"),
    "density": Kind("the Hessian's eigenvalue density (stochastic Lanczos quadrature)", "measure:density",
                    density_settings, point_inputs, evaluation_cost(density_products, "geometry"), stage="hessians",
                    threads="chunk"),
    "flatness": Kind("flatness along random directions and the sharpness of the trained point",
                     "measure:random_lines", flatness_settings, point_inputs,
                     evaluation_cost(flatness_evaluations, "geometry"), stage="hessians", threads="chunk"),
    "eigen_chunk": Kind("the Hessian's extreme eigenvalues at one chunk of a plane's grid points",
                        "measure:plane_chunk", eigen_chunk_settings, eigen_chunk_inputs,
                        evaluation_cost(eigen_chunk_products, "geometry"), stage="maps", threads="chunk"),
    "eigen_map": Kind("an eigenvalue-ratio map, merged from its chunks", "measure:merge", eigen_map_settings,
                      eigen_map_inputs, stage="maps"),
    # figures of one model or pair
    "plot_landscape": Kind("a model's loss-surface contour figure", "figures:plot_landscape", figure_settings),
    "plot_line": Kind("a model's 1-D curve figure", "figures:plot_line", figure_settings),
    "plot_interpolation": Kind("a pair's interpolation figure", "figures:plot_interpolation",
                               plot_interpolation_settings),
    "plot_eigen": Kind("a model's eigenvalue-ratio map figure", "figures:plot_eigen", figure_settings),
    "plot_trajectory": Kind("a model's optimizer path over its PCA-plane surface", "figures:plot_trajectory",
                            figure_settings),
    "plot_hessian_plane": Kind("a model's random plane beside its Hessian plane", "figures:plot_hessian_plane",
                               figure_settings),
    "export_paraview": Kind("a model's surface as a ParaView file (.vts)", "figures:export_paraview",
                            paraview_settings),
    # tables and figures across models or runs
    "report": Kind("the summary table and figures across models", "figures:report", report_settings, report_inputs),
    "geometry_table": Kind("the geometry table, its figure and the claims across models", "figures:geometry_table",
                           geometry_table_settings, geometry_table_inputs),
    "connectivity_table": Kind("the barriers between seeds of every model, as a table and a figure",
                               "figures:connectivity_table", connectivity_table_settings, connectivity_table_inputs),
    "density_figure": Kind("the eigenvalue densities of every model in one figure", "figures:density_figure",
                           density_figure_settings, density_figure_inputs),
    "page": Kind("the interactive HTML page of every model's surface and connectivity", "figures:page", page_settings,
                 page_inputs),
    "sweep_table": Kind("the Net sweep's tables and heat maps", "figures:sweep_table", sweep_table_settings,
                        sweep_table_inputs),
    "ablation": Kind("the augmentation ablation table of the sweep", "figures:ablation", ablation_settings),
}
