"""Copy the first N JPEGs per class of each split into a small ImageFolder tree, e.g. to carry the benchmark's
data to a machine that cannot see ../shared (a lent GPU machine takes at most 64 MiB of files along):

    python benchmarks/subset_jpegs.py ../shared/data/cifar10-jpeg .gpu-data --train 256 --test 50
    python benchmarks/bench.py --data .gpu-data --parts surface,training
"""

import argparse
import shutil
from pathlib import Path


def copy_subset(source: Path, dest: Path, per_class: dict[str, int]) -> int:
    copied = 0
    for split, count in per_class.items():
        for class_dir in sorted(p for p in (source / split).iterdir() if p.is_dir()):
            target = dest / split / class_dir.name
            target.mkdir(parents=True, exist_ok=True)
            for image in sorted(p for p in class_dir.iterdir() if p.is_file())[:count]:
                shutil.copy2(image, target / image.name)
                copied += 1
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--train", type=int, default=256, help="images per class from train/")
    parser.add_argument("--test", type=int, default=50, help="images per class from test/")
    args = parser.parse_args()
    copied = copy_subset(args.source, args.dest, {"train": args.train, "test": args.test})
    print(f"copied {copied} images into {args.dest}")


if __name__ == "__main__":
    main()
