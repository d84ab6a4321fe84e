"""Fold eval-mode BatchNorm into the conv before it, for surface evaluation.

BN after a conv is a per-channel affine map y = s·(conv(x) − μ) + β with s = γ/√(σ²+ε). Where the directions are
zero on that BN (its weight, bias and running statistics), the perturbed conv weight (θ + a·d₁ + b·d₂)·s equals
θ·s + a·(d₁·s) + b·(d₂·s) (and a conv bias likewise): folding θ and the directions once gives the same network at
every grid point, with one pass over the activations fewer per BN layer. A BN that a direction moves (`ignore: none`,
`type: states`, an interpolation) stays as it is.

Pairs are found in the model's graph (torch.fx), not by names: a BatchNorm is folded only when its input is the
output of a conv or linear layer that feeds nothing else, each called once. Net's BN follows a ReLU and stays; a
model fx cannot trace is evaluated unfolded (correct, only slower).
"""

import copy

import torch
from torch import nn

FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]] | None:
    """(layer name, BN name) of every BatchNorm that directly follows a conv/linear layer whose output feeds nothing
    else; None when the model cannot be traced."""
    from torch import fx

    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - any model fx cannot trace is simply not folded
        return None
    modules = dict(model.named_modules())
    calls = [node for node in graph.nodes if node.op == "call_module"]
    uses = {name: sum(node.target == name for node in calls) for name in modules}
    pairs = []
    for node in calls:
        bn = modules[node.target]
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None:
            continue
        source = node.args[0] if node.args else None
        if not (isinstance(source, fx.Node) and source.op == "call_module" and len(source.users) == 1):
            continue
        layer = modules[source.target]
        if isinstance(layer, FOLDABLE) and uses[source.target] == 1 and uses[node.target] == 1:
            pairs.append((source.target, node.target))
    return pairs


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent, _, attribute = name.rpartition(".")
    return (model.get_submodule(parent) if parent else model), attribute


BN_ENTRIES = ("weight", "bias", "running_mean", "running_var")


def fold_batchnorm(model: nn.Module, directions: list[dict], log=None) -> tuple[nn.Module, list[dict]]:
    """A folded copy of `model` and the directions expressed in its parameters (`log`: a line saying what folded)."""
    folded, directions = copy.deepcopy(model), [dict(d) for d in directions]
    pairs = foldable_pairs(folded)
    done = 0
    for name, bn_name in pairs or []:
        layer, bn = folded.get_submodule(name), folded.get_submodule(bn_name)
        moved = [d[key] for d in directions for p in BN_ENTRIES if (key := f"{bn_name}.{p}") in d]
        if any(torch.count_nonzero(t) for t in moved):
            continue  # a direction moves this BN: keep it
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        with torch.no_grad():
            weight = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
            scale = weight / torch.sqrt(bn.running_var + bn.eps)
            bias = (bn.bias if bn.bias is not None else 0) - bn.running_mean * scale
            if layer.bias is not None:
                bias = bias + layer.bias * scale
            layer.weight.mul_(scale.view(shape))
            layer.bias = nn.Parameter(bias)
        parent, attribute = _parent(folded, bn_name)
        setattr(parent, attribute, nn.Identity())
        scale = scale.detach().cpu()
        for direction in directions:
            direction[f"{name}.weight"] = direction[f"{name}.weight"] * scale.view(shape)
            if f"{name}.bias" in direction:
                direction[f"{name}.bias"] = direction[f"{name}.bias"] * scale
            for p in BN_ENTRIES:
                direction.pop(f"{bn_name}.{p}", None)
        done += 1
    if log:
        log("BN folding: the model cannot be traced (torch.fx), nothing folded" if pairs is None
            else f"BN folding: {done} of {len(pairs)} conv/linear -> BN pairs folded")
    return folded, directions
