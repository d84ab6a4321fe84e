"""The plan of one validated config: its runs, its targets, and each job's spec and resources.

A job is a kind (`kinds.KINDS`: the rule's name) plus its wildcards; the kind says which files it reads, the
settings that define its result and what it costs, and the plan gives it the config. `common.smk` only asks this
module; a rule names its outputs and passes `spec(kind, ...)` to `python -m lossland <kind> --spec`. Plain Python:
the tests reach all of it.
"""

import json
import re
from pathlib import Path

from . import paths
from .config import (
    CIFAR10_CLASSES,
    MODEL_NAMES,
    architecture,
    config_problems,
    describe,
    normalization,
    split_size,
    train_settings,
    trajectory_models,
)
from .kinds import GEOMETRY_KEYS, KINDS
from .resources import Resources
from .runs import model_and_seed, run_name
from .sweep import RUN_PATTERN, grid_runs, is_scheduled, run_settings
from .targets import Targets

EVALUATION_KEYS = ("samples", "seed", "batch_size", "fold_bn", "precision", "compile")
BN_KEYS = ("bn", "bn_samples")
RUN_PATTERN_PLAIN = re.sub(r"\(\?P<\w+>", "(", RUN_PATTERN)  # Snakemake wildcard regexes take no named groups


def endpoints(config: dict) -> dict[str, tuple[str, str, dict]]:
    """Every trained model a name can refer to: study models and sweep runs -> (architecture, checkpoint, settings)."""
    first = config["train"]["seeds"][0]  # a study model's first training (seed 0: its plain path)
    found = {m: (m, paths.CHECKPOINT.format(model=run_name(m, 0 if m in config["checkpoints"] else first)),
                 train_settings(config, m)) for m in config["models"]}
    for run in grid_runs(config["sweep"], is_scheduled(config)):
        found[run] = (config["sweep"]["model"], paths.SWEEP_CHECKPOINT.format(run=run), run_settings(config, run))
    return found


def every_problem(config: dict, schema: str | Path) -> list[str]:
    """What the Snakefile refuses a config for, one line each: every key and value the JSON schema refuses; on a
    config it accepts (its defaults then filled in, in place, as Snakemake's `validate` fills them), what a schema
    cannot say (`problems`). The schema is read with libyaml where PyYAML has it (Snakemake's `validate` reads it
    in pure Python: ~0.4 s of every Snakemake start)."""
    import jsonschema
    import yaml

    document = yaml.load(Path(schema).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    found = []
    for refused in jsonschema.Draft202012Validator(document).iter_errors(config):
        refused = jsonschema.exceptions.best_match([refused])
        key = ".".join(str(part) for part in refused.absolute_path) or "(top level)"
        found.append(f"{key}: {refused.message}: fix it in your config file")
    if found:
        return sorted(found)
    with_defaults(jsonschema.Draft202012Validator)(document).validate(config)
    return problems(config)


def with_defaults(validator_class):
    """A validator that also fills in each missing property's `default` (python-jsonschema's FAQ recipe, as
    Snakemake's `validate` uses it)."""
    from jsonschema import validators

    properties = validator_class.VALIDATORS["properties"]

    def fill(validator, children, instance, schema):
        for name, child in children.items():
            if "default" in child and isinstance(instance, dict):
                instance.setdefault(name, child["default"])
        yield from properties(validator, children, instance, schema)

    return validators.extend(validator_class, {"properties": fill})


def problems(config: dict) -> list[str]:
    """Everything a schema cannot check, every problem at once (one line each): the models first (the other checks
    read every model's settings), then config.config_problems, the interpolation pairs, the normalization constants."""
    found = model_problems(config)
    if found:
        return found
    constants = constants_problem(config)
    return [*config_problems(config), *interpolation_problems(config), *connectivity_problems(config),
            *([constants] if constants else [])]


def model_problems(config: dict) -> list[str]:
    custom, found = config["architectures"], []
    found += [f"architectures.{name}: {name} is a built-in model: give yours another name"
              for name in custom if name in MODEL_NAMES]
    found += [f"architectures.{name}: a name ending in _1d or _eigen clashes with figure names: rename it"
              for name in custom if re.search(r"_(1d|eigen)$", name)]  # another model's 1-D curve or eigenvalue map
    labels = [entry.get("label") or name for name, entry in custom.items()] + [
        m for m in config["models"] if m not in custom]
    found += [f"architectures: the label {label!r} names two models: give each its own label"
              for label in sorted({label for label in labels if labels.count(label) > 1})]
    named = [("models", m) for m in config["models"]] + [("train.models", m) for m in config["train"]["models"]]
    found += [f"{key}: {model!r} is neither a built-in model ({', '.join(MODEL_NAMES)}) nor one of architectures: "
              f"add architectures.{model}.builder (see the README's Your own model)"
              for key, model in named if model not in MODEL_NAMES and model not in custom]
    for name, path in config["checkpoints"].items():
        if name not in config["models"]:
            found.append(f"checkpoints.{name}: {name} is not in models: add it there, or remove the entry")
        elif not Path(path).is_file():
            found.append(f"checkpoints.{name} = {path}: no such file: fix the path (relative to the working directory)")
    return found


def constants_problem(config: dict) -> str | None:
    """CIFAR-10's normalization constants on another data set are a silent mistake: stop instead."""
    data = config["data"]
    study = [0.4914, 0.4822, 0.4465]
    if data.get("mean") is None or [round(v, 4) for v in data["mean"]] != study:
        return None
    if data["source"] == "torchvision":
        other = data["name"] != "cifar10"
    else:
        folder = Path(data["root"]) / "train"
        other = folder.is_dir() and sorted(p.name for p in folder.iterdir() if p.is_dir()) != sorted(CIFAR10_CLASSES)
    if other:
        return ("data.mean and data.std are CIFAR-10's, but data is another data set: set data.mean: null and "
                "data.std: null to measure them on its training split, or give its own")
    return None


def interpolation_problems(config: dict) -> list[str]:
    known, found = endpoints(config), []
    pairs = config["interpolation"]["pairs"]
    names = [pair["name"] for pair in pairs]
    found += [f"interpolation.pairs: the name {name!r} is used twice"
              for name in sorted({n for n in names if names.count(n) > 1})]
    for i, pair in enumerate(pairs):
        unknown = [end for end in ("a", "b") if pair[end] not in known]
        found += [f"interpolation.pairs.{i}.{end} = {pair[end]!r} is not a model this config trains: name one of "
                  f"{', '.join(known)}" for end in unknown]
        if unknown:
            continue
        (arch_a, _, settings_a), (arch_b, _, settings_b) = known[pair["a"]], known[pair["b"]]
        kind_a, kind_b = describe(arch_a, settings_a), describe(arch_b, settings_b)
        if kind_a != kind_b:
            found.append(f"interpolation.pairs.{i}: {pair['a']} is a {kind_a} and {pair['b']} a {kind_b}: "
                         "endpoints must share one architecture")
        elif normalization(settings_a) != normalization(settings_b):
            found.append(f"interpolation.pairs.{i}: {pair['a']} and {pair['b']} were trained with different input "
                         "normalization (normalize, mean, std): pick endpoints that share it")
    return found


def connectivity_models(config: dict) -> list[str]:
    """The models whose training seeds are compared (connectivity.models; null: every built-in trained model, where
    train.seeds has at least two)."""
    chosen = config["connectivity"]["models"]
    if chosen is None:
        if len(config["train"]["seeds"]) < 2:
            return []
        return [m for m in config["models"] if m in MODEL_NAMES and m not in config["checkpoints"]]
    return list(chosen)


def connectivity_pairs(config: dict) -> list[tuple[int, int]]:
    """The seed pairs compared: consecutive (0-1, 1-2, ...) or all."""
    import itertools

    seeds = config["train"]["seeds"]
    if config["connectivity"]["pairs"] == "all":
        return list(itertools.combinations(seeds, 2))
    return list(zip(seeds, seeds[1:]))


def connectivity_problems(config: dict) -> list[str]:
    section, found = config["connectivity"], []
    low, high, num = section["alpha"]
    if (low, high) != (0, 1) or num < 3:
        found.append(f"connectivity.alpha = {section['alpha']}: a path between two seeds runs from 0 to 1, with a "
                     "point between: set [0.0, 1.0, num] with num >= 3")
    for model in section["models"] or []:
        if model not in config["models"] or model in config["checkpoints"]:
            found.append(f"connectivity.models: {model} is not a model this config trains: add it to models, or "
                         "remove it here")
    train = split_size(config, "train")
    if connectivity_models(config) and section["bn_samples"] > train:
        found.append(f"connectivity.bn_samples = {section['bn_samples']} is more than the {train} images of the "
                     "train split: lower it or raise data.subset.train")
    if section["models"] and len(config["train"]["seeds"]) < 2:
        found.append(f"connectivity.models names {', '.join(section['models'])} but train.seeds = "
                     f"{config['train']['seeds']} has one seed: add seeds (e.g. train.seeds: [0, 1, 2])")
    return found


class Plan(Targets, Resources):
    """Names, runs, job settings and inputs of one validated config; its targets (`targets.Targets`) and resources
    (`resources.Resources`) are mixed in. `local_gpus`: GPUs of this
    machine the jobs share (each computing job then takes one); 0 on a cluster or without GPUs."""

    def __init__(self, config: dict, local_gpus: int = 0):
        self.config, self.local_gpus = config, local_gpus
        self.models = list(config["models"])
        self.imported = [m for m in self.models if m in config["checkpoints"]]  # trained elsewhere
        self.trained = [m for m in self.models if m not in self.imported]
        self.trajectory_models = [m for m in trajectory_models(config) if m in self.trained]
        self.seeds = list(config["train"]["seeds"])
        # every training of a model: one per seed (train.seeds); a checkpoint from elsewhere is one
        self.runs = {m: [m] if m in self.imported else [run_name(m, s) for s in self.seeds] for m in self.models}
        self.pairs = {pair["name"]: pair for pair in config["interpolation"]["pairs"]}
        self.endpoints = endpoints(config)
        self.scheduled = is_scheduled(config)
        self.sweep_runs = grid_runs(config["sweep"], self.scheduled)
        self.sweep_lrs = [f"{lr:g}" for lr in config["sweep"]["lrs"]]
        self.sweep_pairs = [name for name, pair in self.pairs.items()
                            if pair["a"] in self.sweep_runs or pair["b"] in self.sweep_runs]
        # mode connectivity: model -> {"seeds<a>-<b>": (run a, run b)}
        self.connectivity = {m: {f"seeds{a}-{b}": (run_name(m, a), run_name(m, b)) for a, b in
                                 connectivity_pairs(config)} for m in connectivity_models(config)}

    # ---- names Snakemake's wildcards may take
    def wildcard_constraints(self) -> dict[str, str]:
        return {"model": alternatives([run for runs in self.runs.values() for run in runs]),
                "plane": "landscape|trajectory|hessian",
                "pair": "|".join(map(re.escape, self.pairs)) or "(?!)", "run": RUN_PATTERN_PLAIN,
                "split": "train|test", "chunk": r"\d+", "seeds": r"seeds\d+-\d+"}

    # ---- runs: a model's trainings, one per seed ("resnet56" for seed 0, "resnet56/seed1", ...)
    def views_of(self, section: str) -> list[str]:
        """The runs that get `section`'s views: landscape (surfaces) or geometry, `<section>.seeds` first | all."""
        first = self.config[section]["seeds"] == "first"
        return [run for runs in self.runs.values() for run in (runs[:1] if first else runs)]

    def all_runs(self, trained_only: bool = False) -> list[str]:
        return [run for model, runs in self.runs.items() for run in runs if not trained_only or model in self.trained]

    def snapshot_runs(self, snapshots: bool = True) -> list[str]:
        """Trained runs whose weight snapshots are kept (a file of their own), or (False) the other trained runs."""
        return [run for run in self.all_runs(trained_only=True)
                if (model_and_seed(run)[0] in self.trajectory_models) == snapshots]

    def run_index(self, runs: list[str]) -> list[list]:
        """[model, seed] of each run, for the jobs that group runs by model."""
        return [list(model_and_seed(run)) for run in runs]

    # ---- names and labels
    def label(self, model: str) -> str:
        """How figures and tables name a model: architectures.<model>.label, else its name (a run: and its seed)."""
        name, seed = model_and_seed(model)
        label = self.config["architectures"].get(name, {}).get("label") or name
        return f"{label} (seed {seed})" if seed else label

    def model_settings(self, model: str) -> dict:
        """What a job that rebuilds `model` from its checkpoint needs from the config: a user's architecture."""
        custom = architecture(self.config, model)
        return {"architecture": custom} if custom else {}

    def builder_file(self, model: str) -> list[str]:
        """The source file of a user's builder (an input of its training: editing it retrains), found without
        importing it; [] for a built-in model."""
        import importlib.util

        custom = architecture(self.config, model)
        if not custom:
            return []
        module = custom["builder"].partition(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        return [spec.origin] if spec and spec.origin and spec.origin.endswith(".py") else []

    # ---- a job: its kind's inputs, settings and spec
    def inputs(self, kind: str, wildcards: dict) -> dict[str, str | list[str]]:
        """The files a job reads that its rule cannot spell as a fixed pattern."""
        return KINDS[kind].inputs(self, wildcards)

    def bn_input(self, section: str) -> dict[str, str]:
        """The training split, for jobs that recompute BN statistics at every point."""
        return {"bn_data": paths.DATA.format(split="train")} if self.bn_settings(section).get("bn") == "recompute" else {}

    # ---- settings: what defines a job's result
    def bn_settings(self, section: str = "landscape") -> dict:
        """How BN statistics are treated off the trained point: an interpolation always chooses (interpolation.bn);
        a plane or line only when its directions move them (landscape.directions.type: states). Otherwise empty, so
        that the keys rerun nothing that does not use them."""
        settings = self.config[section]
        if section == "landscape" and settings["directions"]["type"] != "states":
            return {}
        return {key: settings[key] for key in BN_KEYS}

    def evaluation_settings(self, section: str = "landscape") -> dict:
        """Which images and how a loss is evaluated: the landscape's subset and numerics, BN treatment of `section`."""
        landscape = self.config["landscape"]
        return {"split": landscape["split"], **{k: landscape[k] for k in EVALUATION_KEYS}, **self.bn_settings(section)}

    def grid(self, plane: str) -> dict:
        """A plane's grid and chunk count; a trajectory's range follows its path (in its directions file)."""
        if plane == "trajectory":
            (nx, ny), chunks = self.config["trajectory"]["grid"], self.config["trajectory"]["chunks"]
            return {"x": [-1.0, 1.0, nx], "y": [-1.0, 1.0, ny], "chunks": chunks}
        landscape = self.config["landscape"]
        return {key: landscape[key] for key in ("x", "y", "chunks")}

    def geometry_settings(self, kind: str) -> dict:
        geometry = self.config["geometry"]
        return {k: geometry[k] for k in ("samples", "seed", "batch_size", *GEOMETRY_KEYS[kind])}

    def settings(self, kind: str, wildcards: dict) -> dict:
        """The settings that define the result of one job (its provenance records them and the sha256 of its
        inputs). Changing any other config key reruns nothing here."""
        return KINDS[kind].settings(self, wildcards)

    def labelled(self, model: str) -> dict:
        """{"label": ...} where a model's label is not its name (so the built-in models' specs stay as they were)."""
        return {"label": self.label(model)} if self.label(model) != model else {}

    def labels(self) -> dict:
        labels = {m: self.label(m) for m in self.models if self.label(m) != m}  # of the models, not their runs
        return {"labels": labels} if labels else {}

    def spec(self, kind: str, wildcards: dict, inputs: dict, outputs: dict, scratch: dict | None = None) -> dict:
        """The whole job, as `python -m lossland <kind> --spec` reads it."""
        spec = {"settings": self.settings(kind, wildcards), "inputs": inputs, "outputs": outputs}
        return {**spec, "scratch": scratch} if scratch else spec


def alternatives(names: list[str]) -> str:
    """A wildcard regex matching exactly these names (none: nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def spec_json(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)
