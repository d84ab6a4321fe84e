"""Weight matching (Ainsworth et al. 2022, "Git Re-Basin", Algorithm 1): permute the hidden units of one trained
network to match another's, without changing the function it computes.

A network's permutation spec says, for every tensor of its state dict, which permutation moves each axis and at
which positions (`Piece`): a layer's output channels move with its bias, the BN after it and the input channels of
whatever reads them. What ties units together follows the architecture:

- Net and PlainNet: every conv's (and the hidden linear layer's) output channels are one free permutation; Net's
  flatten carries each channel's 2×2 pixels to the first linear layer together.
- ResNet: a block adds its output to its input, so every block of a stage writes one residual stream with one
  permutation. An option-A shortcut (subsample or average pool, then zero-padding on both sides) puts the previous
  stage's stream in the middle channels of the next stage's: those channels keep the previous permutation, and
  only the padded channels (left and right together) get a free one. A projection shortcut (1×1 conv + BN) reads
  the previous stream and writes a stream of its own: the stages decouple.

`weight_matching` solves, one permutation at a time in a seeded order, the assignment problem that maximizes the
summed inner products of the two networks' weights over the axes it moves (`scipy.optimize.linear_sum_assignment`),
until a whole pass changes none. `activation_matching` (Ainsworth et al.'s other method) solves, for each permutation
at once, the assignment that maximizes the summed correlations of the two networks' units over the images given, at
every layer output (pre-activation) the permutation moves.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import UserError


@dataclass(frozen=True)
class Piece:
    """Permutation `perm`'s unit i occupies the positions `positions[i]` of an axis (more than one where a flatten
    spread a channel over pixels)."""

    perm: str
    positions: np.ndarray  # (units, positions per unit)


class Spec:
    """The permutation spec of one architecture: `axes[key][axis]` = the pieces covering that axis; `sizes[perm]`."""

    def __init__(self):
        self.axes: dict[str, dict[int, list[Piece]]] = {}
        self.sizes: dict[str, int] = {}

    def perm(self, name: str, units: int) -> list[Piece]:
        self.sizes[name] = units
        return [Piece(name, np.arange(units)[:, None])]

    def layer(self, prefix: str, out: list[Piece] | None, into: list[Piece] | None, bias: bool) -> None:
        """A conv or linear layer writing units `out` (None: the logits) from units `into` (None: the input)."""
        self.axes[f"{prefix}.weight"] = {0: out, **({1: into} if into else {})}
        if bias:
            self.axes[f"{prefix}.bias"] = {0: out}

    def norm(self, prefix: str, units: list[Piece]) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            self.axes[f"{prefix}.{name}"] = {0: units}

    def only(self, key: str) -> "Spec":
        """This spec restricted to one tensor."""
        part = Spec()
        part.axes, part.sizes = {key: self.axes[key]}, self.sizes
        return part


def shifted(pieces: list[Piece], offset: int) -> list[Piece]:
    return [Piece(p.perm, p.positions + offset) for p in pieces]


def spread(pieces: list[Piece], pixels: int) -> list[Piece]:
    """Channels flattened with `pixels` values each (channel-major, as nn.Flatten of NCHW)."""
    return [Piece(p.perm, (p.positions[:, :, None] * pixels + np.arange(pixels)).reshape(len(p.positions), -1))
            for p in pieces]


def padded_stream(spec: Spec, name: str, previous: list[Piece], width: int, units: int) -> list[Piece]:
    """An option-A stage's stream of `units` channels: the previous stream (`width` channels) in the middle, the
    zero-padded channels on both sides under one free permutation `name`."""
    pad = (units - width) // 2
    free = np.concatenate([np.arange(pad), np.arange(pad + width, units)])
    spec.sizes[name] = len(free)
    return [Piece(name, free[:, None]), *shifted(previous, pad)]


def net_spec(model: nn.Module) -> Spec:
    spec, into = Spec(), None
    convs = [(i, m) for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
    norms = [i for i, m in enumerate(model.features) if isinstance(m, nn.BatchNorm2d)]
    for k, ((i, conv), j) in enumerate(zip(convs, norms)):
        out = spec.perm(f"conv{k + 1}", conv.out_channels)
        spec.layer(f"features.{i}", out, into, conv.bias is not None)
        spec.norm(f"features.{j}", out)
        into = out
    hidden, last = [i for i, m in enumerate(model.classifier) if isinstance(m, nn.Linear)]
    pixels = model.classifier[hidden].in_features // convs[-1][1].out_channels
    units = spec.perm("fc1", model.classifier[hidden].out_features)
    spec.layer(f"classifier.{hidden}", units, spread(into, pixels), True)
    spec.layer(f"classifier.{last}", None, units, True)
    return spec


def resnet_spec(model: nn.Module) -> Spec:
    """ResNet or PlainNet (`residual` blocks or not), any shortcut."""
    spec = Spec()
    bias = model.conv1.bias is not None
    stream = spec.perm("stem", model.conv1.out_channels)
    spec.layer("conv1", stream, None, bias)
    spec.norm("bn1", stream)
    width = model.conv1.out_channels
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3), start=1):
        for b, block in enumerate(stage):
            prefix, planes = f"layer{s}.{b}", block.conv2.out_channels
            inner = spec.perm(f"{prefix}.inner", planes)
            spec.layer(f"{prefix}.conv1", inner, stream, bias)
            spec.norm(f"{prefix}.bn1", inner)
            if not block.residual:
                out = spec.perm(f"{prefix}.out", planes)
            elif isinstance(block.shortcut, nn.Identity):
                out = stream
            elif hasattr(block.shortcut, "conv1"):  # projection: a stream of its own
                out = spec.perm(f"stream{s}", planes)
                spec.layer(f"{prefix}.shortcut.conv1", out, stream, bias)
                spec.norm(f"{prefix}.shortcut.bn1", out)
            else:  # option A: the previous stream in the middle, the padding free
                out = padded_stream(spec, f"stream{s}.padding", stream, width, planes)
            spec.layer(f"{prefix}.conv2", out, inner, bias)
            spec.norm(f"{prefix}.bn2", out)
            stream, width = out, planes
    spec.layer("linear", None, stream, True)
    return spec


def known(model: nn.Module) -> bool:
    """Whether weight matching knows the model's permutation structure: Net, ResNet and PlainNet (of any width, built
    in or by a builder that returns them, e.g. `lossland.models:ResNet`), not subclasses of them."""
    from .models import Net, ResNet

    return type(model) in (Net, ResNet)  # a subclass may add layers the permutation spec does not know


def paths_between(model_a: nn.Module, model_b: nn.Module, seed: int = 0, batches=None
                  ) -> tuple[dict[str, nn.Module], dict | None]:
    """The ends of the paths from `model_a`: "linear" (to `model_b`) and, where the matching knows the
    architecture, "aligned" (to `model_b` permuted to match `model_a`, by activations over `batches` where given);
    and what the matching found (None without)."""
    if not known(model_b):
        return {"linear": model_b}, None
    aligned, found = align(model_a, model_b, seed, batches)
    return {"linear": model_b, "aligned": aligned}, found


def spec_of(model: nn.Module) -> Spec:
    from .models import Net, ResNet

    if isinstance(model, Net):
        return net_spec(model)
    if isinstance(model, ResNet):
        return resnet_spec(model)
    raise UserError(f"weight matching knows Net, ResNet and PlainNet, not {type(model).__name__}: only the linear "
                    "barrier is available for it")


def axis_index(pieces: list[Piece], perms: dict[str, np.ndarray], size: int) -> torch.Tensor:
    index = np.arange(size)
    for piece in pieces:
        index[piece.positions.ravel()] = piece.positions[perms[piece.perm]].ravel()
    return torch.from_numpy(index)


def permute(state: dict, spec: Spec, perms: dict[str, np.ndarray], skip: tuple = ()) -> dict:
    """The state dict with each axis's units reordered: new unit i of a permutation is old unit perms[name][i]
    (`skip`: (key, axis) pairs left as they are)."""
    out = dict(state)
    for key, axes in spec.axes.items():
        tensor = state[key]
        for axis, pieces in axes.items():
            if pieces and (key, axis) not in skip:
                tensor = tensor.index_select(axis, axis_index(pieces, perms, tensor.shape[axis]))
        out[key] = tensor
    return out


def rows(tensor: torch.Tensor, axis: int, positions: np.ndarray) -> torch.Tensor:
    """For each unit, its slices of `tensor` along `axis` (at its positions) as one flat row."""
    moved = tensor.movedim(axis, 0)
    return moved[torch.from_numpy(positions.ravel())].reshape(len(positions), -1).double()


def weight_matching(state_a: dict, state_b: dict, spec: Spec, seed: int = 0, max_passes: int = 100
                    ) -> tuple[dict[str, np.ndarray], int]:
    """The permutations of b's units that maximize Σ ⟨W_a, P(W_b)⟩ over every parameter the spec moves (BN running
    statistics follow but are not matched), and the passes it took."""
    from scipy.optimize import linear_sum_assignment

    perms = {name: np.arange(units) for name, units in spec.sizes.items()}
    uses = {name: [] for name in spec.sizes}
    for key, axes in spec.axes.items():
        if not key.endswith(("running_mean", "running_var")):
            for axis, pieces in axes.items():
                for piece in pieces or []:
                    uses[piece.perm].append((key, axis, piece.positions))
    rng = np.random.default_rng(seed)
    for passes in range(1, max_passes + 1):
        changed = False
        for name in rng.permutation(sorted(spec.sizes)):
            score = np.zeros((spec.sizes[name], spec.sizes[name]))
            for key, axis, positions in uses[name]:
                other = permute({key: state_b[key]}, spec.only(key), perms, skip=((key, axis),))[key]
                score += (rows(state_a[key], axis, positions) @ rows(other, axis, positions).T).numpy()
            _, best = linear_sum_assignment(score, maximize=True)
            units = np.arange(len(best))
            if score[units, best].sum() > score[units, perms[name]].sum() + 1e-12 * abs(score).max():
                perms[name], changed = best, True
        if not changed:
            return perms, passes
    return perms, max_passes


def activation_sites(spec: Spec) -> dict[str, list[Piece]]:
    """The layers that write hidden units (every conv and linear layer but the logits), each with the pieces covering
    its output channels: their outputs are the pre-activations matched (linear in the input, so no unit is dead)."""
    norms = {key.removesuffix(".running_mean") for key in spec.axes if key.endswith(".running_mean")}
    return {key.removesuffix(".weight"): axes[0] for key, axes in spec.axes.items()
            if key.endswith(".weight") and axes.get(0) and key.removesuffix(".weight") not in norms}


def unit_correlations(model_a: nn.Module, model_b: nn.Module, sites: list[str], batches) -> dict[str, np.ndarray]:
    """For each site, the correlation of every output channel of `model_a` with every one of `model_b` over the
    images of `batches` and their pixels (0 where a channel is constant), both models as they are (eval mode)."""
    outputs: dict[tuple[str, int], torch.Tensor] = {}  # (site, 0 for a or 1 for b): that batch's (values, channels)

    def keep(site: str, side: int):
        def hook(module, inputs, output):
            outputs[site, side] = output.detach().movedim(1, -1).reshape(-1, output.shape[1]).double().cpu()
        return hook

    handles = [model.get_submodule(site).register_forward_hook(keep(site, side))
               for side, model in enumerate((model_a, model_b)) for site in sites]
    moments: dict[str, list] = {}  # per site: count, Σa, Σb, Σa², Σb², Σ a·bᵀ
    try:
        with torch.no_grad():
            for images in batches:
                model_a(images), model_b(images)
                for site in sites:
                    a, b = outputs[site, 0], outputs[site, 1]
                    parts = [len(a), a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), a.T @ b]
                    moments[site] = [m + p for m, p in zip(moments[site], parts)] if site in moments else parts
    finally:
        for handle in handles:
            handle.remove()
    correlations = {}
    for site, (n, sum_a, sum_b, square_a, square_b, cross) in moments.items():
        covariance = cross / n - torch.outer(sum_a / n, sum_b / n)
        sd_a, sd_b = ((square / n - (total / n) ** 2).clamp(min=0).sqrt()
                      for total, square in ((sum_a, square_a), (sum_b, square_b)))
        scale = torch.outer(sd_a, sd_b)
        correlations[site] = torch.where(scale > 0, covariance / scale.clamp(min=1e-300), 0.0).numpy()
    return correlations


def activation_matching(model_a: nn.Module, model_b: nn.Module, spec: Spec, batches) -> dict[str, np.ndarray]:
    """The permutations of b's units that maximize the summed correlations of a's units with b's over `batches`
    (prepared image batches), each permutation's assignment over every layer output it moves."""
    from scipy.optimize import linear_sum_assignment

    sites = activation_sites(spec)
    correlations = unit_correlations(model_a, model_b, list(sites), batches)
    scores = {name: np.zeros((units, units)) for name, units in spec.sizes.items()}
    for site, pieces in sites.items():
        for piece in pieces:
            positions = piece.positions[:, 0]
            scores[piece.perm] += correlations[site][np.ix_(positions, positions)]
    return {name: linear_sum_assignment(score, maximize=True)[1] for name, score in scores.items()}


def align(model_a: nn.Module, model_b: nn.Module, seed: int = 0, batches=None) -> tuple[nn.Module, dict]:
    """A copy of `model_b` with its units permuted to match `model_a`'s (the same function as `model_b`), and
    what the matching found: passes, and each permutation's units that moved. By weight matching, or by activation
    matching over `batches` (prepared image batches) where given."""
    import copy

    spec = spec_of(model_b)
    state_a = {k: v.detach().cpu() for k, v in model_a.state_dict().items()}
    state_b = {k: v.detach().cpu() for k, v in model_b.state_dict().items()}
    if batches is None:
        perms, passes = weight_matching(state_a, state_b, spec, seed)
    else:
        perms, passes = activation_matching(model_a, model_b, spec, batches), 1
    aligned = copy.deepcopy(model_b)
    device = next(model_b.parameters()).device
    aligned.load_state_dict({k: v.to(device) for k, v in permute(state_b, spec, perms).items()})
    moved = {name: int((perm != np.arange(len(perm))).sum()) for name, perm in perms.items()}
    return aligned, {"method": "weights" if batches is None else "activations", "passes": passes, "moved": moved,
                     "permutations": {k: v.tolist() for k, v in perms.items()}}
