"""Benchmark: a job's start-up on a checkpoint with 20 weight snapshots inside (before) and beside it (now).

    .venv/bin/python benchmarks/snapshot_startup.py [--model resnet110] [--snapshots 20] [--repeats 5]

Every chunk, curve, evaluation and geometry job starts by loading its checkpoint (`models.load_checkpoint`) and
hashing it for its provenance record (`io.sha256`). Until snapshots got their own file
(`results/train/<model>/snapshots.pt`), a model trained with `snapshots: N` carried them all in its checkpoint. This
times that start-up (load + hash, best of `--repeats`, page cache warm) for the same weights in both layouts.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from lossland.io import save_torch, sha256
from lossland.models import build, load_checkpoint, variant

SETTINGS = {"shortcut": "avgpool", "conv_bias": True, "normalize": False}


def checkpoints(model_name: str, snapshots: int, folder: Path) -> tuple[Path, Path]:
    """(the checkpoint with its snapshots inside, the checkpoint alone) for one freshly initialised model."""
    model = build(model_name, SETTINGS, {"classes": 10, "channels": 3, "size": [32, 32]})
    state = model.state_dict()
    generator = torch.Generator().manual_seed(0)
    states = [{k: v + 0.01 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
               for k, v in state.items()} for _ in range(snapshots - 1)] + [state]
    checkpoint = {"model": model_name, "state_dict": state, "config": {**variant(model_name, SETTINGS), **SETTINGS},
                  "epochs": snapshots - 1, "metrics": {}}
    inside, alone = folder / "inside.pt", folder / "alone.pt"
    save_torch({**checkpoint, "snapshots": {"epochs": list(range(snapshots)), "states": states}}, inside)
    save_torch(checkpoint, alone)
    return inside, alone


def startup_seconds(path: Path, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        load_checkpoint(str(path), torch.device("cpu"))
        sha256(path)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet110")
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        inside, alone = checkpoints(args.model, args.snapshots, Path(folder))
        before, after = startup_seconds(inside, args.repeats), startup_seconds(alone, args.repeats)
        mb = [path.stat().st_size / 1e6 for path in (inside, alone)]
    print(f"{args.model}, {args.snapshots} snapshots: checkpoint {mb[0]:.1f} MB with them inside, {mb[1]:.1f} MB "
          f"without; job start-up (load + sha256, best of {args.repeats}) {before:.3f} s -> {after:.3f} s "
          f"({before / after:.1f}x)")


if __name__ == "__main__":
    main()
