"""CIFAR-10 as uint8 tensors: prepared once per split from torchvision or an ImageFolder tree, then kept on the
device, normalized and augmented there in whole batches."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import normalization
from .errors import UserError
from .io import load_torch, save_torch

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")


@dataclass
class Dataset:
    images: torch.Tensor  # uint8 [N, 3, 32, 32]
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "Dataset":
        return Dataset(self.images.to(device), self.labels.to(device))

    def subset(self, indices: torch.Tensor) -> "Dataset":
        return Dataset(self.images[indices], self.labels[indices])


def stratified_indices(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """A seeded subset of `size` indices with (as nearly as possible) equal counts per class, in original order."""
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = np.full(len(classes), size // len(classes))
    per_class[: size % len(classes)] += 1
    chosen = []
    for cls, count in zip(classes, per_class):
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(members, size=min(count, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _imagefolder_split(root: Path, split: str, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    folder = root / split
    if not folder.is_dir():
        raise UserError(f"data folder {folder} not found: set data.root to a folder holding train/ and test/")
    classes = class_folders(folder)
    if len(classes) != len(CLASSES):
        raise UserError(f"{folder} has {len(classes)} class folders, CIFAR-10 needs 10: fix data.root")
    for other in SPLITS:
        if other != split and (root / other).is_dir() and class_folders(root / other) != classes:
            differ = sorted(set(classes) ^ set(class_folders(root / other)))
            raise UserError(f"the class folders of {folder} and {root / other} differ ({', '.join(differ)}): both "
                            "splits need the same classes, or labels would mean different things")
    for name in classes:
        if not any(path.suffix.lower() in IMG_EXTENSIONS for path in (folder / name).iterdir()):
            raise UserError(f"class folder {folder / name} holds no images ({', '.join(IMG_EXTENSIONS)}): "
                            "add its images or fix data.root")
    samples = ImageFolder(str(folder)).samples
    labels = np.array([label for _, label in samples], dtype=np.int64)
    keep = stratified_indices(labels, size, seed)
    images = np.empty((len(keep), 32, 32, 3), dtype=np.uint8)
    for row, index in enumerate(keep):
        path = samples[index][0]
        images[row] = _read_image(path)
    return images, labels[keep]


def _read_image(path: str) -> np.ndarray:
    """One 32x32 RGB image; a damaged or foreign file is a one-line UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.size != (32, 32):
                raise UserError(f"image {path} is {image.size[0]}x{image.size[1]}, CIFAR-10 images are 32x32")
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:  # PIL's ways of saying "damaged"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"image {path} cannot be read ({reason}): replace or delete the file, then rerun") from None


def _torchvision_split(root: Path, split: str, download: bool, size: int | None, seed: int):
    from torchvision.datasets import CIFAR10

    try:
        dataset = CIFAR10(str(root), train=split == "train", download=download)
    except RuntimeError as error:
        raise UserError(f"CIFAR-10 not found under {root} ({error}): set data.download: true or fix data.root") from None
    labels = np.asarray(dataset.targets, dtype=np.int64)
    keep = stratified_indices(labels, size, seed)
    return dataset.data[keep], labels[keep]


def prepare_split(source: str, root: str, split: str, download: bool, size: int | None, seed: int, dest: str) -> None:
    root_path = Path(root)
    if source == "imagefolder":
        images, labels = _imagefolder_split(root_path, split, size, seed)
    elif source == "torchvision":
        images, labels = _torchvision_split(root_path, split, download, size, seed)
    else:
        raise UserError(f"data.source {source!r} is unknown: use 'torchvision' or 'imagefolder'")
    if len(np.unique(labels)) != len(CLASSES):
        raise UserError(f"{root_path / split} yields {len(np.unique(labels))} labels, CIFAR-10 needs 10: fix data.root")
    save_torch(
        {"images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), "labels": torch.from_numpy(labels)},
        dest,
    )


def load_split(path: str | Path) -> Dataset:
    blob = load_torch(path, "dataset file")
    return Dataset(blob["images"], blob["labels"])


def normalizer(settings: dict, device: torch.device):
    """uint8 NCHW → float32, (x/255 − mean)/std as ToTensor + Normalize, with `settings`' `normalization`."""
    mean, std = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in normalization(settings))
    scale = 1.0 / (255.0 * std)
    shift = -mean / std

    def apply(images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(shift, images.float(), scale).contiguous(memory_format=torch.channels_last)

    return apply


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """RandomCrop(32, padding) with zero fill + RandomHorizontalFlip(0.5), for a whole uint8 batch at once."""
    batch, _, height, width = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (batch,), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (batch,), generator=generator, device=device)
    flip = torch.rand(batch, generator=generator, device=device) < 0.5
    rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = left[:, None] + torch.arange(width, device=device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    channels = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return padded[torch.arange(batch, device=device)[:, None, None, None], channels, rows, cols]
