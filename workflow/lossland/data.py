"""Image classification data as uint8 tensors: prepared once per split from an ImageFolder tree or a torchvision
data set (CIFAR-10 by default), then kept on the device, normalized and augmented there in whole batches.

A prepared split records its class names; its tensors give the channel count and image size. Nothing else is
assumed: any number of classes (at least 2), any image size (one per data set), 1 or 3 channels."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import CIFAR10_CLASSES, IMG_EXTENSIONS, TORCHVISION, class_folders, folder_samples, normalization
from .errors import UserError
from .io import load_torch, save_torch

CLASSES = CIFAR10_CLASSES
SPLITS = ("train", "test")


@dataclass
class Dataset:
    images: torch.Tensor  # uint8 [N, C, H, W]
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


def _imagefolder_split(root: Path, split: str, size: int | None, seed: int):
    folder = root / split
    if not folder.is_dir():
        raise UserError(f"data folder {folder} not found: set data.root to a folder holding train/ and test/")
    classes = class_folders(folder)
    if len(classes) < 2:
        raise UserError(f"{folder} has {len(classes)} class folder(s): a classifier needs at least 2, one folder "
                        "of images per class")
    for other in SPLITS:
        if other != split and (root / other).is_dir() and class_folders(root / other) != classes:
            differ = sorted(set(classes) ^ set(class_folders(root / other)))
            raise UserError(f"the class folders of {folder} and {root / other} differ ({', '.join(differ)}): both "
                            "splits need the same classes, or labels would mean different things")
    samples = folder_samples(folder, classes)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    for label in np.flatnonzero(np.bincount(labels, minlength=len(classes)) == 0):  # its subfolders included
        raise UserError(f"class folder {folder / classes[label]} holds no images ({', '.join(IMG_EXTENSIONS)}): "
                        "add its images or fix data.root")
    keep = stratified_indices(labels, size, seed)
    first = _read_image(samples[keep[0]][0])
    images = np.empty((len(keep), *first.shape), dtype=np.uint8)
    for row, index in enumerate(keep):
        images[row] = _read_image(samples[index][0], first.shape)
    return images, labels[keep], classes


def _read_image(path: str, shape: tuple | None = None) -> np.ndarray:
    """One image as HWC uint8 (grey images keep one channel); a damaged file, or one of another size or channel
    count than the first image (`shape`), is a one-line UserError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L" if image.mode in ("1", "L", "I;16", "I") else "RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:  # PIL's ways of saying "damaged"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"image {path} cannot be read ({reason}): replace or delete the file, then rerun") from None
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    if shape is not None and pixels.shape != shape:
        raise UserError(f"image {path} is {_describe(pixels.shape)}, the data set's first image {_describe(shape)}: "
                        "every image of a data set needs one size and channel count")
    return pixels


def _describe(shape: tuple) -> str:
    return f"{shape[1]}x{shape[0]} with {shape[2]} channel{'s' if shape[2] > 1 else ''}"


def _torchvision_split(root: Path, split: str, download: bool, size: int | None, seed: int, name: str = "cifar10"):
    import urllib.error

    import torchvision.datasets

    class_name, how = TORCHVISION[name][:2]
    ask = {"train": split == "train"} if how == "train" else {"split": split}
    try:
        dataset = getattr(torchvision.datasets, class_name)(str(root), download=download, **ask)
    except RuntimeError as error:
        raise UserError(f"{name} not found under {root} ({error}): set data.download: true or fix data.root") from None
    except urllib.error.URLError as error:  # no network (a cluster's compute node), or the server is unreachable
        raise UserError(f"{name} could not be downloaded into {root} ({error.reason}): download it there on a "
                        "machine with a network (the same config, or torchvision.datasets), or point data.root at a "
                        "copy (data.source: imagefolder for a folder of images)") from None
    labels = np.asarray(dataset.targets if hasattr(dataset, "targets") else dataset.labels, dtype=np.int64)
    keep = stratified_indices(labels, size, seed)
    images = np.asarray(dataset.data)[keep]
    if name == "svhn":  # stored N, C, H, W
        images = images.transpose(0, 2, 3, 1)
    images = images[..., None] if images.ndim == 3 else images  # MNIST-like: N, H, W
    classes = [str(c) for c in getattr(dataset, "classes", range(int(labels.max()) + 1))]
    return images, labels[keep], classes


def prepare_split(source: str, root: str, split: str, download: bool, size: int | None, seed: int, dest: str,
                  name: str = "cifar10") -> None:
    """One split as {images uint8 [N, C, H, W], labels, classes}; the training split also records its channel mean
    and std (on [0, 1]), the normalization used when the config gives none."""
    root_path = Path(root)
    if source == "imagefolder":
        images, labels, classes = _imagefolder_split(root_path, split, size, seed)
    elif source == "torchvision":
        images, labels, classes = _torchvision_split(root_path, split, download, size, seed, name)
    else:
        raise UserError(f"data.source {source!r} is unknown: use 'torchvision' or 'imagefolder'")
    if len(np.unique(labels)) < 2:
        raise UserError(f"{root_path / split} yields {len(np.unique(labels))} label(s): a classifier needs at least 2")
    blob = {"images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), "labels": torch.from_numpy(labels),
            "classes": list(classes)}
    if split == "train":
        pixels = blob["images"].double() / 255
        blob["mean"] = pixels.mean((0, 2, 3)).tolist()
        blob["std"] = pixels.std((0, 2, 3)).tolist()
    save_torch(blob, dest)


def split_info(path: str | Path) -> dict:
    """Class names, channels, image size (and, for a training split, channel mean and std) of a prepared split."""
    blob = load_torch(path, "dataset file")
    images = blob["images"]
    classes = blob.get("classes") or list(CLASSES)  # prepared before splits recorded them: CIFAR-10
    info = {"classes": list(classes), "channels": int(images.shape[1]), "size": [int(images.shape[2]),
                                                                                 int(images.shape[3])]}
    return {**info, **{key: blob[key] for key in ("mean", "std") if key in blob}}


def load_split(path: str | Path) -> Dataset:
    blob = load_torch(path, "dataset file")
    return Dataset(blob["images"], blob["labels"])


def normalizer(settings: dict, device: torch.device):
    """uint8 NCHW → float32, (x/255 − mean)/std as ToTensor + Normalize, with `settings`' `normalization`."""
    mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in normalization(settings))
    scale = 1.0 / (255.0 * std)
    shift = -mean / std

    def apply(images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(shift, images.float(), scale).contiguous(memory_format=torch.channels_last)

    return apply


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """RandomCrop(size, padding) with zero fill + RandomHorizontalFlip(0.5), for a whole uint8 batch at once."""
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
