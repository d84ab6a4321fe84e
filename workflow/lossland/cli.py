"""The command line the Snakemake rules call: `python -m lossland <kind> --spec <job spec>`, one command per kind
of job (`kinds.KINDS`), named as its rule.

A job spec is the JSON object `plan.Plan.spec` makes: {"settings", "inputs", "outputs"}; `--spec` takes it inline or
as a path to a .json file. Every command reads it and nothing else, so a rule never spells an argument.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import UserError
from .logs import log


def read_spec(text: str) -> dict:
    """A job spec given inline (JSON) or as the path of a JSON file; one line naming what is wrong otherwise."""
    source = text if text.lstrip().startswith("{") else None
    if source is None:
        if not Path(text).is_file():
            raise UserError(f"--spec {text}: neither a JSON object nor a file: pass the job spec a rule passes")
        source = Path(text).read_text()
    try:
        spec = json.loads(source)
    except json.JSONDecodeError as error:
        raise UserError(f"--spec is not valid JSON ({error}): pass the job spec a rule passes") from None
    missing = [key for key in ("settings", "inputs", "outputs") if key not in spec]
    if missing:
        raise UserError(f"the job spec has no {', '.join(missing)}: pass the job spec a rule passes")
    return spec


def build_parser() -> argparse.ArgumentParser:
    from .kinds import KINDS

    parser = argparse.ArgumentParser(prog="lossland", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=os.environ.get("LOSSLAND_DEVICE", "auto"),
                        choices=["auto", "cpu", "cuda", "mps"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="<kind>")
    for name, kind in KINDS.items():
        command = commands.add_parser(name, help=kind.what, description=kind.what)
        command.add_argument("--spec", required=True, help="the job spec: JSON, or a .json file holding it")
    commands.add_parser("estimate", add_help=False, help="what a config costs here, before it runs (estimate --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .kinds import KINDS

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if os.environ.get("SLURM_JOB_ID"):
        log(f"SLURM_JOB_ID={os.environ['SLURM_JOB_ID']} on {os.uname().nodename}")
    kind = KINDS[args.command]
    if args.threads and not kind.run.startswith("figures:"):  # figures start without torch (~1.7 s saved)
        import torch

        torch.set_num_threads(args.threads)
    try:
        kind.function()(read_spec(args.spec), args.device)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

