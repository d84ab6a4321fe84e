"""The jobs that are not measurements (see `measure` for those): data, training, evaluation, directions, figures and
tables. Each takes its job spec ({kind, settings, inputs, outputs}: see `plan`) and the device name."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .config import select_device
from .data import load_split, normalizer, prepare_split, split_info
from .errors import UserError
from .evaluate import evaluate
from .io import atomic_write, load_torch, read_arrays, save_arrays, save_json, save_text, save_torch, sha256
from .measure import log
from .models import count_parameters, load_checkpoint, variant


def prepare_data(spec: dict, device_name: str) -> None:
    s, out = spec["settings"], spec["outputs"]["split"]
    prepare_split(s["source"], s["root"], s["split"], s["download"], s["size"], s["seed"], out, s.get("name", "cifar10"))
    log(f"wrote {out} ({len(load_split(out))} images)")


def train(spec: dict, device_name: str) -> None:
    from .train import train_model

    settings, inputs, outputs = spec["settings"], spec["inputs"], spec["outputs"]
    device = select_device(device_name)
    log(f"training {settings['model']} on {device} with {json.dumps(settings['settings'], sort_keys=True)}")
    metrics = train_model(settings["model"], settings["settings"], inputs["train"], inputs["test"],
                          outputs["checkpoint"], outputs["history"], spec["scratch"]["resume"], device, log,
                          builder=inputs.get("builder"), snapshots_path=outputs.get("snapshots"))
    log(f"done: {metrics}")


def import_checkpoint(spec: dict, device_name: str) -> None:
    """A checkpoint trained elsewhere, as one of this workflow's: its state_dict (unwrapped, DataParallel prefixes
    removed) fitted to the model the config builds, with the settings it is evaluated with and its file's sha256."""
    from .io import load_torch
    from .models import build, fit_state_dict, unwrap_state_dict
    from .train import measured_normalization, model_record

    settings, inputs = spec["settings"], spec["inputs"]
    name, source = settings["model"], inputs["source"]
    info = split_info(inputs["train"])
    shape = {"classes": len(info["classes"]), "channels": info["channels"], "size": info["size"]}
    model = build(name, settings["settings"], shape)
    fit_state_dict(model, unwrap_state_dict(load_torch(source, "checkpoint"), source), source)
    config = {**variant(name, settings["settings"]), **measured_normalization(settings["settings"], info)}
    checkpoint = dict(model=name, state_dict=model.state_dict(), config=config, epochs=None, metrics={},
                      source={"path": source, "sha256": sha256(source)},
                      **model_record(model, shape, info["classes"], inputs.get("builder")))
    save_torch(checkpoint, spec["outputs"]["checkpoint"])
    log(f"imported {source} as {name}: {checkpoint['parameters']:,} parameters, {len(checkpoint['layers'])} layers")


def evaluate_model(spec: dict, device_name: str) -> None:
    device = select_device(device_name)
    model, checkpoint = load_checkpoint(spec["inputs"]["checkpoint"], device, spec["settings"].get("architecture"))
    prepare = normalizer(checkpoint["config"], device)
    result = {"model": checkpoint["model"], **variant(checkpoint["model"], checkpoint["config"]),
              "params": count_parameters(model), "epochs": checkpoint["epochs"],
              **{key: checkpoint[key] for key in ("layers", "builder_sha256", "source") if key in checkpoint}}
    for split in ("train", "test"):
        data = load_split(spec["inputs"][split]).to(device)
        loss, acc = evaluate(model, data, prepare, spec["settings"]["batch_size"])
        result.update({f"{split}_loss": loss, f"{split}_acc": acc})
    save_json(result, spec["outputs"]["json"])
    log(f"{result}")


def directions(spec: dict, device_name: str) -> None:
    """The two directions of a plane: seeded random ones (span random) or the optimizer path's PCA (trajectory)."""
    settings, path = spec["settings"], spec["inputs"]["checkpoint"]
    if settings["span"] == "hessian":
        save_torch(hessian_directions(spec, device_name), spec["outputs"]["directions"])
        return
    model, checkpoint = load_checkpoint(path, torch.device("cpu"), settings.get("architecture"))
    if settings["span"] == "trajectory":
        blob = trajectory_directions(model, checkpoint, path, spec["inputs"]["snapshots"], settings)
    else:
        from .directions import cosine, direction_seed, random_directions

        seed = direction_seed(settings["seed"], checkpoint["model"])
        options = {key: settings[key] for key in ("norm", "ignore", "type")}
        first, second = random_directions(model, seed, options["norm"], options["ignore"], options["type"])
        blob = {"x": first, "y": second, "seed": seed, "cosine": cosine(first, second), "options": options,
                "checkpoint_sha256": sha256(path)}
        log(f"directions for {checkpoint['model']}: seed {seed}, {options}, cosine {blob['cosine']:.6f}")
    save_torch(blob, spec["outputs"]["directions"])


def hessian_directions(spec: dict, device_name: str) -> dict:
    """The plane of the Hessian's top two eigenvectors (unit vectors over `geometry.params`, zero elsewhere), on the
    geometry's first image subset; its range ±r with ½·λ1·r² = `rise` (the quadratic model's rise along v1)."""
    from .directions import cosine
    from .evaluate import batch_size_for
    from .geometry import HessianOperator, top_eigenvectors
    from .surface import evaluation_subset

    settings, path = spec["settings"], spec["inputs"]["checkpoint"]
    device = select_device(device_name)
    model, checkpoint = load_checkpoint(path, device, settings.get("architecture"))
    names = {id(p): name for name, p in model.named_parameters()}
    shapes = {name: p.shape for name, p in model.named_parameters()}
    data = evaluation_subset(load_split(spec["inputs"]["data"]), settings["samples"], settings["seed"],
                             "geometry.samples").to(device)
    op = HessianOperator(model, data, normalizer(checkpoint["config"], device),
                         batch_size_for(device, settings["batch_size"]), settings["params"])
    values, vectors = top_eigenvectors(op, 2, settings["tol"], settings["seed"], settings["maxiter"])
    planes = []
    for vector in vectors:  # unit vectors over op.params, zero on every other parameter
        pieces = op._split(torch.as_tensor(vector, dtype=torch.float32, device=device))
        direction = {name: torch.zeros(shape) for name, shape in shapes.items()}
        direction.update({names[id(p)]: piece.cpu().clone() for p, piece in zip(op.params, pieces)})
        planes.append(direction)
    if values[0] <= 0:
        raise UserError(f"the Hessian of {path} has no positive eigenvalue ({values[0]:.4g}): no Hessian plane")
    reach = float(np.sqrt(2 * settings["rise"] / values[0]))
    (nx, ny) = settings["points"]
    log(f"Hessian plane of {checkpoint['model']}: λ1 {values[0]:.6g}, λ2 {values[1]:.6g} over {len(data)} images, "
        f"{op.size:,} parameters ({settings['params']}); range ±{reach:.4g} ({op.products} products)")
    return {"x": planes[0], "y": planes[1], "seed": None, "cosine": cosine(planes[0], planes[1]),
            "eigenvalues": values.tolist(), "grid": {"x": [-reach, reach, nx], "y": [-reach, reach, ny]},
            "options": {"span": "hessian", "params": settings["params"]}, "checkpoint_sha256": sha256(path)}


def trajectory_directions(model, checkpoint: dict, path: str, snapshots_path: str, settings: dict) -> dict:
    from .trajectory import trajectory_directions as pca_plane

    snapshots = load_torch(snapshots_path, "weight snapshots")
    final = snapshots["states"][-1]
    if any(not torch.equal(final[name], value.cpu()) for name, value in checkpoint["state_dict"].items()):
        raise UserError(f"{snapshots_path} is not from the training of {path} (its last snapshot differs from the "
                        "checkpoint's weights): delete both and rerun the workflow")
    if len(snapshots["epochs"]) < 3:
        raise UserError(f"{snapshots_path} holds fewer than 3 weight snapshots: set "
                        f"train.models.{checkpoint['model']}.snapshots to N <= epochs / 2 and retrain")
    blob = pca_plane(model, snapshots["states"], settings["ignore"], settings["type"], settings["grid"],
                     settings["margin"])
    blob.update(epochs=snapshots["epochs"], options={"ignore": settings["ignore"], "type": settings["type"]},
                checkpoint_sha256=sha256(path), seed=None, cosine=0.0)
    explained = ", ".join(f"{100 * float(v):.1f}%" for v in blob["explained"])
    log(f"trajectory of {checkpoint['model']}: {len(snapshots['epochs'])} snapshots, explained variance {explained}"
        f" (Li et al. report 40-90% in two components); grid {blob['grid']}")
    return blob


def read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def plot(spec: dict, device_name: str) -> None:
    """One figure (or export) of one model or pair, from its arrays."""
    from . import plots

    kind, settings, inputs, outputs = spec["kind"], spec["settings"], spec["inputs"], spec["outputs"]
    label = settings.get("label", settings.get("model"))
    if kind == "plot_landscape":
        plots.plot_landscape(read_arrays(inputs["surface"]), label,
                             read_json(inputs["metrics"])["test_acc"], outputs["png"])
    elif kind in ("plot_line", "plot_interpolation"):
        curve = read_arrays(inputs["curve"])
        if kind == "plot_line":
            title, marks = f"{label}: loss and accuracy along direction 1", {0.0: "trained"}
            xlabel = "distance along direction 1"
        else:
            title, marks, xlabel = settings["title"], {0.0: "A", 1.0: "B"}, "α in (1−α)·θ_A + α·θ_B"
        plots.plot_curve(curve, title, xlabel, outputs["png"], marks)
    elif kind == "plot_eigen":
        plots.plot_eigen_map(read_arrays(inputs["map"]), read_arrays(inputs["surface"]), label, outputs["png"])
    elif kind == "plot_trajectory":
        surface = read_arrays(inputs["surface"])
        blob = load_torch(inputs["directions"], "trajectory directions")
        path, explained = blob["path"].numpy(), blob["explained"].numpy()
        plots.plot_trajectory(surface, path, blob["epochs"], explained, label, outputs["png"])
        save_arrays({**surface, "path": path, "epochs": np.asarray(blob["epochs"]), "explained": explained},
                    outputs["npz"])
        log(f"{settings['model']}: explained variance {explained[0]:.3f} + {explained[1]:.3f} = {explained.sum():.3f}")
    elif kind == "plot_hessian_plane":
        blob = load_torch(inputs["directions"], "Hessian plane directions")
        first, second = blob["eigenvalues"]
        plots.plot_landscapes({f"{label}: random plane": read_arrays(inputs["random"]),
                               f"{label}: Hessian plane\n(λ1 {first:.4g}, λ2 {second:.4g})": read_arrays(inputs["hessian"])},
                              outputs["png"], shared_axes=False)
    elif kind == "paraview":
        from .paraview import write_vts

        write_vts(read_arrays(inputs["surface"]), outputs["vts"], settings["log_height"])
    else:
        raise UserError(f"plot does not draw {kind!r} jobs")
    log(f"wrote {', '.join(map(str, outputs.values()))}")


def table(spec: dict, device_name: str) -> None:
    """A table (and its figures) across models or sweep runs."""
    kind, settings, inputs, outputs = spec["kind"], spec["settings"], spec["inputs"], spec["outputs"]
    if kind == "report":
        report_tables(settings, inputs, outputs)
    elif kind == "geometry_table":
        geometry_tables(settings, inputs, outputs)
    elif kind == "sweep_table":
        sweep_tables(settings, inputs, outputs)
    elif kind == "ablation":
        ablation(settings, inputs, outputs)
    elif kind == "page":
        from .page import write_page

        write_page(settings, inputs, outputs["html"])
    elif kind == "density_figure":
        from .plots import plot_densities

        labels = settings.get("labels", {})
        plot_densities({(model, seed): read_arrays(path) for (model, seed), path
                        in runs_of(settings, "runs", inputs["densities"]).items()}, labels, outputs["png"])
    else:
        raise UserError(f"table does not make {kind!r} jobs")


def runs_of(settings: dict, key: str, paths: list[str]) -> dict[tuple[str, int], str]:
    """{(model, seed): path} of a table job's per-run inputs (`settings[key]`: [model, seed] of each, in order)."""
    return {(model, seed): path for (model, seed), path in zip(settings[key], paths, strict=True)}


def report_tables(settings: dict, inputs: dict, outputs: dict) -> None:
    """The summary table over seeds, the training curves (mean and band over seeds), the first runs' contours."""
    from .plots import plot_landscapes, plot_training_curves
    from .report import write_summary

    labels = settings.get("labels", {})
    metrics = {run: read_json(path) for run, path in runs_of(settings, "runs", inputs["metrics"]).items()}
    write_summary(metrics, outputs["summary_csv"], outputs["summary_md"], labels)
    histories: dict[str, list[pd.DataFrame]] = {}
    for (model, _), path in runs_of(settings, "trained", inputs["histories"]).items():
        histories.setdefault(labels.get(model, model), []).append(pd.read_csv(path))
    plot_training_curves(histories, outputs["curves"])
    plot_landscapes({labels.get(m, m): read_arrays(p) for m, p in zip(settings["models"], inputs["surfaces"])},
                    outputs["landscapes"])


def geometry_tables(settings: dict, inputs: dict, outputs: dict) -> None:
    """The geometry table and figure over seeds, and the claims table."""
    from .claims import claims_markdown, claims_table
    from .plots import plot_geometry
    from .report import geometry_rows, geometry_table, write_table

    runs = list(runs_of(settings, "runs", inputs["hessians"]))
    rows = {run: (read_json(h), read_json(f), read_json(m))
            for run, h, f, m in zip(runs, inputs["hessians"], inputs["flatness"], inputs["metrics"])}
    frame = geometry_table(rows, settings.get("labels"))
    write_table(frame, outputs["csv"], outputs["md"])
    plot_geometry(frame, outputs["figure"], settings.get("labels"))
    accuracy = pd.DataFrame([{"model": model, "seed": seed, "test_acc": read_json(path)["test_acc"]}
                             for (model, seed), path in runs_of(settings, "all_runs", inputs["all_metrics"]).items()])
    curvature = geometry_rows(rows)[["model", "seed", "lambda_max", "trace", "half_width"]]
    claims = claims_table(accuracy.merge(curvature, on=["model", "seed"], how="left"))
    with atomic_write(outputs["claims_csv"], "w") as handle:
        claims.to_csv(handle, index=False)
    save_text(claims_markdown(claims), outputs["claims_md"])
    log(f"geometry of {len(frame)} models over {len(rows)} runs; {len(claims)} claims")


def sweep_tables(settings: dict, inputs: dict, outputs: dict) -> None:
    from . import sweep

    histories = {run: pd.read_csv(path) for run, path in zip(settings["runs"], inputs["histories"])}
    frame = sweep.sweep_table(histories, settings["epochs"], settings["scheduled"])
    lrs, markdown, heatmaps = settings["lrs"], outputs["markdown"], outputs["heatmaps"]
    if not len(lrs) == len(markdown) == len(heatmaps):
        raise UserError(f"{len(lrs)} learning rates but {len(markdown)} tables, {len(heatmaps)} heatmaps")
    sweep.write_table(frame, outputs["table"])
    for lr, text_path, heatmap in zip(lrs, markdown, heatmaps):
        save_text(sweep.lr_markdown(frame, float(lr)), text_path)
        sweep.plot_heatmap(frame, float(lr), heatmap)
    log(f"sweep: {len(frame)} cells, best {sweep.best_row(frame).to_dict()}")


def ablation(settings: dict, inputs: dict, outputs: dict) -> None:
    from . import sweep

    frame = pd.read_csv(inputs["table"])
    run = Path(inputs["augmented"]).parent.name
    augmented = sweep.history_row(pd.read_csv(inputs["augmented"]), run)
    base = settings["baseline"]
    baseline = sweep.lookup(frame, base["batch_size"], base["lr"], base["epochs"]) if base else None
    save_text(sweep.ablation_markdown(baseline, sweep.best_row(frame), augmented, settings["images"]), outputs["md"])
