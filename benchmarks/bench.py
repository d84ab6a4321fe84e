"""Benchmark: ours vs the usual approach, measured side by side in one run, on real CIFAR-10 JPEGs.

    .venv/bin/python benchmarks/bench.py [--data ../shared/data/cifar10-jpeg]

1. surface s/point (resnet20, resnet56): our PlaneEvaluator vs loss-landscape's per-point loop (ImageFolder with
   ToTensor+Normalize, DataLoader batch 128 with 2 workers, eval + no_grad, weights set by rebuilding the parameter
   list, .item() per batch); both must agree to 1e-4 relative.
2. training img/s (net, resnet20, batch 128): our device-resident loop vs the seed's loop (ImageFolder with PIL
   RandomCrop+Flip+ToTensor+Normalize through a DataLoader with 2 workers, .item() per batch).
3. chunk scaling: one model's whole grid with `snakemake --cores 1` vs `--cores 2`.
4. no-op rebuild: `snakemake -n all` on a finished smoke run.
5. views (resnet20): s/point of a surface point, a 1-D curve point and an interpolation point (same evaluator), each
   against loss-landscape's per-point loop for the same view.
7. cap (landscape.cap = 10): a real checkpoint's whole surface (21x21 by default) with and without the certified
   early exit: the fraction of points capped, the wall-time ratio, and that every point below the cap is unchanged.
   `--cap-checkpoints results/models/resnet20.pt ...` uses trained checkpoints (e.g. the laptop preset's).
8. lanczos: λmax and λmin of a real checkpoint's Hessian (resnet20 or the first --cap-checkpoints; 500 images, its
   >1-D weights) from one Lanczos run on both ends against loss-landscape's two runs (largest, then the shifted
   operator's largest magnitude).
6. geometry (resnet56, 1,000 images): one Hessian-vector product against one forward+backward pass over the same
   images, and the wall time of the model's whole geometry row (top-3 and most negative eigenvalues, a 20-probe
   trace, 20 flatness directions x 17 points).
9. identity (resnet20, 11x11 grid, no cap): the chunk job's computation twice on this device, which must agree bit
   for bit, and on a GPU once more on the CPU: the largest relative loss difference (target <= 1e-5).

Surface and training rows also report the arithmetic ceiling: the model's FLOPs (counted by torch's
FlopCounterMode) at this device's measured fp32 peak (the best of a large matmul and a large 3x3 convolution). No
fp32 implementation doing the same FLOPs runs faster than that floor; the ceiling speed-up is the baseline's time
over the floor.
"""

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from requires import early_options, missing

REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "cifar10-jpeg")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--eval-batch", default="auto")
    parser.add_argument("--train-batches", type=int, default=8)
    parser.add_argument("--extras", action="store_true", help="also time bf16/fp16/compile (always on CUDA)")
    parser.add_argument("--parts", default="surface,training,workflow",
                        help="comma-separated subset of surface,training,workflow,views,geometry,lanczos,maps,cap,"
                             "identity,converge,precision")
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.add_argument("--cap-checkpoints", nargs="*", type=Path,
                        help="trained checkpoints for the cap part (the first one also for the lanczos part)")
    parser.add_argument("--map-grid", type=int, default=5, help="points per axis of the maps part's grid")
    parser.add_argument("--map-samples", type=int, default=500, help="images of the maps part's Hessian")
    parser.add_argument("--map-tol", type=float, default=0.01,
                        help="eigsh's relative tolerance of the maps part (default: geometry.map_tol's default)")
    parser.add_argument("--map-points", type=int, help="walk only the first N points (a chunk of the study's maps: "
                        "--map-grid 7 --map-points 7); default: the whole grid")
    parser.add_argument("--cap-grid", type=int, default=21, help="points per axis of the cap part's surface")
    parser.add_argument("--identity-grid", type=int, default=11, help="points per axis of the identity part's surface")
    converge = parser.add_argument_group("converge and precision parts (time to accuracy, bf16's cost; see "
                                         "benchmarks/converge.py and precision.py)")
    converge.add_argument("--recipe", type=Path, default=REPO / "workflow" / "presets" / "trained.yaml",
                          help="config file whose train settings are the recipe (over config.yaml's)")
    converge.add_argument("--converge-model", default="resnet20")
    converge.add_argument("--converge-epochs", type=int, help="epochs of the recipe (default: the recipe's own)")
    converge.add_argument("--converge-images", type=int, help="training images (default: all)")
    converge.add_argument("--converge-test", type=int, help="test images (default: all)")
    converge.add_argument("--validation", type=int, default=5000, help="training images held out to judge the recipe")
    converge.add_argument("--baseline-minutes", type=float,
                          help="wall time of the study's recipe (default: as long as the recipe took)")
    converge.add_argument("--targets", type=float, nargs="+", default=[0.90, 0.91], help="test accuracies to time")
    converge.add_argument("--precision-epochs", type=int, default=2, help="precision part: epochs of each run")
    converge.add_argument("--precision-seeds", type=int, default=3, help="precision part: seeds in each precision")
    return parser


early_options(build_parser(), __file__)
try:
    import numpy as np
    import torch
    import yaml
    from torch import nn
except ModuleNotFoundError as error:
    sys.exit(missing(error, __file__))
sys.path.insert(0, str(REPO / "workflow"))

from lossland.config import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402
from lossland.data import load_split, normalizer, prepare_split  # noqa: E402
from lossland.device import select_device  # noqa: E402
from lossland.directions import random_directions  # noqa: E402
from lossland.models import build_model, load_checkpoint  # noqa: E402
from lossland.surface import PlaneEvaluator  # noqa: E402
from lossland.train import make_optimizer, train_epoch  # noqa: E402

ROWS: list[tuple[str, str, str, str, str]] = []


def report(what: str, ours: float, baseline: float, unit: str, higher_is_better: bool) -> None:
    ratio = ours / baseline if higher_is_better else baseline / ours
    ROWS.append((what, f"{ours:.4g} {unit}", f"{baseline:.4g} {unit}", f"{ratio:.2f}x", ""))
    print(f"{what}: ours {ours:.4g} {unit}, baseline {baseline:.4g} {unit}, speed-up {ratio:.2f}x", flush=True)


def peak_gflops(device) -> float:
    """The best fp32 throughput seen on this device (current threads, TF32 off): a large matmul or a large 3x3
    convolution, whichever is faster (oneDNN's convolutions beat MKL's matmul on some CPUs)."""
    size, channels, batch = (8192, 256, 256) if device.type == "cuda" else (2048, 256, 16)
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    images = torch.randn(batch, channels, 16, 16, device=device).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, channels, 3, 3, device=device).contiguous(memory_format=torch.channels_last)
    candidates = [(lambda: a @ b, 2 * size**3),
                  (lambda: nn.functional.conv2d(images, weight, padding=1), 2 * batch * channels**2 * 9 * 16 * 16)]
    best = 0.0
    with torch.inference_mode():
        for run, flops in candidates:
            for _ in range(5):
                synchronize(device)
                tick = time.perf_counter()
                for _ in range(4):
                    run()
                synchronize(device)
                best = max(best, 4 * flops / (time.perf_counter() - tick) / 1e9)
    return best


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 tensor cores for matmuls and cuDNN convolutions (the workflow keeps both off: fp32 means fp32)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_image(model_name: str, device, train: bool) -> float:
    """Forward (and, for training, backward) FLOPs of one image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(model_name).to(device).train(train)
    images = torch.randn(8, 3, 32, 32, device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        if train:
            model(images).sum().backward()
        else:
            with torch.no_grad():
                model(images)
    return counter.get_total_flops() / len(images)


def ceiling_note(work_flops: float, ours_s: float, base_s: float, peak: float) -> str:
    floor_s = work_flops / (peak * 1e9)
    return (f"ours {work_flops / ours_s / 1e9:.0f} GFLOP/s = {100 * floor_s / ours_s:.0f}% of this device's fp32 peak "
            f"({peak:.0f} GFLOP/s): fp32 ceiling {base_s / floor_s:.2f}x")


def imagefolder(root: Path, split: str, transform):
    from torchvision.datasets import ImageFolder

    return ImageFolder(str(root / split), transform=transform)


def trained_checkpoint(model_name: str, work: Path, device) -> str:
    """A real checkpoint: one epoch of our training on the prepared subset (trained once per run)."""
    from lossland.train import train_model

    if (work / f"{model_name}.pt").exists():
        return str(work / f"{model_name}.pt")

    settings = dict(optimizer="adam", lr=1e-3, momentum=0.9, nesterov=False, weight_decay=0.0, batch_size=64,
                    epochs=1, schedule={"type": "none"}, augment=False, normalize=True, seed=0, eval_batch_size="auto",
                    precision="fp32", compile=False)
    path = work / f"{model_name}.pt"
    train_model(model_name, settings, work / "train.pt", work / "test.pt", path, work / f"{model_name}.csv",
                work / f"{model_name}-resume.pt", device, log=lambda _: None)
    return str(path)


def baseline_surface_point(model, theta, first, second, loader, a, b, device) -> tuple[float, float]:
    """What loss-landscape does per point: rebuild the parameters, then a DataLoader pass with .item() per batch."""
    for p, w, d1, d2 in zip(model.parameters(), theta, first, second):
        p.data = w + a * d1 + b * d2
    model.eval()
    total_loss, correct, total = 0.0, 0, 0
    criterion = nn.CrossEntropyLoss()
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            total_loss += criterion(outputs, labels).item() * len(labels)
            correct += (outputs.argmax(1) == labels).sum().item()
            total += len(labels)
    return total_loss / total, correct / total


def timed_points(evaluate_at, points, device) -> tuple[list, float]:
    """Values at every point and the median seconds per point (robust to a busy moment of the machine)."""
    values, seconds = [], []
    for a, b in points:
        tick = time.perf_counter()
        values.append(evaluate_at(a, b))
        synchronize(device)
        seconds.append(time.perf_counter() - tick)
    return values, float(np.median(seconds))


def bench_surface(model_name: str, args, work: Path, indices: np.ndarray, device) -> None:
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    checkpoint = trained_checkpoint(model_name, work, device)
    model, _ = load_checkpoint(checkpoint, device)
    first, second = random_directions(model, seed=1)
    points = [(0.0, 0.0)] + [(float(a), float(b)) for a, b in np.random.default_rng(0).uniform(-1, 1, (args.points - 1, 2))]

    def time_ours(fold_bn: bool = True, precision: str = "fp32", compile: bool = False, allow_tf32: bool = False):
        with tf32(allow_tf32):
            return time_evaluator(fold_bn, precision, compile)

    def time_evaluator(fold_bn: bool, precision: str, compile: bool):
        tick = time.perf_counter()
        model, _ = load_checkpoint(checkpoint, device)  # a fresh copy: the evaluator writes into its weights
        data = load_split(work / "landscape.pt").to(device)
        prepare = normalizer({"normalize": True}, device)
        evaluator = PlaneEvaluator(model, first, second, data, prepare, args.eval_batch, fold_bn, precision, compile)
        setup = time.perf_counter() - tick
        evaluator.at(0.0, 0.0)  # warm-up
        return *timed_points(evaluator.at, points, device), setup

    unfolded, unfolded_s, _ = time_ours(fold_bn=False)
    ours, ours_s, setup = time_ours(fold_bn=True)

    base_model, _ = load_checkpoint(checkpoint, device)
    base_model = base_model.to(memory_format=torch.contiguous_format)
    names = [n for n, _ in base_model.named_parameters()]
    theta = [p.data.clone() for p in base_model.parameters()]
    d1 = [first[n].to(device) for n in names]
    d2 = [second[n].to(device) for n in names]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    loader = DataLoader(Subset(imagefolder(args.data, "train", transform), indices.tolist()), batch_size=128,
                        shuffle=False, num_workers=2)
    baseline_surface_point(base_model, theta, d1, d2, loader, 0.0, 0.0, device)  # warm-up (workers, caches)
    base, base_s = timed_points(lambda a, b: baseline_surface_point(base_model, theta, d1, d2, loader, a, b, device),
                                points, device)

    worst = max(abs(o[0] - r[0]) / abs(r[0]) for o, r in zip(ours, base))
    worst_acc = max(abs(o[1] - r[1]) for o, r in zip(ours, base))
    assert worst <= 1e-4, f"{model_name}: our loss differs from the baseline by {worst:.2e} (relative)"
    report(f"surface s/point {model_name} ({len(indices)} samples)", ours_s, base_s, "s", higher_is_better=False)
    ROWS[-1] = ROWS[-1][:4] + (
        f"max rel. loss diff {worst:.1e}, acc diff {worst_acc:.1e}; one-time setup {setup:.2f}s; "
        f"without BN folding {unfolded_s:.3g} s ({base_s / unfolded_s:.2f}x); "
        + ceiling_note(flops_per_image(model_name, device, train=False) * len(indices), ours_s, base_s, args.peak),
    )
    if args.extras or device.type == "cuda":
        variants = [("bf16 autocast", {"precision": "bf16"}), ("torch.compile", {"compile": True})]
        if device.type == "cuda":
            variants[:0] = [("TF32", {"allow_tf32": True})]
            variants.insert(2, ("fp16 autocast", {"precision": "fp16"}))
        for label, options in variants:
            values, seconds, setup = time_ours(**options)
            deviation = max(abs(v[0] - r[0]) / abs(r[0]) for v, r in zip(values, ours))
            ROWS.append((f"  {model_name} surface with {label}", f"{seconds:.4g} s", f"{base_s:.4g} s",
                         f"{base_s / seconds:.2f}x", f"max rel. loss deviation from fp32 {deviation:.1e}; "
                                                     f"setup {setup:.1f}s (compile time falls in the warm-up)"))
            print(ROWS[-1], flush=True)


def surface_on(device, checkpoint: str, directions: tuple, landscape: dict, work: Path) -> tuple[np.ndarray, float]:
    """The chunk job's computation on one device: a whole grid (one chunk), [loss, acc] per point, and its seconds."""
    from lossland.surface import evaluate_chunk

    model, _ = load_checkpoint(checkpoint, device)
    evaluator = PlaneEvaluator(model, *directions, load_split(work / "landscape.pt").to(device),
                               normalizer({"normalize": True}, device))
    tick = time.perf_counter()
    frame = evaluate_chunk(evaluator, landscape, 0, log=lambda _: None)
    synchronize(device)
    return frame[["loss", "acc"]].to_numpy(), time.perf_counter() - tick


def bench_identity(args, work: Path, device) -> None:
    """The same surface (resnet20, a grid over [-1, 1]^2, no cap) twice on this device, which must agree bit for bit
    (the workflow's numerics: fp32, TF32 off, deterministic kernels), and once on the CPU (loss within 1e-5
    relative: a different device sums in another order)."""
    checkpoint = trained_checkpoint("resnet20", work, device)
    directions = random_directions(load_checkpoint(checkpoint, torch.device("cpu"))[0], seed=1)
    n = args.identity_grid
    landscape = {"x": [-1.0, 1.0, n], "y": [-1.0, 1.0, n], "chunks": 1}
    first, first_s = surface_on(device, checkpoint, directions, landscape, work)
    second, second_s = surface_on(device, checkpoint, directions, landscape, work)
    differing = int((first.view(np.int64) != second.view(np.int64)).sum())
    ROWS.append((f"identity: resnet20 {n}x{n} surface on {device}, twice", f"{first_s:.3g} s", f"{second_s:.3g} s",
                 "", f"{differing} of {first.size} values differ in any bit"))
    print(ROWS[-1], flush=True)
    if device.type != "cpu":
        cpu, cpu_s = surface_on(torch.device("cpu"), checkpoint, directions, landscape, work)
        relative = np.abs(first[:, 0] - cpu[:, 0]) / np.abs(cpu[:, 0])
        accuracy = np.abs(first[:, 1] - cpu[:, 1])
        ROWS.append((f"identity: the same surface on {device} vs the CPU ({torch.get_num_threads()} threads)",
                     f"{first_s:.3g} s", f"{cpu_s:.3g} s", f"{cpu_s / first_s:.1f}x",
                     f"max rel. loss diff {relative.max():.1e} (<= 1e-5: {relative.max() <= 1e-5}), "
                     f"max acc diff {accuracy.max():.1e}"))
        print(ROWS[-1], flush=True)
    assert differing == 0, f"the same surface twice on {device}: {differing} values differ"


def bench_training(model_name: str, args, work: Path, device) -> None:
    from torch.utils.data import DataLoader
    from torchvision import transforms

    batches, batch = args.train_batches, 128
    settings = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=batch, augment=True, normalize=True,
                    seed=0, precision="fp32")
    data = load_split(work / "train.pt").to(device)
    limited = data.subset(torch.arange(batches * batch, device=device))
    prepare = normalizer({"normalize": True}, device)
    def ours_img_per_s(precision: str, allow_tf32: bool = False) -> float:
        with tf32(allow_tf32):
            return ours_training(precision)

    def ours_training(precision: str) -> float:
        torch.manual_seed(0)
        model = build_model(model_name).to(device, memory_format=torch.channels_last)
        optimizer = make_optimizer(settings, model.parameters())
        run = {**settings, "precision": precision}
        train_epoch(model, optimizer, limited.subset(torch.arange(2 * batch, device=device)), run, prepare, 1, 0,
                    lambda step: 1.0)  # warm-up
        tick = time.perf_counter()
        train_epoch(model, optimizer, limited, run, prepare, 2, 0, lambda step: 1.0)
        return batches * batch / (time.perf_counter() - tick)

    ours = ours_img_per_s("fp32")

    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    loader = DataLoader(imagefolder(args.data, "train", transform), batch_size=batch, shuffle=True, num_workers=2)
    torch.manual_seed(0)
    model = build_model(model_name).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    model.train()
    seen, tick = 0, None
    for step, (images, labels) in enumerate(loader):
        if step == 2:  # after warm-up, as for ours
            tick, seen = time.perf_counter(), 0
        if step == batches + 2:
            break
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        _ = loss.item(), (outputs.argmax(1) == labels).sum().item()
        seen += len(labels)
    baseline = seen / (time.perf_counter() - tick)
    report(f"training img/s {model_name} (batch {batch})", ours, baseline, "img/s", higher_is_better=True)
    ROWS[-1] = ROWS[-1][:4] + (ceiling_note(flops_per_image(model_name, device, train=True), 1 / ours, 1 / baseline,
                                            args.peak),)
    if args.extras or device.type == "cuda":
        variants = [("bf16 autocast", "bf16", False, "opt-in (train.*.precision: bf16); changes the numbers")]
        if device.type == "cuda":
            variants.insert(0, ("TF32", "fp32", True, "not offered by the workflow (fp32 means fp32); for scale"))
        for label, precision, allow_tf32, note in variants:
            speed = ours_img_per_s(precision, allow_tf32)
            ROWS.append((f"  {model_name} training with {label}", f"{speed:.4g} img/s", f"{baseline:.4g} img/s",
                         f"{speed / baseline:.2f}x", note))
            print(ROWS[-1], flush=True)


def baseline_interpolation_point(model, state_a, state_b, loader, alpha, device) -> tuple[float, float]:
    """loss-landscape's --model_file2 loop: load the blended state_dict, then the same DataLoader pass."""
    model.load_state_dict({k: (1 - alpha) * state_a[k] + alpha * state_b[k] if state_a[k].is_floating_point()
                           else state_a[k] for k in state_a})
    theta = [p.data for p in model.parameters()]
    zeros = [torch.zeros_like(p) for p in theta]
    return baseline_surface_point(model, theta, zeros, zeros, loader, 0.0, 0.0, device)


def bench_views(args, work: Path, indices: np.ndarray, device) -> None:
    from lossland.interpolation import difference
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    checkpoint = trained_checkpoint("resnet20", work, device)
    other = work / "resnet20-b.pt"
    shutil.copy(checkpoint, other)
    blob = torch.load(other, weights_only=True)
    blob["state_dict"] = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                          for k, v in blob["state_dict"].items()}
    torch.save(blob, other)
    model, _ = load_checkpoint(checkpoint, device)
    first, second = random_directions(model, seed=1)
    data = load_split(work / "landscape.pt").to(device)
    prepare = normalizer({"normalize": True}, device)
    alphas = [(float(a), 0.0) for a in np.linspace(-0.5, 1.5, args.points)]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    loader = DataLoader(Subset(imagefolder(args.data, "train", transform), indices.tolist()), batch_size=128,
                        shuffle=False, num_workers=2)

    def fresh():
        return load_checkpoint(checkpoint, device)[0]

    surface = PlaneEvaluator(fresh(), first, second, data, prepare, args.eval_batch)
    line = PlaneEvaluator(fresh(), first, None, data, prepare, args.eval_batch)
    b_model = load_checkpoint(str(other), device)[0]
    interpolation = PlaneEvaluator(fresh(), difference(fresh(), b_model), None, data, prepare, args.eval_batch)
    base_model = fresh().to(memory_format=torch.contiguous_format)
    names = [n for n, _ in base_model.named_parameters()]
    theta = [p.data.clone() for p in base_model.parameters()]
    d1, d2 = [first[n].to(device) for n in names], [second[n].to(device) for n in names]
    zero = [torch.zeros_like(d) for d in d1]
    state_a = {k: v.clone() for k, v in base_model.state_dict().items()}
    state_b = {k: v.to(device) for k, v in blob["state_dict"].items()}
    cases = [("surface point", lambda a, b: surface.at(a, b),
              lambda a, b: baseline_surface_point(base_model, theta, d1, d2, loader, a, b, device)),
             ("1-D curve point", lambda a, b: line.at(a),
              lambda a, b: baseline_surface_point(base_model, theta, d1, zero, loader, a, 0.0, device)),
             ("interpolation point", lambda a, b: interpolation.at(a),
              lambda a, b: baseline_interpolation_point(base_model, state_a, state_b, loader, a, device))]
    for label, ours_at, base_at in cases:
        ours_at(0.0, 0.0), base_at(0.0, 0.0)  # warm-up
        ours, ours_s = timed_points(ours_at, alphas, device)
        base, base_s = timed_points(base_at, alphas, device)
        worst = max(abs(o[0] - r[0]) / abs(r[0]) for o, r in zip(ours, base))
        assert worst <= 1e-4, f"{label}: our loss differs from the baseline by {worst:.2e} (relative)"
        report(f"views s/point resnet20 {label} ({len(indices)} samples)", ours_s, base_s, "s",
               higher_is_better=False)
        ROWS[-1] = ROWS[-1][:4] + (f"max rel. loss diff {worst:.1e}",)


def bench_geometry(args, work: Path, device) -> None:
    from lossland.directions import direction_set
    from lossland.evaluate import batch_size_for
    from lossland.geometry import HessianOperator, flatness_stats, hessian_summary
    from lossland.surface import evaluate_curve

    checkpoint = trained_checkpoint("resnet56", work, device)
    model, _ = load_checkpoint(checkpoint, device)
    data = load_split(work / "landscape.pt").to(device)
    data = data.subset(torch.arange(min(1000, len(data)), device=device))
    prepare = normalizer({"normalize": True}, device)
    op = HessianOperator(model, data, prepare, batch_size_for(device, "auto"))
    vector = np.random.default_rng(0).standard_normal(op.size)
    op.matvec(vector)  # warm-up

    def forward_backward():
        for loss in op.loss_and_grad_batches():
            torch.autograd.grad(loss, op.params)

    forward_backward()
    fb = []
    for _ in range(3):
        tick = time.perf_counter()
        forward_backward()
        synchronize(device)
        fb.append(time.perf_counter() - tick)
    hvp = []
    for _ in range(3):
        tick = time.perf_counter()
        op.matvec(vector)
        synchronize(device)
        hvp.append(time.perf_counter() - tick)

    def forward_over_reverse(v):  # the alternative: torch.func's jvp of the gradient, batch by batch
        from torch.func import functional_call, grad, jvp

        chosen = {id(p) for p in op.params}
        names = [name for name, p in op.model.named_parameters() if id(p) in chosen]
        fixed = {name: p.detach() for name, p in op.model.named_parameters() if id(p) not in chosen}
        u = tuple(op._split(torch.as_tensor(v, dtype=torch.float32, device=device)))
        total = [torch.zeros_like(p) for p in op.params]
        for start in range(0, len(op.data), op.batch_size):
            images = prepare(op.data.images[start : start + op.batch_size])
            labels = op.data.labels[start : start + op.batch_size]

            def batch_loss(weights, images=images, labels=labels):
                logits = functional_call(op.model, {**fixed, **dict(zip(names, weights))}, (images,))
                return torch.nn.functional.cross_entropy(logits, labels, reduction="sum") / len(op.data)

            for acc, hv in zip(total, jvp(grad(batch_loss), (tuple(p.detach() for p in op.params),), (u,))[1]):
                acc += hv
        return torch.cat([t.flatten() for t in total]).double().cpu().numpy()

    ours = op.matvec(vector)
    assert np.allclose(forward_over_reverse(vector), ours, rtol=1e-3, atol=1e-4 * np.abs(ours).max()), \
        "forward-over-reverse and double backward disagree"
    forward = []
    for _ in range(3):
        tick = time.perf_counter()
        forward_over_reverse(vector)
        synchronize(device)
        forward.append(time.perf_counter() - tick)
    fb_s, hvp_s, forward_s = float(np.median(fb)), float(np.median(hvp)), float(np.median(forward))
    ROWS.append((f"Hessian-vector product resnet56 ({len(data)} images)", f"{hvp_s:.4g} s",
                 f"{fb_s:.4g} s (forward+backward)", f"{hvp_s / fb_s:.2f}x the cost", "target <= 3x"))
    print(ROWS[-1], flush=True)
    ROWS.append(("Hessian-vector product: double backward (ours) vs forward-over-reverse", f"{hvp_s:.4g} s",
                 f"{forward_s:.4g} s (forward-over-reverse, {forward_s / fb_s:.2f}x forward+backward)",
                 f"{forward_s / hvp_s:.2f}x faster",
                 f"batch {op.batch_size}; ours as the jobs compute it (one batch: its graph kept between products)"))
    print(ROWS[-1], flush=True)

    tick = time.perf_counter()
    op.products = 0
    summary = hessian_summary(op, 3, 20, 1e-3, 0, log=lambda message: print("  " + message, flush=True))
    hessian_s = time.perf_counter() - tick
    tick = time.perf_counter()
    directions = direction_set(model, 7, 20)
    alphas = np.linspace(-1, 1, 17)
    losses = [evaluate_curve(PlaneEvaluator(model, d, None, data, prepare, args.eval_batch), alphas, {"train": data},
                             lambda _: None)["train_loss"] for d in directions]
    stats = flatness_stats(alphas, np.array(losses), summary["loss"], 1.0)
    flatness_s = time.perf_counter() - tick
    ROWS.append((f"geometry row resnet56 ({len(data)} images)", f"{(hessian_s + flatness_s) / 60:.1f} min", "", "",
                 f"Hessian {hessian_s / 60:.1f} min ({summary['hessian_vector_products']} products: top-3 + most "
                 f"negative eigenvalue at tol 1e-3, 20-probe trace), flatness {flatness_s / 60:.1f} min "
                 f"(20 directions x 17 points); lambda_max {summary['lambda_max']:.4g}, half-width "
                 f"{stats['half_width']:.3f}"))
    print(ROWS[-1], flush=True)


def bench_lanczos(args, work: Path, device) -> None:
    """λmax and λmin of a real checkpoint's Hessian: one Lanczos run converging on both ends (ours, eigsh "BE")
    against loss-landscape's min_max_hessian_eigs (eigsh "LA" for λmax, then "LM" of H − 0.51·λmax·I, shifted
    back), at the same tolerance, from the same start vector. The eigenvalue maps take one of these per point."""
    from lossland.evaluate import batch_size_for
    from lossland.geometry import HessianOperator, extreme_eigenvalues, start_vector
    from scipy.sparse.linalg import LinearOperator, eigsh

    checkpoint = args.cap_checkpoints[0] if args.cap_checkpoints else trained_checkpoint("resnet20", work, device)
    model, blob = load_checkpoint(str(checkpoint), device)
    data = load_split(work / "landscape.pt").to(device)
    data = data.subset(torch.arange(min(500, len(data)), device=device))
    op = HessianOperator(model, data, normalizer(blob["config"], device), batch_size_for(device, "auto"), "weights")
    tol, start = 1e-3, start_vector(op.size, 0)
    op.matvec(start)  # warm-up
    op.products = 0
    tick = time.perf_counter()
    (ours_max,), ours_min = extreme_eigenvalues(op.linear_operator(), tol, 0)
    ours_s, ours_products = time.perf_counter() - tick, op.products
    op.products = 0
    tick = time.perf_counter()
    (their_max,) = eigsh(op.linear_operator(), k=1, which="LA", tol=tol, v0=start, return_eigenvectors=False)
    shift = 0.51 * their_max
    shifted = LinearOperator((op.size, op.size), matvec=lambda v: op.matvec(v) - shift * np.ravel(v), dtype=np.float64)
    (their_min,) = eigsh(shifted, k=1, which="LM", tol=tol, v0=start, return_eigenvectors=False)
    their_min += shift
    their_s, their_products = time.perf_counter() - tick, op.products
    report(f"lambda_max and lambda_min, {blob['model']} ({len(data)} images, {op.size:,} weights)", ours_s, their_s,
           "s", higher_is_better=False)
    ROWS[-1] = ROWS[-1][:4] + (f"{ours_products} vs {their_products} Hessian-vector products; lambda_max "
                               f"{ours_max:.5g} vs {their_max:.5g}, lambda_min {ours_min:.5g} vs {their_min:.5g}",)
    print(ROWS[-1], flush=True)


def bench_maps(args, work: Path, device) -> None:
    """Eigenvalue-map points on a real checkpoint, cold vs warm, side by side on the same points: each point's
    Lanczos run from the seeded start vector (`spectrum_ends`, the maps before 0.2.0) against the serpentine walk
    that starts each run from the previous point's eigenvectors (`SpectrumWalk`, the maps' job). Hessian-vector
    products and seconds per point, and the largest difference of λmax and λmin relative to eigsh's tolerance."""
    from lossland.evaluate import batch_size_for
    from lossland.geometry import HessianOperator, SpectrumWalk, spectrum_ends
    from lossland.surface import serpentine_order

    checkpoint = args.cap_checkpoints[0] if args.cap_checkpoints else trained_checkpoint("resnet20", work, device)
    model, blob = load_checkpoint(str(checkpoint), device)
    data = load_split(work / "landscape.pt").to(device)
    data = data.subset(torch.arange(min(args.map_samples, len(data)), device=device))
    prepare, batch = normalizer(blob["config"], device), batch_size_for(device, "auto")
    first, second = random_directions(model, 0)
    plane = PlaneEvaluator(model, first, second, data, prepare, batch, fold_bn=False)
    op = HessianOperator(plane.model, data, prepare, batch, "weights")
    axis, tol = np.linspace(-1, 1, args.map_grid), args.map_tol
    order = serpentine_order(np.arange(axis.size**2), axis.size)
    points = [(float(axis[i % axis.size]), float(axis[i // axis.size])) for i in order][: args.map_points]

    warm_walk, hows = SpectrumWalk(tol, 0, 300), []  # hows: how the warm walk solved each point

    def walk(ends) -> tuple[np.ndarray, float, float]:
        values, tick, op.products = [], time.perf_counter(), 0
        for a, b in points:
            plane.move(a, b)
            before = op.products
            values.append(ends(op.linear_operator()))
            hows.append(warm_walk.how)
            print(f"  ({a:+.2f}, {b:+.2f}): λmax {values[-1][0]:.6g}, λmin {values[-1][1]:.6g}, "
                  f"{op.products - before} products", flush=True)
        synchronize(device)
        return np.array(values), op.products / len(points), (time.perf_counter() - tick) / len(points)

    cold, cold_products, cold_s = walk(lambda operator: (lambda r: (float(r[0][0]), r[1]))(
        spectrum_ends(operator, tol, 0, 1, 300)))
    warm, warm_products, warm_s = walk(warm_walk.ends)
    error = np.abs(warm - cold) / np.abs(cold) / tol  # in units of the tolerance, relative to each eigenvalue
    what = f"eigenvalue-map point {blob['model']} ({len(data)} images, {len(points)} points, tol {tol:g})"
    ROWS.append((what, f"{warm_products:.1f} products, {warm_s:.3g} s", f"{cold_products:.1f} products, {cold_s:.3g} s",
                 f"{cold_products / warm_products:.2f}x fewer products, {cold_s / warm_s:.2f}x faster",
                 f"warm vs cold: max |Δλmax|/λmax {error[:, 0].max():.2f} tol, max |Δλmin|/|λmin| "
                 f"{error[:, 1].max():.2f} tol; {hows.count('fallback')} of {len(points)} points fell back "
                 "to a cold run; target >= 3x fewer products"))
    print(ROWS[-1], flush=True)


def bench_cap(args, work: Path, device) -> None:
    checkpoints = args.cap_checkpoints or [trained_checkpoint("resnet20", work, device)]
    data = load_split(work / "landscape.pt")
    from lossland.surface import evaluation_subset

    data = evaluation_subset(data, len(data), 0).to(device)  # the seeded shuffle the chunk jobs use
    axis = np.linspace(-1, 1, args.cap_grid)
    points = [(float(a), float(b)) for b in axis for a in axis]
    for checkpoint in checkpoints:
        model, blob = load_checkpoint(str(checkpoint), device)
        first, second = random_directions(model, seed=1)
        results = {}
        for cap in (None, 10.0):
            evaluator = PlaneEvaluator(load_checkpoint(str(checkpoint), device)[0], first, second, data,
                                       normalizer(blob["config"], device), args.eval_batch, cap=cap)
            evaluator.at(0.0, 0.0)  # warm-up
            tick = time.perf_counter()
            values = [evaluator.at(a, b) for a, b in points]
            synchronize(device)
            results[cap] = (values, time.perf_counter() - tick)
        (exact, exact_s), (capped, capped_s) = results[None], results[10.0]
        stopped = [np.isnan(acc) for _, acc in capped]
        assert all(c == e for c, e, s in zip(capped, exact, stopped) if not s), "a point below the cap changed"
        assert all(c[0] <= e[0] for c, e, s in zip(capped, exact, stopped) if s), "a bound above its loss"
        name = f"{blob['model']} ({blob['epochs']} epochs)"
        report(f"cap 10: {name} {args.cap_grid}x{args.cap_grid} surface, {len(data)} samples (wall s)", capped_s,
               exact_s, "s", higher_is_better=False)
        above = sum(e[0] > 10 for e in exact)
        ROWS[-1] = ROWS[-1][:4] + (f"{sum(stopped)} of {len(points)} points capped ({above} above 10); the other "
                                   f"points bit-identical; losses up to {max(e[0] for e in exact):.3g}",)


def snakemake(workdir: Path, *args: str) -> float:
    tick = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args], cwd=workdir,
                   check=True, capture_output=True)
    return time.perf_counter() - tick


def bench_workflow(args, work: Path) -> None:
    workdir = work / "smoke"
    workdir.mkdir()
    shutil.copy(REPO / "config.yaml", workdir / "config.yaml")
    smoke = yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text())
    smoke["data"]["root"] = str(args.data.resolve())
    (workdir / "smoke.yaml").write_text(yaml.safe_dump(smoke))
    snakemake(workdir, "--cores", "2", "all", "--configfile", "smoke.yaml")
    noop = min(snakemake(workdir, "-n", "all", "--configfile", "smoke.yaml") for _ in range(3))
    ROWS.append(("no-op rebuild `snakemake -n all` (smoke run)", f"{noop:.2f} s", "", "", "target <= 3 s"))
    print(f"no-op rebuild: {noop:.2f}s", flush=True)

    grid = dict(smoke, models=["resnet20"], landscape={**smoke["landscape"], "x": [-1, 1, 8], "y": [-1, 1, 8],
                                                       "chunks": 8, "samples": 512})
    (workdir / "grid.yaml").write_text(yaml.safe_dump(grid))
    target = "results/landscape/resnet20/surface.npz"
    snakemake(workdir, "--cores", "2", target, "--configfile", "grid.yaml")
    times = {}
    for cores in ("1", "2"):
        times[cores] = snakemake(workdir, "--cores", cores, "--forcerun", "landscape_chunk", target,
                                 "--configfile", "grid.yaml")
    report("chunk scaling: 8x8 grid in 8 chunks, --cores 2 vs 1 (wall s)", times["2"], times["1"], "s",
           higher_is_better=False)


def main() -> None:
    args = build_parser().parse_args()
    device = select_device("auto")
    if device.type == "cpu":
        torch.set_num_threads(2 if torch.get_num_threads() >= 2 else 1)
    args.peak = peak_gflops(device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"fp32 peak {args.peak:.0f} GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_size = max(args.samples, args.train_batches * 128 + 256)
        prepare_split("imagefolder", str(args.data), "train", False, train_size, 0, str(work / "train.pt"))
        prepare_split("imagefolder", str(args.data), "test", False, 500, 0, str(work / "test.pt"))
        from lossland.data import stratified_indices
        from torchvision.datasets import ImageFolder

        labels = np.array([label for _, label in ImageFolder(str(args.data / "train")).samples])
        indices = stratified_indices(labels, args.samples, 0)
        prepare_split("imagefolder", str(args.data), "train", False, args.samples, 0, str(work / "landscape.pt"))
        parts = args.parts.split(",")
        for model_name in ("resnet20", "resnet56") if "surface" in parts else ():
            bench_surface(model_name, args, work, indices, device)
        for model_name in ("net", "resnet20") if "training" in parts else ():
            bench_training(model_name, args, work, device)
        if "workflow" in parts:
            bench_workflow(args, work)
        if "views" in parts:
            bench_views(args, work, indices, device)
        if "geometry" in parts:
            bench_geometry(args, work, device)
        if "lanczos" in parts:
            bench_lanczos(args, work, device)
        if "maps" in parts:
            bench_maps(args, work, device)
        if "cap" in parts:
            bench_cap(args, work, device)
        if "identity" in parts:
            bench_identity(args, work, device)
        if "converge" in parts:
            from converge import bench_converge

            bench_converge(args, work, device, ROWS)
        if "precision" in parts:
            from precision import bench_precision

            bench_precision(args, work, device, ROWS)
    print("\n| measurement | ours | baseline | speed-up | notes |\n|---|---:|---:|---:|---|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")
    if args.out:
        args.out.write_text(json.dumps({"device": str(device), "rows": ROWS}, indent=2))


if __name__ == "__main__":
    main()
