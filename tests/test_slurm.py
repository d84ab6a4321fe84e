"""The smoke preset through the SLURM profile, on a real one-node SLURM started for the test (tests/slurm/cluster.sh).

Skipped, with the reason, only where SLURM cannot be started (not root, or no apt-get)."""

import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_snakemake, smoke_workdir

LOCAL_RULE_LOGS = ("surface.log", "plot.log", "report.log", "table.log", "ablation.log", "plot_line.log",
                   "paraview.log", "eigen_map.log")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm-state")
    script = str(REPO / "tests" / "slurm" / "cluster.sh")
    up = subprocess.run(["bash", script, "up", str(state)], capture_output=True, text=True)
    if up.returncode == 3:
        pytest.skip(up.stdout.strip())
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield state
    finally:
        subprocess.run(["bash", script, "down", str(state)], check=True)


def job_ids(log: str) -> list[str]:
    return re.findall(r"SLURM_JOB_ID=(\d+)", log)


def test_smoke_preset_on_slurm_matches_the_local_run(slurm, smoke_run, tmp_path):
    workdir = smoke_workdir(tmp_path / "slurm-run")
    run_snakemake(workdir, "--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--jobs", "4", "--cores", "2",
                  "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "4",
                  "--slurm-no-account", "all", "--configfile", "smoke.yaml")
    logs = workdir / "results" / "logs"
    cluster_logs = [p for p in logs.rglob("*.log") if p.name not in LOCAL_RULE_LOGS]
    # data, train, evaluate, directions, chunks, sweep runs, lines, interpolation, trajectory directions and chunks,
    # Hessians, flatness, eigenvalue-map chunks
    assert len(cluster_logs) == 2 + 7 + 7 + 7 + 21 + 5 + 7 + 1 + 1 + 2 + 7 + 7 + 2 * 3
    for path in cluster_logs:
        assert len(job_ids(path.read_text())) == 1, f"{path} did not run as a SLURM job"
    for path in logs.rglob("*.log"):
        if path.name in LOCAL_RULE_LOGS:
            assert job_ids(path.read_text()) == [], f"{path}: a local rule went to SLURM"
    chunk_jobs = {job_ids(p.read_text())[0] for p in logs.glob("landscape/*/chunk*.log")}
    assert len(chunk_jobs) == 7  # one SLURM job per model holds its directions and all its chunks (profile groups)
    for model_dir in logs.glob("landscape/*"):
        model_jobs = {job_ids(p.read_text())[0] for p in model_dir.glob("chunk*.log")}
        assert model_jobs == set(job_ids((logs / "directions" / f"{model_dir.name}.log").read_text()))

    local, cluster = smoke_run / "results", workdir / "results"
    pd.testing.assert_frame_equal(pd.read_csv(local / "summary.csv"), pd.read_csv(cluster / "summary.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(local / "sweep/table.csv"), pd.read_csv(cluster / "sweep/table.csv"))
    for model in ("net", "resnet20", "plainnet110"):
        with np.load(local / f"landscape/{model}/surface.npz") as a, np.load(cluster / f"landscape/{model}/surface.npz") as b:
            for key in ("x", "y", "loss", "acc"):
                np.testing.assert_array_equal(a[key], b[key])
