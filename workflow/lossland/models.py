"""The 7 CIFAR-10 models: Net (a 4-conv CNN) and ResNet/PlainNet-{20,56,110}; and a user's own model, from the
builder the config names (`architectures`).

ResNets follow He et al. 2016 §4.2: 3 stages of n basic blocks with 16/32/64 channels (× `width`, 1 by default)
and identity shortcuts.
Where the shape changes, the shortcut is one of three variants people compare against:

- subsample: option A, stride-2 subsample + zero-pad channels (He et al., akamaster/pytorch_resnet_cifar10)
- avgpool: option A with a 2x2 average pool instead (techxzen/pytorch-residual-networks, the study's source)
- projection: option B, 1x1 conv (stride 2) + BN (tomgoldstein/loss-landscape, Li et al. 2018)

`conv_bias` gives every conv a bias (PyTorch's default, as techxzen's code). PlainNets are the same networks with
the shortcut removed: their state_dicts are interchangeable, except for the projection shortcut's weights.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .config import MODEL_NAMES, describe, model_family, variant, variant_keys

SHORTCUTS = ("subsample", "avgpool", "projection")


class Net(nn.Module):
    """conv5x5(3→32) then conv3x3 32→64→128→256, each followed by maxpool2, ReLU, BN; dropout; fc 256; fc 10."""

    def __init__(self, num_classes: int = 10, channels: int = 3, size: tuple[int, int] = (32, 32)):
        super().__init__()
        widths = [channels, 32, 64, 128, 256]
        layers = []
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c_out, kernel, padding="same"), nn.MaxPool2d(2), nn.ReLU(), nn.BatchNorm2d(c_out)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(256 * (size[0] // 16) * (size[1] // 16), 256), nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ShortcutA(nn.Module):
    """Option A: halve the resolution (stride-2 subsample or 2x2 average pool), zero-pad the new channels."""

    def __init__(self, extra_channels: int, pool: bool = False):
        super().__init__()
        self.pad, self.pool = extra_channels // 2, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2, 2) if self.pool else x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad))


class ShortcutB(nn.Module):
    """Option B: 1x1 conv (stride 2) + BN projection (named conv1/bn1, so that BN folding finds the pair)."""

    def __init__(self, in_planes: int, planes: int, stride: int, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=bias)
        self.bn1 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv1(x))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, residual: bool, shortcut: str, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = residual
        self.shortcut = nn.Identity()
        if residual and (stride != 1 or in_planes != planes):
            if shortcut == "projection":
                self.shortcut = ShortcutB(in_planes, planes, stride, bias)
            else:
                self.shortcut = ShortcutA(planes - in_planes, pool=shortcut == "avgpool")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place: ~5% faster on a CPU, and autograd-safe (BN and add do not keep their outputs for backward)
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        if self.residual:
            out += self.shortcut(x)
        return F.relu(out, inplace=True)


class ResNet(nn.Module):
    def __init__(self, depth: int, residual: bool = True, shortcut: str = "subsample", conv_bias: bool = False,
                 num_classes: int = 10, channels: int = 3, width: int = 1):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2, got {depth}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}: choose one of {', '.join(SHORTCUTS)}")
        if int(width) != width or width < 1:
            raise ValueError(f"width must be a whole number >= 1, got {width}")
        n, base = (depth - 2) // 6, 16 * int(width)
        self.conv1 = nn.Conv2d(channels, base, 3, padding=1, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(base)
        stages, in_planes = [], base
        for planes, stride in ((base, 1), (2 * base, 2), (4 * base, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1, residual, shortcut, conv_bias))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(4 * base, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.layer3(self.layer2(self.layer1(out)))
        out = out.mean((2, 3))  # global average pool; unlike adaptive_avg_pool2d, deterministic on CUDA
        return self.linear(out)


CIFAR10_INPUT = {"classes": 10, "channels": 3, "size": [32, 32]}  # what a checkpoint without an `input` record saw


def build_model(name: str, shortcut: str = "subsample", conv_bias: bool = False, classes: int = 10, channels: int = 3,
                size: tuple[int, int] = (32, 32), width: int = 1) -> nn.Module:
    family, depth = model_family(name)
    if family == "net":
        return Net(classes, channels, size)
    return ResNet(depth, residual=family == "resnet", shortcut=shortcut, conv_bias=conv_bias, num_classes=classes,
                  channels=channels, width=width)


def build_custom(architecture: dict, classes: int) -> nn.Module:
    """The user's model: `builder` ("module.path:function", imported from the Python path) called with
    num_classes and `kwargs`. Only a builder the config names is ever imported (never one a checkpoint names)."""
    import importlib

    from .errors import UserError

    module_name, _, function = architecture["builder"].partition(":")
    try:
        builder = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as error:
        raise UserError(f"builder {architecture['builder']!r} cannot be imported ({error}): put its module on the "
                        "Python path (the repository root, the working directory, or PYTHONPATH)") from None
    kwargs = {"num_classes": classes, **architecture["kwargs"]}
    if kwargs["num_classes"] != classes:
        raise UserError(f"architectures kwargs give num_classes {kwargs['num_classes']}, the data has {classes} "
                        "classes: remove num_classes from kwargs (it comes from the data)")
    model = builder(**kwargs)
    if not isinstance(model, nn.Module):
        raise UserError(f"builder {architecture['builder']!r} returned a {type(model).__name__}, not a "
                        "torch.nn.Module: return the model")
    return model


def build(name: str, settings: dict, shape: dict) -> nn.Module:
    """Model `name` as `settings` describe it (variant keys, or the user's `architecture`), for data of `shape`
    ({classes, channels, size})."""
    if settings.get("architecture"):
        return build_custom(settings["architecture"], shape["classes"])
    return build_model(name, **variant(name, settings), classes=shape["classes"], channels=shape["channels"],
                       size=tuple(shape["size"]))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_list(model: nn.Module) -> list[str]:
    """Every leaf module as 'name: Type', for the checkpoint and the metrics."""
    return [f"{name}: {type(m).__name__}" for name, m in model.named_modules() if not list(m.children()) and name]


def same_architecture(paths: tuple[str, str], first: dict, second: dict) -> None:
    """Two checkpoints of one model's seeds (a pair compared or joined by a curve) must be one architecture."""
    from .errors import UserError

    kinds = [describe(c["model"], c["config"]) for c in (first, second)]
    if kinds[0] != kinds[1]:
        raise UserError(f"cannot compare {paths[0]} ({kinds[0]}) and {paths[1]} ({kinds[1]}): the seeds of one model "
                        "must share its architecture; retrain the stale one")


def load_checkpoint(path: str, device: torch.device, architecture: dict | None = None) -> tuple[nn.Module, dict]:
    """The trained model (eval mode, on `device`) and the checkpoint dict; a mismatch is a UserError naming the file.
    A user's model is rebuilt with the config's `architecture`, which must be the one the checkpoint records."""
    from .errors import UserError
    from .io import load_torch

    checkpoint = load_torch(path, "checkpoint")
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "state_dict" not in checkpoint:
        raise UserError(f"checkpoint {path} is not one this workflow wrote: delete it and rerun the workflow")
    settings = checkpoint.get("config")
    if not isinstance(settings, dict) or "normalize" not in settings:
        raise UserError(f"checkpoint {path} does not record its training settings (the 'config' key with "
                        "'normalize'): add them, or retrain it with this workflow")
    recorded = settings.get("architecture")
    if recorded is None and checkpoint["model"] not in MODEL_NAMES:
        raise UserError(f"checkpoint {path} names the model {checkpoint['model']!r}, which is none of "
                        f"{', '.join(MODEL_NAMES)}: set its 'model' key to the architecture it holds")
    if recorded is not None and recorded != architecture:
        raise UserError(f"checkpoint {path} holds a {describe(checkpoint['model'], settings)}, the config's "
                        f"architectures.{checkpoint['model']} says {architecture}: rerun its training or import")
    missing = [key for key in variant_keys(checkpoint["model"], settings) if key not in settings]
    if missing:  # avgpool and subsample ResNets have identical state_dicts: guessing would evaluate another network
        raise UserError(f"checkpoint {path} does not record its variant key {missing[0]!r} (config.{missing[0]}, "
                        "e.g. shortcut: avgpool, conv_bias: true): add it to the checkpoint, or retrain it")
    model = build(checkpoint["model"], settings, checkpoint.get("input", CIFAR10_INPUT))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:
        raise UserError(
            f"checkpoint {path} does not hold the {describe(checkpoint['model'], settings)} it records (weights of "
            "another architecture or variant): delete it and rerun the workflow"
        ) from None
    return model.to(device, memory_format=torch.channels_last).eval(), checkpoint


def unwrap_state_dict(blob, path: str) -> dict:
    """A state_dict saved elsewhere: bare, or under "state_dict" / "model" / "model_state_dict", with DataParallel's
    "module." prefixes removed."""
    from .errors import UserError

    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise UserError(f"checkpoint {path} holds no state_dict (a dict of tensors, bare or under 'state_dict' or "
                        "'model'): save model.state_dict()")
    if all(key.startswith("module.") for key in blob):
        blob = {key[len("module."):]: value for key, value in blob.items()}
    return blob


def fit_state_dict(model: nn.Module, state: dict, path: str) -> None:
    """Load `state` into `model`, or one line naming the first keys that are missing or unexpected."""
    from .errors import UserError

    expected, given = set(model.state_dict()), set(state)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise UserError(f"checkpoint {path} does not fit the model: missing {missing[:3] or 'none'}"
                        f"{' ...' if len(missing) > 3 else ''}, unexpected {unexpected[:3] or 'none'}"
                        f"{' ...' if len(unexpected) > 3 else ''}: check architectures.<model> and its kwargs")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        shapes = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise UserError(f"checkpoint {path} does not fit the model: {shapes[0] if shapes else error}") from None
