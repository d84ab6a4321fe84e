"""Every snakemake command a reader may copy (README, preset comments) works as written: its dry run plans jobs."""

import re
import shlex

import pytest
from conftest import JPEG_DATA, REPO, run_snakemake

SOURCES = ["README.md", "tests/smoke.yaml", "workflow/presets/paper.yaml", "workflow/presets/laptop.yaml",
           "workflow/presets/jpeg.yaml", "workflow/presets/lietal.yaml"]
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
    assert len(COMMANDS) >= 10 and sources == set(SOURCES), sources
    for _, command in COMMANDS:  # --configfile takes several files: a target after it would be read as one
        if "--configfile" in command:
            assert all(word.endswith(".yaml") for word in command.split("--configfile")[1].split()), command


@pytest.mark.parametrize("source,command", COMMANDS, ids=[f"{s}: {c[19:60]}" for s, c in COMMANDS])
def test_copied_command_plans_jobs(source, command):
    if "jpeg" in command or "smoke" in command:
        if not JPEG_DATA.is_dir():
            pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    args = shlex.split(command)[1:]
    result = run_snakemake(REPO, "-n", *args, check=False)
    assert result.returncode == 0, f"{source}: {command}\n{result.stderr[-2000:]}"
    assert "Job stats:" in result.stdout or "Nothing to be done" in result.stdout + result.stderr
