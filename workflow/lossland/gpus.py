"""One job per GPU: which GPUs a machine has, and which one a job takes.

Snakemake counts GPU jobs against a `gpu` limit (common.smk sets it to the machine's GPU count), but it does not say
which GPU a job should use. Each job therefore claims one here: an exclusive, non-blocking `flock` on a node-local
file named after the GPU's UUID, held until the process exits (the kernel releases it even after a kill -9). The
UUID, not the index, names the GPU, so jobs that SLURM confines to different GPUs of one node (each seeing its own
as index 0) never wait for each other; jobs that do see the same GPUs spread over them and, when all are taken,
wait for one and say so in their log, at most LOSSLAND_GPU_WAIT_MINUTES (60), then stop with one line.

Several users: the default lock directory is shared (world-writable, sticky) and lock files are made readable and
writable by all; one another user made read-only is opened read-only (flock needs no more), one that cannot be
opened counts as taken. A file system without flock (some NFS mounts) falls back, with one log line, to claim files
created exclusively and naming host and pid.
"""

import atexit
import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import UserError
from .io import process_alive

LOCK_DIR_ENV = "LOSSLAND_GPU_LOCKS"
WAIT_ENV = "LOSSLAND_GPU_WAIT_MINUTES"
_claims: list[Path] = []  # claim files of this process (file systems without flock)
_held: list[int] = []  # open lock file descriptors of this process: closing one would release its GPU


def visible_gpu_count(environ=os.environ) -> int:
    """CUDA GPUs a job started here would see: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`; no torch import
    (Snakemake calls this while parsing the workflow)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [entry.strip() for entry in visible.split(",")]
        count = 0
        for entry in entries:  # CUDA stops at the first invalid entry ("-1" is the usual way to hide all)
            if not entry or entry.startswith("-"):
                break
            count += 1
        return count
    smi = shutil.which("nvidia-smi", path=environ.get("PATH"))
    if smi is None:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, env=dict(environ))
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines()) if listed.returncode == 0 else 0


def lock_dir() -> Path:
    """LOSSLAND_GPU_LOCKS, or one directory in the temp dir shared by all users of the machine (world-writable with
    the sticky bit, like /tmp: anyone creates lock files there, nobody deletes another's)."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "lossland-gpu-locks")


def wait_limit() -> float:
    """Seconds a job waits for a free GPU before it gives up: LOSSLAND_GPU_WAIT_MINUTES (default 60)."""
    return 60 * float(os.environ.get(WAIT_ENV) or 60)


def _make_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # another user made it first
            directory.chmod(0o1777)


def _open_lock(path: Path, log: Callable[[str], None]) -> int | None:
    """A descriptor of `path` (created world-readable and writable); read-only where another user's mode allows
    no more (flock needs none), None where it cannot be opened at all."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        with contextlib.suppress(PermissionError):
            os.fchmod(fd, 0o666)  # past the umask, so other users can open it too
        return fd
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:  # not readable, or not creatable in another user's directory
            _say_once(log, f"cannot open {path} (another user's lock file, mode "
                           f"{oct(path.stat().st_mode & 0o777)}): treating that GPU as taken")
            return None


_said: set[str] = set()


def _say_once(log: Callable[[str], None], line: str) -> None:
    if line not in _said:
        _said.add(line)
        log(line)


def _claim_file(path: Path) -> bool:
    """Fallback for file systems without flock: an exclusively created claim file naming host and pid; one whose
    process is gone (same host) is stale and taken over."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                host, pid = path.read_text().split()[:2]
            except (OSError, ValueError):
                return False
            if host != os.uname().nodename or process_alive(int(pid)):
                return False
            path.unlink(missing_ok=True)
            continue
        os.write(fd, f"{os.uname().nodename} {os.getpid()}\n".encode())
        os.close(fd)
        _claims.append(path)
        atexit.register(path.unlink, missing_ok=True)
        return True
    return False


def try_claim(keys: Sequence[str], directory: Path, log: Callable[[str], None] = print) -> int | None:
    """Index of the first GPU in `keys` (one unique name per visible GPU) that no other job holds, now held by this
    process; None when every one is taken."""
    _make_dir(directory)
    for index, key in enumerate(keys):
        fd = _open_lock(directory / f"{key}.lock", log)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except OSError as error:  # ENOLCK, EOPNOTSUPP...: a file system without flock (some NFS mounts)
            os.close(fd)
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                continue  # e.g. EBADF for a read-only descriptor on NFS: count it as taken
            _say_once(log, f"{directory} does not support flock ({error.strerror}): falling back to exclusive "
                           "claim files (a job killed with -9 on another host leaves its GPU claimed: delete "
                           f"{directory}/*.claim)")
            if _claim_file(directory / f"{key}.claim"):
                return index
            continue
        with contextlib.suppress(OSError):  # read-only where another user made the file: the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
        _held.append(fd)
        return index
    return None


def claim(keys: Sequence[str], directory: Path | None = None, poll_seconds: float = 5.0,
          log: Callable[[str], None] = print, limit_seconds: float | None = None) -> int:
    """`try_claim`, waiting (with one log line) while every GPU is taken, at most `limit_seconds` (`wait_limit()`)."""
    directory = directory or lock_dir()
    limit_seconds = wait_limit() if limit_seconds is None else limit_seconds
    index = try_claim(keys, directory, log)
    if index is None:
        log(f"all {len(keys)} visible GPUs are in use by other jobs (locks in {directory}): waiting for one")
        deadline = time.monotonic() + limit_seconds
        while index is None:
            if time.monotonic() >= deadline:
                raise UserError(f"waited {limit_seconds / 60:g} min for one of the {len(keys)} GPUs (locks in "
                                f"{directory}): free one, or set {WAIT_ENV} higher")
            time.sleep(poll_seconds)
            index = try_claim(keys, directory, log)
    return index


def release_all() -> None:
    while _held:
        os.close(_held.pop())
    while _claims:
        _claims.pop().unlink(missing_ok=True)


def cuda_keys() -> list[str]:
    """A node-unique name per visible CUDA GPU: its UUID (hostname + index where the driver gives none)."""
    import torch

    keys = []
    for index in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        keys.append(f"GPU-{uuid}" if uuid else f"{os.uname().nodename}-cuda{index}")
    return keys
