"""A trained low-loss curve between two trainings of one model (Garipov et al. 2018, "Loss Surfaces, Mode
Connectivity, and Fast Ensembling of DNNs"): the quadratic Bezier

    θ(t) = (1 − t)² θ_a + 2t(1 − t) θ_c + t² θ_b,   t ∈ [0, 1],

its ends the two seeds (fixed), its bend θ_c trained from the midpoint of the straight line (where the curve is that
line) with the model's training recipe, a t ~ U(0, 1) drawn per batch (seeded by the curve's seed and the batch's
number), BN in train mode. Evaluated along the curve (`measure.connectivity`), BN statistics are recomputed at every
point. As a point of a plane: θ(t) = θ_a + t·d₁ + t²·d₂ with d₁ = 2(θ_c − θ_a), d₂ = θ_a − 2θ_c + θ_b.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

T_STREAM = 0xB321  # the t draws' key in the seed sequence: no other stream of the workflow uses it


def bezier(a: torch.Tensor, bend: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * bend + t**2 * b


class Bezier(nn.Module):
    """The curve between the parameters `a` and `b` of `model` (state dicts); only the bend's parameters train.
    `model`'s own weights are frozen and unused (each forward runs it at the curve's point); its BN statistics,
    gathered along the curve, are part of this module's state (a resumed training's history equals an
    uninterrupted one's)."""

    def __init__(self, model: nn.Module, a: dict, b: dict, seed: int):
        super().__init__()
        self.names = [name for name, _ in model.named_parameters()]
        self.seed = seed
        for i, name in enumerate(self.names):
            self.register_buffer(f"a{i}", a[name].detach().clone())
            self.register_buffer(f"b{i}", b[name].detach().clone())
        self.bend = nn.ParameterList(nn.Parameter((a[name].detach() + b[name].detach()) / 2) for name in self.names)
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64))  # batches trained: resumes the t stream
        self.model = model.requires_grad_(False)

    def weights(self, t: float) -> dict[str, torch.Tensor]:
        return {name: bezier(getattr(self, f"a{i}"), self.bend[i], getattr(self, f"b{i}"), t)
                for i, name in enumerate(self.names)}

    def draw(self) -> float:
        """The next batch's t: the seed's own stream (apart from the data order's and dropout's) at this batch's
        number, the same after a resume."""
        t = float(np.random.default_rng([self.seed, T_STREAM, int(self.draws)]).random())
        self.draws += 1
        return t

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Training: at a drawn t; evaluation (the training history's test column): at the midpoint t = ½, with the
        BN statistics gathered along the curve (a progress figure, not the curve's loss)."""
        t = self.draw() if self.training else 0.5
        return torch.func.functional_call(self.model, self.weights(t), (images,))

    def bend_state(self) -> dict[str, torch.Tensor]:
        return {name: self.bend[i].detach().clone() for i, name in enumerate(self.names)}


def plane(a: dict, bend: dict, b: dict) -> tuple[dict, dict]:
    """(d₁, d₂) over the bend's names: θ_a + t·d₁ + t²·d₂ is the curve's point at t."""
    first = {name: 2 * (bend[name] - a[name]) for name in bend}
    second = {name: a[name] - 2 * bend[name] + b[name] for name in bend}
    return first, second


def train(spec: dict, device_name: str) -> None:
    """The bend of the curve between the checkpoints `a` and `b`, trained for `settings["train"]["epochs"]` epochs
    on the training split, resumable after any epoch: the bend (and its training history) written."""
    from .data import load_split
    from .device import select_device
    from .io import exclusive, save_torch, sha256
    from .logs import log
    from .models import load_checkpoint, same_architecture
    from .train import fit, make_optimizer, write_history

    settings, inputs, outputs = spec["settings"], spec["inputs"], spec["outputs"]
    device = select_device(device_name)
    resume_file = Path(spec["scratch"]["resume"])
    with exclusive(resume_file.parent, log):
        model, checkpoint = load_checkpoint(inputs["a"], device, settings.get("architecture"))
        other, other_checkpoint = load_checkpoint(inputs["b"], device, settings.get("architecture"))
        same_architecture((inputs["a"], inputs["b"]), checkpoint, other_checkpoint)
        trained = checkpoint["config"]  # the input transform the seeds were trained with
        recipe = {**settings["train"], **{key: trained[key] for key in ("normalize", "mean", "std") if key in trained}}
        data_sha256 = {name: sha256(inputs[name]) for name in ("train", "test", "a", "b")}  # a resume point: these ends
        data = (load_split(inputs["train"]).to(device), None, load_split(inputs["test"]).to(device))
        curve = Bezier(model, dict(model.named_parameters()), dict(other.named_parameters()), settings["seed"])
        optimizer = make_optimizer(recipe, curve.bend.parameters())
        run = {"model": f"{checkpoint['model']} curve", "settings": recipe, "data_sha256": data_sha256}
        log(f"training the bend between {inputs['a']} and {inputs['b']}: {recipe['epochs']} epochs")
        history = fit(curve, optimizer, run, data, resume_file, device, log)
        write_history(history, outputs["history"])
        save_torch({"model": checkpoint["model"], "bend": curve.bend_state(), "a": inputs["a"], "b": inputs["b"],
                    "epochs": len(history), "settings": recipe, "data_sha256": data_sha256}, outputs["bend"])
        resume_file.unlink(missing_ok=True)
