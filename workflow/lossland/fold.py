"""Fold eval-mode BatchNorm into the conv before it, for surface evaluation.

BN after a conv is a per-channel affine map y = s·(conv(x) − μ) + β with s = γ/√(σ²+ε). Since the directions are
zero on BN parameters, the perturbed conv weight (θ + a·d₁ + b·d₂)·s equals θ·s + a·(d₁·s) + b·(d₂·s): folding θ
and both directions once gives the same network at every grid point, with one pass over the activations fewer per
BN layer. Only conv → BN pairs named convK/bnK are folded (ResNet/PlainNet); Net's BN follows a ReLU and stays.
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


def fold_batchnorm(model: nn.Module, first: dict, second: dict) -> tuple[nn.Module, dict, dict]:
    """A folded copy of `model` and the directions expressed in its parameters."""
    folded, first, second = copy.deepcopy(model), dict(first), dict(second)
    for module, prefix, k, conv, bn in list(_pairs(folded)):
        name = f"{prefix}.conv{k}" if prefix else f"conv{k}"
        bn_name = f"{prefix}.bn{k}" if prefix else f"bn{k}"
        if any(torch.count_nonzero(d[f"{bn_name}.{p}"]) for d in (first, second) for p in ("weight", "bias")):
            continue  # a direction moves this BN: keep it
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                bias = bias + conv.bias * scale
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias)
        setattr(module, f"bn{k}", nn.Identity())
        for direction in (first, second):
            direction[f"{name}.weight"] = direction[f"{name}.weight"] * scale.detach().cpu().view(-1, 1, 1, 1)
            del direction[f"{bn_name}.weight"], direction[f"{bn_name}.bias"]
    return folded, first, second
