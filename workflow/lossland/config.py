"""Resolving the config: per-model training settings, the landscape grid, the device."""

import copy
import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

MODEL_NAMES = ("net", "resnet20", "resnet56", "resnet110", "plainnet20", "plainnet56", "plainnet110")
# The training set's channel statistics (what a checkpoint without mean/std keys was normalized with). The study's
# code (and kuangliu's, loss-landscape's) divide by (0.2023, 0.1994, 0.2010) instead: config.yaml sets those.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# the architecture of a config without these keys (a checkpoint must record them: see models.load_checkpoint)
VARIANT_DEFAULTS = {"shortcut": "subsample", "conv_bias": False}
VARIANT_KEYS = {"net": (), "plainnet": ("conv_bias",), "resnet": ("shortcut", "conv_bias"), "custom": ()}
# the channel multiplier of ResNets and PlainNets: recorded only where it is not 1 (today's 16/32/64 channels), so
# that the networks, checkpoints and metrics of every config without it stay as they were; a checkpoint without it
# holds width 1 (another width does not load: its shapes differ)
WIDE_FAMILIES = ("resnet", "plainnet")
# recipe keys whose value here changes nothing: left out of the settings, so that the runs of configs without them
# keep their settings, checkpoints and jobs
NEUTRAL_SETTINGS = {"label_smoothing": 0.0}


def architecture(config: dict, model: str) -> dict | None:
    """A model of `architectures` (the user's): {builder, kwargs}; None for the 7 built-in ones. Its label is not
    part of it: renaming a figure's label retrains nothing."""
    entry = config["architectures"].get(model)
    return None if entry is None else {"builder": entry["builder"], "kwargs": copy.deepcopy(entry.get("kwargs", {}))}


def train_settings(config: dict, model: str) -> dict[str, Any]:
    """`train.defaults` updated by `train.models[model]` (each key replaced whole), the data's normalization
    constants where the model's settings give none (`data.mean`, `data.std`), the user's architecture (if any), less
    what `model` ignores."""
    settings = copy.deepcopy(config["train"]["defaults"])
    settings.update(copy.deepcopy(config["train"]["models"].get(model, {})))
    for key in ("mean", "std"):
        if settings.get(key) is None and config["data"].get(key) is not None:
            settings[key] = list(config["data"][key])
        elif settings.get(key) is None:
            settings.pop(key, None)  # measured on the training split (data.prepare_split) when it is trained
    custom = architecture(config, model)
    if custom:
        settings["architecture"] = custom
    return relevant_settings(model, settings)


def family(name: str, settings: dict) -> str:
    """net, resnet, plainnet, or custom (a model of `architectures`)."""
    return "custom" if settings.get("architecture") else model_family(name)[0]


def relevant_settings(model: str, settings: dict) -> dict[str, Any]:
    """Without the keys `model` ignores (a PlainNet's shortcut, Net's variant, mean/std when not normalizing), so that
    changing them retrains nothing that does not use them."""
    unused = set(VARIANT_DEFAULTS) - set(VARIANT_KEYS[family(model, settings)])
    if family(model, settings) not in WIDE_FAMILIES or settings.get("width") == 1:
        unused.add("width")
    if not settings.get("normalize", True):
        unused |= {"mean", "std"}
    unused |= {key for key, neutral in NEUTRAL_SETTINGS.items() if settings.get(key) == neutral}
    return {key: value for key, value in settings.items() if key not in unused}


def normalization(settings: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of training settings: theirs (CIFAR-10's by default) when `normalize`, else [0, 1] scaling only
    (one value for every channel)."""
    if not settings["normalize"]:
        return (0.0,), (1.0,)
    return tuple(settings.get("mean", CIFAR10_MEAN)), tuple(settings.get("std", CIFAR10_STD))


def model_family(name: str) -> tuple[str, int]:
    if name == "net":
        return "net", 0
    match = re.fullmatch(r"(resnet|plainnet)(20|56|110)", name)
    if not match:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
    return match.group(1), int(match.group(2))


def variant_keys(name: str, settings: dict | None = None) -> tuple[str, ...]:
    """The architecture keys a checkpoint of `name` must record (none for Net or a user's model)."""
    return VARIANT_KEYS[family(name, settings or {})]


def variant(name: str, settings: dict) -> dict:
    """The architecture keys of `settings` that `name` has (a PlainNet has no shortcut, Net neither), defaulted; the
    width where it is not 1."""
    kind = family(name, settings)
    keys = {key: settings.get(key, VARIANT_DEFAULTS[key]) for key in VARIANT_KEYS[kind]}
    if kind in WIDE_FAMILIES and settings.get("width", 1) != 1:
        keys["width"] = settings["width"]
    return keys


def describe(name: str, settings: dict) -> str:
    """e.g. 'resnet56 (shortcut=avgpool, conv_bias=True)', 'mynet (mypackage.models:small_cnn, width=32)': the
    architecture a checkpoint or config trains."""
    custom = settings.get("architecture")
    if custom:
        described = ", ".join([custom["builder"], *(f"{k}={v}" for k, v in sorted(custom["kwargs"].items()))])
    else:
        described = ", ".join(f"{key}={value}" for key, value in variant(name, settings).items())
    return f"{name} ({described})" if described else name


def grid_axes(landscape: dict) -> tuple[np.ndarray, np.ndarray]:
    axes = []
    for key in ("x", "y"):
        low, high, num = landscape[key]
        if int(num) != num or num < 1:
            raise UserError(f"landscape.{key} = {landscape[key]}: num must be a whole number >= 1")
        if num > 1 and low >= high:
            raise UserError(f"landscape.{key} = {landscape[key]}: min must be below max")
        axes.append(np.linspace(low, high, int(num)))
    return axes[0], axes[1]


def chunk_points(landscape: dict, chunk: int) -> np.ndarray:
    """Flat indices (row-major over [y, x]) of the grid points in one contiguous chunk."""
    x, y = grid_axes(landscape)
    chunks = landscape["chunks"]
    if chunks > x.size * y.size:
        raise UserError(f"landscape.chunks = {chunks} is more than the {x.size * y.size} grid points: lower it")
    if not 0 <= chunk < chunks:
        raise UserError(f"chunk {chunk} is outside 0..{chunks - 1}")
    return np.array_split(np.arange(x.size * y.size), chunks)[chunk]


SPLIT_SIZES = {"train": 50_000, "test": 10_000}  # CIFAR-10's
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's
# torchvision data sets: class, how a split is asked for, split sizes, what shows it is downloaded under data.root
TORCHVISION = {
    "cifar10": ("CIFAR10", "train", {"train": 50_000, "test": 10_000}, "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "train", {"train": 50_000, "test": 10_000}, "cifar-100-python"),
    "svhn": ("SVHN", "split", {"train": 73_257, "test": 26_032}, "train_32x32.mat"),
    "mnist": ("MNIST", "train", {"train": 60_000, "test": 10_000}, "MNIST"),
    "fashionmnist": ("FashionMNIST", "train", {"train": 60_000, "test": 10_000}, "FashionMNIST"),
}


def config_problems(config: dict) -> list[str]:
    """What a JSON schema cannot check, every problem at once: grid shapes and chunk counts, the snapshots, the data
    source on disk, and (where it is there) the sample counts against the images it has (the interpolation pairs'
    endpoints: plan.problems)."""
    found = grid_problems(config) + trajectory_problems(config)
    source = data_source_problem(config["data"])
    if source:  # the counts would be measured against a folder that is not there
        return [*found, source]
    split = config["landscape"]["split"]
    available = split_size(config, split)
    if config["landscape"]["samples"] > available:
        found.append(f"landscape.samples = {config['landscape']['samples']} is more than the {available} images of "
                     f"the {split} split: lower it or raise data.subset.{split}")
    return found + geometry_problems(config) + validation_problems(config) + bn_samples_problems(config)


def grid_problems(config: dict) -> list[str]:
    """The landscape's and the eigenvalue maps' axes and chunk counts."""
    geometry, found = config["geometry"], []
    for spec, rename in ((config["landscape"], {}),
                         ({"x": geometry["grid"], "y": geometry["grid"], "chunks": geometry["chunks"]},
                          {"landscape.x": "geometry.grid", "landscape.chunks": "geometry.chunks"})):
        try:
            chunk_points(spec, 0)
        except UserError as error:
            message = str(error)
            for old, new in rename.items():
                message = message.replace(old, new)
            found.append(message)
    return found


def split_size(config: dict, split: str) -> int:
    """Images of the prepared split: data.subset's size, else the whole split (counted in an ImageFolder tree)."""
    return config["data"]["subset"].get(split) or source_size(config["data"], split)


def source_size(data: dict, split: str) -> int:
    """Images a split of the data source holds: a torchvision set's known size, or the files of an ImageFolder split."""
    if data["source"] == "torchvision":
        return TORCHVISION[data["name"]][2][split]
    return count_images(str(data["root"]), split)


@functools.lru_cache
def count_images(root: str, split: str) -> int:
    folder = Path(root) / split
    return len(folder_samples(folder, class_folders(folder))) if folder.is_dir() else 0


def class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def folder_samples(folder: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, label) of every image of an ImageFolder tree, in torchvision's ImageFolder order (each class folder
    walked sorted, links followed, files by extension), without importing torchvision (2.5 s of a data job)."""
    samples = []
    for label, name in enumerate(classes):
        for directory, _, names in sorted(os.walk(folder / name, followlinks=True)):
            samples += [(os.path.join(directory, file), label) for file in sorted(names)
                        if file.lower().endswith(IMG_EXTENSIONS)]
    return samples


def bn_samples_problems(config: dict) -> list[str]:
    train = split_size(config, "train")
    found = []
    for section in ("interpolation", "landscape"):
        samples = config[section]["bn_samples"]
        if samples > train:
            found.append(f"{section}.bn_samples = {samples} is more than the {train} images of the train split: "
                         "lower it or raise data.subset.train")
    return found


def validation_problems(config: dict) -> list[str]:
    validation, train = config["data"]["validation"], split_size(config, "train")
    if validation >= train:
        return [f"data.validation = {validation} holds out every one of the {train} training images: lower it "
                "(the sweep trains on the rest)"]
    return []


def geometry_problems(config: dict) -> list[str]:
    geometry, split = config["geometry"], config["landscape"]["split"]
    available = split_size(config, split)
    samples, repeats = geometry["samples"], geometry["repeats"]
    if samples * repeats > available:
        return [f"geometry.samples x geometry.repeats = {samples} x {repeats} disjoint subsets is more than the "
                f"{available} images of the {split} split: lower one or raise data.subset.{split}"]
    return []


def trajectory_models(config: dict) -> list[str]:
    return [m for m in config["models"] if train_settings(config, m).get("snapshots", 0)]


def trajectory_problems(config: dict) -> list[str]:
    found = []
    for model in trajectory_models(config):
        every, epochs = train_settings(config, model)["snapshots"], train_settings(config, model)["epochs"]
        if len({0, *range(every, epochs + 1, every), epochs}) < 3:
            found.append(f"train.models.{model}.snapshots = {every} leaves fewer than 3 snapshots in {epochs} "
                         f"epochs: set it below {epochs}")
    trajectory = config["trajectory"]
    points = trajectory["grid"]
    if trajectory_models(config) and trajectory["chunks"] > points[0] * points[1]:
        found.append(f"trajectory.chunks = {trajectory['chunks']} is more than the {points[0] * points[1]} grid "
                     "points: lower it")
    return found


def data_source_problem(data: dict) -> str | None:
    root = Path(data["root"])
    if data["source"] == "imagefolder":
        for split in SPLIT_SIZES:
            if not (root / split).is_dir():
                return (f"data folder {root / split} not found: set data.root to a folder with train/ and test/ "
                        "class folders (or data.source: torchvision)")
    else:
        name = data["name"]
        if not data["download"] and not (root / TORCHVISION[name][3]).exists():
            return f"{name} not found under {root}: set data.download: true or data.root to where it is"
    return None
