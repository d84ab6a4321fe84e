"""The smoke preset through the SLURM profile, on a real one-node SLURM started for the test (tests/system/cluster.sh).

Skipped, with the reason, only where SLURM cannot be started (not root, or tests/system/packages.sh not run)."""

import re
import shutil
import subprocess
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, planned_outputs, run_snakemake, smoke_workdir, system_missing

LOCAL_RULE_LOGS = ("surface.log", "plot.log", "report.log", "table.log", "ablation.log", "plot_line.log",
                   "paraview.log", "eigen_map.log", "page.log")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm-state")
    script = str(REPO / "tests" / "system" / "cluster.sh")
    up = subprocess.run(["bash", script, "up", str(state)], capture_output=True, text=True)
    if up.returncode == 3:
        system_missing(up.stdout.strip())
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield state
    finally:
        subprocess.run(["bash", script, "down", str(state)], check=True)


def job_ids(log: str) -> list[str]:
    return re.findall(r"SLURM_JOB_ID=(\d+)", log)


def is_local(path) -> bool:
    return path.name in LOCAL_RULE_LOGS or path.parent.name == "data"  # prepare_data may download: submitting host


def run_on_slurm(workdir, *args):
    """The SLURM profile's run, its status checks every second (tests/system/slurm_snakemake.py)."""
    return run_snakemake(workdir, "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--jobs", "4",
                         "--cores", "2", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks",
                         "1", "--slurm-no-account", *args,
                         snakemake=(str(REPO / "tests" / "system" / "slurm_snakemake.py"),))


def slurm_job(job_id: str) -> dict[str, str]:
    """SLURM's record of a finished job (kept MinJobAge = 600 s by tests/system/cluster.sh; no accounting needed)."""
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True)
    return dict(item.split("=", 1) for item in shown.stdout.split() if "=" in item)


def seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def assert_same_surfaces(local, cluster, models):
    for model in models:
        with np.load(local / f"landscape/{model}/surface.npz") as a, np.load(cluster / f"landscape/{model}/surface.npz") as b:
            for key in ("x", "y", "loss", "acc"):
                np.testing.assert_array_equal(a[key], b[key])


CLUSTER_MODELS = ["resnet20", "plainnet20"]  # two models: each its own chunk submission, compared with the local run
MAP_MODELS = ["resnet20"]  # the eigenvalue-map chunks of one (a rule kind, not one per model)
SWEEP_LR = 0.001  # the sweep at the one learning rate of the smoke preset's interpolation pair


def test_smoke_preset_on_slurm_matches_the_local_run(slurm, request, tmp_path):
    # one Hessian subset instead of the smoke preset's two (the geometry numbers are not compared here); Net's
    # surface goes to SLURM in the full-size test below
    smoke = yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text())
    geometry = {**smoke["geometry"], "repeats": 1, "density": None, "hessian_planes": [],
                "maps": MAP_MODELS}  # density and Hessian planes: locally
    sweep = {**smoke["sweep"], "lrs": [SWEEP_LR]}  # two sweep runs, the augmented one and the interpolation
    workdir = smoke_workdir(tmp_path / "slurm-run", geometry=geometry, models=CLUSTER_MODELS, sweep=sweep)
    run_on_slurm(workdir, "all", "--configfile", "smoke.yaml")
    logs = workdir / "results" / "logs"
    cluster_logs = [p for p in logs.rglob("*.log") if not is_local(p)]
    # train, evaluate, directions, chunks, sweep runs, lines, interpolation, trajectory directions and chunks,
    # Hessians, flatness, eigenvalue-map chunks
    n = len(CLUSTER_MODELS)
    assert len(cluster_logs) == n + n + n + 3 * n + 3 + n + 1 + 1 + 2 + n + n + 3 * len(MAP_MODELS)
    for path in cluster_logs:
        assert len(job_ids(path.read_text())) == 1, f"{path} did not run as a SLURM job"
    for path in logs.rglob("*.log"):
        if is_local(path):
            assert job_ids(path.read_text()) == [], f"{path}: a local rule went to SLURM"
    chunk_jobs = {job_ids(p.read_text())[0] for p in logs.glob("landscape/*/chunk*.log")}
    assert len(chunk_jobs) == n  # tiny chunks: one SLURM job per model holds its directions and all its chunks
    for model_dir in logs.glob("landscape/*"):
        model_jobs = {job_ids(p.read_text())[0] for p in model_dir.glob("chunk*.log")}
        assert model_jobs == set(job_ids((logs / "directions" / f"{model_dir.name}.log").read_text()))

    # the local run, asked for only now: where another session is building it, the SLURM run need not wait for it
    local, cluster = request.getfixturevalue("smoke_run") / "results", workdir / "results"
    local_summary = pd.read_csv(local / "summary.csv").set_index("model").loc[CLUSTER_MODELS]
    pd.testing.assert_frame_equal(local_summary, pd.read_csv(cluster / "summary.csv").set_index("model").loc[CLUSTER_MODELS])
    local_sweep = pd.read_csv(local / "sweep/table.csv").query(f"lr == {SWEEP_LR}").reset_index(drop=True)
    pd.testing.assert_frame_equal(local_sweep, pd.read_csv(cluster / "sweep/table.csv"))
    assert_same_surfaces(local, cluster, CLUSTER_MODELS)


@pytest.fixture(scope="module")
def full_size(slurm, smoke_run, tmp_path_factory):
    """resnet20 and net surfaces on SLURM with chunks that count as full-size (chunk_batch_minutes: 0), from the
    local smoke run's data and checkpoints (training on SLURM is the test above's): their directions and chunks."""
    workdir = smoke_workdir(tmp_path_factory.mktemp("full-size"), chunk_batch_minutes=0)
    shutil.copytree(smoke_run / "results", workdir / "results", symlinks=True)
    shutil.copytree(smoke_run / ".snakemake" / "metadata", workdir / ".snakemake" / "metadata")
    for model in ("resnet20", "net"):
        shutil.rmtree(workdir / "results" / "landscape" / model)
    shutil.rmtree(workdir / "results" / "logs")
    run_on_slurm(workdir, "results/landscape/resnet20/surface.npz", "results/landscape/net/surface.npz",
                 "--configfile", "smoke.yaml")
    outputs = planned_outputs(run_snakemake(workdir, "-n", "results/models/resnet20.pt", "--configfile", "smoke.yaml").stdout)
    assert outputs == [], f"the copied checkpoints were not reused: {outputs}"
    return workdir


def test_full_size_chunks_are_each_their_own_slurm_job_and_run_side_by_side(full_size, smoke_run):
    logs = full_size / "results" / "logs"
    for model in ("resnet20", "net"):
        chunk_jobs = [job_ids(p.read_text())[0] for p in sorted((logs / "landscape" / model).glob("chunk*.log"))]
        directions_job = job_ids((logs / "directions" / f"{model}.log").read_text())
        assert len(chunk_jobs) == len(set(chunk_jobs)) == 3 and directions_job[0] not in chunk_jobs
    spans = sorted((seconds(job["StartTime"]), seconds(job["EndTime"]))
                   for p in logs.glob("landscape/*/chunk*.log") for job in [slurm_job(job_ids(p.read_text())[0])])
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), f"no two chunks overlapped: {spans}"
    assert_same_surfaces(smoke_run / "results", full_size / "results", ("resnet20", "net"))


def test_a_batch_of_gpu_chunks_asks_for_one_gpu_and_runs_its_chunks_on_it_in_turn(full_size, smoke_run):
    shutil.rmtree(full_size / "results/landscape/resnet20")
    shutil.rmtree(full_size / "results/logs/landscape/resnet20")
    (full_size / "gpu.yaml").write_text(yaml.safe_dump({"chunk_batch_minutes": 10, "resources": {"chunk": {"gpu": 1}}}))
    run_on_slurm(full_size, "results/landscape/resnet20/surface.npz", "--configfile", "smoke.yaml", "gpu.yaml")
    logs = sorted((full_size / "results/logs/landscape/resnet20").glob("chunk*.log"))
    (job,) = {job_ids(p.read_text())[0] for p in logs}  # one batch (tiny chunks) ...
    assert slurm_job(job)["TresPerJob"] == "gres:gpu:1"  # ... that asked SLURM for one GPU, not one per chunk
    spans = sorted((times[0], times[-1]) for p in logs for times in [re.findall(r"^\[(\d\d:\d\d:\d\d)\]", p.read_text(), re.M)])
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), f"chunks shared the GPU: {spans}"
    assert_same_surfaces(smoke_run / "results", full_size / "results", ("resnet20",))
