import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO
from lossland.data import CLASSES, augment, load_split, normalizer, prepare_split, stratified_indices
from lossland.errors import UserError
from PIL import Image


def make_imagefolder(root, per_class=4, size=32, classes=CLASSES):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def test_imagefolder_is_prepared_as_uint8_with_sorted_class_labels(tmp_path):
    root = make_imagefolder(tmp_path / "src")
    prepare_split("imagefolder", str(root), "train", False, None, 0, str(tmp_path / "train.pt"))
    data = load_split(tmp_path / "train.pt")
    assert data.images.dtype == torch.uint8 and data.images.shape == (40, 3, 32, 32)
    assert data.labels.tolist() == sorted(list(range(10)) * 4)
    first = np.array(Image.open(root / "train" / "airplane" / "0000.png"))
    assert torch.equal(data.images[0], torch.from_numpy(first).permute(2, 0, 1))


def test_the_folder_scan_lists_what_torchvisions_imagefolder_lists(tmp_path):
    """The data job scans an ImageFolder tree itself (importing torchvision costs a job 2.5 s): the same files, labels
    and order as ImageFolder, with nested folders, upper-case extensions, files that are not images and a linked
    folder in the tree; and the extensions are torchvision's. The config's count of a split (what the plan checks
    subset sizes and sizes jobs by) is that list's length."""
    from lossland.config import IMG_EXTENSIONS, count_images
    from lossland.data import class_folders, folder_samples
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS as THEIRS

    root = make_imagefolder(tmp_path / "src") / "train"
    (root / "cat" / "deeper" / "z").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(root / "cat" / "deeper" / "z" / "A.PNG")
    Image.new("RGB", (32, 32)).save(root / "cat" / "deeper" / "b.jpeg", format="JPEG")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "linked").symlink_to(root / "cat" / "deeper", target_is_directory=True)
    assert IMG_EXTENSIONS == THEIRS
    assert folder_samples(root, class_folders(root)) == ImageFolder(str(root)).samples
    assert count_images(str(root.parent), "train") == len(ImageFolder(str(root)).samples)


def test_stratified_subset_is_balanced_seeded_and_ordered():
    labels = np.repeat(np.arange(10), 50)
    subset = stratified_indices(labels, 25, seed=3)
    assert len(subset) == 25 and np.all(np.diff(subset) > 0)
    counts = np.bincount(labels[subset], minlength=10)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(subset, stratified_indices(labels, 25, seed=3))
    assert not np.array_equal(subset, stratified_indices(labels, 25, seed=4))


def test_a_class_with_images_only_in_subfolders_is_prepared_and_counted(tmp_path):
    """ImageFolder walks class folders with their subfolders: so do the data job and the config's count."""
    from lossland.config import count_images

    root = make_imagefolder(tmp_path / "src")
    nested = root / "train" / "truck" / "sub"
    nested.mkdir()
    for file in sorted((root / "train" / "truck").glob("*.png")):
        file.rename(nested / file.name)
    prepare_split("imagefolder", str(root), "train", False, None, 0, str(tmp_path / "out.pt"))
    data = load_split(tmp_path / "out.pt")
    assert len(data) == count_images(str(root), "train") == 4 * len(CLASSES)
    assert int((data.labels == CLASSES.index("truck")).sum()) == 4


@pytest.mark.parametrize(
    "problem,message",
    [("missing", "data folder {root}/train not found"), ("one", "has 1 class folder(s): a classifier needs at least"),
     ("empty", "class folder {root}/train/truck holds no images"),
     ("size", "is 40x40 with 3 channels, the data set's first image 32x32 with 3 channels: every image"),
     ("not-images", "class folder {root}/train/truck holds no images (.jpg"),
     ("classes-differ", "the class folders of {root}/train and {root}/test differ (lorry, truck)")],
)
def test_malformed_imagefolder_gives_one_line_naming_the_path(tmp_path, problem, message):
    root = tmp_path / "src"
    if problem == "one":
        make_imagefolder(root, classes=CLASSES[:1])
    elif problem == "size":  # one image of another size than the rest
        make_imagefolder(root)
        odd = root / "train" / "truck" / "0003.png"
        Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(odd)
    elif problem in ("empty", "not-images"):
        make_imagefolder(root)
        for file in (root / "train" / "truck").iterdir():
            file.unlink()
        if problem == "not-images":
            (root / "train" / "truck" / "README.txt").write_text("not an image")
    elif problem == "classes-differ":
        make_imagefolder(root)
        (root / "test" / "truck").rename(root / "test" / "lorry")
    with pytest.raises(UserError) as error:
        prepare_split("imagefolder", str(root), "train", False, None, 0, str(tmp_path / "out.pt"))
    assert message.format(root=root) in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out.pt").exists()


def test_augmentation_matches_random_crop_and_flip_semantics():
    images = torch.randint(1, 256, (4000, 3, 32, 32), dtype=torch.uint8)  # no zeros: padding is detectable
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    again = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    offsets, flips = [], 0
    for i in range(0, 4000, 40):  # recover each sampled crop by search: it must be one of the 81 × 2 candidates
        found = [(top, left, flip) for top in range(9) for left in range(9) for flip in (False, True)
                 if torch.equal(out[i], (lambda c: c.flip(2) if flip else c)(padded[i, :, top:top + 32, left:left + 32]))]
        assert found, f"image {i} is not a padded crop (flipped or not) of its source"
        top, left, flip = found[0]
        offsets += [top, left]
        flips += flip
    assert 0.35 < flips / 100 < 0.65  # p = 0.5
    assert set(offsets) <= set(range(9))
    # the vertical shift of every image, read from its zero (padding) rows: uniform over 0..8
    zero_rows = (out == 0).all(dim=(1, 3))  # [N, 32]
    top_rows, bottom_rows = zero_rows[:, :4].sum(1), zero_rows[:, -4:].sum(1)
    tops = torch.where(top_rows > 0, 4 - top_rows, 4 + bottom_rows)
    shares = torch.bincount(tops, minlength=9).double() / len(tops)
    assert shares.shape == (9,) and bool(((shares > 0.08) & (shares < 0.145)).all()), shares


def test_normalizer_uses_cifar_statistics_or_plain_scaling():
    device = torch.device("cpu")
    images = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    assert torch.allclose(normalizer({"normalize": False}, device)(images), torch.ones(1, 3, 32, 32))
    normalized = normalizer({"normalize": True}, device)(images)
    expected = (1 - torch.tensor([0.4914, 0.4822, 0.4465])) / torch.tensor([0.2470, 0.2435, 0.2616])
    torch.testing.assert_close(normalized[0, :, 0, 0], expected)


def test_benchmark_subset_copies_n_images_per_class_and_prepares(tmp_path):
    from subset_jpegs import copy_subset

    source = make_imagefolder(tmp_path / "full", per_class=4)
    assert copy_subset(source, tmp_path / "small", {"train": 3, "test": 1}) == 40
    for split, count in (("train", 3), ("test", 1)):
        folders = sorted((tmp_path / "small" / split).iterdir())
        assert [f.name for f in folders] == sorted(CLASSES)
        assert all(sorted(p.name for p in f.iterdir()) == [f"{i:04d}.png" for i in range(count)] for f in folders)
    prepare_split("imagefolder", str(tmp_path / "small"), "train", False, None, 0, str(tmp_path / "train.pt"))
    assert torch.bincount(load_split(tmp_path / "train.pt").labels).tolist() == [3] * 10


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_broken_image_stops_the_data_job_with_one_line_naming_it(tmp_path, damage):
    root = make_imagefolder(tmp_path / "src", per_class=2)
    broken = root / "train" / "cat" / "0001.jpg"
    if damage == "truncated":
        buffer = tmp_path / "whole.jpg"
        Image.fromarray(np.full((32, 32, 3), 90, dtype=np.uint8)).save(buffer, quality=95)
        broken.write_bytes(buffer.read_bytes()[:300])
    else:
        broken.write_text("not an image, although its name says so\n")
    out = tmp_path / "results" / "train.pt"
    out.parent.mkdir()
    out.write_bytes(b"an earlier result")
    result = subprocess.run(
        [sys.executable, "-m", "lossland", "prepare_data", "--spec", json.dumps(
            {"settings": {"source": "imagefolder", "root": str(root), "split": "train",
                                          "download": False, "size": None, "seed": 0},
             "inputs": {}, "outputs": {"split": str(out)}})],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "workflow")},
    )
    error = result.stderr.strip()
    assert result.returncode == 2 and "Traceback" not in error and "\n" not in error
    assert error.startswith(f"error: image {broken} cannot be read (") and error.endswith("then rerun")
    assert out.read_bytes() == b"an earlier result"  # nothing half-written, nothing lost


def without_network() -> dict:
    """The environment with the network unreachable: every request goes to a proxy on a closed local port."""
    closed = "http://127.0.0.1:9"
    env = {key: value for key, value in os.environ.items() if key.lower() != "no_proxy"}
    env.update({"PYTHONPATH": str(REPO / "workflow"), "http_proxy": closed, "https_proxy": closed,
                "HTTP_PROXY": closed, "HTTPS_PROXY": closed})
    return env


def test_no_network_for_the_download_is_one_line_saying_what_to_do(tmp_path):
    """The main command on a machine without internet (a cluster's compute node): the data job's download fails in
    one line naming the data set, its folder and what to do."""
    root, out = tmp_path / "cifar10", tmp_path / "results" / "train.pt"
    env = without_network()
    result = subprocess.run(
        [sys.executable, "-m", "lossland", "prepare_data", "--spec", json.dumps(
            {"settings": {"source": "torchvision", "name": "cifar10", "root": str(root), "split": "train",
                          "download": True, "size": None, "seed": 0},
             "inputs": {}, "outputs": {"split": str(out)}})],
        capture_output=True, text=True, env=env,
    )
    error = result.stderr.strip()
    assert result.returncode == 2 and "Traceback" not in error and "\n" not in error, error
    assert error.startswith(f"error: cifar10 could not be downloaded into {root} (")
    assert error.endswith("or point data.root at a copy (data.source: imagefolder for a folder of images)")
    assert not out.exists()


def test_the_main_command_without_network_shows_that_line_where_it_stops(tmp_path):
    """`snakemake ... all` with config.yaml's torchvision download and no network: the run stops with the data job's
    one line on the terminal (Snakemake's show-failed-logs, from the workflow profile), not only in its log."""
    from conftest import run_snakemake

    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    result = run_snakemake(tmp_path, "--cores", "1", "results/data/test.pt", check=False, env=without_network())
    assert result.returncode != 0
    assert "error: cifar10 could not be downloaded into data/cifar10 (" in result.stdout + result.stderr
