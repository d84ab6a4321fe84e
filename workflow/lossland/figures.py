"""The figures and tables: one figure (or ParaView file) of one model or pair, and the tables across models or sweep
runs; one function per kind (`kinds.KINDS`). Each takes its job spec ({settings, inputs, outputs}: see `plan`) and
the device name (unused: these jobs read arrays and JSON, and never import torch unless a figure reads a torch
file)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .io import atomic_write, load_torch, read_arrays, save_arrays, save_text
from .logs import log


def read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def label_of(settings: dict) -> str:
    return settings.get("label", settings.get("model"))


def wrote(outputs: dict) -> None:
    log(f"wrote {', '.join(map(str, outputs.values()))}")


def plot_landscape(spec: dict, device_name: str) -> None:
    from .plots import plot_landscape as draw

    inputs, outputs = spec["inputs"], spec["outputs"]
    draw(read_arrays(inputs["surface"]), label_of(spec["settings"]), read_json(inputs["metrics"])["test_acc"],
         outputs["png"])
    wrote(outputs)


def plot_line(spec: dict, device_name: str) -> None:
    from .plots import plot_curve

    title = f"{label_of(spec['settings'])}: loss and accuracy along direction 1"
    plot_curve(read_arrays(spec["inputs"]["curve"]), title, "distance along direction 1", spec["outputs"]["png"],
               {0.0: "trained"})
    wrote(spec["outputs"])


def plot_interpolation(spec: dict, device_name: str) -> None:
    from .plots import plot_curve

    plot_curve(read_arrays(spec["inputs"]["curve"]), spec["settings"]["title"], "α in (1−α)·θ_A + α·θ_B",
               spec["outputs"]["png"], {0.0: "A", 1.0: "B"})
    wrote(spec["outputs"])


def plot_eigen(spec: dict, device_name: str) -> None:
    from .plots import plot_eigen_map

    inputs = spec["inputs"]
    plot_eigen_map(read_arrays(inputs["map"]), read_arrays(inputs["surface"]), label_of(spec["settings"]),
                   spec["outputs"]["png"])
    wrote(spec["outputs"])


def plot_trajectory(spec: dict, device_name: str) -> None:
    from .plots import plot_trajectory as draw

    settings, inputs, outputs = spec["settings"], spec["inputs"], spec["outputs"]
    surface = read_arrays(inputs["surface"])
    blob = load_torch(inputs["directions"], "trajectory directions")
    path, explained = blob["path"].numpy(), blob["explained"].numpy()
    draw(surface, path, blob["epochs"], explained, label_of(settings), outputs["png"])
    save_arrays({**surface, "path": path, "epochs": np.asarray(blob["epochs"]), "explained": explained},
                outputs["npz"])
    log(f"{settings['model']}: explained variance {explained[0]:.3f} + {explained[1]:.3f} = {explained.sum():.3f}")
    wrote(outputs)


def plot_hessian_plane(spec: dict, device_name: str) -> None:
    from .plots import plot_landscapes

    inputs, label = spec["inputs"], label_of(spec["settings"])
    first, second = load_torch(inputs["directions"], "Hessian plane directions")["eigenvalues"]
    plot_landscapes({f"{label}: random plane": read_arrays(inputs["random"]),
                     f"{label}: Hessian plane\n(λ1 {first:.4g}, λ2 {second:.4g})": read_arrays(inputs["hessian"])},
                    spec["outputs"]["png"], shared_axes=False)
    wrote(spec["outputs"])


def export_paraview(spec: dict, device_name: str) -> None:
    from .paraview import write_vts

    write_vts(read_arrays(spec["inputs"]["surface"]), spec["outputs"]["vts"], spec["settings"]["log_height"])
    wrote(spec["outputs"])


def report(spec: dict, device_name: str) -> None:
    report_tables(spec["settings"], spec["inputs"], spec["outputs"])


def geometry_table(spec: dict, device_name: str) -> None:
    geometry_tables(spec["settings"], spec["inputs"], spec["outputs"])


def sweep_table(spec: dict, device_name: str) -> None:
    sweep_tables(spec["settings"], spec["inputs"], spec["outputs"])


def ablation(spec: dict, device_name: str) -> None:
    ablation_table(spec["settings"], spec["inputs"], spec["outputs"])


def page(spec: dict, device_name: str) -> None:
    from .page import write_page

    write_page(spec["settings"], spec["inputs"], spec["outputs"]["html"])


def connectivity_table(spec: dict, device_name: str) -> None:
    from .connectivity import write

    write(spec["settings"], spec["inputs"], spec["outputs"])


def density_figure(spec: dict, device_name: str) -> None:
    from .plots import plot_densities

    settings = spec["settings"]
    plot_densities({(model, seed): read_arrays(path) for (model, seed), path
                    in runs_of(settings, "runs", spec["inputs"]["densities"]).items()}, settings.get("labels", {}),
                   spec["outputs"]["png"])


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
    widths = settings.get("widths", {})
    claims = claims_table(accuracy.merge(curvature, on=["model", "seed"], how="left"), widths)
    if inputs.get("connectivity"):  # the barriers between seeds (connectivity.py), over disjoint pairs
        from .claims import barrier_claims
        from .connectivity import pair_rows

        pairs = pair_rows({"pairs": settings["connectivity_pairs"]}, inputs["connectivity"])
        claims = pd.concat([claims, barrier_claims(pairs, widths)], ignore_index=True)
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


def ablation_table(settings: dict, inputs: dict, outputs: dict) -> None:
    from . import sweep

    frame = pd.read_csv(inputs["table"])
    run = Path(inputs["augmented"]).parent.name
    augmented = sweep.history_row(pd.read_csv(inputs["augmented"]), run)
    base = settings["baseline"]
    baseline = sweep.lookup(frame, base["batch_size"], base["lr"], base["epochs"]) if base else None
    save_text(sweep.ablation_markdown(baseline, sweep.best_row(frame), augmented, settings["images"]), outputs["md"])
