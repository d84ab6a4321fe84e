"""The command line the Snakemake rules call: `python -m lossland <command> --spec <job spec>`.

A job spec is the JSON object `plan.Plan.spec` makes: {"kind", "settings", "inputs", "outputs"}; `--spec` takes it
inline or as a path to a .json file. Every command reads it and nothing else, so a rule never spells an argument.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import UserError
from .logs import log

COMMANDS = {  # command -> (module, function, what it does); figures' commands start without importing torch
    "prepare-data": ("jobs", "prepare_data", "one split of the data set as a tensor file"),
    "train": ("jobs", "train", "train one model (resumable, bit-identical after a kill)"),
    "import": ("jobs", "import_checkpoint", "a checkpoint trained elsewhere, fitted to the model the config builds"),
    "evaluate": ("jobs", "evaluate_model", "loss and accuracy of a checkpoint on both splits"),
    "directions": ("jobs", "directions", "a plane's two directions: random (Li et al.) or the trajectory's PCA"),
    "measure": ("measure", "measure", "a measure at the points of a span: plane chunk, line, interpolation, ..."),
    "merge": ("measure", "merge", "a surface or eigenvalue map from its chunks"),
    "plot": ("figures", "plot", "one figure or ParaView file of one model or pair"),
    "table": ("figures", "table", "a table and its figures across models or sweep runs"),
}


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
    missing = [key for key in ("kind", "settings", "inputs", "outputs") if key not in spec]
    if missing:
        raise UserError(f"the job spec has no {', '.join(missing)}: pass the job spec a rule passes")
    return spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossland", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=os.environ.get("LOSSLAND_DEVICE", "auto"),
                        choices=["auto", "cpu", "cuda", "mps"])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (_, _, what) in COMMANDS.items():
        command = commands.add_parser(name, help=what, description=what)
        command.add_argument("--spec", required=True, help="the job spec: JSON, or a .json file holding it")
    return parser


def main(argv: list[str] | None = None) -> int:
    import importlib

    args = build_parser().parse_args(argv)
    if os.environ.get("SLURM_JOB_ID"):
        log(f"SLURM_JOB_ID={os.environ['SLURM_JOB_ID']} on {os.uname().nodename}")
    module, function, _ = COMMANDS[args.command]
    if args.threads and module != "figures":  # ~1.7 s of `import torch` saved in each figure and table job
        import torch

        torch.set_num_threads(args.threads)
    try:
        run = getattr(importlib.import_module(f"lossland.{module}"), function)
        run(read_spec(args.spec), args.device)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
