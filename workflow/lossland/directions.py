"""Filter-normalized random directions (Li et al. 2018, §4).

Each direction is Gaussian noise with every filter — a slice along the output dimension of a conv or linear
weight — rescaled to the norm of the same filter of the trained weights. 1-D parameters (biases, BN weight and
bias) get a zero direction, as in the paper's figures ("ignore biasbn").
"""

import zlib

import torch
from torch import nn


def direction_seed(seed: int, model_name: str) -> int:
    return seed * 1_000_003 + zlib.crc32(model_name.encode())


def filter_normalized(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if weights.dim() <= 1:
        return torch.zeros_like(weights)
    noise = torch.randn(weights.shape, generator=generator, dtype=weights.dtype)
    dims = tuple(range(1, weights.dim()))
    norm = torch.linalg.vector_norm
    scale = norm(weights, dim=dims, keepdim=True) / (norm(noise, dim=dims, keepdim=True) + 1e-10)
    return noise * scale


def random_directions(model: nn.Module, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    params = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters()}
    first = {name: filter_normalized(p, generator) for name, p in params.items()}
    second = {name: filter_normalized(p, generator) for name, p in params.items()}
    return first, second


def cosine(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    a = torch.cat([t.flatten().double() for t in first.values()])
    b = torch.cat([second[name].flatten().double() for name in first])
    return float(a @ b / (a.norm() * b.norm()))
