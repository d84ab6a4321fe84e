"""One job per GPU: which GPUs a machine has, and which one a job takes.

Snakemake counts GPU jobs against a `gpu` limit (common.smk sets it to the machine's GPU count), but it does not say
which GPU a job should use. Each job therefore claims one here: an exclusive, non-blocking `flock` on a node-local
file named after the GPU's UUID, held until the process exits (the kernel releases it even after a kill -9). The
UUID, not the index, names the GPU, so jobs that SLURM confines to different GPUs of one node (each seeing its own
as index 0) never wait for each other; jobs that do see the same GPUs spread over them and, when all are taken,
wait for one and say so in their log.
"""

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOCK_DIR_ENV = "LOSSLAND_GPU_LOCKS"
_held: list = []  # open lock files of this process: closing one would release its GPU


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
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "lossland-gpu-locks")


def try_claim(keys: Sequence[str], directory: Path) -> int | None:
    """Index of the first GPU in `keys` (one unique name per visible GPU) that no other job holds, now held by this
    process; None when every one is taken."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, key in enumerate(keys):
        handle = open(directory / f"{key}.lock", "a+")  # noqa: SIM115 (kept open: the lock lives as long as the file)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        _held.append(handle)
        return index
    return None


def claim(keys: Sequence[str], directory: Path | None = None, poll_seconds: float = 5.0,
          log: Callable[[str], None] = print) -> int:
    """`try_claim`, waiting (with one log line) while every GPU is taken."""
    directory = directory or lock_dir()
    index = try_claim(keys, directory)
    if index is None:
        log(f"all {len(keys)} visible GPUs are in use by other jobs (locks in {directory}): waiting for one")
        while index is None:
            time.sleep(poll_seconds)
            index = try_claim(keys, directory)
    return index


def release_all() -> None:
    while _held:
        _held.pop().close()


def cuda_keys() -> list[str]:
    """A node-unique name per visible CUDA GPU: its UUID (hostname + index where the driver gives none)."""
    import torch

    keys = []
    for index in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        keys.append(f"GPU-{uuid}" if uuid else f"{os.uname().nodename}-cuda{index}")
    return keys
