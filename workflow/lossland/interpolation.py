"""Linear interpolation between two trained models (Goodfellow et al. 2015; Li et al. 2018, Fig. 2-3).

θ(α) = (1−α)·θ_a + α·θ_b = θ_a + α·(θ_b − θ_a) over every floating-point entry of the state_dict (parameters and BN
running statistics), so it is a line through θ_a along the direction θ_b − θ_a, evaluated like any other line.
"""

import torch
from torch import nn

from .directions import movable_tensors


def difference(model_a: nn.Module, model_b: nn.Module) -> dict[str, torch.Tensor]:
    a, b = movable_tensors(model_a, "states"), movable_tensors(model_b, "states")
    return {name: b[name] - a[name] for name in a}
