"""Linear interpolation between two trained models (Goodfellow et al. 2015; Li et al. 2018, Fig. 2-3).

θ(α) = (1−α)·θ_a + α·θ_b = θ_a + α·(θ_b − θ_a) over every floating-point entry of the state_dict (parameters and BN
running statistics), so it is a line through θ_a along the direction θ_b − θ_a, evaluated like any other line.
"""

import numpy as np
import torch
from torch import nn

from .directions import movable_tensors


def difference(model_a: nn.Module, model_b: nn.Module) -> dict[str, torch.Tensor]:
    a, b = movable_tensors(model_a, "states"), movable_tensors(model_b, "states")
    return {name: b[name] - a[name] for name in a}


def negative_variance(difference_: dict[str, torch.Tensor], model_a: nn.Module, alphas: np.ndarray) -> np.ndarray:
    """Where some BN running variance of θ(α) is below zero (only when extrapolating, α < 0 or α > 1): there eval-mode
    BN takes the square root of a negative number and the loss is not finite, in loss-landscape too."""
    states = dict(model_a.named_buffers())
    out = np.zeros(len(alphas), dtype=bool)
    for name, delta in difference_.items():
        if name.endswith("running_var"):
            var = states[name].detach().cpu().double()
            for i, alpha in enumerate(alphas):
                out[i] |= bool(((var + float(alpha) * delta.double()) + 1e-5 < 0).any())
    return out
