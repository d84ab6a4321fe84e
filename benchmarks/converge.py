"""Time to accuracy: a training recipe against the study's, trained side by side in one run on this machine.

bench.py --parts converge trains `--converge-model` (ResNet-20) with the recipe of `--recipe` (a preset's
train.defaults over config.yaml's) on the training split less a held-out validation split, evaluating the
validation and test splits after every epoch, then the study's recipe (config.yaml) for the same wall time. It prints
each epoch, the wall time at which the test accuracy first reached each `--targets` accuracy, and both runs' final
accuracies. Wall time counts training and the per-epoch evaluations, from the first step. The recipe is judged on the
validation accuracy; the test accuracy is only reported.

The training is the workflow's own (models.build, train.make_optimizer, lr_factor and train_epoch, the preset's
settings, precision auto resolved for this machine), so what it measures is what `snakemake` runs.
"""

import contextlib
import math
import time
from pathlib import Path

import torch
from lossland.config import train_settings
from lossland.data import load_split, normalizer, prepare_split
from lossland.device import resolve_precision
from lossland.estimate import read_config
from lossland.evaluate import evaluate
from lossland.train import lr_factor, start, train_epoch

REPO = Path(__file__).resolve().parents[1]


def recipe_settings(configfiles: list[str], model: str, validation: int, device) -> dict:
    """The training settings of `model` under config.yaml and `configfiles` (read from the repository root), holding
    out `validation` training images (data.seed's stratified subset), precision resolved for `device`."""
    with contextlib.chdir(REPO):
        config = read_config(configfiles)
    settings = train_settings(config, model)
    holdout = {"images": validation, "seed": config["data"]["seed"]} if validation else None
    return {**settings, "validation": holdout, "precision": resolve_precision(settings["precision"], device)}


def prepare(args, work: Path) -> tuple[Path, Path]:
    """The training and test splits (`--converge-images` / `--converge-test` of them, all where not given)."""
    paths = work / "converge_train.pt", work / "converge_test.pt"
    for split, size, path in zip(("train", "test"), (args.converge_images, args.converge_test), paths):
        prepare_split("imagefolder", str(args.data), split, False, size, 0, str(path))
    return paths


def train_timed(label: str, model_name: str, settings: dict, splits: tuple[Path, Path], device,
                seconds: float = math.inf) -> tuple[list[dict], torch.nn.Module]:
    """Epochs of `settings` (stopping early once `seconds` of wall time are spent): per epoch the elapsed wall time
    and the validation and test accuracy; and the trained model."""
    settings, _, _, (train_data, val_data, test_data), model, optimizer = start(model_name, settings, *splits, device)
    steps_per_epoch = math.ceil(len(train_data) / settings["batch_size"])
    factor = lr_factor(settings["schedule"], steps_per_epoch, steps_per_epoch * settings["epochs"])
    scale, step, epochs, started = normalizer(settings, device), 0, [], time.perf_counter()
    for epoch in range(1, settings["epochs"] + 1):
        train_loss, train_acc, step = train_epoch(model, optimizer, train_data, settings, scale, epoch, step, factor)
        val_acc = evaluate(model, val_data, scale, settings["eval_batch_size"])[1] if val_data is not None else math.nan
        test_acc = evaluate(model, test_data, scale, settings["eval_batch_size"])[1]
        record = dict(epoch=epoch, seconds=time.perf_counter() - started, train_loss=train_loss, train_acc=train_acc,
                      val_acc=val_acc, test_acc=test_acc)
        epochs.append(record)
        print(f"  {label} epoch {epoch}/{settings['epochs']}: {record['seconds'] / 60:.1f} min, train loss "
              f"{train_loss:.4f}, validation {val_acc:.4f}, test {test_acc:.4f}", flush=True)
        if record["seconds"] >= seconds:
            break
    return epochs, model


def first_reached(epochs: list[dict], target: float) -> dict | None:
    """The first epoch whose test accuracy reached `target`, or None."""
    return next((record for record in epochs if record["test_acc"] >= target), None)


def reached_text(epochs: list[dict], target: float) -> str:
    record = first_reached(epochs, target)
    if record is None:
        return f"not in {epochs[-1]['seconds'] / 60:.1f} min"
    return f"{record['seconds'] / 60:.1f} min (epoch {record['epoch']})"


def describe(settings: dict) -> str:
    schedule = settings["schedule"]
    parts = [f"{settings['optimizer']}{' nesterov' if settings.get('nesterov') else ''} lr {settings['lr']:g}",
             f"batch {settings['batch_size']}", f"{settings['epochs']} epochs", f"schedule {schedule['type']}"]
    parts += [f"warm-up {schedule['warmup']:g}"] if schedule.get("warmup") else []
    parts += [f"wd {settings['weight_decay']:g}"] if settings["weight_decay"] else []
    parts += [f"label smoothing {settings['label_smoothing']:g}"] if settings.get("label_smoothing") else []
    parts += ["crop+flip"] if settings["augment"] else []
    return ", ".join(parts + [settings["precision"]])


def bench_converge(args, work: Path, device, rows: list) -> None:
    """The recipe, then the study's recipe for as long (or `--baseline-minutes`): a row per target accuracy."""
    model = args.converge_model
    recipe = recipe_settings([str(args.recipe)], model, args.validation, device)
    baseline = recipe_settings([], model, args.validation, device)
    if args.converge_epochs:
        recipe = {**recipe, "epochs": args.converge_epochs}
    splits = prepare(args, work)
    print(f"converge: {model}, recipe ({args.recipe}): {describe(recipe)}", flush=True)
    ours, _ = train_timed("recipe", model, recipe, splits, device)
    budget = 60 * args.baseline_minutes if args.baseline_minutes else ours[-1]["seconds"]
    print(f"converge: the study's recipe (config.yaml): {describe(baseline)}, for {budget / 60:.1f} min", flush=True)
    theirs, _ = train_timed("study's recipe", model, baseline, splits, device, seconds=budget)
    for target in args.targets:
        rows.append((f"time to {100 * target:g}% test accuracy, {model}", reached_text(ours, target),
                     reached_text(theirs, target), "", f"recipe: {describe(recipe)}"))
    final = (f"{ours[-1]['val_acc']:.4f} / {ours[-1]['test_acc']:.4f}",
             f"{theirs[-1]['val_acc']:.4f} / {theirs[-1]['test_acc']:.4f}")
    rows.append((f"validation / test accuracy at the end, {model}", *final, "",
                 f"recipe after {ours[-1]['seconds'] / 60:.1f} min, the study's after {theirs[-1]['seconds'] / 60:.1f}"
                 f" min ({theirs[-1]['epoch']} epochs); {len(load_split(splits[0])) - (args.validation or 0):,} "
                 f"training images, {args.validation or 0:,} held out"))
