"""Optimizer trajectories (Li et al. 2018, §7; loss-landscape's plot_trajectory.py).

The directions are the first two principal components of the snapshots' offsets {θ_epoch − θ_final}: the rows are
centred and decomposed by an SVD, as loss-landscape's scikit-learn PCA does (signs fixed by the svd_flip rule on the axes:
each axis' largest-magnitude entry positive), and each snapshot is projected onto
the two unit-norm components (dot products, not centred, so the final weights sit at (0, 0)). The plane's grid
covers the projected path with a margin on every side.
"""

import numpy as np
import torch

from .directions import movable_tensors


def offsets(snapshots: list[dict], final: dict, names: list[str], ignore: str) -> torch.Tensor:
    """[snapshots, entries] float64 matrix of θ_e − θ_final; 1-D tensors zeroed under ignore biasbn."""
    rows = []
    for state in snapshots:
        parts = []
        for name in names:
            diff = state[name].double() - final[name].double()
            if ignore == "biasbn" and diff.dim() <= 1:
                diff = torch.zeros_like(diff)
            parts.append(diff.flatten())
        rows.append(torch.cat(parts))
    return torch.stack(rows)


def principal_directions(matrix: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The first two principal axes (unit rows) of the rows of `matrix` and their explained-variance ratios."""
    centred = matrix - matrix.mean(0, keepdim=True)
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    variance = singular.square()
    return fix_signs(vt[:2]), (variance[:2] / variance.sum()).numpy()


def fix_signs(axes: torch.Tensor) -> torch.Tensor:
    """Each axis with its largest-magnitude entry positive (scikit-learn's svd_flip): an SVD's signs are arbitrary
    and differ between BLAS builds and devices, and a flipped axis mirrors the plane, its hash and the figure."""
    pivots = axes.abs().argmax(dim=1)
    signs = torch.sign(axes[torch.arange(len(axes)), pivots])
    return axes * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]


def unflatten(vector: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for name, tensor in like.items():
        out[name] = vector[start : start + tensor.numel()].view(tensor.shape).to(tensor.dtype)
        start += tensor.numel()
    return out


def covering_axis(values: np.ndarray, margin: float, num: int) -> list[float]:
    low, high = float(min(values.min(), 0.0)), float(max(values.max(), 0.0))
    pad = margin * max(high - low, 1e-12)
    return [low - pad, high + pad, int(num)]


def trajectory_directions(model: torch.nn.Module, snapshots: list[dict], ignore: str, kind: str,
                          grid: list[int], margin: float) -> dict:
    """PCA directions of the path, the projected path and the plane's grid, ready for the chunk jobs."""
    final = movable_tensors(model, kind)
    names = list(final)
    matrix = offsets(snapshots, final, names, ignore)
    axes, explained = principal_directions(matrix)
    path = (matrix @ axes.T).numpy()
    return {
        "x": unflatten(axes[0], final),
        "y": unflatten(axes[1], final),
        "path": torch.from_numpy(path),  # tensors, not numpy arrays: loadable with weights_only=True
        "explained": torch.from_numpy(explained),
        "grid": {"x": covering_axis(path[:, 0], margin, grid[0]), "y": covering_axis(path[:, 1], margin, grid[1])},
    }
