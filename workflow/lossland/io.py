"""Files that appear complete or not at all, arrays that carry the hash of their content, checkpoints loaded safely."""

import contextlib
import errno
import hashlib
import json
import os
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import UserError


@contextlib.contextmanager
def atomic_write(dest: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `dest`, fsync it, then rename it into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dest.parent.glob(f".{dest.name}.tmp*"):  # from a writer killed mid-write
        if abandoned(leftover, f".{dest.name}.tmp"):
            leftover.unlink(missing_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}@{socket.gethostname()}")
    try:
        with open(tmp, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise UserError(f"no space left to write {dest} ({error.strerror}); nothing was written: free space on "
                        "its file system and rerun") from None
    finally:
        tmp.unlink(missing_ok=True)


LOCK_NAME = ".lock"  # a dot file: never a result (benchmarks/compare_results.py and the tests skip them)
NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF)  # EBADF: NFSv4 without a writable lock file


@contextlib.contextmanager
def exclusive(directory: str | Path, log: Callable[[str], None] = print) -> Iterator[None]:
    """The block run while this process holds an exclusive `flock` on `directory`/.lock (made if missing, opened for
    writing, as NFS needs): a second run of one job (an orphan of a killed Snakemake and its rerun) waits for the
    first to end instead of sharing the scratch files in `directory`. The lock file stays (removing it would let a
    waiting run and a new one both hold a lock). Where the file system has no flock (some NFS mounts), the block
    runs unlocked, with one log line; with NFS's `local_lock=flock` the lock holds on one node only."""
    import fcntl

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another run of this job holds {directory / LOCK_NAME} (an earlier, interrupted run's?): "
                    "waiting for it to end")
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in NO_FLOCK:
                raise
            log(f"{directory} does not support flock ({error.strerror}): running without the lock")
        yield
    finally:
        os.close(fd)


STALE_SECONDS = 24 * 3600  # a temp file of another machine untouched this long belongs to no live writer


def abandoned(leftover: Path, prefix: str) -> bool:
    """Whether a temp file `.<name>.tmp<pid>@<host>` has no live writer: on this machine, its process is gone; from
    another machine (a shared file system: a pid there says nothing here), untouched for a day. Files named
    `.<name>.tmp<pid>` (before hosts were recorded) count as this machine's."""
    pid, _, host = leftover.name[len(prefix):].partition("@")  # a host name may hold ".tmp" itself
    if host and host != socket.gethostname():
        try:
            return time.time() - leftover.stat().st_mtime > STALE_SECONDS
        except FileNotFoundError:
            return False
    return not (pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)))


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (e.g. an orphaned job of a killed Snakemake still writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


CONTENT_KEY = "content_sha256"  # the array every .npz this workflow writes carries: the hash of all the others


def content_hash(arrays: dict) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order."""
    import numpy as np

    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != CONTENT_KEY:
            array = np.ascontiguousarray(arrays[name])
            digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return digest.hexdigest()


def save_arrays(arrays: dict, dest: str | Path) -> None:
    """An .npz of `arrays` plus their content hash, so a reader detects a file edited or damaged after writing."""
    import numpy as np

    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    with atomic_write(dest) as handle:
        np.savez(handle, **arrays, **{CONTENT_KEY: np.asarray(content_hash(arrays))})


def read_arrays(path: str | Path) -> dict:
    """The arrays `save_arrays` wrote; a truncated file or one whose arrays no longer match their hash is a
    UserError naming it (files from before content hashes, without the key, are read as they are)."""
    import numpy as np

    try:
        with np.load(path) as blob:
            arrays = {name: blob[name] for name in blob.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise UserError(f"{path} does not exist: run the workflow step that makes it") from None
        raise UserError(f"{path} is unreadable ({error}): delete it and rerun the workflow") from None
    written = arrays.pop(CONTENT_KEY, None)
    if written is not None and str(written) != content_hash(arrays):
        raise UserError(f"{path} does not match the content hash written with it (edited or damaged after it was "
                        "written): delete it and rerun the workflow")
    return arrays


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
