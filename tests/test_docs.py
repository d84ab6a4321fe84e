"""Every command a reader may copy (README, preset comments, benchmark docstrings) works as written: snakemake lines
plan jobs in a dry run, `--unlock` and `--report` run for real on the smoke run, and every Python command runs at
least as far as its `--help` (so an import it breaks is caught)."""

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import JPEG_DATA, REPO, run_snakemake

DOCS = sorted(str(path.relative_to(REPO)) for path in (REPO / "docs").glob("*.md"))
SOURCES = ["README.md", *DOCS, "tests/smoke.yaml", "workflow/presets/paper.yaml", "workflow/presets/laptop.yaml",
           "workflow/presets/jpeg.yaml", "workflow/presets/lietal.yaml", "workflow/presets/seeds.yaml",
           "workflow/presets/depth.yaml"]
PYTHON_SOURCES = ["README.md", "benchmarks/RESULTS.md", "benchmarks/bench.py", "benchmarks/hessian_samples.py",
                  "benchmarks/subset_jpegs.py", *SOURCES[1:]]
PYTHON_PATH = "PYTHONPATH=workflow "  # where a command needs the package (`-m lossland`), the docs write it before
NOT_DRY_RUNNABLE = ("--report", "--profile", "--unlock", "--sdm")


def copyable_commands() -> list[tuple[str, str]]:
    found = []
    for source in SOURCES:
        for line in (REPO / source).read_text().splitlines():
            for command in re.findall(r"(\.venv/bin/snakemake [^`|\n]+)", line):
                command = command.split(" && ")[0].strip().rstrip(")")
                if not any(flag in command for flag in NOT_DRY_RUNNABLE):
                    found.append((source, command))
    return found


COMMANDS = list(dict.fromkeys(copyable_commands()))


def test_the_docs_hold_the_commands_people_copy():
    sources = {source for source, _ in COMMANDS}
    assert len(COMMANDS) >= 10 and set(SOURCES) - set(DOCS) <= sources <= set(SOURCES), sources
    for _, command in COMMANDS:  # --configfile takes several files: a target after it would be read as one
        if "--configfile" in command:
            assert all(word.endswith(".yaml") for word in command.split("--configfile")[1].split()), command


def targets_and_options(command: str) -> tuple[list[str], tuple[str, ...]]:
    """A copied `snakemake` command's targets, and the rest of its words (options, their values, config files)."""
    words, targets, options = shlex.split(command)[1:], [], []
    while words:
        word = words.pop(0)
        if word == "--configfile":
            options += [word, *words]
            break
        if word.startswith("-"):
            options += [word, words.pop(0)] if word == "--cores" else [word]
        else:
            targets.append(word)
    return targets, tuple(options)


@pytest.fixture(scope="module")
def dry_runs() -> dict:
    """Every copied command's `snakemake -n`: the commands that differ only in their targets planned together, two
    such runs at a time (each is one core's work, and the machine has two)."""
    runnable = [(s, c) for s, c in COMMANDS if JPEG_DATA.is_dir() or not ("jpeg" in c or "smoke" in c)]
    groups: dict[tuple, list[str]] = {}
    for _, command in runnable:
        targets, options = targets_and_options(command)
        groups.setdefault(options, []).extend(t for t in targets if t not in groups.get(options, []))
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(groups, pool.map(lambda item: run_snakemake(REPO, "-n", *item[1], *item[0], check=False),
                                            groups.items())))
    return {(s, c): results[targets_and_options(c)[1]] for s, c in runnable}


@pytest.mark.parametrize("source,command", COMMANDS, ids=[f"{s}: {c[19:60]}" for s, c in COMMANDS])
def test_copied_command_plans_jobs(source, command, dry_runs):
    if "jpeg" in command or "smoke" in command:
        if not JPEG_DATA.is_dir():
            pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    result = dry_runs[(source, command)]  # planned with the other commands of its options: all its targets in it
    assert set(targets_and_options(command)[0]) <= set(result.args), result.args
    assert result.returncode == 0, f"{source}: {command}\n{result.stderr[-2000:]}"
    assert "Job stats:" in result.stdout or "Nothing to be done" in result.stdout + result.stderr


def python_commands() -> list[tuple[str, str]]:
    """`.venv/bin/python <script or -m module> ...` lines (the test suite's own `-m pytest` aside)."""
    found = []
    for source in PYTHON_SOURCES:
        for line in (REPO / source).read_text().splitlines():
            for command in re.findall(rf"((?:{PYTHON_PATH})?\.venv/bin/python (?:-m [\w.]+|[\w/.-]+\.py)[^`|\n]*)", line):
                if "-m pytest" not in command:
                    found.append((source, command.split(" && ")[0].rstrip(" \\")))
    return list(dict.fromkeys(found))


PYTHON_COMMANDS = python_commands()


def as_copied(command: str) -> tuple[list[str], dict]:
    """A copied Python command's words from the interpreter on, and the environment it runs in: PYTHONPATH=workflow
    only where the command itself sets it (a newcomer's shell has no PYTHONPATH)."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if command.startswith(PYTHON_PATH):
        return shlex.split(command[len(PYTHON_PATH):]), {**environment, "PYTHONPATH": str(REPO / "workflow")}
    return shlex.split(command), environment


def test_the_docs_hold_the_python_commands_people_copy():
    programs = [as_copied(command)[0][1:3] for _, command in PYTHON_COMMANDS]
    scripts = {words[1] if words[0] == "-m" else words[0] for words in programs}
    assert {"benchmarks/bench.py", "benchmarks/hessian_samples.py", "lossland"} <= scripts, scripts


@pytest.mark.parametrize("source,command", PYTHON_COMMANDS,
                         ids=[f"{s}: {c.removeprefix(PYTHON_PATH)[16:60]}" for s, c in PYTHON_COMMANDS])
def test_python_command_runs_as_far_as_its_help(source, command):
    words, environment = as_copied(command)
    program = words[1:3] if words[1] == "-m" else words[1:2]
    program += words[3:4] if program == ["-m", "lossland"] and words[3:4] == ["estimate"] else []  # its own options
    result = subprocess.run([sys.executable, *program, "--help"], cwd=REPO, capture_output=True, text=True,
                            env=environment)
    assert result.returncode == 0 and "usage:" in result.stdout, f"{source}: {command}\n{result.stderr[-2000:]}"
    options = {word.split("=")[0] for word in words if word.startswith("--")}
    assert options <= set(re.findall(r"--[\w-]+", result.stdout)), f"{source}: {command} uses unknown options"


def test_unlock_and_report_commands_run_for_real(smoke_run):
    """The README's non-dry-runnable snakemake lines: `--unlock` and `--report`, on the finished smoke run."""
    ran = set()
    for source, line in [(s, c) for s in SOURCES for c in re.findall(r"(\.venv/bin/snakemake [^`|\n]+)",
                                                                     (REPO / s).read_text())]:
        for command in line.split(" && "):
            command = command.strip().rstrip(")")
            if "--unlock" in command or "--report" in command:
                args = shlex.split(command)[1:]
                result = run_snakemake(smoke_run, *args, "--configfile", "smoke.yaml", check=False)
                assert result.returncode == 0, f"{source}: {command}\n{result.stderr[-2000:]}"
                ran.add("--unlock" if "--unlock" in command else "--report")
    assert ran == {"--unlock", "--report"}
    assert (smoke_run / "results/report.html").stat().st_size > 100_000


def test_the_docs_bash_commands_name_scripts_ci_runs():
    """`bash <script>` lines (the README's test command, the system packages): each script exists, and CI runs it
    for real (`.ci/run` is CI; the others are called by it)."""
    ci = (REPO / ".ci" / "run").read_text()
    scripts = {script for source in SOURCES for script in re.findall(r"`bash ([\w./-]+)`", (REPO / source).read_text())}
    assert ".ci/run" in scripts, scripts
    for script in scripts:
        assert (REPO / script).is_file(), script
        assert script == ".ci/run" or f"bash {script}" in ci, f"{script} is not run by .ci/run"


def test_the_config_keys_page_is_generated_from_the_schema_with_every_key_described():
    """docs/config.md is `python -m lossland.keys`'s output: every key with the schema's default and description."""
    import yaml
    from lossland import keys

    assert keys.main(["--check", str(REPO / "docs" / "config.md")]) == 0, "python -m lossland.keys > docs/config.md"
    schema = yaml.safe_load(keys.SCHEMA.read_text())
    page = keys.markdown(schema)
    assert "| `geometry.tol` | `0.001` | eigsh's relative tolerance" in page
    assert "| `train.defaults.lr` | — |" in page and "| `landscape.directions.norm` | `filter` |" in page
    del schema["properties"]["geometry"]["properties"]["tol"]["description"]
    assert keys.undescribed(schema) == ["geometry.tol"]


@pytest.mark.parametrize("script", ["benchmarks/bench.py", "benchmarks/hessian_samples.py"])
def test_a_benchmark_run_without_the_venv_answers_help_and_names_what_is_missing(script):
    """`python benchmarks/bench.py --help` with an interpreter that lacks the workflow's packages (`-S`: no
    site-packages, as a system python without torch): the help, and a run stops with one line naming the venv."""
    help_ = subprocess.run([sys.executable, "-S", script, "--help"], cwd=REPO, capture_output=True, text=True)
    assert help_.returncode == 0 and help_.stdout.startswith("usage:"), help_.stderr
    run = subprocess.run([sys.executable, "-S", script, "--data", "x", "--checkpoint", "y"] if "hessian" in script
                         else [sys.executable, "-S", script], cwd=REPO, capture_output=True, text=True)
    error = run.stderr.strip()
    assert run.returncode == 1 and "\n" not in error and error.startswith("error: numpy is not installed for ")
    assert error.endswith(f"run the workflow's venv, .venv/bin/python {script} (README: Set up)")


@pytest.mark.e2e
def test_a_forked_snakemake_run_under_capsys_runs_shell_rules_into_its_own_output(tmp_path, capsys):
    """The suite's Snakemake runs are children forked from this process (conftest.forked_snakemake); under pytest's
    capsys (as the chaos test takes) a shell rule's command failed in Popen with "fileno" (the by-hand chaos command
    of docs/reliability.md). A child's shell command writes where `python -m snakemake`'s would: its own stdout."""
    from conftest import forked_snakemake

    (tmp_path / "Snakefile").write_text('rule hello:\n    output: "hello.txt"\n'
                                        '    shell: "echo from a shell rule; echo done > {output}"\n')
    print("captured by capsys")
    result = forked_snakemake(["--snakefile", str(tmp_path / "Snakefile"), "--cores", "1"], tmp_path, None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "hello.txt").read_text() == "done\n" and "from a shell rule" in result.stdout
    assert capsys.readouterr().out == "captured by capsys\n"  # nothing of the child's in this process's capture
