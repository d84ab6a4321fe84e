"""One job per GPU on a machine with several: the count Snakemake limits GPU jobs to, and which GPU each job takes.
No GPU needed: GPUs are names (UUIDs) here, and the locks are real files locked by real processes."""

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO
from lossland import config, gpus

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
        assert config.select_device("auto") == torch.device("cuda", 0)
        assert config.select_device("cuda") == torch.device("cuda", 1)
        assert chosen == [0, 1] and sorted(p.name for p in tmp_path.iterdir()) == ["GPU-uuid-0.lock", "GPU-uuid-1.lock"]
    finally:
        gpus.release_all()
        torch.use_deterministic_algorithms(False)
