"""Nothing lost, nothing half-written: killed training resumes bit-identically, killed chunks leave no trace,
damaged inputs are refused with one line, and earlier results are never touched by a failure."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, run_snakemake, smoke_workdir
from test_surface import trained_with_directions

TARGET = "results/models/resnet20.pt"


def training_workdir(path: Path) -> Path:
    workdir = smoke_workdir(path, models=["resnet20"])
    config = (workdir / "smoke.yaml").read_text().replace("epochs: 1", "epochs: 3")
    (workdir / "smoke.yaml").write_text(config)
    return workdir


def start_snakemake(workdir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "1", TARGET,
               "--configfile", "smoke.yaml"]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for(path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def processes_in(workdir: Path, needle: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == workdir:
                command = (entry / "cmdline").read_bytes().split(b"\0")
                if command[0].endswith(b"python") and needle.encode() in b" ".join(command):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def trained_state(workdir: Path) -> tuple[dict, pd.DataFrame]:
    checkpoint = torch.load(workdir / TARGET, weights_only=True)
    history = pd.read_csv(workdir / "results/train/resnet20/history.csv").drop(columns="seconds")
    return checkpoint["state_dict"], history


@pytest.fixture(scope="module")
def uninterrupted(smoke_run):
    """ResNet-20 as the suite's smoke run trained it, uninterrupted: the same settings as training_workdir's (the
    smoke preset gives resnet20 3 epochs of its own) and the same data."""
    return trained_state(smoke_run)


def killed_and_resumed(workdir: Path, how: str) -> tuple[dict, pd.DataFrame]:
    """ResNet-20 trained by Snakemake, killed (`how`) during epoch 2, then resumed as docs/reliability.md says."""
    resume = workdir / "results/train/resnet20/resume.pt"
    snakemake = start_snakemake(workdir)
    wait_for(resume)  # epoch 1 is done; epoch 2 is running
    if how == "SIGKILL":  # the whole machine dies: Snakemake and the job
        for pid in processes_in(workdir, "lossland"):
            os.kill(pid, signal.SIGKILL)
        os.killpg(snakemake.pid, signal.SIGKILL)
        snakemake.wait()
    else:  # the scheduler asks the job to stop
        for pid in processes_in(workdir, "lossland"):
            os.kill(pid, signal.SIGTERM)
        assert snakemake.wait(timeout=120) != 0
        assert "stopped by SIGTERM during epoch" in (workdir / "results/logs/train/resnet20.log").read_text()
    assert not (workdir / TARGET).exists()
    assert torch.load(resume, weights_only=True)["history"][0]["epoch"] == 1

    run_snakemake(workdir, "--unlock", "--configfile", "smoke.yaml")
    run_snakemake(workdir, "--cores", "1", "--rerun-incomplete", TARGET, "--configfile", "smoke.yaml")
    assert "resuming resnet20 after epoch" in (workdir / "results/logs/train/resnet20.log").read_text()
    assert not resume.exists()
    return trained_state(workdir)


def test_killed_training_resumes_bit_identical(tmp_path, uninterrupted):
    """Killed by SIGKILL (Snakemake and the job) and by SIGTERM (the job), side by side on one core each."""
    clean_state, clean_history = uninterrupted
    with ThreadPoolExecutor(2) as pool:
        runs = {how: pool.submit(killed_and_resumed, training_workdir(tmp_path / how), how)
                for how in ("SIGKILL", "SIGTERM")}
    for how, run in runs.items():
        state, history = run.result()
        assert state.keys() == clean_state.keys(), how
        for key in state:
            assert torch.equal(state[key], clean_state[key]), (how, key)
        pd.testing.assert_frame_equal(history, clean_history)


@pytest.fixture(scope="module")
def chunk_inputs(tmp_path_factory):
    return trained_with_directions(tmp_path_factory.mktemp("chunk"), 200, 20)


def chunk_command(out: str) -> list[str]:
    spec = {"settings": {"measure": "loss", "span": "plane", "x": [-1, 1, 4], "y": [-1, 1, 4],
                                          "chunks": 1, "chunk": 0, "split": "train", "samples": 200, "seed": 0,
                                          "batch_size": 100, "fold_bn": True, "precision": "fp32", "compile": False,
                                          "cap": None},
            "inputs": {"checkpoint": "model.pt", "directions": "directions.pt", "data": "train.pt"},
            "outputs": {"csv": out}}
    return [sys.executable, "-m", "lossland", "--threads", "1", "landscape_chunk", "--spec", json.dumps(spec)]


def test_killed_chunk_leaves_nothing_and_rerun_equals_clean_run(chunk_inputs):
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    job = subprocess.Popen(chunk_command("chunk.csv"), cwd=chunk_inputs, env=env, stdout=subprocess.PIPE, text=True)
    for line in job.stdout:
        if "3/16 points" in line:
            job.kill()
            break
    job.wait()
    assert job.returncode == -signal.SIGKILL
    assert [p.name for p in chunk_inputs.iterdir() if "chunk" in p.name] == []
    subprocess.run(chunk_command("chunk.csv"), cwd=chunk_inputs, env=env, check=True, capture_output=True)
    subprocess.run(chunk_command("clean.csv"), cwd=chunk_inputs, env=env, check=True, capture_output=True)
    assert (chunk_inputs / "chunk.csv").read_text() == (chunk_inputs / "clean.csv").read_text()
    assert len(pd.read_csv(chunk_inputs / "chunk.csv", comment="#")) == 16


def test_write_killed_midway_is_never_observed_half_written(tmp_path):
    dest = tmp_path / "results" / "table.csv"
    dest.parent.mkdir()
    dest.write_text("old complete content\n")
    writer = (
        "import sys, time\nfrom lossland.io import atomic_write\n"
        f"with atomic_write({str(dest)!r}, 'w') as handle:\n"
        "    handle.write('partial ' * 100000); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    job = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    assert job.stdout.readline().strip() == "writing"
    job.kill()
    job.wait()
    assert dest.read_text() == "old complete content\n"
    from lossland.io import atomic_write

    with atomic_write(dest, "w") as handle:
        handle.write("new\n")
    assert dest.read_text() == "new\n" and sorted(p.name for p in dest.parent.iterdir()) == ["table.csv"]


def test_cli_refuses_a_truncated_checkpoint_in_one_line_and_touches_nothing(chunk_inputs):
    good = (chunk_inputs / "model.pt").read_bytes()
    (chunk_inputs / "broken.pt").write_bytes(good[:1000])
    (chunk_inputs / "metrics.json").write_text("{\"earlier\": true}\n")
    result = subprocess.run(
        [sys.executable, "-m", "lossland", "evaluate", "--spec", json.dumps(
            {"settings": {"batch_size": "auto"}, "outputs": {"json": "metrics.json"},
             "inputs": {"checkpoint": "broken.pt", "train": "train.pt", "test": "test.pt"}})],
        cwd=chunk_inputs, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "workflow")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: checkpoint broken.pt is unreadable")
    assert result.stderr.strip().endswith("delete it and rerun the workflow") and result.stderr.count("\n") == 1
    assert (chunk_inputs / "metrics.json").read_text() == "{\"earlier\": true}\n"


def test_same_inputs_same_surface_values(chunk_inputs):
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    for name in ("a.csv", "b.csv"):
        subprocess.run(chunk_command(name), cwd=chunk_inputs, env=env, check=True, capture_output=True)
    a = pd.read_csv(chunk_inputs / "a.csv", comment="#")
    np.testing.assert_array_equal(a.to_numpy(), pd.read_csv(chunk_inputs / "b.csv", comment="#").to_numpy())


def test_temp_files_of_other_machines_are_left_to_their_writers(tmp_path):
    """On a shared file system a pid names a process of the machine that wrote it: another host's temp file is
    removed only once it is a day old; this host's only when its process is gone."""
    import socket

    from lossland.io import STALE_SECONDS, atomic_write

    dest = tmp_path / "surface.npz"
    other_live = tmp_path / f".surface.npz.tmp{os.getpid()}@another-node"
    other_stale = tmp_path / ".surface.npz.tmp12345@another-node.cluster"
    ours_dead = tmp_path / f".surface.npz.tmp999999999@{socket.gethostname()}"
    legacy_dead = tmp_path / ".surface.npz.tmp999999999"
    for path in (other_live, other_stale, ours_dead, legacy_dead):
        path.write_text("partial")
    old = time.time() - STALE_SECONDS - 60
    os.utime(other_stale, (old, old))
    with atomic_write(dest, "w") as handle:
        handle.write("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([dest.name, other_live.name])
