"""Fold eval-mode BatchNorm into the conv before it, for surface evaluation.

BN after a conv is a per-channel affine map y = s·(conv(x) − μ) + β with s = γ/√(σ²+ε). Where the directions are
zero on that BN (its weight, bias and running statistics), the perturbed conv weight (θ + a·d₁ + b·d₂)·s equals
θ·s + a·(d₁·s) + b·(d₂·s) (and a conv bias likewise): folding θ and the directions once gives the same network at
every grid point, with one pass over the activations fewer per BN layer. A BN that a direction moves (`ignore: none`,
`type: states`, an interpolation) stays as it is. Only conv → BN pairs named convK/bnK are folded (ResNet/PlainNet);
Net's BN follows a ReLU and stays.
"""

import copy

import torch
from torch import nn


def _pairs(model: nn.Module):
    for prefix, module in model.named_modules():
        for k in range(1, 10):
            conv, bn = getattr(module, f"conv{k}", None), getattr(module, f"bn{k}", None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                yield module, prefix, k, conv, bn


BN_ENTRIES = ("weight", "bias", "running_mean", "running_var")


def fold_batchnorm(model: nn.Module, directions: list[dict]) -> tuple[nn.Module, list[dict]]:
    """A folded copy of `model` and the directions expressed in its parameters."""
    folded, directions = copy.deepcopy(model), [dict(d) for d in directions]
    for module, prefix, k, conv, bn in list(_pairs(folded)):
        name = f"{prefix}.conv{k}" if prefix else f"conv{k}"
        bn_name = f"{prefix}.bn{k}" if prefix else f"bn{k}"
        moved = [d[key] for d in directions for p in BN_ENTRIES if (key := f"{bn_name}.{p}") in d]
        if any(torch.count_nonzero(t) for t in moved):
            continue  # a direction moves this BN: keep it
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                bias = bias + conv.bias * scale
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias)
        setattr(module, f"bn{k}", nn.Identity())
        scale = scale.detach().cpu()
        for direction in directions:
            direction[f"{name}.weight"] = direction[f"{name}.weight"] * scale.view(-1, 1, 1, 1)
            if f"{name}.bias" in direction:
                direction[f"{name}.bias"] = direction[f"{name}.bias"] * scale
            for p in BN_ENTRIES:
                direction.pop(f"{bn_name}.{p}", None)
    return folded, directions
