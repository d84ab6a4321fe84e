"""The fork server (lossland/forkserver.py): a job run through it writes the bits it writes alone, in its own
directory, log and environment; killing the command stops the job; a signal reaches the job; changed sources get a
fresh server. Each test has its own server (its own XDG_RUNTIME_DIR), stopped at the end."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO
from lossland.io import save_torch
from test_surface import SETTINGS, random_split


def servers(folder: Path) -> list[int]:
    """Pids of the fork servers whose socket lies under `folder` (not their children, which share their command
    line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes() and \
                    b"lossland.forkserver" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if not set(found) & {parent(pid)}]


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("PPid:\t")[1].split()[0])
    except (OSError, IndexError):
        return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"PPid:\t{pid}\n" in (entry / "status").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def env():
    run = Path(tempfile.mkdtemp(prefix="lf-", dir="/tmp"))  # short: a socket's path holds at most 107 bytes
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "XDG_RUNTIME_DIR": str(run)}
    env.pop("LOSSLAND_FORKSERVER", None)
    yield env
    for pid in servers(run):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(run, ignore_errors=True)


def train_command(folder: Path, epochs: int) -> list[str]:
    """`python -m lossland train` as its rule runs it, on random images in `folder`."""
    folder.mkdir(exist_ok=True)
    save_torch(random_split(48, 0), folder / "train.pt")
    save_torch(random_split(16, 1), folder / "test.pt")
    settings = {**SETTINGS, "epochs": epochs, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    spec = {"inputs": {"train": "train.pt", "test": "test.pt"},
            "outputs": {"checkpoint": "model.pt", "history": "history.csv"}, "scratch": {"resume": "resume.pt"},
            "settings": {"model": "net", "settings": settings}}
    return [sys.executable, "-m", "lossland", "--threads", "1", "train", "--spec", json.dumps(spec)]


def test_a_job_through_the_server_writes_the_bits_it_writes_alone(tmp_path, env):
    alone, served = tmp_path / "alone", tmp_path / "served"
    for folder, extra in ((alone, {"LOSSLAND_FORKSERVER": "0"}), (served, {})):
        with open(tmp_path / f"{folder.name}.log", "w") as log:
            result = subprocess.run(train_command(folder, 2), cwd=folder, env={**env, **extra}, stdout=log,
                                    stderr=subprocess.STDOUT)
        assert result.returncode == 0, (tmp_path / f"{folder.name}.log").read_text()
    (server,) = servers(Path(env["XDG_RUNTIME_DIR"]))  # the second ran in it
    a, b = (torch.load(folder / "model.pt", weights_only=True) for folder in (alone, served))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][key], b["state_dict"][key]) for key in a["state_dict"])
    pd.testing.assert_frame_equal(*(pd.read_csv(f / "history.csv").drop(columns="seconds") for f in (alone, served)))
    log = (tmp_path / "served.log").read_text()  # the job's log went where the command's stdout went
    assert "epoch 2" in log.lower() and log.count("\n") == (tmp_path / "alone.log").read_text().count("\n")
    bad = subprocess.run(train_command(tmp_path / "bad", 1)[:-1] + ["{}"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: the job spec has no settings, inputs, outputs: pass the "
                                                       "job spec a rule passes")
    assert servers(Path(env["XDG_RUNTIME_DIR"])) == [server]  # one server for both


def started(command, folder: Path, env: dict) -> subprocess.Popen:
    """The command started, once its job has begun training (the log's first epoch line)."""
    log = open(folder / "job.log", "w")
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "epoch 1" not in (folder / "job.log").read_text().lower():
        assert process.poll() is None and time.monotonic() < deadline, (folder / "job.log").read_text()
        time.sleep(0.05)
    return process


def test_killing_the_command_stops_its_job_and_a_signal_reaches_it(tmp_path, env):
    killed = started(train_command(tmp_path / "killed", 1000), tmp_path / "killed", env)
    (server,) = servers(Path(env["XDG_RUNTIME_DIR"]))
    (job,) = children(server)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while job in children(server):  # the server kills it as soon as the command is gone
        assert time.monotonic() < deadline, "the job outlived its command"
        time.sleep(0.02)
    assert not (tmp_path / "killed" / "model.pt").exists()

    stopped = started(train_command(tmp_path / "stopped", 1000), tmp_path / "stopped", env)
    stopped.send_signal(signal.SIGTERM)  # passed on: training stops at its resume point, with its one line
    assert stopped.wait(timeout=60) == 2
    assert "stopped by SIGTERM during epoch" in (tmp_path / "stopped" / "job.log").read_text()
    assert children(server) == []


def test_changed_sources_get_a_fresh_server(tmp_path, env):
    package = tmp_path / "package"
    shutil.copytree(REPO / "workflow" / "lossland", package / "lossland")
    env = {**env, "PYTHONPATH": str(package)}
    command = train_command(tmp_path / "job", 1)
    first = subprocess.run(command, cwd=tmp_path / "job", env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout.startswith("[")
    (old,) = servers(Path(env["XDG_RUNTIME_DIR"]))
    logs = package / "lossland" / "logs.py"
    logs.write_text(logs.read_text().replace('print(f"[', 'print(f"changed ['))
    second = subprocess.run(command, cwd=tmp_path / "job", env=env, capture_output=True, text=True)
    assert second.returncode == 0 and second.stdout.startswith("changed ["), second.stdout[:200]
    deadline = time.monotonic() + 5
    while old in servers(Path(env["XDG_RUNTIME_DIR"])):  # the stale one is gone once idle
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_job_whose_numeric_library_settings_differ_gets_its_own_server(monkeypatch):
    """Thread counts and oneDNN's instruction set change a CPU job's bits, so each setting has its own server."""
    from lossland import forkserver

    for name in [k for k in os.environ if k.startswith(forkserver.IMPORT_TIME_ENV)]:
        monkeypatch.delenv(name)
    plain = forkserver.address()
    monkeypatch.setenv("LOSSLAND_UNRELATED", "1")
    assert forkserver.address() == plain
    for name, value in [("ONEDNN_MAX_CPU_ISA", "AVX2"), ("DNNL_MAX_CPU_ISA", "AVX2"), ("OMP_NUM_THREADS", "3")]:
        monkeypatch.setenv(name, value)
        assert forkserver.address() != plain, name
        monkeypatch.delenv(name)
    assert forkserver.address() == plain
