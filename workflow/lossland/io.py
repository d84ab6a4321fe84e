"""Files that appear complete or not at all, checkpoints loaded safely, and the user-facing error type."""

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import UserError


@contextlib.contextmanager
def atomic_write(dest: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `dest`, fsync it, then rename it into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dest.parent.glob(f".{dest.name}.tmp*"):  # from a writer killed mid-write (one job per output)
        leftover.unlink(missing_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    try:
        with open(tmp, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def save_torch(obj: Any, dest: str | Path) -> None:
    import torch  # here, not at the top: Snakemake imports this package at start-up

    with atomic_write(dest) as handle:
        torch.save(obj, handle)


def save_text(text: str, dest: str | Path) -> None:
    with atomic_write(dest, "w") as handle:
        handle.write(text)


def save_json(obj: Any, dest: str | Path) -> None:
    with atomic_write(dest, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")


def load_torch(path: str | Path, what: str) -> Any:
    """torch.load with weights_only=True; a missing, truncated or foreign file is a UserError naming it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist: run the workflow step that makes it")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        if "Weights only load failed" in str(error):
            raise UserError(f"{what} {path} holds pickled code (e.g. a whole nn.Module, not its state_dict), which "
                            "this workflow never executes: save model.state_dict() instead") from None
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{what} {path} is unreadable ({reason}): delete it and rerun the workflow") from None


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
