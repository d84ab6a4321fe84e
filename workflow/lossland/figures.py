"""The figures and tables: one figure (or ParaView file) of one model or pair, and the tables across models or sweep
runs. Each takes its job spec ({kind, settings, inputs, outputs}: see `plan`) and the device name (unused: these jobs
read arrays and JSON, and never import torch unless a figure reads a torch file)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .io import atomic_write, load_torch, read_arrays, save_arrays, save_text
from .logs import log


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
