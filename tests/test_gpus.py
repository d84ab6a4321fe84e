"""One job per GPU on a machine with several: the count Snakemake limits GPU jobs to, and which GPU each job takes.
No GPU needed: GPUs are names (UUIDs) here, and the locks are real files locked by real processes."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO
from lossland import device, gpus

CLAIMER = """
import sys, time
from pathlib import Path
from lossland.gpus import claim
index = claim(sys.argv[2].split(","), Path(sys.argv[1]), poll_seconds=0.05, log=lambda line: print(line, flush=True))
print(f"claimed {index}", flush=True)
while not Path(sys.argv[3]).exists():
    time.sleep(0.05)
"""


def start_claimer(lock_dir, keys, stop_file):
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.Popen([sys.executable, "-c", CLAIMER, str(lock_dir), ",".join(keys), str(stop_file)],
                            stdout=subprocess.PIPE, text=True, env=env)


def wait_for_line(process, prefix: str) -> str:
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"process ended without a line starting {prefix!r}")


def test_jobs_spread_over_the_gpus_and_wait_when_all_are_taken(tmp_path):
    keys = ["GPU-aaaa", "GPU-bbbb"]
    stops = [tmp_path / f"stop{i}" for i in range(3)]
    first = start_claimer(tmp_path / "locks", keys, stops[0])
    second = start_claimer(tmp_path / "locks", keys, stops[1])
    third = None
    try:
        first_claim, second_claim = wait_for_line(first, "claimed"), wait_for_line(second, "claimed")
        assert {first_claim, second_claim} == {"claimed 0", "claimed 1"}  # each its own GPU
        third = start_claimer(tmp_path / "locks", keys, stops[2])
        assert wait_for_line(third, "all 2 visible GPUs are in use").endswith("waiting for one")
        time.sleep(0.3)
        assert third.poll() is None  # still waiting: no GPU is shared
        stops[0].touch()  # the first job ends (its lock goes with its process)
        first.wait(timeout=10)
        assert wait_for_line(third, "claimed") == first_claim  # and the waiting one gets the GPU it freed
    finally:
        for stop in stops:
            stop.touch()
        for process in (first, second, third):
            if process is not None:
                process.wait(timeout=10)


def test_a_killed_job_frees_its_gpu(tmp_path):
    process = start_claimer(tmp_path / "locks", ["GPU-aaaa"], tmp_path / "never")
    assert wait_for_line(process, "claimed") == "claimed 0"
    assert gpus.try_claim(["GPU-aaaa"], tmp_path / "locks") is None
    process.kill()
    process.wait(timeout=10)
    try:
        assert gpus.try_claim(["GPU-aaaa"], tmp_path / "locks") == 0
    finally:
        gpus.release_all()


def test_jobs_confined_to_different_gpus_of_one_node_never_wait(tmp_path):
    # SLURM shows each job its own GPU as index 0: the lock is the GPU's UUID, not the index
    try:
        assert gpus.try_claim(["GPU-aaaa"], tmp_path) == 0
        assert gpus.try_claim(["GPU-bbbb"], tmp_path) == 0
        assert gpus.try_claim(["GPU-aaaa"], tmp_path) is None
    finally:
        gpus.release_all()
    assert gpus.try_claim(["GPU-aaaa"], tmp_path) == 0
    gpus.release_all()


@pytest.mark.parametrize("visible,count", [("0,1,3", 3), ("", 0), ("-1", 0), ("0,-1,2", 1), ("GPU-1234", 1)])
def test_visible_gpus_follow_cuda_visible_devices(visible, count):
    assert gpus.visible_gpu_count({"CUDA_VISIBLE_DEVICES": visible, "PATH": ""}) == count


def test_visible_gpus_are_counted_by_nvidia_smi(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nfor i in 0 1 2 3; do echo \"GPU $i: NVIDIA H100 (UUID: GPU-$i)\"; done\n")
    smi.chmod(0o755)
    assert gpus.visible_gpu_count({"PATH": str(tmp_path)}) == 4
    assert gpus.visible_gpu_count({"PATH": str(tmp_path / "empty")}) == 0  # no driver: no GPU


def test_each_cuda_job_of_a_process_takes_the_next_free_gpu(monkeypatch, tmp_path):
    monkeypatch.setenv(gpus.LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(uuid=f"uuid-{i}"))
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    try:
        assert device.select_device("auto") == torch.device("cuda", 0)
        assert device.select_device("cuda") == torch.device("cuda", 1)
        assert chosen == [0, 1] and sorted(p.name for p in tmp_path.iterdir()) == ["GPU-uuid-0.lock", "GPU-uuid-1.lock"]
    finally:
        gpus.release_all()
        torch.use_deterministic_algorithms(False)


def test_the_shared_lock_directory_is_world_writable_with_the_sticky_bit_and_its_files_open_to_all(tmp_path):
    try:
        assert gpus.try_claim(["GPU-aaaa"], tmp_path / "locks") == 0
    finally:
        gpus.release_all()
    assert (tmp_path / "locks").stat().st_mode & 0o7777 == 0o1777
    assert (tmp_path / "locks" / "GPU-aaaa.lock").stat().st_mode & 0o777 == 0o666


def test_another_users_lock_files_never_raise(tmp_path, monkeypatch):
    """Read-only for us: opened read-only and locked; not even readable: that GPU counts as taken, said once."""
    (tmp_path / "GPU-aaaa.lock").write_text("pid 1 on elsewhere\n")
    (tmp_path / "GPU-bbbb.lock").write_text("pid 1 on elsewhere\n")
    real_open = os.open

    def as_another_user(path, flags, *mode):
        name = os.path.basename(path)
        if name == "GPU-aaaa.lock" or (name == "GPU-bbbb.lock" and flags & (os.O_RDWR | os.O_WRONLY)):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *mode)

    monkeypatch.setattr(gpus.os, "open", as_another_user)
    lines = []
    try:
        assert gpus.try_claim(["GPU-aaaa", "GPU-bbbb"], tmp_path, lines.append) == 1
        assert gpus.try_claim(["GPU-aaaa", "GPU-bbbb"], tmp_path, lines.append) is None
    finally:
        gpus.release_all()
    assert len(lines) == 1 and "GPU-aaaa.lock" in lines[0] and lines[0].endswith("treating that GPU as taken")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("flock"),
                    reason="needs root (to act as user nobody) and util-linux's flock")
def test_a_lock_held_by_another_user_is_skipped_not_a_traceback():
    shared = Path(tempfile.mkdtemp(prefix="lossland-locks-"))  # pytest's tmp_path is private to root
    shared.chmod(0o1777)
    holder = subprocess.Popen(  # user nobody holds GPU-aaaa: its lock file is rw-r--r--, owned by nobody
        ["flock", "-x", str(shared / "GPU-aaaa.lock"), "sh", "-c", "echo held; exec sleep 60"],
        stdout=subprocess.PIPE, text=True, user=65534, group=65534, umask=0o022)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert (shared / "GPU-aaaa.lock").stat().st_uid == 65534
        try:
            assert gpus.try_claim(["GPU-aaaa", "GPU-bbbb"], shared) == 1
        finally:
            gpus.release_all()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        shutil.rmtree(shared)


def test_without_flock_claim_files_take_over_with_one_log_line(tmp_path, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(gpus.fcntl, "flock", no_flock)
    (tmp_path / "GPU-cccc.claim").write_text(f"{os.uname().nodename} 999999999\n")  # a job killed with -9: stale
    lines = []
    keys = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]
    assert [gpus.try_claim(keys, tmp_path, lines.append) for _ in range(4)] == [0, 1, 2, None]
    assert len(lines) == 1 and "does not support flock (No locks available): falling back" in lines[0]
    assert (tmp_path / "GPU-cccc.claim").read_text().split() == [os.uname().nodename, str(os.getpid())]
    for key in keys:
        (tmp_path / f"{key}.claim").unlink()


def test_a_job_waiting_longer_than_the_limit_stops_with_one_line(tmp_path, monkeypatch):
    try:
        assert gpus.try_claim(["GPU-aaaa"], tmp_path) == 0  # another job holds the only GPU
        monkeypatch.setenv(gpus.WAIT_ENV, "0.005")  # 0.3 s
        started = time.monotonic()
        with pytest.raises(gpus.UserError, match=r"waited 0.005 min for one of the 1 GPUs .*set "
                                                 r"LOSSLAND_GPU_WAIT_MINUTES higher"):
            gpus.claim(["GPU-aaaa"], tmp_path, poll_seconds=0.05, log=lambda line: None)
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        gpus.release_all()
