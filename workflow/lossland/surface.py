"""Loss/accuracy over the grid θ + a·d₁ + b·d₂: chunks evaluated independently, then merged."""

import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import chunk_points, grid_axes
from .data import Dataset
from .errors import UserError
from .evaluate import evaluate, recompute_bn
from .fold import fold_batchnorm
from .io import atomic_write, save_arrays, save_json


def evaluation_subset(data: Dataset, samples: int, seed: int, key: str = "landscape.samples", block: int = 0) -> Dataset:
    """A fixed seeded subset of `samples` images (same for every model) in a seeded random order: prepared splits
    are stored class by class, and a shuffled order makes every prefix of the batches representative (what
    `landscape.cap` relies on), for capped and uncapped runs alike. `block` k gives the k-th of disjoint subsets
    of one seeded permutation (block 0 is the subset itself)."""
    if samples * (block + 1) > len(data):
        raise UserError(f"{key} = {samples} x {block + 1} disjoint subsets is more than the {len(data)} images of "
                        "the split: lower it")
    order = np.random.default_rng(seed).permutation(len(data))[block * samples : (block + 1) * samples]
    return data.subset(torch.from_numpy(order))


BN_STATISTICS = ("running_mean", "running_var")


class PlaneEvaluator:
    """Writes θ + a·d₁ (+ b·d₂) into the model's parameters and buffers in place and evaluates it.

    One direction gives a line (1-D curves, interpolation: d₁ = θ_b − θ_a), two a plane. With `bn_data`, the BN
    running statistics are not moved along the directions but recomputed at every point from those images
    (`recompute_bn`), as Garipov et al. 2018 do along their curves; BN is then never folded.
    """

    def __init__(self, model: nn.Module, first: dict, second: dict | None, data: Dataset, prepare,
                 batch_size: int | str = "auto", fold_bn: bool = True, precision: str = "fp32",
                 compile: bool = False, cap: float | None = None, bn_data: Dataset | None = None, log=None):
        directions = [first] if second is None else [first, second]
        self.bn_data = bn_data
        if bn_data is not None:
            fold_bn = False
            directions = [{k: v for k, v in d.items() if not k.endswith(BN_STATISTICS)} for d in directions]
        if fold_bn:
            model, directions = fold_batchnorm(model, directions, log)
        self.data, self.prepare, self.batch_size, self.precision = data, prepare, batch_size, precision
        self.cap = cap  # a point's loss certainly above it stops early: (lower bound, NaN accuracy)
        # weights are graph inputs, not constants, so the in-place updates below reach the compiled model
        self.module = model  # the uncompiled model, whose BN layers `recompute_bn` resets
        self.model = torch.compile(model, dynamic=False) if compile else model
        named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        unknown = sorted(set(directions[0]) - set(named))
        if unknown:
            raise UserError(f"the directions move {unknown[0]}, which the model does not have: recompute them")
        device = next(model.parameters()).device
        self.params = [named[name].data for name in directions[0]]
        self.theta = [p.clone() for p in self.params]
        self.directions = [[d[name].to(device) for name in directions[0]] for d in directions]
        self.position = None

    def move(self, *coords: float) -> None:
        if coords == self.position:
            return
        torch._foreach_copy_(self.params, self.theta)
        for direction, step in zip(self.directions, coords, strict=True):
            torch._foreach_add_(self.params, direction, alpha=step)
        if self.bn_data is not None:
            recompute_bn(self.module, self.bn_data, self.prepare)
        self.position = coords

    def at(self, *coords: float, data: Dataset | None = None) -> tuple[float, float]:
        self.move(*coords)
        return evaluate(self.model, self.data if data is None else data, self.prepare, self.batch_size, self.precision,
                        self.cap)


CURVE_SPLITS = ("train", "test")


def evaluate_curve(evaluator: PlaneEvaluator, alphas: np.ndarray, splits: dict[str, Dataset],
                   log: Callable[[str], None] = print, what: str = "curve",
                   point: Callable[[float], tuple[float, ...]] = lambda alpha: (alpha,)) -> dict[str, np.ndarray]:
    """Loss and accuracy at θ + α·d₁ for every α, on each split: {alpha, train_loss, train_acc, test_loss, ...}.
    `point`: the evaluator's coordinates at α (on a plane, e.g. (t, t²) for a quadratic curve)."""
    curve = {"alpha": np.asarray(alphas, dtype=float)}
    started, total, done = time.monotonic(), len(alphas) * len(splits), 0
    values = {split: [] for split in splits}
    for alpha in curve["alpha"]:  # every split at one point before the next: one move (and BN pass) per point
        for split, data in splits.items():
            values[split].append(evaluator.at(*point(float(alpha)), data=data))
            done += 1
            elapsed = time.monotonic() - started
            log(f"{what}: {done}/{total} points, {elapsed:.1f}s, ETA {elapsed / done * (total - done):.0f}s")
    for split in splits:
        curve[f"{split}_loss"] = np.array([v[0] for v in values[split]])
        curve[f"{split}_acc"] = np.array([v[1] for v in values[split]])
    return curve


def lines_through(model: nn.Module, directions: list[dict], alphas: np.ndarray, data: Dataset, prepare,
                  batch_size: int | str, log: Callable[[str], None] | None = None) -> np.ndarray:
    """The loss at θ + α·d on `data` for every α and every direction d (a row each), each line on a BN-folded copy
    of `model` (so `model` stays as it was): the flatness statistics' lines."""
    losses = []
    for k, direction in enumerate(directions, start=1):
        evaluator = PlaneEvaluator(model, direction, None, data, prepare, batch_size)  # folds a copy
        losses.append(evaluate_curve(evaluator, alphas, {"train": data}, lambda _: None)["train_loss"])
        if log is not None:
            log(f"direction {k}/{len(directions)}: loss {losses[-1].min():.4f}..{losses[-1].max():.4f}")
    return np.array(losses)


def evaluate_chunk(
    evaluator: PlaneEvaluator, landscape: dict, chunk: int, log: Callable[[str], None] = print
) -> pd.DataFrame:
    """Loss, accuracy and `capped` (1: loss is a certified lower bound above landscape.cap, accuracy not measured)."""

    def measure(a: float, b: float) -> tuple[float, float, int]:
        loss, acc = evaluator.at(a, b)
        return loss, acc, int(np.isnan(acc))

    return grid_chunk(measure, landscape, chunk, ("loss", "acc", "capped"), log)


def grid_chunk(measure: Callable[[float, float], tuple], landscape: dict, chunk: int, columns: tuple[str, ...],
               log: Callable[[str], None] = print, serpentine: bool = False) -> pd.DataFrame:
    """`measure(a, b)` at every grid point of one chunk, one row each in grid order, with progress lines;
    `serpentine`: measured row by row in alternating directions, so that each point neighbours the one before (a
    warm-started eigensolver's walk), instead of in grid order."""
    x, y = grid_axes(landscape)
    points = chunk_points(landscape, chunk)
    if serpentine:
        points = serpentine_order(points, x.size)
    rows, started = [], time.monotonic()
    for done, index in enumerate(points, start=1):
        iy, ix = divmod(int(index), x.size)
        values = measure(float(x[ix]), float(y[iy]))
        rows.append((int(index), ix, iy, float(x[ix]), float(y[iy]), *values))
        elapsed = time.monotonic() - started
        log(f"chunk {chunk}: {done}/{len(points)} points, {elapsed:.1f}s, ETA {elapsed / done * (len(points) - done):.0f}s")
    return pd.DataFrame(sorted(rows), columns=["index", "ix", "iy", "x", "y", *columns])


def serpentine_order(points: np.ndarray, width: int) -> np.ndarray:
    """Flat grid indices (row-major, rows `width` long) reordered: rows ascending, odd rows right to left."""
    return np.array(sorted(points, key=lambda p: (p // width, -p if p // width % 2 else p)), dtype=points.dtype)


def write_chunk(frame: pd.DataFrame, provenance: dict, dest: str | Path) -> None:
    """A `# <provenance record>` line, then the CSV; the record holds the sha256 of the CSV text (`content`)."""
    body = frame.to_csv(index=False, float_format="%.17g")
    record = {**provenance, "content": hashlib.sha256(body.encode()).hexdigest()}
    with atomic_write(dest, "w") as handle:
        handle.write("# " + json.dumps(record, sort_keys=True) + "\n" + body)


def read_chunk(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """The chunk's rows and record; a chunk whose rows no longer match the record's `content` hash (truncated or
    edited after it was written) is a UserError naming it."""
    with open(path) as handle:
        first, body = handle.readline(), handle.read()
    try:
        record = json.loads(first[2:]) if first.startswith("# ") else None
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise UserError(f"chunk {path} has no provenance line: delete it and rerun the workflow")
    content = record.pop("content", None)
    if content is not None and content != hashlib.sha256(body.encode()).hexdigest():
        raise UserError(f"chunk {path} does not match the content hash in its provenance line (truncated or edited "
                        "after it was written): delete it and rerun the workflow")
    return pd.read_csv(io.StringIO(body)), record


def merge_chunks(paths: list[str], landscape: dict, columns: tuple[str, ...] = ("loss", "acc"),
                 accept: Callable[[str, dict], None] = lambda path, record: None) -> dict[str, np.ndarray]:
    """Assemble the full grid from chunk files, each read once; `accept(path, record)` raises for a chunk whose
    provenance record is not the caller's (provenance.check)."""
    x, y = grid_axes(landscape)
    grids = {column: np.full((y.size, x.size), np.nan) for column in columns}
    filled = np.zeros((y.size, x.size), dtype=bool)  # not NaN: a diverged point (e.g. negative variance) is NaN
    for path in paths:
        frame, record = read_chunk(path)
        accept(path, record)
        for column, grid in grids.items():
            grid[frame["iy"], frame["ix"]] = frame[column]
        filled[frame["iy"], frame["ix"]] = True
    if not filled.all():
        raise UserError(f"{int((~filled).sum())} grid points are missing from the chunks {paths}: rerun them")
    return {"x": x, "y": y, **grids}


def save_surface(surface: dict[str, np.ndarray], provenance: dict, npz_path: str, json_path: str) -> None:
    save_arrays(surface, npz_path)
    save_json(provenance, json_path)
