import atexit
import contextlib
import faulthandler
import functools
import importlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
JPEG_DATA = (REPO.parent / "shared" / "data" / "cifar10-jpeg").resolve()


# Tiers (pyproject.toml's markers): a test that runs Snakemake, or uses a fixture that does, is `e2e`; one that
# starts SLURM, a browser or the chaos run is `system` too. Marked here from what the test and its fixtures call;
# run_snakemake refuses to run for a test that ended up unmarked, so the fast tier never runs Snakemake.
RUNS_SNAKEMAKE = ("run_snakemake(", "smoke_workdir(", "start_snakemake(", "chaos_run(")
SYSTEM_FIXTURES = {"slurm", "browser"}
SYSTEM_MODULES = {"test_chaos", "test_forkserver"}  # the chaos run; a fork server started per test
_current_test: dict = {}


def _sources(item) -> str:
    functions = [item.function] + [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
    texts = []
    for function in functions:
        try:
            texts.append(inspect.getsource(function))
        except (OSError, TypeError):
            continue
    return "\n".join(texts)


def pytest_collection_modifyitems(items):
    for item in items:
        system = SYSTEM_FIXTURES & set(item.fixturenames) or item.module.__name__ in SYSTEM_MODULES
        if system:
            item.add_marker(pytest.mark.system)
        if system or any(call in _sources(item) for call in RUNS_SNAKEMAKE):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _current_test["item"] = item


def system_missing(reason: str) -> None:
    """A system test's program is missing: skip with the reason, or fail where LOSSLAND_SYSTEM_TESTS=required (CI,
    whose .ci/run installs them: a skipped SLURM run or browser test there would hide that it never ran)."""
    if os.environ.get("LOSSLAND_SYSTEM_TESTS") == "required":
        pytest.fail(f"{reason} (LOSSLAND_SYSTEM_TESTS=required)")
    pytest.skip(reason)


def run_snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None,
                  snakemake: tuple[str, ...] = ("-m", "snakemake")) -> subprocess.CompletedProcess:
    """`python -m snakemake --snakefile <repo> *args` in `workdir` (`snakemake`: another entry point instead of
    `-m snakemake`); an AssertionError with its output's end where it fails and `check`."""
    item = _current_test.get("item")
    if item is not None and item.get_closest_marker("e2e") is None:
        raise AssertionError(f"{item.nodeid} runs Snakemake but is not marked e2e: call run_snakemake in its body or "
                             "in a fixture it uses, or mark it `@pytest.mark.e2e`")
    arguments = ["--snakefile", str(REPO / "Snakefile"), *args]
    if snakemake == ("-m", "snakemake") and sys.platform == "linux":
        result = forked_snakemake(arguments, workdir, env)
    else:
        result = subprocess.run([sys.executable, *snakemake, *arguments], cwd=workdir, capture_output=True,
                                text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@functools.cache
def interpreter_path() -> list[str]:
    """The import path a new interpreter starts with, less its first entry (the script's or working directory) and
    PYTHONPATH's."""
    shown = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                           capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


FORK_LOCK = threading.Lock()  # one fork at a time, never while this process is importing Snakemake


@contextlib.contextmanager
def interpreter_streams():
    """sys.stdin, stdout and stderr as the interpreter started with them (file descriptors 0, 1 and 2), in place of
    the streams pytest puts there while it captures (capsys's have no file descriptor at all)."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


# Snakemake imported once, here, as `python -m snakemake` imports it: with the interpreter's streams in place.
# Snakemake keeps the sys.stdout it sees at import for its jobs' shell commands (snakemake.shell.STDOUT); imported
# under pytest's capture, a forked run's shell commands wrote into this process's capture, and under capsys (a
# stream without a file descriptor) every shell rule failed in Popen with "fileno". Imported here, before any test
# or the package's own lazy imports, a forked child's commands write to its own file descriptor 1.
with interpreter_streams():
    import snakemake.cli  # noqa: F401


def forked_snakemake(arguments: list[str], workdir: Path, env: dict | None) -> subprocess.CompletedProcess:
    """`python -m snakemake *arguments` as a child forked from this process, which imports Snakemake once per
    session: each call saves the ~2 s of imports a new interpreter pays (the suite makes about a hundred). The child
    takes what the command would have (`as_a_new_interpreter`), runs Snakemake's own entry point
    (`snakemake.cli.main`, what `python -m snakemake` calls) and ends as an interpreter ends, with its status."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with FORK_LOCK:
            from snakemake.cli import main

            base_path = interpreter_path()
            pid = os.fork()
            if pid == 0:  # the child: never returns into pytest
                status = 1
                try:
                    as_a_new_interpreter(workdir, env, out.fileno(), err.fileno(), base_path)
                    sys.argv = ["snakemake", *arguments]
                    try:
                        main(arguments)
                        status = 0
                    except SystemExit as exit:  # as the interpreter ends: a code that is not a number is printed
                        status = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
                        if exit.code is not None and not isinstance(exit.code, int):
                            print(exit.code, file=sys.stderr)
                    threading._shutdown()  # then the exit functions Snakemake registered, as at an interpreter's end
                    atexit._run_exitfuncs()
                except BaseException:
                    traceback.print_exc()
                finally:
                    for stream in (sys.stdout, sys.stderr):
                        try:
                            stream.flush()
                        except Exception:
                            pass
                    os._exit(status)
        try:
            _, wait_status = os.waitpid(pid, 0)
        except BaseException:  # interrupted (Ctrl-C): the child goes too, as subprocess.run's would
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([sys.executable, "-m", "snakemake", *arguments],
                                           os.waitstatus_to_exitcode(wait_status),
                                           out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def as_a_new_interpreter(workdir: Path, env: dict | None, out: int, err: int, base_path: list[str]) -> None:
    """In a forked child: what `python -m snakemake` in `workdir` would start with. Its working directory,
    environment and standard streams (stdin empty, stdout and stderr into `out` and `err`); its import path (the
    directory, PYTHONPATH, the interpreter's own), with this repository's modules (the workflow's package, the tests')
    forgotten so that the Snakefile imports them afresh; and none of pytest's hooks: warnings printed under the
    interpreter's own filters, uncaught errors in threads printed, no exit functions but its own."""
    os.chdir(workdir)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [str(workdir), *extra, *base_path]
    repo, venv = str(REPO) + os.sep, str(REPO / ".venv") + os.sep
    for name, module in list(sys.modules.items()):
        file = os.path.realpath(getattr(module, "__file__", None) or os.devnull)
        if file.startswith(repo) and not file.startswith(venv):
            del sys.modules[name]
    importlib.invalidate_caches()
    importlib.reload(warnings)  # the filters the interpreter started with, and warnings printed to stderr
    warnings._filters_mutated()
    threading.excepthook = threading.__excepthook__
    sys.excepthook = sys.__excepthook__
    sys.unraisablehook = sys.__unraisablehook__
    atexit._clear()
    futures = sys.modules.get("concurrent.futures.thread")
    if futures is not None:  # this process's pools are not the child's to wait for at its end
        futures._threads_queues.clear()
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr)


def smoke_workdir(path: Path, **overrides) -> Path:
    """A run directory like a user's: the repo's config.yaml plus the smoke preset pointing at the JPEG copy."""
    if not JPEG_DATA.is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.yaml", path / "config.yaml")
    smoke = yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text())
    smoke["data"]["root"] = str(JPEG_DATA)
    for key, value in overrides.items():
        smoke[key] = value
    (path / "smoke.yaml").write_text(yaml.safe_dump(smoke))
    return path


def merged(base: dict, override: dict) -> dict:
    """Snakemake's --configfile merge: nested dicts updated key by key."""
    import copy

    result = copy.deepcopy(base)
    for key, value in override.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) \
            else copy.deepcopy(value)
    return result


def study_config(*overrides: dict) -> dict:
    """config.yaml updated by each override (as --configfile does), validated against the schema with its defaults
    filled in: the config the workflow's Python code sees."""
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for override in overrides:
        config = merged(config, override)
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def planned_outputs(dry_run_stdout: str) -> list[str]:
    """The output files of every job a `snakemake -n` run would execute."""
    files = []
    for line in dry_run_stdout.splitlines():
        if line.strip().startswith("output:"):
            files += [name.strip() for name in line.split(":", 1)[1].split(",")]
    return files


# A run a session built says so in this file of its directory ("finished", or "failed: ..."), for other sessions that
# wait on it: where LOSSLAND_RUNS_PENDING is set, the runs LOSSLAND_SMOKE_RUN and LOSSLAND_SEEDS_RUN name are being
# built by another session started beside this one (CI runs its tiers side by side this way)
BUILT = ".lossland-tests-built"
PENDING_SECONDS = 1200


def built(workdir: Path, build) -> Path:
    """`build()`, then workdir's BUILT file saying how it ended."""
    try:
        build()
    except BaseException as error:
        write_built(workdir, f"failed: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
        raise
    write_built(workdir, "finished")
    return workdir


def write_built(workdir: Path, text: str) -> None:
    partial = workdir / f"{BUILT}.partial"
    partial.write_text(text)
    partial.replace(workdir / BUILT)


def wait_until_built(run: Path) -> None:
    """Where LOSSLAND_RUNS_PENDING is set, wait until the session building `run` says it finished; a failure where it
    says it failed, where the file LOSSLAND_RUNS_BUILDER_ENDED names exists (that session ended) without its word,
    or where it has not finished within PENDING_SECONDS."""
    if not os.environ.get("LOSSLAND_RUNS_PENDING"):
        return
    ended = os.environ.get("LOSSLAND_RUNS_BUILDER_ENDED")
    deadline = time.monotonic() + PENDING_SECONDS
    while not (run / BUILT).exists():
        if ended and Path(ended).exists() and not (run / BUILT).exists():
            pytest.fail(f"the session that was to build the run at {run} ended without building it")
        if time.monotonic() > deadline:
            pytest.fail(f"the run at {run} was not built within {PENDING_SECONDS} s (LOSSLAND_RUNS_PENDING)")
        time.sleep(1)
    said = (run / BUILT).read_text()
    if said != "finished":
        pytest.fail(f"the run at {run} that this session waits on {said}")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke preset run locally once per test session: `snakemake --cores 2 all`. LOSSLAND_SMOKE_RUN names the
    directory of an earlier session's smoke run to reuse instead, finished first where its dry run plans jobs (CI's
    system tier reuses the e2e tier's run this way, from two sessions at once: a finished run is only read), or, with
    LOSSLAND_RUNS_PENDING, of one another session is building (waited for)."""
    earlier = os.environ.get("LOSSLAND_SMOKE_RUN")
    if earlier:
        wait_until_built(Path(earlier))
        planned = run_snakemake(Path(earlier), "-n", "all", "--configfile", "smoke.yaml", check=False)
        if planned.returncode == 0 and "Nothing to be done" in planned.stdout + planned.stderr:
            return Path(earlier)
        run_snakemake(Path(earlier), "--unlock", "--configfile", "smoke.yaml")
        run_snakemake(Path(earlier), "--cores", "2", "all", "--configfile", "smoke.yaml", "--rerun-incomplete")
        return Path(earlier)
    workdir = tmp_path_factory.mktemp("smoke")
    return built(workdir, lambda: run_snakemake(smoke_workdir(workdir), "--cores", "2", "all", "--configfile",
                                                "smoke.yaml"))


SEEDS_MODELS = ["resnet20", "plainnet20"]


@pytest.fixture(scope="session")
def seeds_run(smoke_run, tmp_path_factory) -> Path:
    """The smoke run's ResNet-20 and PlainNet-20 with a second seed: a copy of its results (seed 0, untouched) plus
    what seed 1 adds (`snakemake study`), the way a user adds a seed to a finished run. LOSSLAND_SEEDS_RUN names an
    earlier session's finished one to reuse instead (CI's system tier reuses the e2e tier's, for the page's
    connectivity view), or, with LOSSLAND_RUNS_PENDING, one another session is building (waited for)."""
    earlier = os.environ.get("LOSSLAND_SEEDS_RUN")
    if earlier:
        wait_until_built(Path(earlier))
        planned = run_snakemake(Path(earlier), "-n", "study", "--configfile", "smoke.yaml")
        assert "Nothing to be done" in planned.stdout + planned.stderr, f"{earlier} is not a finished seeds run"
        return Path(earlier)
    workdir = tmp_path_factory.mktemp("seeds")

    def build():
        shutil.copytree(smoke_run / "results", workdir / "results", symlinks=True)
        shutil.copytree(smoke_run / ".snakemake" / "metadata", workdir / ".snakemake" / "metadata")
        shutil.copy(smoke_run / "config.yaml", workdir / "config.yaml")
        smoke = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
        smoke.update(models=SEEDS_MODELS)
        smoke["train"]["seeds"] = [0, 1]
        (workdir / "smoke.yaml").write_text(yaml.safe_dump(smoke))
        before = {p: p.stat().st_mtime_ns for p in (workdir / "results/models").glob("*.pt")}
        run_snakemake(workdir, "--cores", "2", "study", "--configfile", "smoke.yaml")
        assert {p: p.stat().st_mtime_ns for p in before} == before  # seed 0's checkpoints reused, not retrained

    return built(workdir, build)


def run_job(kind: str, settings: dict, inputs: dict, outputs: dict, **scratch) -> int:
    """`python -m lossland <kind> --spec` in-process, with a job spec as the plan makes it (paths as strings)."""
    from lossland.cli import main

    def paths(files: dict) -> dict:
        return {k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in files.items()}

    spec = {"settings": settings, "inputs": paths(inputs), "outputs": paths(outputs)}
    if scratch:
        spec["scratch"] = paths(scratch)
    return main([kind, "--spec", json.dumps(spec)])


def make_directions(root: Path, seed: int = 0, out: str = "directions.pt", **options) -> Path:
    """root/out: the plane's two random directions of root/model.pt (the directions job)."""
    settings = {"span": "random", "seed": seed, "norm": "filter", "ignore": "biasbn", "type": "weights", **options}
    assert run_job("directions", settings, {"checkpoint": root / "model.pt"},
                   {"directions": root / out}) == 0
    return root / out
