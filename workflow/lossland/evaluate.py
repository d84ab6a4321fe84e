"""Loss and accuracy of a model over a device-resident dataset, in eval mode, without augmentation."""

import torch
from torch import nn

from .data import Dataset


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, prepare, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy; sums stay on the device and are read once at the end."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=dataset.labels.device)
    correct = torch.zeros((), dtype=torch.int64, device=dataset.labels.device)
    for start in range(0, len(dataset), batch_size):
        images = prepare(dataset.images[start : start + batch_size])
        labels = dataset.labels[start : start + batch_size]
        logits = model(images)
        loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
    count = len(dataset)
    return loss_sum.item() / count, correct.item() / count
