"""Compare the numbers of two results trees, file by file, bit for bit.

    python benchmarks/compare_results.py A/results B/results [--common] [--strict]

Compared: checkpoints and other `.pt` files (every tensor and number), `.npz` arrays, `.csv` columns (a chunk's
`# provenance` line aside) and the numeric values of `.json` files, NaN equal to NaN. Not compared: wall-clock
times (`seconds`), library versions, logs, figures and Markdown (made from the compared numbers). Files in only one
tree are differences unless `--common`; `.json` keys in only one tree (a changed provenance layout) are listed, and
differences only with `--strict`. Exit status 0 when nothing differs, 1 otherwise; the last line says
"N files compared, M differ".
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

SUFFIXES = (".pt", ".npz", ".csv", ".json")
SKIPPED_DIRS = ("logs", ".snakemake")
VOLATILE = ("seconds", "versions")  # wall-clock times and library versions: not results


def leaves(value, path: str = ""):
    """(path, value) for every number, tensor or array in nested dicts and lists; volatile keys left out."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            if key not in VOLATILE:
                yield from leaves(value[key], f"{path}/{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    elif isinstance(value, (bool, int, float, torch.Tensor, np.ndarray, np.number)):
        yield path, value


def same_value(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or (a.dtype, a.shape) != (b.dtype, b.shape):
            return False
        if not a.is_floating_point():
            return torch.equal(a, b)
        nan = a.isnan()
        return torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def read_numbers(path: Path) -> dict:
    """{key path: value} of the numbers a file holds."""
    if path.suffix == ".pt":
        return dict(leaves(torch.load(path, map_location="cpu", weights_only=True)))
    if path.suffix == ".npz":
        with np.load(path) as blob:
            return {key: blob[key] for key in blob.files}
    if path.suffix == ".csv":
        frame = pd.read_csv(path, comment="#").drop(columns=list(VOLATILE), errors="ignore")
        return {column: frame[column].to_numpy() for column in frame.columns}
    return dict(leaves(json.loads(path.read_text())))


def compare_file(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """(differing keys, keys in only one file)."""
    first, second = read_numbers(a), read_numbers(b)
    differ = [key for key in first if key in second and not same_value(first[key], second[key])]
    return differ, sorted(set(first) ^ set(second))


def result_files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file() and path.suffix in SUFFIXES
            and not path.name.startswith(".") and path.relative_to(root).parts[0] not in SKIPPED_DIRS}


def compare(a: Path, b: Path, common: bool = False, strict: bool = False, out=None,
            skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """Print every difference (to `out`, stdout by default); return (files compared, files that differ). `skip`:
    paths (relative to the trees) left out."""
    out = out or sys.stdout
    in_a, in_b = ({path for path in result_files(root) if str(path) not in skip} for root in (a, b))
    differing = 0
    if not common:
        for path in sorted(in_a ^ in_b):
            print(f"only in {a if path in in_a else b}: {path}", file=out)
            differing += 1
    shared = sorted(in_a & in_b)
    for path in shared:
        differ, unmatched = compare_file(a / path, b / path)
        if differ:
            print(f"differs: {path}: {', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''}", file=out)
        if unmatched:
            print(f"{'differs' if strict else 'layout'}: {path}: keys in one file only: {', '.join(unmatched[:8])}"
                  f"{' ...' if len(unmatched) > 8 else ''}", file=out)
        differing += bool(differ or (strict and unmatched))
    print(f"{len(shared)} files compared, {differing} differ", file=out)
    return len(shared), differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--common", action="store_true", help="compare only the files both trees hold")
    parser.add_argument("--strict", action="store_true", help="a .json key in one file only is a difference")
    args = parser.parse_args(argv)
    compared, differing = compare(args.a, args.b, args.common, args.strict)
    return 1 if differing or not compared else 0


if __name__ == "__main__":
    sys.exit(main())
