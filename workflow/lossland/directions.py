"""Random directions in weight space (Li et al. 2018, §4), with loss-landscape's options.

Each direction is Gaussian noise normalized against the trained weights, tensor by tensor:
- `norm: filter` (the paper's): every filter — a slice along the output dimension of a conv or linear weight — gets
  the norm of the same filter of the weights; `layer`: the whole tensor gets the norm of the weight tensor;
  `weight`: each entry is multiplied by its weight.
- `ignore: biasbn` (the paper's figures): 1-D tensors (biases, BN weight and bias) get a zero direction; `none`: they
  get a direction equal to their own values, as loss-landscape does without `--xignore biasbn`.
- `type: weights` moves the parameters; `states` also the BN running mean/var buffers (loss-landscape's
  `--dir_type states`). They are 1-D, so under `ignore: biasbn` their direction is zero, as in loss-landscape.
Noise is drawn for >1-D tensors only, in parameter order, so every option sees the same noise for the same seed.
"""

import zlib

import torch
from torch import nn

DEFAULT_OPTIONS = {"norm": "filter", "ignore": "biasbn", "type": "weights"}


def direction_seed(seed: int, model_name: str) -> int:
    return seed * 1_000_003 + zlib.crc32(model_name.encode())


def normalize_to(noise: torch.Tensor, weights: torch.Tensor, norm: str) -> torch.Tensor:
    vector_norm = torch.linalg.vector_norm
    if norm == "filter":
        dims = tuple(range(1, weights.dim()))
        return noise * (vector_norm(weights, dim=dims, keepdim=True) / (vector_norm(noise, dim=dims, keepdim=True) + 1e-10))
    if norm == "layer":
        return noise * (vector_norm(weights) / vector_norm(noise))
    if norm == "weight":
        return noise * weights
    raise ValueError(f"unknown direction norm {norm!r}: use filter, layer or weight")


def direction_for(weights: torch.Tensor, generator: torch.Generator, norm: str = "filter",
                  ignore: str = "biasbn") -> torch.Tensor:
    if weights.dim() <= 1:
        return weights.clone() if ignore == "none" else torch.zeros_like(weights)
    noise = torch.randn(weights.shape, generator=generator, dtype=weights.dtype)
    return normalize_to(noise, weights, norm)


def movable_tensors(model: nn.Module, kind: str = "weights") -> dict[str, torch.Tensor]:
    """What a direction moves: the parameters, or (`states`) every floating-point entry of the state_dict."""
    if kind == "weights":
        tensors = dict(model.named_parameters())
    elif kind == "states":
        tensors = {name: t for name, t in model.state_dict().items() if t.is_floating_point()}
    else:
        raise ValueError(f"unknown direction type {kind!r}: use weights or states")
    return {name: t.detach().cpu().contiguous() for name, t in tensors.items()}


def random_directions(model: nn.Module, seed: int, norm: str = "filter", ignore: str = "biasbn",
                      kind: str = "weights") -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    tensors = movable_tensors(model, kind)
    first = {name: direction_for(t, generator, norm, ignore) for name, t in tensors.items()}
    second = {name: direction_for(t, generator, norm, ignore) for name, t in tensors.items()}
    return first, second


def direction_set(model: nn.Module, seed: int, count: int, norm: str = "filter", ignore: str = "biasbn",
                  kind: str = "weights") -> list[dict[str, torch.Tensor]]:
    """`count` independent directions from one seeded stream (the flatness statistics' sample of directions)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = movable_tensors(model, kind)
    return [{name: direction_for(t, generator, norm, ignore) for name, t in tensors.items()} for _ in range(count)]


def cosine(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    a = torch.cat([t.flatten().double() for t in first.values()])
    b = torch.cat([second[name].flatten().double() for name in first])
    return float(a @ b / (a.norm() * b.norm()))
