"""The command line the Snakemake rules call: `python -m lossland <step> ...`."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .config import select_device
from .data import load_split, normalizer, prepare_split
from .directions import cosine, direction_seed, random_directions
from .errors import UserError
from .evaluate import evaluate
from .io import atomic_write, load_torch, save_json, save_text, save_torch, sha256
from .models import count_parameters, describe, load_checkpoint, variant


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_prepare_data(args) -> None:
    prepare_split(args.source, args.root, args.split, args.download, args.size, args.seed, args.out)
    log(f"wrote {args.out} ({len(load_split(args.out))} images)")


def cmd_train(args) -> None:
    from .train import train_model

    settings = json.loads(args.settings)
    device = select_device(args.device)
    log(f"training {args.model} on {device} with {json.dumps(settings, sort_keys=True)}")
    metrics = train_model(
        args.model, settings, args.train, args.test, args.checkpoint, args.history, args.resume, device, log
    )
    log(f"done: {metrics}")


def cmd_evaluate(args) -> None:
    device = select_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device)
    prepare = normalizer(checkpoint["config"], device)
    result = {"model": checkpoint["model"], **variant(checkpoint["model"], checkpoint["config"]),
              "params": count_parameters(model), "epochs": checkpoint["epochs"]}
    for split, path in (("train", args.train), ("test", args.test)):
        loss, acc = evaluate(model, load_split(path).to(device), prepare, args.batch_size)
        result.update({f"{split}_loss": loss, f"{split}_acc": acc})
    save_json(result, args.out)
    log(f"{result}")


def cmd_directions(args) -> None:
    model, checkpoint = load_checkpoint(args.checkpoint, torch.device("cpu"))
    seed = direction_seed(args.seed, checkpoint["model"])
    options = {"norm": args.norm, "ignore": args.ignore, "type": args.type}
    first, second = random_directions(model, seed, args.norm, args.ignore, args.type)
    blob = {"x": first, "y": second, "seed": seed, "cosine": cosine(first, second), "options": options,
            "checkpoint_sha256": sha256(args.checkpoint)}
    save_torch(blob, args.out)
    log(f"directions for {checkpoint['model']}: seed {seed}, {options}, cosine {blob['cosine']:.6f}")


def cmd_trajectory_directions(args) -> None:
    from .trajectory import trajectory_directions

    model, checkpoint = load_checkpoint(args.checkpoint, torch.device("cpu"))
    snapshots = checkpoint.get("snapshots")
    if not snapshots or len(snapshots["epochs"]) < 3:
        raise UserError(f"checkpoint {args.checkpoint} holds fewer than 3 weight snapshots: set "
                        f"train.models.{checkpoint['model']}.snapshots to N <= epochs / 2 and retrain")
    blob = trajectory_directions(model, snapshots["states"], args.ignore, args.type, args.grid, args.margin)
    blob.update(epochs=snapshots["epochs"], options={"ignore": args.ignore, "type": args.type},
                checkpoint_sha256=sha256(args.checkpoint), seed=None, cosine=0.0)
    save_torch(blob, args.out)
    explained = ", ".join(f"{100 * float(v):.1f}%" for v in blob["explained"])
    log(f"trajectory of {checkpoint['model']}: {len(snapshots['epochs'])} snapshots, explained variance {explained}"
        f" (Li et al. report 40-90% in two components); grid {blob['grid']}")


def _landscape_inputs(args) -> tuple[dict, dict]:
    landscape = json.loads(args.landscape)
    grid = load_torch(args.directions, "directions file").get("grid")
    if grid:  # a trajectory plane: its range follows the path
        landscape = {**landscape, **grid}
    provenance = {
        "checkpoint_sha256": sha256(args.checkpoint),
        "directions_sha256": sha256(args.directions),
        "x": list(landscape["x"]),
        "y": list(landscape["y"]),
        "split": landscape["split"],
        "samples": landscape["samples"],
        "sample_seed": landscape["seed"],
        "precision": landscape["precision"],
        "cap": landscape.get("cap"),
        "bn": landscape.get("bn"),  # present only for states-type planes (see plane_spec)
        "bn_samples": landscape.get("bn_samples"),
    }
    return landscape, provenance


def cmd_chunk(args) -> None:
    from .surface import PlaneEvaluator, evaluate_chunk, evaluation_subset, write_chunk

    landscape, provenance = _landscape_inputs(args)
    device = select_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device)
    directions = load_torch(args.directions, "directions file")
    data = evaluation_subset(load_split(args.data), landscape["samples"], landscape["seed"]).to(device)
    prepare = normalizer(checkpoint["config"], device)
    evaluator = PlaneEvaluator(model, directions["x"], directions["y"], data, prepare, **_surface_options(landscape),
                               bn_data=_bn_data(args, landscape, device))
    frame = evaluate_chunk(evaluator, landscape, args.chunk, log)
    write_chunk(frame, provenance, args.out)


def _bn_data(args, spec: dict, device: torch.device):
    """The training images BN statistics are recomputed from at every point when `spec["bn"]` is recompute (an
    interpolation's default; a states-type plane's when chosen), else None: BN statistics move with the directions."""
    from .surface import evaluation_subset

    if spec.get("bn", "interpolate") != "recompute":
        return None
    if not args.bn_data:
        raise UserError("bn = recompute needs the training split to recompute BN statistics from: pass --bn-data")
    return evaluation_subset(load_split(args.bn_data), spec["bn_samples"], spec["seed"], "bn_samples").to(device)


def bn_treatment(spec: dict) -> str:
    """How a curve or plane treats BN statistics, in words for figures and provenance."""
    if spec.get("bn", "interpolate") == "recompute":
        return f"BN statistics recomputed at every point on {spec['bn_samples']:,} training images"
    return "BN statistics interpolated with the weights (loss-landscape's dir_type states)"


def _evaluator_options(landscape: dict) -> dict:
    return {"batch_size": landscape["batch_size"], "fold_bn": landscape.get("fold_bn", True),
            "precision": landscape.get("precision", "fp32"), "compile": landscape.get("compile", False)}


def _surface_options(landscape: dict) -> dict:
    """A surface's evaluator also stops a point early once its loss is certainly above `landscape.cap`."""
    return {**_evaluator_options(landscape), "cap": landscape.get("cap")}


def _curve_splits(args, landscape: dict, device: torch.device) -> dict:
    """The landscape's evaluation subset of the train split and as many images of the test split."""
    from .surface import evaluation_subset

    splits = {}
    for split, path in (("train", args.train), ("test", args.test)):
        data = load_split(path)
        splits[split] = evaluation_subset(data, min(landscape["samples"], len(data)), landscape["seed"]).to(device)
    return splits


def _save_curve(curve: dict, provenance: dict, npz_path: str) -> None:

    with atomic_write(npz_path) as handle:
        np.savez(handle, **{key: np.asarray(value) for key, value in curve.items()})
    save_json({**provenance, "versions": _versions()}, Path(npz_path).with_suffix(".json"))
    at_zero = int(np.argmin(np.abs(curve["alpha"])))
    log(f"wrote {npz_path}: train loss {np.nanmin(curve['train_loss']):.4f}..{np.nanmax(curve['train_loss']):.4f}, "
        f"test loss at {curve['alpha'][at_zero]:g}: {curve['test_loss'][at_zero]:.4f}")


def _versions() -> dict:
    return {"lossland": __version__, "torch": torch.__version__, "numpy": np.__version__}


def cmd_line(args) -> None:
    from .surface import PlaneEvaluator, evaluate_curve

    landscape = json.loads(args.landscape)
    device = select_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device)
    directions = load_torch(args.directions, "directions file")
    prepare = normalizer(checkpoint["config"], device)
    splits = _curve_splits(args, landscape, device)
    evaluator = PlaneEvaluator(model, directions["x"], None, splits["train"], prepare, **_evaluator_options(landscape),
                               bn_data=_bn_data(args, landscape, device))
    low, high, num = landscape["line"]
    curve = evaluate_curve(evaluator, np.linspace(low, high, int(num)), splits, log, "line")
    provenance = {"checkpoint_sha256": sha256(args.checkpoint), "directions_sha256": sha256(args.directions),
                  "line": landscape["line"], "samples": landscape["samples"], "sample_seed": landscape["seed"],
                  "images": {split: len(data) for split, data in splits.items()}}
    if "bn" in landscape:
        provenance["bn"] = curve["bn"] = bn_treatment(landscape)
    _save_curve(curve, provenance, args.out)


def cmd_interpolate(args) -> None:
    from .interpolation import difference, negative_variance
    from .surface import PlaneEvaluator, evaluate_curve

    landscape = json.loads(args.landscape)
    device = select_device(args.device)
    model, checkpoint = load_checkpoint(args.a, device)
    other, other_checkpoint = load_checkpoint(args.b, torch.device("cpu"))
    kinds = [describe(c["model"], c["config"]) for c in (checkpoint, other_checkpoint)]
    if kinds[0] != kinds[1]:
        raise UserError(f"cannot interpolate {args.a} ({kinds[0]}) and {args.b} ({kinds[1]}): endpoints must be one "
                        "architecture")
    prepare = normalizer(checkpoint["config"], device)
    splits = _curve_splits(args, landscape, device)
    direction = difference(model, other)
    bn_data = _bn_data(args, landscape, device)
    evaluator = PlaneEvaluator(model, direction, None, splits["train"], prepare, **_evaluator_options(landscape),
                               bn_data=bn_data)
    low, high, num = args.alpha
    alphas = np.linspace(low, high, int(num))
    log(bn_treatment(landscape))
    curve = evaluate_curve(evaluator, alphas, splits, log, "interpolation")
    curve["bn"] = bn_treatment(landscape)
    curve["negative_variance"] = (np.zeros(len(alphas), dtype=bool) if bn_data is not None
                                  else negative_variance(direction, model, alphas))
    for split in splits:  # a loss that is not finite has no meaningful accuracy either
        curve[f"{split}_acc"][~np.isfinite(curve[f"{split}_loss"])] = np.nan
    undefined = ~np.isfinite(curve["train_loss"])
    if undefined.any():
        log(f"loss not finite at {int(undefined.sum())} of {len(alphas)} points (α = {alphas[undefined].min():g}.."
            f"{alphas[undefined].max():g}); {int(curve['negative_variance'].sum())} of them extrapolate a BN running "
            "variance below 0")
    provenance = {"a": args.a, "b": args.b, "a_sha256": sha256(args.a), "b_sha256": sha256(args.b),
                  "not_finite_points": int(undefined.sum()), "bn": curve["bn"],
                  "alpha": list(args.alpha), "samples": landscape["samples"], "sample_seed": landscape["seed"],
                  "images": {split: len(data) for split, data in splits.items()}}
    _save_curve(curve, provenance, args.out)


def cmd_surface(args) -> None:
    from .surface import merge_chunks, save_surface

    landscape, provenance = _landscape_inputs(args)
    surface = merge_chunks(args.chunks, provenance, landscape, ("loss", "acc", "capped"))
    surface["capped"] = surface["capped"].astype(bool)
    directions = load_torch(args.directions, "directions file")
    record = {
        **provenance,
        "directions_seed": directions["seed"],
        "directions_cosine": directions["cosine"],
        "directions_options": directions.get("options"),
        "chunks": len(args.chunks),
        "versions": _versions(),
    }
    capped = int(surface["capped"].sum())
    record["capped_points"] = capped
    save_surface(surface, record, args.npz, args.json)
    note = f", {capped} points above landscape.cap = {landscape.get('cap')} (lower bounds)" if capped else ""
    log(f"surface {surface['loss'].shape}: loss {surface['loss'].min():.4f}..{surface['loss'].max():.4f}{note}")


def _read_surface(path: str) -> dict:
    with np.load(path) as blob:
        return {key: blob[key] for key in blob.files}


def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def cmd_plot(args) -> None:
    from .plots import plot_landscape

    plot_landscape(_read_surface(args.surface), args.model, _read_json(args.metrics)["test_acc"], args.out)


def _geometry_inputs(args, device: torch.device, block: int = 0):
    """Spec, model (eval mode), its input transform and the `block`-th disjoint evaluation subset."""
    spec, model, checkpoint, prepare, split, batch = _geometry_setup(args, device)
    return spec, model, checkpoint, prepare, _geometry_subset(split, spec, block, device), batch


def _geometry_setup(args, device: torch.device):
    """Spec, model, checkpoint, input transform, the whole split (CPU) and the Hessian-vector product batch."""
    from .evaluate import batch_size_for

    spec = json.loads(args.geometry)
    model, checkpoint = load_checkpoint(args.checkpoint, device)
    prepare = normalizer(checkpoint["config"], device)
    return spec, model, checkpoint, prepare, load_split(args.data), batch_size_for(device, spec["batch_size"])


def _geometry_subset(split, spec: dict, block: int, device: torch.device):
    from .surface import evaluation_subset

    return evaluation_subset(split, spec["samples"], spec["seed"], "geometry.samples", block).to(device)


def _geometry_provenance(args, spec: dict) -> dict:
    return {"checkpoint_sha256": sha256(args.checkpoint), "samples": spec["samples"], "sample_seed": spec["seed"],
            **{key: spec[key] for key in ("tol", "params", "maxiter") if key in spec}, "versions": _versions()}


def cmd_hessian(args) -> None:
    from .geometry import HessianOperator, across_subsets, hessian_summary

    device = select_device(args.device)
    spec, model, checkpoint, prepare, split, batch = _geometry_setup(args, device)  # loaded once for every subset
    started, summaries = time.monotonic(), []
    for block in range(spec["repeats"]):
        data = _geometry_subset(split, spec, block, device)
        op = HessianOperator(model, data, prepare, batch, spec["params"])  # BN already affine after the first
        log(f"{checkpoint['model']}: subset {block + 1}/{spec['repeats']}, Hessian of the mean loss over {len(data)} "
            f"images, {op.size:,} parameters ({spec['params']})")
        summaries.append(hessian_summary(op, spec["top_k"], spec["probes"], spec["tol"], spec["seed"] + 2 * block,
                                         log, spec["maxiter"]))
    summary = across_subsets(summaries)
    summary.update(model=checkpoint["model"], seconds=time.monotonic() - started, probes=spec["probes"],
                   repeats=spec["repeats"], **_geometry_provenance(args, spec))
    save_json(summary, args.out)
    log(f"λmax {summary['lambda_max']:.4g} ± {summary['lambda_max_sd']:.2g}, trace {summary['trace']:.4g} ± "
        f"{summary['trace_sd']:.2g} over {spec['repeats']} disjoint subsets of {spec['samples']} images; wrote "
        f"{args.out} in {summary['seconds']:.0f}s")


def cmd_eigen_chunk(args) -> None:
    from .geometry import HessianOperator, extreme_eigenvalues
    from .surface import PlaneEvaluator, grid_chunk, write_chunk

    spec, model, _, prepare, data, batch = _geometry_inputs(args, select_device(args.device))
    directions = load_torch(args.directions, "directions file")
    plane = PlaneEvaluator(model, directions["x"], directions["y"], data, prepare, batch, fold_bn=False)
    op = HessianOperator(plane.model, data, prepare, batch, spec["params"])

    def measure(a: float, b: float) -> tuple[float, float, float]:
        plane.move(a, b)
        top, lowest = extreme_eigenvalues(op.linear_operator(), spec["tol"], spec["seed"], 1, spec["maxiter"])
        return op.loss(), float(top[0]), lowest

    grid = eigen_grid(spec)
    frame = grid_chunk(measure, grid, args.chunk, ("loss", "lambda_max", "lambda_min"), log)
    write_chunk(frame, _eigen_provenance(args, spec), args.out)


def _eigen_provenance(args, spec: dict) -> dict:
    """What an eigenvalue-map chunk was computed from; the merge refuses a chunk whose record differs."""
    return {"checkpoint_sha256": sha256(args.checkpoint), "samples": spec["samples"], "sample_seed": spec["seed"],
            "tol": spec["tol"], "directions_sha256": sha256(args.directions), "grid": spec["grid"],
            "params": spec["params"], "maxiter": spec["maxiter"]}


def eigen_grid(spec: dict) -> dict:
    return {"x": spec["grid"], "y": spec["grid"], "chunks": spec["chunks"]}


def cmd_eigen_map(args) -> None:
    from .surface import merge_chunks, save_surface

    spec = json.loads(args.geometry)
    provenance = _eigen_provenance(args, spec)
    grid = merge_chunks(args.chunks, provenance, eigen_grid(spec), ("loss", "lambda_max", "lambda_min"))
    grid["ratio"] = np.abs(grid["lambda_min"] / grid["lambda_max"])
    save_surface(grid, {**provenance, "chunks": len(args.chunks), "versions": _versions()}, args.npz, args.json)
    log(f"eigenvalue ratio |min/max| {np.nanmin(grid['ratio']):.4f}..{np.nanmax(grid['ratio']):.4f}")


def cmd_flatness(args) -> None:
    from .directions import direction_seed, direction_set
    from .geometry import flatness_stats
    from .surface import PlaneEvaluator, evaluate_curve

    spec, model, checkpoint, prepare, data, _ = _geometry_inputs(args, select_device(args.device))
    options = json.loads(args.options)
    seed = direction_seed(spec["seed"] + 1, checkpoint["model"])  # another stream than the surface's two
    directions = direction_set(model, seed, spec["directions"], options["norm"], options["ignore"],
                               options["type"])
    low, high, num = spec["line"]
    alphas = np.linspace(low, high, int(num))
    losses = []
    for k, direction in enumerate(directions, start=1):
        evaluator = PlaneEvaluator(model, direction, None, data, prepare, spec["batch_size"])  # folds a copy
        curve = evaluate_curve(evaluator, alphas, {"train": data}, lambda _: None)
        losses.append(curve["train_loss"])
        log(f"direction {k}/{len(directions)}: loss {curve['train_loss'].min():.4f}..{curve['train_loss'].max():.4f}")
    losses = np.array(losses)
    base = evaluate(model, data, prepare, spec["batch_size"])[0]
    stats = flatness_stats(alphas, losses, base, spec["delta"])
    stats.update(model=checkpoint["model"], loss=base, delta=spec["delta"], line=spec["line"], seed=seed,
                 options=options, **_geometry_provenance(args, spec))
    with atomic_write(args.npz) as handle:
        np.savez(handle, alpha=alphas, loss=losses, base=base)
    save_json(stats, args.json)
    log(f"rise@0.5 {stats['rise@0.5']:.4g} ± {stats['rise@0.5_sd']:.3g}, half-width {stats['half_width']:.3f}"
        f" ± {stats['half_width_sd']:.3f} over {len(directions)} directions")


def cmd_plot_eigen(args) -> None:
    from .plots import plot_eigen_map

    plot_eigen_map(_read_surface(args.map), _read_surface(args.surface), args.model, args.out)


def cmd_geometry_table(args) -> None:
    from .plots import plot_geometry
    from .report import geometry_table, write_table

    rows = {m: (_read_json(h), _read_json(f), _read_json(e)) for m, h, f, e in
            zip(args.models, args.hessians, args.flatness, args.metrics)}
    table = geometry_table(rows)
    write_table(table, args.csv, args.md)
    plot_geometry(table, args.figure)
    log(f"geometry of {len(table)} models")


def cmd_plot_curve(args) -> None:
    from .plots import plot_curve

    curve = _read_surface(args.curve)
    marks = {0.0: "A", 1.0: "B"} if args.kind == "interpolation" else {0.0: "trained"}
    xlabel = "α in (1−α)·θ_A + α·θ_B" if args.kind == "interpolation" else "distance along direction 1"
    plot_curve(curve, args.title, xlabel, args.out, marks)


def cmd_plot_trajectory(args) -> None:
    from .plots import plot_trajectory

    surface = _read_surface(args.surface)
    blob = load_torch(args.directions, "trajectory directions")
    path, explained = blob["path"].numpy(), blob["explained"].numpy()
    plot_trajectory(surface, path, blob["epochs"], explained, args.model, args.png)
    with atomic_write(args.npz) as handle:
        np.savez(handle, **surface, path=path, epochs=np.asarray(blob["epochs"]), explained=explained)
    log(f"{args.model}: explained variance {explained[0]:.3f} + {explained[1]:.3f} = {explained.sum():.3f}")


def cmd_paraview(args) -> None:
    from .paraview import write_vts

    write_vts(_read_surface(args.surface), args.out, args.log_height)
    log(f"wrote {args.out}")


def cmd_report(args) -> None:
    from .plots import plot_landscapes, plot_training_curves
    from .report import write_summary

    names = args.models
    write_summary({m: _read_json(p) for m, p in zip(names, args.metrics)}, args.summary_csv, args.summary_md)
    plot_training_curves({m: pd.read_csv(p) for m, p in zip(names, args.histories)}, args.curves)
    plot_landscapes({m: _read_surface(p) for m, p in zip(names, args.surfaces)}, args.landscapes)


def cmd_sweep_table(args) -> None:
    from . import sweep

    histories = {run: pd.read_csv(path) for run, path in zip(args.runs, args.histories)}
    table = sweep.sweep_table(histories, args.epochs, args.scheduled)
    if not len(args.lrs) == len(args.markdown) == len(args.heatmaps):
        raise UserError(f"{len(args.lrs)} learning rates but {len(args.markdown)} tables, {len(args.heatmaps)} heatmaps")
    sweep.write_table(table, args.table)
    for lr, markdown, heatmap in zip(args.lrs, args.markdown, args.heatmaps):
        save_text(sweep.lr_markdown(table, lr), markdown)
        sweep.plot_heatmap(table, lr, heatmap)
    log(f"sweep: {len(table)} cells, best {sweep.best_row(table).to_dict()}")


def cmd_ablation(args) -> None:
    from . import sweep

    table = pd.read_csv(args.table)
    run = Path(args.augmented).parent.name
    augmented = sweep.history_row(pd.read_csv(args.augmented), run)
    spec = json.loads(args.baseline) if args.baseline else None
    baseline = sweep.lookup(table, spec["batch_size"], spec["lr"], spec["epochs"]) if spec else None
    images = json.loads(args.images)
    save_text(sweep.ablation_markdown(baseline, sweep.best_row(table), augmented, images), args.out)


def add_step(steps, name: str, required: tuple[str, ...], **options) -> argparse.ArgumentParser:
    """A sub-command with the given required `--name VALUE` options."""
    step = steps.add_parser(name, **options)
    for option in required:
        step.add_argument(f"--{option}", required=True)
    return step


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossland", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=os.environ.get("LOSSLAND_DEVICE", "auto"), choices=["auto", "cpu", "cuda", "mps"])
    steps = parser.add_subparsers(dest="step", required=True)

    step = steps.add_parser("prepare-data")
    step.add_argument("--source", required=True)
    step.add_argument("--root", required=True)
    step.add_argument("--split", required=True, choices=["train", "test"])
    step.add_argument("--download", action="store_true")
    step.add_argument("--size", type=int, default=None)
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--out", required=True)
    step.set_defaults(run=cmd_prepare_data)

    step = add_step(steps, "train", ("model", "settings", "train", "test", "checkpoint", "history", "resume"))
    step.set_defaults(run=cmd_train)

    step = add_step(steps, "evaluate", ("checkpoint", "train", "test", "out"))
    step.add_argument("--batch-size", default="auto", help="a number, or auto (chosen for the device)")
    step.set_defaults(run=cmd_evaluate)

    step = steps.add_parser("directions")
    step.add_argument("--checkpoint", required=True)
    step.add_argument("--seed", type=int, required=True)
    step.add_argument("--norm", default="filter", choices=["filter", "layer", "weight"])
    step.add_argument("--ignore", default="biasbn", choices=["biasbn", "none"])
    step.add_argument("--type", default="weights", choices=["weights", "states"])
    step.add_argument("--out", required=True)
    step.set_defaults(run=cmd_directions)

    step = steps.add_parser("trajectory-directions", help="PCA plane of a checkpoint's weight snapshots")
    step.add_argument("--checkpoint", required=True)
    step.add_argument("--ignore", default="biasbn", choices=["biasbn", "none"])
    step.add_argument("--type", default="weights", choices=["weights", "states"])
    step.add_argument("--grid", type=int, nargs=2, required=True, metavar=("NX", "NY"))
    step.add_argument("--margin", type=float, required=True, help="fraction of the path's extent added each side")
    step.add_argument("--out", required=True)
    step.set_defaults(run=cmd_trajectory_directions)

    step = add_step(steps, "line", ("checkpoint", "directions", "train", "test", "landscape", "out"),
                    help="1-D curve along the first direction, train subset and test split")
    step.add_argument("--bn-data", help="training split whose subset recomputes BN statistics (bn: recompute)")
    step.set_defaults(run=cmd_line)

    step = add_step(steps, "interpolate", ("a", "b", "train", "test", "landscape", "out"),
                    help="loss along (1-a)*theta_a + a*theta_b, weights and BN statistics")
    step.add_argument("--alpha", type=float, nargs=3, required=True, metavar=("MIN", "MAX", "NUM"))
    step.add_argument("--bn-data", help="training split whose subset recomputes BN statistics (bn: recompute)")
    step.set_defaults(run=cmd_interpolate)

    step = add_step(steps, "chunk", ("checkpoint", "directions", "data", "landscape", "out"))
    step.add_argument("--chunk", type=int, required=True)
    step.add_argument("--bn-data", help="training split whose subset recomputes BN statistics (bn: recompute)")
    step.set_defaults(run=cmd_chunk)

    step = add_step(steps, "surface", ("checkpoint", "directions", "landscape", "npz", "json"))
    step.add_argument("--chunks", nargs="+", required=True)
    step.set_defaults(run=cmd_surface)

    step = add_step(steps, "plot", ("surface", "metrics", "model", "out"))
    step.set_defaults(run=cmd_plot)

    step = add_step(steps, "hessian", ("checkpoint", "data", "geometry", "out"),
                    help="top eigenvalues, most negative eigenvalue and trace of the Hessian")
    step.set_defaults(run=cmd_hessian)

    step = add_step(steps, "eigen-chunk", ("checkpoint", "directions", "data", "geometry", "out"),
                    help="λmax and λmin at the points of one chunk of the eigenvalue map")
    step.add_argument("--chunk", type=int, required=True)
    step.set_defaults(run=cmd_eigen_chunk)

    step = add_step(steps, "eigen-map", ("checkpoint", "directions", "geometry", "npz", "json"))
    step.add_argument("--chunks", nargs="+", required=True)
    step.set_defaults(run=cmd_eigen_map)

    step = add_step(steps, "flatness", ("checkpoint", "data", "geometry", "options", "npz", "json"),
                    help="loss along many random directions and its statistics")
    step.set_defaults(run=cmd_flatness)

    step = add_step(steps, "plot-eigen", ("map", "surface", "model", "out"))
    step.set_defaults(run=cmd_plot_eigen)

    step = steps.add_parser("geometry-table")
    for name in ("models", "hessians", "flatness", "metrics"):
        step.add_argument(f"--{name}", nargs="+", required=True)
    for name in ("csv", "md", "figure"):
        step.add_argument(f"--{name}", required=True)
    step.set_defaults(run=cmd_geometry_table)

    step = add_step(steps, "plot-curve", ("curve", "title", "out"))
    step.add_argument("--kind", choices=["line", "interpolation"], required=True)
    step.set_defaults(run=cmd_plot_curve)

    step = add_step(steps, "plot-trajectory", ("surface", "directions", "model", "png", "npz"))
    step.set_defaults(run=cmd_plot_trajectory)

    step = steps.add_parser("paraview", help="a surface as a VTK structured grid (.vts) for ParaView")
    step.add_argument("--surface", required=True)
    step.add_argument("--out", required=True)
    step.add_argument("--log-height", action="store_true", help="height = log(loss), as h52vtp.py --log")
    step.set_defaults(run=cmd_paraview)

    step = steps.add_parser("report")
    for name in ("models", "metrics", "histories", "surfaces"):
        step.add_argument(f"--{name}", nargs="+", required=True)
    for name in ("summary-csv", "summary-md", "curves", "landscapes"):
        step.add_argument(f"--{name}", required=True)
    step.set_defaults(run=cmd_report)

    step = steps.add_parser("sweep-table")
    step.add_argument("--runs", nargs="+", required=True)
    step.add_argument("--histories", nargs="+", required=True)
    step.add_argument("--epochs", nargs="+", type=int, required=True)
    step.add_argument("--lrs", nargs="+", type=float, required=True, help="in the order of --markdown/--heatmaps")
    step.add_argument("--scheduled", action="store_true")
    step.add_argument("--table", required=True)
    step.add_argument("--markdown", nargs="+", required=True)
    step.add_argument("--heatmaps", nargs="+", required=True)
    step.set_defaults(run=cmd_sweep_table)

    step = add_step(steps, "ablation", ("table", "augmented", "images", "out"))
    step.add_argument("--baseline", default="", help="JSON {batch_size, lr, epochs} of the study's baseline")
    step.set_defaults(run=cmd_ablation)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("SLURM_JOB_ID"):
        log(f"SLURM_JOB_ID={os.environ['SLURM_JOB_ID']} on {os.uname().nodename}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
