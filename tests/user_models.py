"""Models a user might bring (architectures.<name>.builder: "tests.user_models:<function>")."""

import torch
from torch import nn


def small_cnn(num_classes: int, width: int = 8) -> nn.Module:
    """conv → ReLU → BN twice (BN after the non-linearity: nothing to fold), global pool, linear."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(width), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(2 * width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes),
    )


class TwoBranches(nn.Module):
    """A conv whose output feeds both its BN and a skip connection (folding it would change the skip), then a
    conv → BN pair that may be folded."""

    def __init__(self, num_classes: int, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(width)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        out = torch.relu(self.stem_bn(stem)) + stem
        out = torch.relu(self.bn(self.conv(out)))
        return self.head(out.mean((2, 3)))


def two_branches(num_classes: int, width: int = 8) -> nn.Module:
    return TwoBranches(num_classes, width)


def not_a_model(num_classes: int) -> str:
    return "a string"
