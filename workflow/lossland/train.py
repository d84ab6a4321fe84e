"""Training on device-resident data, resumable from the end of any epoch with bit-identical results.

Every epoch draws its data order, augmentation and dropout from generators seeded by (seed, epoch), so a run
resumed from the checkpoint of epoch k replays epochs k+1… exactly as an uninterrupted run would.
"""

import csv
import io
import math
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from .data import Dataset, augment, load_split, normalizer, split_info, stratified_indices
from .device import resolve_precision
from .errors import UserError
from .evaluate import autocast, evaluate
from .io import atomic_write, exclusive, load_torch, save_torch, sha256
from .models import build, count_parameters, layer_list, variant

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
VALIDATION_COLUMNS = ("val_loss", "val_acc")  # runs that hold out a validation split (the sweep's) also record these


def make_optimizer(settings: dict, params) -> torch.optim.Optimizer:
    name = settings["optimizer"]
    if name == "adam":
        return torch.optim.Adam(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=settings["lr"],
            momentum=settings["momentum"],
            nesterov=settings["nesterov"],
            weight_decay=settings["weight_decay"],
        )
    raise UserError(f"train optimizer {name!r} is unknown: use 'adam' or 'sgd'")


def lr_factor(schedule: dict, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base lr after `step` optimizer steps: a linear warm-up over `schedule["warmup"]` epochs
    (from 1/warm-up steps to 1; none when absent), then the schedule over the steps after it."""
    warmup = round(schedule.get("warmup", 0) * steps_per_epoch)
    decay = _decay(schedule, steps_per_epoch, warmup, max(1, total_steps - warmup))
    if not warmup:
        return decay
    return lambda step: (step + 1) / warmup if step < warmup else decay(step)


def _decay(schedule: dict, steps_per_epoch: int, start: int, steps: int) -> Callable[[int], float]:
    """The schedule's multiplier after `step` optimizer steps, its decay running over `steps` steps from `start`."""
    kind = schedule.get("type", "none")
    if kind == "none":
        return lambda step: 1.0
    if kind == "multistep":
        per_unit = steps_per_epoch if schedule.get("unit", "epoch") == "epoch" else 1
        milestones = [m * per_unit for m in schedule["milestones"]]
        gamma = schedule["gamma"]
        return lambda step: gamma ** sum(step >= m for m in milestones)
    if kind == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step - start, steps) / steps))
    if kind == "linear":
        return lambda step: 1.0 - min(step - start, steps) / steps
    raise UserError(f"train schedule type {kind!r} is unknown: use none, multistep, cosine or linear")


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1_000_003 + epoch)
    return generator


class Interrupted(Exception):
    pass


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def train_epoch(model, optimizer, data: Dataset, settings, prepare, epoch, step, factor, forward=None):
    """One epoch; returns mean train loss, accuracy and the optimizer step count. `forward`: e.g. a compiled model."""
    forward = forward or model
    device = data.labels.device
    generator = epoch_generator(settings["seed"], epoch, device)
    torch.manual_seed(settings["seed"] * 1_000_003 + epoch)  # dropout
    order = torch.randperm(len(data), generator=generator, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    smoothing = settings.get("label_smoothing", 0.0)
    model.train()
    for start in range(0, len(data), settings["batch_size"]):
        index = order[start : start + settings["batch_size"]]
        images, labels = data.images[index], data.labels[index]
        if settings["augment"]:
            images = augment(images, generator)
        for group in optimizer.param_groups:
            group["lr"] = settings["lr"] * factor(step)
        with autocast(device, settings["precision"]):
            logits = forward(prepare(images))
            loss = nn.functional.cross_entropy(logits.float(), labels, label_smoothing=smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        # the reported loss is the plain cross-entropy, comparable with the test loss, whatever the smoothing
        plain = nn.functional.cross_entropy(logits.detach().float(), labels) if smoothing else loss.detach()
        loss_sum += plain * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
    return loss_sum.item() / len(data), correct.item() / len(data), step


def write_history(history: list[dict], dest: str | Path) -> None:
    text = io.StringIO()
    columns = list(HISTORY_COLUMNS)
    if history and "val_acc" in history[0]:
        columns[3:3] = VALIDATION_COLUMNS
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_write(dest, "w") as handle:
        handle.write(text.getvalue())


def _snapshot_epochs(settings: dict) -> set[int]:
    """Epochs whose weights are kept for the optimizer trajectory: 0 (the initialisation), every N-th, the last."""
    every = settings.get("snapshots", 0)
    if not every:
        return set()
    return {0, *range(every, settings["epochs"] + 1, every), settings["epochs"]}


def _snapshot_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch{epoch:04d}.pt"


def _collect_snapshots(folder: Path, epochs: set[int]) -> dict:
    ordered = sorted(epochs)
    states = [load_torch(_snapshot_path(folder, e), "snapshot") for e in ordered]
    return {"epochs": ordered, "states": states}


def _load_resume(path: Path, model_name: str, settings: dict, data_sha256: dict, log) -> dict | None:
    if not path.exists():
        return None
    state = load_torch(path, "resume checkpoint")
    if state.get("model") != model_name or state.get("settings") != settings:
        log(f"ignoring {path}: it was written for other settings; starting from epoch 1")
        return None
    if state.get("data_sha256") != data_sha256:
        log(f"ignoring {path}: it was trained on other data (the prepared train/test files changed since); "
            "starting from epoch 1")
        return None
    return state


def _complete_snapshots(state: dict | None, folder: Path, epochs: set[int], log) -> dict | None:
    """The resume state, or None where a weight snapshot it needs is gone: two runs of one job (an orphan of a killed
    Snakemake and its rerun) can leave a resume point whose snapshots the other's finish removed. Starting over
    gives the same bits; resuming would fail on every rerun."""
    if state is None:
        return None
    done = len(state["history"])
    missing = sorted(e for e in epochs if e <= done and not _snapshot_path(folder, e).is_file())
    if missing:
        log(f"ignoring the resume point after epoch {done}: the weight snapshot of epoch {missing[0]} is gone (another "
            "run of this job finished or started over meanwhile); starting from epoch 1")
        return None
    return state


def split_validation(data: Dataset, settings: dict) -> tuple[Dataset, Dataset | None]:
    """(training images, validation images): `settings["validation"]` = {images, seed} holds out a seeded,
    class-stratified subset of the training split that the run never trains on; without it, (data, None)."""
    holdout = settings.get("validation")
    if not holdout:
        return data, None
    if holdout["images"] >= len(data):
        raise UserError(f"data.validation = {holdout['images']} leaves no training images of the {len(data)}: lower it")
    labels = data.labels.cpu().numpy()
    held = torch.from_numpy(stratified_indices(labels, holdout["images"], holdout["seed"]))
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[held] = False
    device = data.labels.device
    return data.subset(keep.nonzero().flatten().to(device)), data.subset(held.to(device))


def check_finite(model_name: str, epoch: int, loss: float, settings: dict) -> None:
    """A loss that turned NaN or infinite stops training: nothing downstream should see such weights."""
    if not math.isfinite(loss):
        raise UserError(f"{model_name}: the training loss became {loss} in epoch {epoch} (lr {settings['lr']:g}): "
                        "lower the lr for this model (train.models.<model>.lr) and rerun")


def measured_normalization(settings: dict, info: dict) -> dict:
    """Settings that normalize without giving mean/std take the training split's measured ones (recorded with it);
    given ones need one value, or one per channel of the data."""
    if settings.get("normalize") and "mean" not in settings and "mean" in info:
        return {**settings, "mean": info["mean"], "std": info["std"]}
    for key in ("mean", "std"):
        if settings.get("normalize") and key in settings and len(settings[key]) not in (1, info["channels"]):
            raise UserError(f"{key} has {len(settings[key])} values, the data {info['channels']} channel(s): give one "
                            f"value per channel in data.{key} (or null to measure them)")
    return settings


def model_record(model: torch.nn.Module, shape: dict, classes: list[str], builder: str | None = None) -> dict:
    """What a checkpoint says about the network and the data it expects: input shape, classes, parameter count,
    layer list and (a user's model) the sha256 of its builder's source file."""
    record = {"input": shape, "classes": list(classes), "parameters": count_parameters(model),
              "layers": layer_list(model)}
    return {**record, "builder_sha256": sha256(builder)} if builder else record


class Start(NamedTuple):
    """What a training starts from (`start`)."""
    settings: dict  # as run here: the split's normalization where the config gives none, precision auto resolved
    info: dict  # the training split's classes, channels, size (split_info)
    shape: dict  # what the model is built for: classes, channels, size
    data: tuple  # (train, validation or None, test) on the device
    model: nn.Module  # initialised from the settings' seed, on the device
    optimizer: torch.optim.Optimizer


def start(model_name: str, settings: dict, train_path: str, test_path: str, device: torch.device) -> Start:
    """The settings as this device runs them (the checkpoint's config and the resume point record them), the splits
    (less the validation images `settings` hold out), the initial model and its optimizer."""
    info = split_info(train_path)
    settings = {**measured_normalization(settings, info), "precision": resolve_precision(settings["precision"], device)}
    train_data, val_data = split_validation(load_split(train_path).to(device), settings)
    test_data = load_split(test_path).to(device)
    torch.manual_seed(settings["seed"])
    shape = {"classes": len(info["classes"]), "channels": info["channels"], "size": info["size"]}
    model = build(model_name, settings, shape).to(device, memory_format=torch.channels_last)
    return Start(settings, info, shape, (train_data, val_data, test_data), model,
                 make_optimizer(settings, model.parameters()))


def train_model(
    model_name: str,
    settings: dict[str, Any],
    train_path: str,
    test_path: str,
    checkpoint_path: str,
    history_path: str,
    resume_path: str,
    device: torch.device,
    log: Callable[[str], None] = print,
    builder: str | None = None,
    snapshots_path: str | None = None,
) -> dict[str, Any]:
    """Train `model_name` as `settings` say on the prepared splits; `builder`: the source file of a user's model,
    whose sha256 the checkpoint records. Resumes from `resume_path` (the end of the last epoch done); one run at a
    time: a second run of this job (an orphan of a killed Snakemake and its rerun) waits for the first to end instead
    of sharing its resume point and snapshots."""
    if _snapshot_epochs(settings) and snapshots_path is None:
        raise UserError(f"{model_name} keeps weight snapshots (snapshots: {settings['snapshots']}) but its job names "
                        "no file for them")
    resume_file = Path(resume_path)
    with exclusive(resume_file.parent, log):
        data_sha256 = {"train": sha256(train_path), "test": sha256(test_path)}
        settings, info, shape, data, model, optimizer = start(model_name, settings, train_path, test_path, device)
        run = {"model": model_name, "settings": settings, "data_sha256": data_sha256}
        history = fit(model, optimizer, run, data, resume_file, device, log)
        final = history[-1]
        metrics = {key: final[key] for key in ("train_loss", "train_acc", *VALIDATION_COLUMNS, "test_loss", "test_acc")
                   if key in final}
        checkpoint = dict(model=model_name, state_dict=model.state_dict(),
                          config={**variant(model_name, settings), **settings},  # the architecture, defaults included
                          epochs=len(history), metrics=metrics, data_sha256=data_sha256,
                          **model_record(model, shape, info["classes"], builder))
        _finish(checkpoint, history, settings, checkpoint_path, history_path, snapshots_path, resume_file)
        return metrics


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, run: dict, data: tuple, resume_file: Path,
        device: torch.device, log) -> list[dict]:
    """`model` trained for `run["settings"]["epochs"]` epochs on data = (train, validation or None, test), from the
    resume point in `resume_file` where there is one of this run (`run`: its model name, settings and data sha256):
    the history. A SIGTERM ends it with one line, the resume point of the last epoch done kept."""
    name, settings = run["model"], run["settings"]
    history, step = _restore(model, optimizer, name, settings, run["data_sha256"], resume_file, log)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        _epochs(model, optimizer, settings, *data, history, step, run, resume_file, device, log)
    except Interrupted as signal_name:
        raise UserError(
            f"{name}: stopped by {signal_name} during epoch {len(history) + 1}; the resume point after "
            f"epoch {len(history)} is in {resume_file}: rerun to continue"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return history


def _restore(model, optimizer, model_name: str, settings: dict, data_sha256: dict, resume_file: Path, log):
    """(history, optimizer steps) of the resume point, loaded into `model` and `optimizer`; ([], 0) where there is
    none to use, with the initial weights kept as the snapshot of epoch 0 where snapshots are kept."""
    snapshot_dir, snapshot_epochs = resume_file.parent / "snapshots", _snapshot_epochs(settings)
    state = _load_resume(resume_file, model_name, settings, data_sha256, log)
    state = _complete_snapshots(state, snapshot_dir, snapshot_epochs, log)
    if state is None:
        if snapshot_dir.is_dir():
            shutil.rmtree(snapshot_dir)  # from another run's settings
        if snapshot_epochs:
            save_torch(model.state_dict(), _snapshot_path(snapshot_dir, 0))
        return [], 0
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    torch.set_rng_state(state["rng_cpu"])
    log(f"resuming {model_name} after epoch {len(state['history'])} from {resume_file}")
    return state["history"], state["step"]


def _epochs(model, optimizer, settings, train_data, val_data, test_data, history, step, run, resume_file, device,
            log) -> None:
    """The epochs after those in `history` (appended to it), each ending in a resume point (and a snapshot). `run`:
    the model's name, its settings and the data's sha256, which the resume point records."""
    steps_per_epoch = math.ceil(len(train_data) / settings["batch_size"])
    factor = lr_factor(settings["schedule"], steps_per_epoch, steps_per_epoch * settings["epochs"])
    prepare = normalizer(settings, device)
    forward = torch.compile(model) if settings["compile"] else model
    started, first_epoch = time.monotonic(), len(history) + 1
    for epoch in range(first_epoch, settings["epochs"] + 1):
        tick = time.monotonic()
        train_loss, train_acc, step = train_epoch(model, optimizer, train_data, settings, prepare, epoch, step, factor,
                                                  forward)
        check_finite(run["model"], epoch, train_loss, settings)
        record = dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc)
        if val_data is not None:
            record["val_loss"], record["val_acc"] = evaluate(model, val_data, prepare, settings["eval_batch_size"])
        record["test_loss"], record["test_acc"] = evaluate(model, test_data, prepare, settings["eval_batch_size"])
        seconds = time.monotonic() - tick
        record.update(lr=optimizer.param_groups[0]["lr"], seconds=seconds)
        history.append(record)
        if epoch in _snapshot_epochs(settings):  # before the resume point, so a resumed run never lacks one
            save_torch(model.state_dict(), _snapshot_path(resume_file.parent / "snapshots", epoch))
        save_torch(dict(model=run["model"], settings=run["settings"], model_state=model.state_dict(),
                        optimizer_state=optimizer.state_dict(), history=history, step=step,
                        rng_cpu=torch.get_rng_state(), data_sha256=run["data_sha256"]), resume_file)
        elapsed = time.monotonic() - started
        eta = elapsed / (epoch - first_epoch + 1) * (settings["epochs"] - epoch)
        held_out = f" | val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f}" if val_data is not None else ""
        log(f"{run['model']} epoch {epoch}/{settings['epochs']} train loss {train_loss:.4f} acc {train_acc:.4f}"
            f"{held_out} | test loss {record['test_loss']:.4f} acc {record['test_acc']:.4f} | "
            f"{len(train_data) / seconds:.0f} img/s | elapsed {elapsed:.0f}s ETA {eta:.0f}s")


def _finish(checkpoint: dict, history: list[dict], settings: dict, checkpoint_path: str, history_path: str,
            snapshots_path: str | None, resume_file: Path) -> None:
    """The history, the snapshots (their own file: every job that loads the checkpoint would otherwise read them
    all) and the checkpoint written; the resume point and snapshot folder removed."""
    write_history(history, history_path)
    snapshot_dir, snapshot_epochs = resume_file.parent / "snapshots", _snapshot_epochs(settings)
    if snapshot_epochs:
        save_torch(_collect_snapshots(snapshot_dir, snapshot_epochs), snapshots_path)
    save_torch(checkpoint, checkpoint_path)
    resume_file.unlink(missing_ok=True)
    if snapshot_dir.is_dir():
        shutil.rmtree(snapshot_dir)
