"""The start of a benchmark script run by an interpreter without the workflow's packages (a system `python`):
`--help` and bad options answered from the standard library alone, and a missing package named in one line."""

import sys
from pathlib import Path


def early_options(parser, script: str) -> None:
    """Parse the command line before the heavy imports, where `script` runs as the program (`--help` exits here)."""
    if Path(sys.argv[0]).resolve() == Path(script).resolve():
        parser.parse_args()


def missing(error: ModuleNotFoundError, script: str) -> str:
    name = Path(script).resolve().relative_to(Path(__file__).resolve().parents[1])
    return (f"error: {error.name} is not installed for {sys.executable}: run the workflow's venv, "
            f".venv/bin/python {name} (README: Set up)")
