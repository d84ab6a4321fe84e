"""Loss and accuracy of a model over a device-resident dataset, in eval mode, without augmentation."""

import torch
from torch import nn

from .data import Dataset
from .device import resolve_precision


def batch_size_for(device: torch.device, batch_size: int | str = "auto") -> int:
    """`auto`: 64 on a CPU, where small batches stay in cache (measured: ~1.5x faster than 1000), 1024 on a GPU
    (CUDA or Apple's MPS)."""
    if batch_size == "auto":
        return 1024 if device.type in ("cuda", "mps") else 64
    return int(batch_size)


def autocast(device: torch.device, precision: str = "fp32"):
    """fp32 (exact), or bf16/fp16 autocast: faster on GPUs, at a fidelity cost the benchmark reports; auto: bf16 where
    the device runs it fast (`device.resolve_precision`)."""
    precision = resolve_precision(precision, device)
    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    return torch.autocast(device.type, dtype=dtypes[precision], enabled=precision != "fp32")


CAP_CHECK_EVERY = {"cuda": 8, "mps": 8}  # batches between looks at the running sum on a GPU (each look syncs)


@torch.inference_mode()
def evaluate(
    model: nn.Module, dataset: Dataset, prepare, batch_size: int | str = "auto", precision: str = "fp32",
    cap: float | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy; sums stay on the device and are read once at the end.

    With a `cap`: cross-entropy is never negative, so after any prefix of the batches the running sum over all N
    images bounds the mean from below. Once that bound exceeds the cap the rest cannot bring the mean back under it:
    the evaluation stops and returns (the bound, NaN accuracy). Below the cap nothing changes: same batches, same sums.
    """
    model.eval()
    device = dataset.labels.device
    batch_size = batch_size_for(device, batch_size)
    check_every = CAP_CHECK_EVERY.get(device.type, 1)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for batch, start in enumerate(range(0, len(dataset), batch_size), start=1):
        images = prepare(dataset.images[start : start + batch_size])
        labels = dataset.labels[start : start + batch_size]
        with autocast(device, precision):
            logits = model(images)
        loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
        if cap is not None and batch % check_every == 0 and start + batch_size < len(dataset):
            bound = loss_sum.item() / len(dataset)
            if bound > cap:
                return bound, float("nan")
    loss_total, correct_total = torch.stack([loss_sum, correct.double()]).tolist()  # one device sync
    return loss_total / len(dataset), correct_total / len(dataset)


BN_BATCH = 128  # images per train-mode batch when recomputing BN statistics: fixed, so every device gets the same


@torch.no_grad()
def recompute_bn(model: nn.Module, dataset: Dataset, prepare, batch_size: int = BN_BATCH) -> None:
    """Reset every BatchNorm's running statistics and recompute them from `dataset` (as torch.optim.swa_utils.update_bn:
    a cumulative average over train-mode batches), then leave the model in eval mode. Only the BN layers run in
    train mode, so dropout does not disturb the statistics."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average
        layer.train()
    for start in range(0, len(dataset), batch_size):
        model(prepare(dataset.images[start : start + batch_size]))
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    model.eval()
