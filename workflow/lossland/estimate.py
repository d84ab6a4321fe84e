"""What a config costs before it runs: `python -m lossland estimate --configfile F [--cores N]`.

It times, on this machine and the config's device, a few training steps of each model at its batch size and
precision, loss evaluations at the surfaces' batch size, Hessian-vector products, image decoding and a job's
start; puts those rates into the plan's own cost model (`kinds.Kind.cost`, the one that sets SLURM runtimes) for
every job of Snakemake's dry run of the target; and schedules that DAG greedily on N cores (longest path first),
for the wall time. `--write F` saves the rates as a config file: passed after the config, the cost
model (SLURM runtimes, chunk batching) uses them instead of config.yaml's typed ones.
"""

import argparse
import heapq
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import UserError

REPO = Path(__file__).resolve().parents[2]
RULE_KIND = {"train_with_snapshots": "train"}  # rules that reuse another rule's kind (`use rule ... as`)
TARGET_RULES = {"all", "study", "sweep", "views", "geometry", "paraview"}  # no job of their own
FIGURE_SECONDS = 0.6  # a figure, table or page job's own work (not timed: the smoke run's take 0.1-1.3 s)


@dataclass
class Job:
    rule: str
    wildcards: dict = field(default_factory=dict)
    threads: int = 1
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        return RULE_KIND.get(self.rule, self.rule)


# ---- the DAG, from Snakemake's dry run


def dry_run(configfiles: list[str], targets: list[str], cores: int, remaining: bool) -> str:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n", "--cores", str(cores),
               *([] if remaining else ["--forceall"]), *targets, *(["--configfile", *configfiles] if configfiles else [])]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
        raise UserError("; ".join(lines) if lines else f"snakemake -n {' '.join(targets)} failed: "
                        f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    return result.stdout


def parse_jobs(text: str) -> list[Job]:
    """The jobs of a dry run's listing (`rule NAME:` / `localrule NAME:` blocks), target rules left out."""
    jobs, job = [], None
    for line in text.splitlines():
        head = re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", line)  # a group's jobs indented
        if head:
            job = Job(head.group(1))
            if job.rule not in TARGET_RULES:
                jobs.append(job)
            continue
        item = re.match(r"^\s+(\w+): (.*)$", line)
        if job is None or item is None:
            continue
        key, value = item.groups()
        if key in ("input", "output"):
            setattr(job, key + "s", [path.strip() for path in value.split(",")])
        elif key == "wildcards":
            job.wildcards = dict(pair.split("=", 1) for pair in re.split(r", (?=\w+=)", value))
        elif key == "threads":
            job.threads = int(value)
    return jobs


# ---- the wall time, scheduled as Snakemake's local scheduler would


def wall_seconds(jobs: list[Job], seconds: list[float], cores: int, gpus: int = 0, on_gpu: list[bool] | None = None
                 ) -> float:
    """A greedy list schedule of the DAG on `cores` (a job holds min(threads, cores) of them; with `gpus`, a job
    marked `on_gpu` also holds one): the ready job with the longest path to the end first, as many at once as fit.
    The wall time from the first start to the last end; Snakemake orders ready jobs by priority and input size
    instead, so its run can take longer than this."""
    producer = {path: i for i, job in enumerate(jobs) for path in job.outputs}
    needs = [{producer[p] for p in job.inputs if p in producer} for job in jobs]
    users: list[list[int]] = [[] for _ in jobs]
    for i, before in enumerate(needs):
        for j in before:
            users[j].append(i)
    tail = [0.0] * len(jobs)  # the longest path from a job's start to the end of the DAG
    for i in reversed(topological(needs)):
        tail[i] = seconds[i] + max((tail[j] for j in users[i]), default=0.0)
    width = [min(job.threads, cores) for job in jobs]
    gpu = [bool(gpus and on_gpu and on_gpu[i]) for i in range(len(jobs))]
    waiting = [len(before) for before in needs]
    ready = sorted((i for i in range(len(jobs)) if not needs[i]), key=lambda i: -tail[i])
    running: list[tuple[float, int]] = []
    free, free_gpus, now = cores, gpus, 0.0
    while ready or running:
        for i in [i for i in ready]:  # the longest-tailed first, each that fits now
            if width[i] <= free and (not gpu[i] or free_gpus):
                ready.remove(i)
                free, free_gpus = free - width[i], free_gpus - gpu[i]
                heapq.heappush(running, (now + seconds[i], i))
        now, i = heapq.heappop(running)
        free, free_gpus = free + width[i], free_gpus + gpu[i]
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
        ready.sort(key=lambda j: -tail[j])
    return now


def topological(needs: list[set]) -> list[int]:
    order, placed = [], [False] * len(needs)
    remaining = {i: set(before) for i, before in enumerate(needs)}
    while remaining:
        free = [i for i, before in remaining.items() if all(placed[j] for j in before)]
        if not free:
            raise ValueError("the dry run's jobs have a cycle")
        for i in free:
            placed[i] = True
            order.append(i)
            del remaining[i]
    return order


# ---- rates, timed on this machine


def timed(action, repeats: int) -> tuple[float, float]:
    """Seconds of a first `action()` call beyond the later ones (a job's warm-up: its first call on these shapes),
    and of one later call (the best of `repeats`)."""
    started = time.perf_counter()
    action()
    first, best = time.perf_counter() - started, math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return max(0.0, first - best), best


def model_rates(config: dict, model: str, device, shape: dict) -> dict:
    """Seconds per image of `model`: a training step at its batch size and precision (threads.train), a loss
    evaluation at the surfaces' batch size and a Hessian-vector product (threads.chunk)."""
    import torch

    from .config import train_settings
    from .data import Dataset, normalizer
    from .evaluate import batch_size_for, evaluate
    from .geometry import HessianOperator
    from .models import build
    from .train import make_optimizer, train_epoch

    settings = {**train_settings(config, model), "mean": [0.5] * shape["channels"], "std": [0.25] * shape["channels"]}
    generator = torch.Generator().manual_seed(0)

    def images(count: int) -> Dataset:
        pixels = torch.randint(0, 256, (count, shape["channels"], *shape["size"]), generator=generator,
                               dtype=torch.uint8)
        return Dataset(pixels, torch.randint(0, shape["classes"], (count,), generator=generator)).to(device)

    prepare = normalizer(settings, device)
    net = build(model, settings, shape).to(device, memory_format=torch.channels_last)
    optimizer, batch = make_optimizer(settings, net.parameters()), settings["batch_size"]
    torch.set_num_threads(config["threads"]["train"])
    steps = images(2 * batch)
    warm_train, train = timed(lambda: train_epoch(net, optimizer, steps, settings, prepare, 0, 0, lambda step: 1.0), 2)
    torch.set_num_threads(config["threads"]["chunk"])
    points = images(min(256, config["landscape"]["samples"]))
    size = batch_size_for(device, config["landscape"]["batch_size"])
    warm_eval, evaluation = timed(lambda: evaluate(net, points, prepare, size), 1)
    # the Hessian jobs' layout: one batch keeps its gradient graph between products, more rebuild it at each
    batch_hvp = batch_size_for(device, config["geometry"]["batch_size"])
    subset = images(min(config["geometry"]["samples"], 2 * batch_hvp))
    operator = HessianOperator(net, subset, prepare, batch_hvp)
    vector = torch.randn(operator.size, generator=generator, dtype=torch.float64).numpy()
    warm_hvp, product = timed(lambda: operator.matvec(vector), 1)
    return {"train_image": train / len(steps), "eval_image": evaluation / len(points), "hvp_image": product / len(subset),
            "batch_size": batch, "warm-up": {"train": warm_train, "evaluation": warm_eval, "hvp": warm_hvp}}


TORCHVISION_SHAPES = {"cifar10": (10, 3, 32), "cifar100": (100, 3, 32), "svhn": (10, 3, 32), "mnist": (10, 1, 28),
                      "fashionmnist": (10, 1, 28)}


def data_shape(config: dict) -> dict:
    """{classes, channels, size} of the config's images: the prepared training split's where there is one, else
    an ImageFolder's class folders and first image, else the torchvision set's."""
    from .data import _read_image, class_folders, split_info

    data, prepared = config["data"], Path(paths.DATA.format(split="train"))
    if prepared.is_file():
        info = split_info(prepared)
        return {"classes": len(info["classes"]), "channels": info["channels"], "size": info["size"]}
    if data["source"] == "imagefolder":
        folder = Path(data["root"]) / "train"
        if not folder.is_dir():
            raise UserError(f"data folder {folder} not found: set data.root to a folder holding train/ and test/")
        first = next((p for p in sorted(folder.glob("*/*")) if p.is_file()), None)
        if first is None:
            raise UserError(f"no images under {folder}: add them, one folder per class, or fix data.root")
        pixels = _read_image(str(first))
        return {"classes": len(class_folders(folder)), "channels": pixels.shape[2], "size": list(pixels.shape[:2])}
    classes, channels, size = TORCHVISION_SHAPES[data["name"]]
    return {"classes": classes, "channels": channels, "size": [size, size]}


def decode_seconds(config: dict) -> float:
    """Seconds to read and decode one image of an ImageFolder data set: 50 files spread over the training split,
    each read once (as the data job reads them, mostly from disk, not from the page cache); 0 for torchvision's
    arrays."""
    from .data import _read_image

    data = config["data"]
    if data["source"] != "imagefolder":
        return 0.0
    files = sorted(p for p in (Path(data["root"]) / "train").glob("*/*") if p.is_file())
    files = files[:: max(1, len(files) // 50)][:50]
    started = time.perf_counter()
    for path in files:
        _read_image(str(path))
    return (time.perf_counter() - started) / len(files)


def package_env() -> dict:
    """This environment with the package importable, for the commands the estimate times."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "workflow"), os.environ.get("PYTHONPATH", "")])}


def start_seconds() -> float:
    """Seconds from `python -m lossland <kind>` to its job running (through the fork server where it runs): a
    command that stops at once on an empty job spec, timed after one warm-up."""
    command = [sys.executable, "-m", "lossland", "evaluate", "--spec", "{}"]
    return timed(lambda: subprocess.run(command, capture_output=True, env=package_env()), 2)[1]


def boot_seconds() -> float:
    """Seconds of the imports every job needs, paid once per run where the fork server runs (its start), else by
    every job."""
    command = [sys.executable, "-c", "from lossland.forkserver import preload; preload()"]
    return timed(lambda: subprocess.run(command, capture_output=True, env=package_env()), 1)[1]


# ---- the cost model, with the timed rates


def calibration(config: dict, rates: dict) -> dict:
    """The timed rates in the config's own terms (resources.train.minutes_per_epoch, resources.chunk.
    seconds_per_point and hvp_evaluations): a config file that makes the cost model this machine's."""
    from .config import split_size, train_settings

    train, test = split_size(config, "train"), split_size(config, "test")
    per_epoch, per_point = {}, {}
    for model, rate in rates.items():
        held = (train_settings(config, model).get("validation") or {}).get("images", 0)
        seconds = (train - held) * rate["train_image"] + (test + held) * rate["eval_image"]  # + its evaluations
        per_epoch[model] = seconds / 60 / (max(1.0, 128 / rate["batch_size"]) * (train - held) / 50_000)
        per_point[model] = rate["eval_image"] * 10_000
    ratios = sorted(rate["hvp_image"] / rate["eval_image"] for rate in rates.values())
    return {"resources": {"train": {"minutes_per_epoch": per_epoch},
                          "chunk": {"seconds_per_point": per_point, "hvp_evaluations": ratios[len(ratios) // 2]}}}


HVP_KINDS = ("hessian", "density", "eigen_chunk", "hessian_directions")


def job_seconds(plan, job: Job, machine: dict) -> float:
    """A job's seconds by the cost model: its start, then its kind's cost plus its first call's warm-up, image
    decoding for the data, or a figure's own work. `machine`: {start, decode, warm-up: {train, evaluation, hvp}}."""
    from .config import split_size
    from .kinds import KINDS

    kind, warm = KINDS[job.kind], machine["warm-up"]
    if kind.cost is not None:
        first = warm["train"] if kind.section == "train" else warm["hvp"] if job.kind in HVP_KINDS else \
            warm["evaluation"]
        return machine["start"] + first + 60 * kind.cost(plan, job.wildcards)
    if job.kind == "prepare_data":
        return machine["start"] + machine["decode"] * split_size(plan.config, job.wildcards["split"])
    return machine["start"] + FIGURE_SECONDS


def stage_of(kind: str) -> str:
    from .kinds import KINDS, STAGES

    return STAGES[KINDS[kind].stage]


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def summary(jobs: list[Job], seconds: list[float]) -> list[str]:
    """Per stage: jobs, job-hours and share of the total."""
    total, rows = sum(seconds), {}
    for job, spent in zip(jobs, seconds):
        count, hours = rows.get(stage_of(job.kind), (0, 0.0))
        rows[stage_of(job.kind)] = (count + 1, hours + spent / 3600)
    from .kinds import STAGES

    order = list(STAGES.values())
    width = max(map(len, order)) + 2
    lines = [f"{'stage':<{width}}{'jobs':>6}{'job-hours':>12}{'share':>8}"]
    for stage in sorted(rows, key=order.index):
        count, hours = rows[stage]
        lines.append(f"{stage:<{width}}{count:>6}{hours:>12.3g}{100 * hours * 3600 / total:>7.0f}%")
    lines.append(f"{'total':<{width}}{len(jobs):>6}{total / 3600:>12.3g}{100:>7}%")
    return lines


# ---- the command


def read_config(configfiles: list[str]) -> dict:
    """The config Snakemake runs with here: ./config.yaml, then each --configfile merged over it, the schema's
    defaults filled in."""
    import yaml
    from snakemake.utils import update_config, validate

    config: dict = {}
    for path in ["config.yaml", *configfiles]:
        if Path(path).is_file():
            update_config(config, yaml.safe_load(Path(path).read_text()) or {})
        elif path != "config.yaml":
            raise UserError(f"--configfile {path}: no such file")
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(prog="python -m lossland estimate", description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("targets", nargs="*", default=["all"], help="Snakemake targets (default: all)")
    command.add_argument("--configfile", nargs="+", default=[], help="config files over ./config.yaml, as Snakemake's")
    command.add_argument("--cores", type=int, default=os.cpu_count(), help="cores of the run to estimate (default: this "
                         "machine's)")
    command.add_argument("--gpus", type=int, default=None, help="GPUs of that run (default: those visible; each "
                         "computing job holds one)")
    command.add_argument("--remaining", action="store_true", help="only the jobs Snakemake would run now (default: "
                         "every job of the targets, as from an empty results/)")
    command.add_argument("--write", metavar="FILE", help="save the timed rates as a config file for the cost model")
    return command


def command(argv: list[str]) -> int:
    """`python -m lossland estimate ...`: its status, a UserError as one line."""
    try:
        return main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def main(argv: list[str]) -> int:
    from .config import train_settings
    from .device import resolve_precision, select_device
    from .plan import Plan

    args = parser().parse_args(argv)
    started = time.perf_counter()
    listing = dry_run(args.configfile, args.targets, args.cores, args.remaining)
    planning = time.perf_counter() - started  # Snakemake's start and DAG: before the first job, as in the run
    jobs = parse_jobs(listing)
    config = read_config(args.configfile)
    device = select_device(config["device"])
    started = time.perf_counter()
    models = sorted({*config["models"], *([config["sweep"]["model"]] if any(job.kind == "sweep_train" for job in jobs)
                                          else [])})  # imported checkpoints too: their evaluations cost
    shape = data_shape(config)
    rates = {model: model_rates(config, model, device, shape) for model in models}
    precisions = {model: resolve_precision(train_settings(config, model)["precision"], device) for model in models}
    from .forkserver import enabled

    boot, server = boot_seconds(), enabled()
    machine = {"decode": decode_seconds(config), "start": start_seconds() + (0.0 if server else boot),
               "warm-up": {key: sum(rate["warm-up"][key] for rate in rates.values()) / len(rates)
                           for key in ("train", "evaluation", "hvp")}}
    fitted = calibration(config, rates)
    timed_for = time.perf_counter() - started
    if args.write:
        from .io import save_json

        save_json(fitted, args.write)
    from snakemake.utils import update_config

    update_config(config, fitted)
    plan = Plan(config)
    seconds = [job_seconds(plan, job, machine) for job in jobs]
    gpus = (args.gpus if args.gpus is not None else torch_gpus()) if device.type == "cuda" else 0
    on_gpu = [computes(job.kind) for job in jobs]
    wall = planning + (boot if server else 0.0) + wall_seconds(jobs, seconds, args.cores, gpus, on_gpu)
    print(f"lossland estimate: {' + '.join(['config.yaml', *args.configfile])}, target {' '.join(args.targets)}: "
          f"{len(jobs)} jobs{' still to run' if args.remaining else ''}; timed on {device.type} in {timed_for:.0f} s")
    print("\n".join(summary(jobs, seconds)))
    longest = sorted(range(len(jobs)), key=lambda i: -seconds[i])[:5]
    print("longest jobs: " + "; ".join(f"{jobs[i].rule} {','.join(jobs[i].wildcards.values())} {duration(seconds[i])}"
                                       for i in longest))
    where = f"{args.cores} cores" + (f" and {gpus} GPU(s)" if gpus else "")
    print(f"wall time on {where}: {duration(wall)} (the longest path alone: {duration(wall_seconds(jobs, seconds, 10**6))})")
    print(f"timed: per model a training step at its batch size and precision, a loss evaluation, a Hessian-vector "
          f"product ({', '.join(f'{model} {precision}' for model, precision in precisions.items())}) and its first "
          f"call's warm-up; image decoding {machine['decode'] * 1000:.2f} ms per image; "
          f"a job's start {machine['start']:.2f} s" + (f" after the fork server's {boot:.1f} s" if server else "")
          + f"; Snakemake's planning {planning:.1f} s. "
          f"Assumed: Lanczos run lengths (tol {config['geometry']['tol']:g}, maps {config['geometry']['map_tol']:g}), "
          f"a figure's, table's or page's {FIGURE_SECONDS} s"
          + (". Not counted: the jobs a checkpoint adds once it has run (the Net sweep's augmentation run)"
             if re.search(r"^\s*checkpoint ", listing, re.M) else "")
          + (f". Rates written to {args.write}" if args.write else ""))
    return 0


def computes(kind: str) -> bool:
    """Whether jobs of `kind` compute (and so, on a machine with GPUs, each hold one)."""
    from .kinds import KINDS

    return KINDS[kind].cost is not None


def torch_gpus() -> int:
    import torch

    return torch.cuda.device_count()
