"""Resolving the config: per-model training settings, the landscape grid, the device."""

import copy
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError


def train_settings(config: dict, model: str) -> dict[str, Any]:
    """`train.defaults` updated by `train.models[model]` (each key replaced whole)."""
    settings = copy.deepcopy(config["train"]["defaults"])
    settings.update(copy.deepcopy(config["train"].get("models", {}).get(model, {})))
    return settings


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


def select_device(name: str = "auto"):
    """The device to run on, with numerics set up for it (see `reproducible_numerics`)."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device = cuda but no CUDA GPU is visible: set device: auto or cpu")
    if name == "mps" and not mps_available():
        raise UserError("device = mps but no Apple-silicon GPU (MPS) is available: set device: auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    device = torch.device(name)
    reproducible_numerics(device)
    return device


def mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def reproducible_numerics(device) -> None:
    """fp32 means fp32, and the same config gives the same numbers, on a GPU too.

    PyTorch lets cuDNN convolutions use TF32 on Ampere and newer GPUs (~1e-3 relative error): off. On CUDA, cuDNN
    autotuning and atomics-based kernels make runs differ bit-wise: deterministic algorithms instead (cuBLAS needs
    its workspace setting before it starts). CPU kernels here are deterministic already.
    """
    import os

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False  # we never read memory we did not write


SPLIT_SIZES = {"train": 50_000, "test": 10_000}


def config_problem(config: dict) -> str | None:
    """What a JSON schema cannot check: grid shape, chunk count, sample count, the data source on disk."""
    landscape = config["landscape"]
    try:
        chunk_points(landscape, 0)  # checks the axes and the chunk count
    except UserError as error:
        return str(error)
    split = landscape["split"]
    available = config["data"].get("subset", {}).get(split) or SPLIT_SIZES[split]
    if landscape["samples"] > available:
        return (f"landscape.samples = {landscape['samples']} is more than the {available} images of the "
                f"{split} split: lower it or raise data.subset.{split}")
    return (interpolation_problem(config) or trajectory_problem(config) or geometry_problem(config)
            or data_source_problem(config["data"]))


def geometry_problem(config: dict) -> str | None:
    geometry = config.get("geometry", {})
    spec = {"x": geometry.get("grid", [-1, 1, 11]), "y": geometry.get("grid", [-1, 1, 11]),
            "chunks": geometry.get("chunks", 11)}
    try:
        chunk_points(spec, 0)
    except UserError as error:
        return str(error).replace("landscape.x", "geometry.grid").replace("landscape.chunks", "geometry.chunks")
    split = config["landscape"]["split"]
    available = config["data"].get("subset", {}).get(split) or SPLIT_SIZES[split]
    if geometry.get("samples", 1000) > available:
        return (f"geometry.samples = {geometry['samples']} is more than the {available} images of the {split} "
                f"split: lower it or raise data.subset.{split}")
    return None


def endpoints(config: dict) -> dict[str, tuple[str, str, dict]]:
    """Every trained model a name can refer to: study models and sweep runs -> (architecture, checkpoint, settings)."""
    from .sweep import grid_runs, is_scheduled, run_settings

    found = {m: (m, f"results/models/{m}.pt", train_settings(config, m)) for m in config["models"]}
    for run in grid_runs(config["sweep"], is_scheduled(config)):
        found[run] = (config["sweep"]["model"], f"results/sweep/runs/{run}/model.pt", run_settings(config, run))
    return found


def interpolation_problem(config: dict) -> str | None:
    known = endpoints(config)
    pairs = config.get("interpolation", {}).get("pairs", [])
    names = [pair["name"] for pair in pairs]
    if len(set(names)) != len(names):
        return f"interpolation.pairs: the name {sorted(n for n in names if names.count(n) > 1)[0]!r} is used twice"
    for i, pair in enumerate(pairs):
        for end in ("a", "b"):
            if pair[end] not in known:
                return (f"interpolation.pairs.{i}.{end} = {pair[end]!r} is not a model this config trains: name one of "
                        f"{', '.join(known)}")
        (arch_a, _, settings_a), (arch_b, _, settings_b) = known[pair["a"]], known[pair["b"]]
        if arch_a != arch_b:
            return (f"interpolation.pairs.{i}: {pair['a']} is a {arch_a} and {pair['b']} a {arch_b}: "
                    "endpoints must share one architecture")
        if settings_a["normalize"] != settings_b["normalize"]:
            return (f"interpolation.pairs.{i}: {pair['a']} and {pair['b']} were trained with different input "
                    "normalization (normalize): pick endpoints that share it")
    return None


def trajectory_models(config: dict) -> list[str]:
    return [m for m in config["models"] if train_settings(config, m).get("snapshots", 0)]


def trajectory_problem(config: dict) -> str | None:
    for model in trajectory_models(config):
        every, epochs = train_settings(config, model)["snapshots"], train_settings(config, model)["epochs"]
        if len({0, *range(every, epochs + 1, every), epochs}) < 3:
            return (f"train.models.{model}.snapshots = {every} leaves fewer than 3 snapshots in {epochs} epochs: "
                    f"set it below {epochs}")
    trajectory = config.get("trajectory", {})
    points = trajectory.get("grid", [21, 21])
    if trajectory_models(config) and trajectory.get("chunks", 4) > points[0] * points[1]:
        return f"trajectory.chunks = {trajectory['chunks']} is more than the {points[0] * points[1]} grid points: lower it"
    return None


def data_source_problem(data: dict) -> str | None:
    root = Path(data["root"])
    if data["source"] == "imagefolder":
        for split in SPLIT_SIZES:
            if not (root / split).is_dir():
                return (f"data folder {root / split} not found: set data.root to a folder with train/ and test/ "
                        "class folders (or data.source: torchvision)")
    elif not data.get("download") and not (root / "cifar-10-batches-py").is_dir():
        return f"CIFAR-10 not found under {root}: set data.download: true or data.root to where it is"
    return None
