"""How the Hessian numbers move with the number of images they are taken over (to choose `geometry.samples`).

    .venv/bin/python benchmarks/hessian_samples.py --checkpoint results/models/net.pt \
        --data results/data/train.pt --sizes 500 1000 2000 5000 --repeats 3

For each size: λmax (Lanczos, top end only) and the Hutchinson trace of the Hessian of the mean loss over
`--repeats` disjoint seeded subsets of that many images (the workflow's own `geometry.repeats` blocks, the same
operator as `snakemake geometry`), printed as a markdown table of mean ± sd across subsets, with the seconds one
subset took.
"""

import argparse
import sys
import time
from pathlib import Path

from requires import early_options, missing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a checkpoint the workflow trained")
    parser.add_argument("--data", required=True, help="a prepared split, e.g. results/data/train.pt")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=3, help="disjoint subsets per size")
    parser.add_argument("--probes", type=int, default=10, help="Hutchinson probes per subset")
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--params", choices=["weights", "all"], default="weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    return parser


early_options(build_parser(), __file__)
try:
    import numpy as np
    import torch
except ModuleNotFoundError as error:
    sys.exit(missing(error, __file__))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from lossland.data import load_split, normalizer  # noqa: E402
from lossland.device import select_device  # noqa: E402
from lossland.evaluate import batch_size_for  # noqa: E402
from lossland.geometry import HessianOperator, hutchinson_trace, largest_eigenvalue  # noqa: E402
from lossland.models import load_checkpoint  # noqa: E402
from lossland.surface import evaluation_subset  # noqa: E402


def measure(checkpoint: str, data, size: int, block: int, args, device) -> dict:
    model, blob = load_checkpoint(checkpoint, device)
    subset = evaluation_subset(data, size, args.seed, "--sizes", block).to(device)
    op = HessianOperator(model, subset, normalizer(blob["config"], device), batch_size_for(device), args.params)
    started = time.monotonic()
    top = largest_eigenvalue(op.linear_operator(), args.tol, args.seed + 2 * block)
    trace, _, _ = hutchinson_trace(op, args.probes, args.seed + 2 * block + 1)
    return {"lambda_max": top, "trace": trace, "seconds": time.monotonic() - started}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device("auto")
    data = load_split(args.data)
    print(f"{args.checkpoint}: Hessian over the {args.params} parameters, {args.repeats} disjoint subsets per size, "
          f"{args.probes} probes, tol {args.tol:g}, {torch.get_num_threads()} threads on {device}", flush=True)
    print("| images | λmax ± sd | trace ± sd | s per subset |\n|---:|---:|---:|---:|", flush=True)
    for size in args.sizes:
        rows = [measure(args.checkpoint, data, size, block, args, device) for block in range(args.repeats)]
        cells = []
        for key in ("lambda_max", "trace"):
            values = np.array([row[key] for row in rows])
            spread = values.std(ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{values.mean():.4g} ± {spread:.2g}")
        seconds = np.mean([row["seconds"] for row in rows])
        print(f"| {size:,} | " + " | ".join(cells) + f" | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
