"""Faults survived, in a number: the workflow run while faults drawn from a seed hit it at random moments (SIGKILL of
Snakemake itself, SIGKILL or SIGTERM of a random running job), each followed by what docs/reliability.md tells a user to do
(`--unlock`, rerun with `--rerun-incomplete`); at the end every number it wrote equals an uninterrupted run's.

The run is the smoke preset with ResNet-20 and PlainNet-20 (training with snapshots, the Net sweep, surface chunks,
1-D curves, interpolation, trajectory, Hessian, eigenvalue maps, flatness, tables, report: every rule kind). The
uninterrupted run is the suite's smoke run, which has the same settings and more models: every per-model file is
compared bit for bit (a `.json` key in one file only counts as a difference), and each row of the tables across
models (summary, geometry, claims) must equal its row there. It is also the suite's check that a second run of the
same config in a fresh directory gives the same bits.

The faults come in laps: where the workflow completes before all of them have landed, that lap is checked, one
model's results (drawn from the seed) are deleted and the next lap redoes them under the remaining faults.
LOSSLAND_CHAOS_FAULTS sets the number of faults (20 by default; docs/reliability.md's figure is from a run with 100)
and LOSSLAND_CHAOS_SEED their seed.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import REPO, run_snakemake, smoke_workdir

sys.path.insert(0, str(REPO / "benchmarks"))
from compare_results import compare, result_files  # noqa: E402

FAULTS = int(os.environ.get("LOSSLAND_CHAOS_FAULTS", "20"))
SEED = int(os.environ.get("LOSSLAND_CHAOS_SEED", "0"))
KINDS = ("SIGKILL snakemake", "SIGKILL job", "SIGTERM job")
TABLES = ("summary.csv", "geometry.csv", "claims.csv")  # rows across models: compared row by row
MODELS = ["resnet20", "plainnet20"]  # the eigenvalue-ratio map of the first only (a rule kind, not one per model)


def start(workdir: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "all",
               "--configfile", "smoke.yaml", "--rerun-incomplete"]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


HUNG_SECONDS = 1800  # no wait of the chaos run takes this long unless something hangs (the whole smoke run: ~10 min)


def finished(snakemake: subprocess.Popen) -> int:
    """Its exit status; a run still going after HUNG_SECONDS is killed with its jobs and fails the test."""
    try:
        return snakemake.wait(timeout=HUNG_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(snakemake.pid, signal.SIGKILL)
        raise AssertionError(f"a Snakemake run (pid {snakemake.pid}) hung for {HUNG_SECONDS} s") from None


def running_jobs(group: int) -> list[int]:
    """Pids of the workflow's jobs (`python -m lossland ...`) in a Snakemake run's process group."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getpgid(int(entry.name)) == group and \
                    b"-m\0lossland\0" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def deliver(kind: str, snakemake: subprocess.Popen, rng: random.Random) -> bool:
    """One fault of `kind` at a moment drawn from `rng`; False when the run ended before it could land."""
    if kind == "SIGKILL snakemake":
        deadline = time.monotonic() + rng.uniform(0.5, 6.0)
        while time.monotonic() < deadline and snakemake.poll() is None:
            time.sleep(0.05)
        if snakemake.poll() is not None:
            return False
        snakemake.kill()  # its jobs live on as orphans, as after a kill -9 of the terminal's Snakemake
        finished(snakemake)
        return True
    delay, deadline = rng.uniform(0.0, 3.0), time.monotonic() + HUNG_SECONDS
    while snakemake.poll() is None:  # a job running, then `delay` seconds later whichever jobs run then
        assert time.monotonic() < deadline, f"no job of Snakemake (pid {snakemake.pid}) to fault in {HUNG_SECONDS} s"
        if not running_jobs(snakemake.pid):
            time.sleep(0.05)
            continue
        time.sleep(delay)
        jobs = running_jobs(snakemake.pid)
        if not jobs:
            continue
        try:
            os.kill(rng.choice(sorted(jobs)), signal.SIGKILL if kind == "SIGKILL job" else signal.SIGTERM)
        except ProcessLookupError:
            continue
        finished(snakemake)  # it waits for its other jobs, then stops with an error
        return True
    return False


def finish(workdir: Path, groups: list[int]) -> int:
    """After the last fault of a lap: wait for the orphans of killed Snakemakes, then run without faults until the
    workflow completes; how many of those runs failed on their own (a job racing an orphan) and were rerun."""
    deadline = time.monotonic() + HUNG_SECONDS
    while any(alive(group) for group in groups):  # orphans of killed Snakemakes finish or fail on their own
        assert time.monotonic() < deadline, f"orphaned jobs still running after {HUNG_SECONDS} s"
        time.sleep(0.1)
    for failed in range(3):
        run_snakemake(workdir, "--unlock", "--configfile", "smoke.yaml")
        if finished(start(workdir)) == 0:
            return failed
    raise AssertionError("three runs without faults after the last one did not complete the workflow")


def forget_one_model(workdir: Path, rng: random.Random) -> None:
    """Before the next lap: every result of one model (drawn from `rng`) deleted, as a user might, so that the
    workflow has that model's jobs and the tables across models to redo under the remaining faults."""
    model = rng.choice(MODELS)
    for path in sorted((workdir / "results").rglob("*"), reverse=True):
        if {"logs", "benchmarks"} & set(path.parts) or not (path.name == model or path.name.startswith(
                (f"{model}.", f"{model}_"))) or not path.exists():
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def chaos_run(workdir: Path, faults: int, seed: int, check_lap) -> tuple[list[str], int, int]:
    """Run the workflow to the end while delivering `faults` faults, in laps: a lap is one run of the workflow to its
    end (the first from nothing), checked by `check_lap(workdir)`; where the workflow completes before all faults
    have landed, the next lap starts with one model's results deleted (`forget_one_model`). The kinds delivered, in
    order; how many runs failed on their own (a job racing an orphan of a killed Snakemake) and were simply rerun, as
    a user would; the number of laps."""
    rng, delivered, groups, failed, laps = random.Random(seed), [], [], 0, 0
    while len(delivered) < faults:
        if delivered and delivered[-1] == "SIGKILL snakemake":  # its lock stays: Snakemake says to --unlock
            run_snakemake(workdir, "--unlock", "--configfile", "smoke.yaml")
        snakemake = start(workdir)
        groups.append(snakemake.pid)
        kind = rng.choice(KINDS)
        if deliver(kind, snakemake, rng):
            delivered.append(kind)
            continue
        if snakemake.returncode == 0:  # the workflow completed before this fault could land: a lap is done
            failed += finish(workdir, groups)
            check_lap(workdir)
            laps, groups = laps + 1, []
            forget_one_model(workdir, rng)
            continue
        failed += 1
        assert failed <= faults, f"{failed} runs failed without a fault: something is broken, not interrupted"
    failed += finish(workdir, groups)
    check_lap(workdir)
    return delivered, failed, laps + 1


def rows(path: Path) -> tuple[str, list[str]]:
    header, *body = path.read_text().splitlines()
    return header, body


def test_chaos_run_survives_faults_bit_identical(request, tmp_path, capsys):
    geometry = {**yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text())["geometry"], "maps": MODELS[:1]}
    workdir = smoke_workdir(tmp_path / "chaos", models=MODELS, geometry=geometry)
    counts = []

    def check_lap(workdir: Path) -> None:
        """Every number of the finished lap equals the uninterrupted run's (the suite's smoke run, asked for only
        here: the chaos run need not wait for it where another session is building it)."""
        assert "Nothing to be done" in run_snakemake(workdir, "-n", "all", "--configfile", "smoke.yaml").stdout
        reference = request.getfixturevalue("smoke_run") / "results"
        ours = workdir / "results"
        compared, differing = compare(ours, reference, common=True, strict=True, skip=TABLES)
        for table in TABLES:  # each model's (or pair's) row equals the uninterrupted run's row
            header, body = rows(ours / table)
            assert (header, [row for row in body if row in rows(reference / table)[1]]) == (header, body), table
        assert compared == len(result_files(ours)) - len(TABLES)  # every file with numbers, each in the reference
        counts.append((compared, differing))

    started = time.monotonic()
    delivered, failed, laps = chaos_run(workdir, FAULTS, SEED, check_lap)
    minutes = (time.monotonic() - started) / 60
    compared, differing = (sum(column) for column in zip(*counts))
    kinds = ", ".join(f"{delivered.count(kind)} {kind}" for kind in KINDS)
    with capsys.disabled():
        print(f"\nchaos run (seed {SEED}): {len(delivered)} faults survived ({kinds}; {failed} runs failed on their "
              f"own and were rerun) in {laps} lap(s) of the workflow, {compared} files compared, {differing} differ, "
              f"{minutes:.1f} min")
    assert len(delivered) >= FAULTS and differing == 0 and len(counts) == laps
