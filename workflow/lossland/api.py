"""The workflow's measurements in Python, on a model and images of one's own: the same functions its jobs run.

    from lossland import api

    hessian = api.hessian(model, images, labels)    # of the mean cross-entropy over the images, model in eval mode
    hessian.eigenvalues(top_k=2), hessian.lowest(), hessian.trace(), hessian.density()
    api.surface(model, images, labels, x=(-1, 1, 11), y=(-1, 1, 11))    # Li et al.'s filter-normalized plane
    api.line(model, images, labels), api.interpolation(model_a, model_b, images, labels)
    api.flatness(model, images, labels), api.sharpness(model, images, labels)

`images` are what the model takes (a float tensor [N, C, H, W], normalized as it was trained), `labels` int64 [N],
both on the model's device. Every function works on a copy of the model and leaves it as it was. Seeds fix every
random choice: the same call gives the same numbers. docs/python.md shows a whole example.
"""

import copy

import numpy as np
import torch
from torch import nn

from .data import Dataset


def _as_given(images: torch.Tensor) -> torch.Tensor:
    return images  # the images are the model's input already (the workflow's jobs normalize uint8 images here)


def _data(images: torch.Tensor, labels: torch.Tensor) -> Dataset:
    return Dataset(images, labels)


class Hessian:
    """The Hessian of the mean cross-entropy of `model` over the images, with respect to `params` ("weights": the
    >1-D conv and linear weights; "all": every parameter), by Hessian-vector products (never formed)."""

    def __init__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, params: str = "weights",
                 batch_size: int = 256):
        from .geometry import HessianOperator

        self.operator = HessianOperator(copy.deepcopy(model), _data(images, labels), _as_given, batch_size, params)

    @property
    def products(self) -> int:
        """Hessian-vector products computed so far."""
        return self.operator.products

    def eigenvalues(self, top_k: int = 1, tol: float = 1e-3, seed: int = 0, maxiter: int | None = None) -> np.ndarray:
        """The top_k largest eigenvalues, largest first (Lanczos, `scipy.sparse.linalg.eigsh`)."""
        from .geometry import lanczos

        return lanczos(self.operator.linear_operator(), top_k, "LA", tol, seed, maxiter)[::-1]

    def lowest(self, tol: float = 1e-3, seed: int = 0, maxiter: int | None = None) -> float:
        """The smallest eigenvalue (as the workflow's Hessian job finds it: both ends of the spectrum in one run, or
        the top end and then the shifted operator where that run does not converge)."""
        from .geometry import spectrum_ends

        return spectrum_ends(self.operator.linear_operator(), tol, seed, 1, maxiter)[1]

    def trace(self, probes: int = 100, seed: int = 0) -> tuple[float, float]:
        """Hutchinson's estimate of the trace over Rademacher probes, and its standard error."""
        from .geometry import hutchinson_trace

        mean, error, _ = hutchinson_trace(self.operator, probes, seed)
        return mean, error

    def density(self, runs: int = 5, steps: int = 50, points: int = 1000, sigma: float = 0.005,
                seed: int = 0) -> dict[str, np.ndarray]:
        """The eigenvalue density by stochastic Lanczos quadrature: {eigenvalue, density, nodes, weights, width}."""
        from .geometry import spectral_density

        return spectral_density(self.operator.matvec, self.operator.size, runs, steps, points, sigma, seed)


def hessian(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, params: str = "weights",
            batch_size: int = 256) -> Hessian:
    return Hessian(model, images, labels, params, batch_size)


def _axis(spec: tuple[float, float, int]) -> np.ndarray:
    low, high, num = spec
    return np.linspace(low, high, int(num))


def surface(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, x=(-1.0, 1.0, 11), y=(-1.0, 1.0, 11),
            seed: int = 0, norm: str = "filter", ignore: str = "biasbn", batch_size: int = 256,
            fold_bn: bool = True) -> dict[str, np.ndarray]:
    """Loss and accuracy on the plane θ + a·d₁ + b·d₂ of two seeded random directions (`norm`: filter, layer or
    weight; `ignore`: biasbn leaves biases and BN out, as Li et al.): {x, y, loss, acc}, loss[j, i] at (x[i], y[j])."""
    from .directions import random_directions
    from .surface import PlaneEvaluator

    first, second = random_directions(model, seed, norm, ignore)
    plane = PlaneEvaluator(copy.deepcopy(model), first, second, _data(images, labels), _as_given, batch_size,
                           fold_bn=fold_bn)
    xs, ys = _axis(x), _axis(y)
    values = np.array([[plane.at(float(a), float(b)) for a in xs] for b in ys])
    return {"x": xs, "y": ys, "loss": values[..., 0], "acc": values[..., 1]}


def _curve(model: nn.Module, direction: dict, images, labels, alpha, batch_size: int,
           bn_images: torch.Tensor | None = None, bn_labels: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    from .surface import PlaneEvaluator, evaluate_curve

    data = _data(images, labels)
    bn_data = None if bn_images is None else _data(bn_images, bn_labels)
    line = PlaneEvaluator(copy.deepcopy(model), direction, None, data, _as_given, batch_size, bn_data=bn_data)
    curve = evaluate_curve(line, _axis(alpha), {"data": data}, lambda _: None)
    return {"alpha": curve["alpha"], "loss": curve["data_loss"], "acc": curve["data_acc"]}


def line(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, alpha=(-1.0, 1.0, 21), seed: int = 0,
         norm: str = "filter", ignore: str = "biasbn", batch_size: int = 256) -> dict[str, np.ndarray]:
    """Loss and accuracy along the plane's first direction (the 1-D curve): {alpha, loss, acc}."""
    from .directions import random_directions

    return _curve(model, random_directions(model, seed, norm, ignore)[0], images, labels, alpha, batch_size)


def interpolation(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  alpha=(-0.5, 1.5, 21), bn_images: torch.Tensor | None = None, bn_labels: torch.Tensor | None = None,
                  batch_size: int = 256) -> dict[str, np.ndarray]:
    """Loss and accuracy at (1−α)·θ_A + α·θ_B (BN statistics too); with `bn_images`, the BN statistics recomputed at
    every α from those images instead (Garipov et al.; the workflow's `interpolation.bn: recompute`)."""
    from .interpolation import difference

    return _curve(model_a, difference(model_a, model_b), images, labels, alpha, batch_size, bn_images, bn_labels)


def flatness(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, directions: int = 10,
             alpha=(-1.0, 1.0, 21), delta: float = 1.0, seed: int = 0, norm: str = "filter", ignore: str = "biasbn",
             batch_size: int = 256) -> dict:
    """The loss along `directions` seeded random directions through θ and their statistics: the rise at distances
    0.25, 0.5 and 1 and the basin half-width (first distance where the loss exceeds its value at θ by `delta`),
    mean and sd over directions; `losses` holds every line."""
    from .directions import direction_set
    from .evaluate import evaluate
    from .geometry import flatness_stats
    from .surface import lines_through

    data, alphas = _data(images, labels), _axis(alpha)
    losses = lines_through(model, direction_set(model, seed, directions, norm, ignore), alphas, data, _as_given,
                           batch_size)
    base = evaluate(copy.deepcopy(model), data, _as_given, batch_size)[0]
    return {**flatness_stats(alphas, losses, base, delta), "alpha": alphas, "losses": losses, "loss": base}


def sharpness(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, rho_average: float = 0.1,
              rho_worst: float = 0.001, draws: int = 5, steps: int = 10, seed: int = 0,
              batch_size: int = 256) -> dict:
    """Adaptive sharpness, average- and worst-case (Kwon et al. 2021; Andriushchenko et al. 2023): see
    `geometry.adaptive_sharpness`."""
    from .geometry import adaptive_sharpness

    return adaptive_sharpness(copy.deepcopy(model), _data(images, labels), _as_given, batch_size, rho_average,
                              rho_worst, draws, steps, seed)
