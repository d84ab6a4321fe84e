"""The command line the Snakemake rules call: `python -m lossland <step> ...`."""

import argparse
import os
import json
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
from .evaluate import evaluate
from .errors import UserError
from .io import load_torch, save_json, save_text, save_torch, sha256
from .models import count_parameters, load_checkpoint


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
    prepare = normalizer(checkpoint["config"]["normalize"], device)
    result = {"model": checkpoint["model"], "params": count_parameters(model), "epochs": checkpoint["epochs"]}
    for split, path in (("train", args.train), ("test", args.test)):
        loss, acc = evaluate(model, load_split(path).to(device), prepare, args.batch_size)
        result.update({f"{split}_loss": loss, f"{split}_acc": acc})
    save_json(result, args.out)
    log(f"{result}")


def cmd_directions(args) -> None:
    model, checkpoint = load_checkpoint(args.checkpoint, torch.device("cpu"))
    seed = direction_seed(args.seed, checkpoint["model"])
    first, second = random_directions(model, seed)
    blob = {"x": first, "y": second, "seed": seed, "cosine": cosine(first, second),
            "checkpoint_sha256": sha256(args.checkpoint)}
    save_torch(blob, args.out)
    log(f"directions for {checkpoint['model']}: seed {seed}, cosine {blob['cosine']:.6f}")


def _landscape_inputs(args) -> tuple[dict, dict]:
    landscape = json.loads(args.landscape)
    provenance = {
        "checkpoint_sha256": sha256(args.checkpoint),
        "directions_sha256": sha256(args.directions),
        "x": list(landscape["x"]),
        "y": list(landscape["y"]),
        "split": landscape["split"],
        "samples": landscape["samples"],
        "sample_seed": landscape["seed"],
        "precision": landscape["precision"],
    }
    return landscape, provenance


def cmd_chunk(args) -> None:
    from .surface import PlaneEvaluator, evaluate_chunk, evaluation_subset, write_chunk

    landscape, provenance = _landscape_inputs(args)
    device = select_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device)
    directions = load_torch(args.directions, "directions file")
    data = evaluation_subset(load_split(args.data), landscape["samples"], landscape["seed"]).to(device)
    prepare = normalizer(checkpoint["config"]["normalize"], device)
    evaluator = PlaneEvaluator(
        model, directions["x"], directions["y"], data, prepare, landscape["batch_size"],
        fold_bn=landscape["fold_bn"], precision=landscape["precision"], compile=landscape["compile"],
    )
    frame = evaluate_chunk(evaluator, landscape, args.chunk, log)
    write_chunk(frame, provenance, args.out)


def cmd_surface(args) -> None:
    from .surface import merge_chunks, save_surface

    landscape, provenance = _landscape_inputs(args)
    surface = merge_chunks(args.chunks, provenance, landscape)
    directions = load_torch(args.directions, "directions file")
    record = {
        **provenance,
        "directions_seed": directions["seed"],
        "directions_cosine": directions["cosine"],
        "chunks": len(args.chunks),
        "versions": {"lossland": __version__, "torch": torch.__version__, "numpy": np.__version__},
    }
    save_surface(surface, record, args.npz, args.json)
    log(f"surface {surface['loss'].shape}: loss {surface['loss'].min():.4f}..{surface['loss'].max():.4f}")


def _read_surface(path: str) -> dict:
    with np.load(path) as blob:
        return {key: blob[key] for key in blob.files}


def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def cmd_plot(args) -> None:
    from .plots import plot_landscape

    plot_landscape(_read_surface(args.surface), args.model, _read_json(args.metrics)["test_acc"], args.out)


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
    save_text(sweep.ablation_markdown(baseline, sweep.best_row(table), augmented), args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossland", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=os.environ.get("LOSSLAND_DEVICE", "auto"), choices=["auto", "cpu", "cuda"])
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

    step = steps.add_parser("train")
    for name in ("model", "settings", "train", "test", "checkpoint", "history", "resume"):
        step.add_argument(f"--{name}", required=True)
    step.set_defaults(run=cmd_train)

    step = steps.add_parser("evaluate")
    for name in ("checkpoint", "train", "test", "out"):
        step.add_argument(f"--{name}", required=True)
    step.add_argument("--batch-size", default="auto", help="a number, or auto (chosen for the device)")
    step.set_defaults(run=cmd_evaluate)

    step = steps.add_parser("directions")
    step.add_argument("--checkpoint", required=True)
    step.add_argument("--seed", type=int, required=True)
    step.add_argument("--out", required=True)
    step.set_defaults(run=cmd_directions)

    step = steps.add_parser("chunk")
    for name in ("checkpoint", "directions", "data", "landscape", "out"):
        step.add_argument(f"--{name}", required=True)
    step.add_argument("--chunk", type=int, required=True)
    step.set_defaults(run=cmd_chunk)

    step = steps.add_parser("surface")
    for name in ("checkpoint", "directions", "landscape", "npz", "json"):
        step.add_argument(f"--{name}", required=True)
    step.add_argument("--chunks", nargs="+", required=True)
    step.set_defaults(run=cmd_surface)

    step = steps.add_parser("plot")
    for name in ("surface", "metrics", "model", "out"):
        step.add_argument(f"--{name}", required=True)
    step.set_defaults(run=cmd_plot)

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

    step = steps.add_parser("ablation")
    for name in ("table", "augmented", "out"):
        step.add_argument(f"--{name}", required=True)
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
