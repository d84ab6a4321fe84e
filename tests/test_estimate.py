"""`python -m lossland estimate`: the DAG's schedule, the cost model with timed rates, and the command on the smoke
preset."""

import copy
import json
import math
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, run_snakemake, smoke_workdir, study_config
from lossland.estimate import Job, calibration, job_seconds, parse_jobs, wall_seconds
from lossland.kinds import KINDS
from lossland.plan import Plan


def chain_jobs() -> tuple[list[Job], list[float]]:
    """a (2 s) → b (3 s), a → c (1 s), and d (4 s) on its own."""
    jobs = [Job("a", outputs=["a"]), Job("b", inputs=["a"], outputs=["b"]), Job("c", inputs=["a"], outputs=["c"]),
            Job("d", outputs=["d"])]
    return jobs, [2.0, 3.0, 1.0, 4.0]


def test_the_schedule_runs_the_longest_path_first_and_fills_the_cores():
    jobs, seconds = chain_jobs()
    assert wall_seconds(jobs, seconds, cores=1) == 10.0  # one after another
    assert wall_seconds(jobs, seconds, cores=2) == 5.0  # a, d; then b; c when d ends: 5, the longest path
    assert wall_seconds(jobs, seconds, cores=100) == 5.0
    jobs[3].threads = 2  # d now holds both cores: a first (longer tail), then b and c side by side, then d
    assert wall_seconds(jobs, seconds, cores=2) == 9.0
    assert wall_seconds(jobs, seconds, cores=3, gpus=1, on_gpu=[True] * 4) == 10.0  # one GPU: in series again
    jobs[3].threads = 1
    assert wall_seconds(jobs, seconds, cores=2, gpus=1, on_gpu=[True, False, False, True]) == 6.0  # a, d share one
    assert wall_seconds([], [], cores=2) == 0.0


def test_the_dry_runs_listing_becomes_jobs_with_their_files_wildcards_and_threads():
    text = """[Tue Dec  1 19:15:47 2026]
rule prepare_data:
    output: results/data/train.pt
    log: results/logs/data/train.log
    jobid: 4
    reason: Forced execution
    wildcards: split=train
    resources: tmpdir=/tmp
localrule all:
    input: results/x.png
    jobid: 0
rule train_with_snapshots:
    input: results/data/train.pt, results/data/test.pt
    output: results/models/resnet20.pt, results/train/resnet20/history.csv
    wildcards: model=resnet20
    threads: 4
    resources: tmpdir=/tmp, gpu=0, runtime=15, mem_mb=2000
checkpoint sweep_table:
    output: results/sweep/table.csv
DAG of jobs will be updated after completion.
[Tue Dec  1 19:15:47 2026] Group job landscape (jobs in lexicogr. order):

    [Tue Dec  1 19:15:47 2026]
    rule landscape_chunk:
        input: results/models/resnet20.pt, results/landscape/resnet20/directions.pt
        output: results/landscape/resnet20/chunks/0.csv
        wildcards: plane=landscape, model=resnet20/seed1, chunk=0
"""
    data, train, table, chunk = parse_jobs(text)
    assert (table.rule, table.outputs) == ("sweep_table", ["results/sweep/table.csv"])
    assert chunk.wildcards == {"plane": "landscape", "model": "resnet20/seed1", "chunk": "0"}
    assert chunk.inputs == ["results/models/resnet20.pt", "results/landscape/resnet20/directions.pt"]
    assert (data.rule, data.wildcards, data.outputs, data.threads) == ("prepare_data", {"split": "train"},
                                                                       ["results/data/train.pt"], 1)
    assert (train.kind, train.wildcards, train.threads) == ("train", {"model": "resnet20"}, 4)
    assert train.inputs == ["results/data/train.pt", "results/data/test.pt"]


RATES = {"train_image": 0.004, "eval_image": 0.001, "hvp_image": 0.005, "batch_size": 32}


def test_timed_rates_give_back_the_timed_training_and_points_through_the_cost_model():
    config = study_config({"models": ["resnet20"], "data": {"subset": {"train": 2000, "test": 500}, "validation": 200},
                           "train": {"models": {"resnet20": {"epochs": 3, "batch_size": 32}}}})
    fitted = calibration(config, {"resnet20": RATES})
    assert fitted["resources"]["chunk"]["hvp_evaluations"] == pytest.approx(5.0)
    config = copy.deepcopy(config)
    config["resources"]["train"]["minutes_per_epoch"] = fitted["resources"]["train"]["minutes_per_epoch"]
    config["resources"]["chunk"].update(fitted["resources"]["chunk"])
    plan = Plan(config)
    epoch = 2000 * RATES["train_image"] + 500 * RATES["eval_image"]  # the whole split (the hold-out is the sweep's)
    assert 60 * KINDS["train"].cost(plan, {"model": "resnet20"}) == pytest.approx(3 * epoch)
    samples = config["landscape"]["samples"]
    point = samples * RATES["eval_image"]
    chunk = {"model": "resnet20", "plane": "landscape", "chunk": "0"}
    points = KINDS["landscape_chunk"].cost(plan, chunk) * 60 / point
    grid = config["landscape"]
    assert points == pytest.approx(-(-grid["x"][2] * grid["y"][2] // grid["chunks"]))  # ceil: points per chunk
    machine = {"start": 0.5, "decode": 0.002, "warm-up": {"train": 3.0, "evaluation": 0.25, "hvp": 1.0}}
    assert job_seconds(plan, Job("landscape_chunk", chunk), machine) == pytest.approx(0.5 + 0.25 + points * point)
    assert job_seconds(plan, Job("prepare_data", {"split": "test"}), machine) == pytest.approx(0.5 + 500 * 0.002)
    assert job_seconds(plan, Job("train", {"model": "resnet20"}), machine) == pytest.approx(0.5 + 3.0 + 3 * epoch)
    assert job_seconds(plan, Job("plot_landscape", {"model": "resnet20"}), machine) == pytest.approx(0.5 + 0.6)


def estimate(workdir, *args):
    return subprocess.run([sys.executable, "-m", "lossland", "estimate", *args], cwd=workdir, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"})


def runtime(dry_run: str) -> int:
    (minutes,) = re.findall(r"runtime=(\d+)", dry_run)
    return int(minutes)


@pytest.mark.e2e
def test_the_smoke_presets_estimate_covers_every_job_and_its_rates_set_the_runtimes(tmp_path):
    workdir = smoke_workdir(tmp_path / "run")
    result = estimate(workdir, "all", "--configfile", "smoke.yaml", "--cores", "2", "--write", "rates.json")
    assert result.returncode == 0, result.stderr
    dry = run_snakemake(workdir, "-n", "all", "--configfile", "smoke.yaml").stdout
    jobs = int(re.search(r"^total\s+(\d+)$", dry, re.M).group(1))
    lines = result.stdout.splitlines()
    header, total = lines.index(next(line for line in lines if line.startswith("stage"))), \
        lines.index(next(line for line in lines if line.startswith("total")))
    assert int(lines[total].split()[1]) == jobs - 1  # every job but the `all` target
    stages = {line.split("  ")[0]: float(line.split()[-2]) for line in lines[header + 1 : total]}
    assert {"data", "training", "surfaces", "eigenvalue maps", "figures, tables, page"} <= set(stages), lines
    assert "wall time on 2 cores" in result.stdout and "Assumed" in result.stdout
    rates = json.loads((workdir / "rates.json").read_text())["resources"]
    assert set(rates["chunk"]["seconds_per_point"]) == {"net", "resnet20", "plainnet20"}
    # the rates as a config file over the study's: its training runtime is the cost model's with them
    train = ["-n", "results/models/resnet20.pt"]
    study = yaml.safe_load((REPO / "config.yaml").read_text())
    epochs, batch = study["train"]["defaults"]["epochs"], study["train"]["defaults"]["batch_size"]
    for files, per_epoch in ((["rates.json"], rates["train"]["minutes_per_epoch"]["resnet20"]),
                             ([], study["resources"]["train"]["minutes_per_epoch"]["resnet20"])):
        dry = run_snakemake(workdir, *train, *(["--configfile", *files] if files else [])).stdout
        assert runtime(dry) == math.ceil(10 + 2 * per_epoch * max(1, 128 / batch) * epochs)  # 50,000 images


@pytest.mark.e2e
def test_an_estimate_that_cannot_run_says_why_in_one_line(tmp_path):
    workdir = smoke_workdir(tmp_path / "run")
    (workdir / "cuda.yaml").write_text("device: cuda\n")
    no_gpu = estimate(workdir, "--configfile", "smoke.yaml", "cuda.yaml")
    assert no_gpu.returncode == 2 and no_gpu.stderr.strip().splitlines() == [
        "error: device = cuda but no CUDA GPU is visible: set device: auto or cpu"]
    (workdir / "nodata.yaml").write_text(yaml.safe_dump({"data": {"root": str(tmp_path / "nowhere")}}))
    no_data = estimate(workdir, "--configfile", "smoke.yaml", "nodata.yaml")
    assert no_data.returncode == 2 and len(no_data.stderr.strip().splitlines()) == 1, no_data.stderr
    assert str(tmp_path / "nowhere") in no_data.stderr
