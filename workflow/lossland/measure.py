"""The measurements: a measure evaluated in a span of directions, one function per kind (`kinds.KINDS`).

A measure (the loss and accuracy; the Hessian's extreme eigenvalues; its spectrum summary) is evaluated at points
θ + Σ aᵢ·dᵢ of a span:

- `plane` / `trajectory`: two directions from a directions file, one chunk of a grid (a trajectory's range follows
  the optimizer's path, stored with its directions);
- `line`: the first direction of a directions file, on the train subset and the test split;
- `interpolation`: d = θ_B − θ_A between two checkpoints, on both splits;
- `random`: many seeded random directions, one line each (the flatness statistics);
- `point`: θ itself (the Hessian's top eigenvalues and trace on disjoint image subsets; or its eigenvalue density).

Every job shares one `Context` (device, model, input transform, evaluation subset, BN data), and writes
`provenance.record` of its spec; `merge` assembles a grid from its chunks, refusing any whose record differs.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch

from . import __version__
from .data import Dataset, load_split, normalizer
from .device import select_device
from .errors import UserError
from .evaluate import evaluate
from .io import load_torch, save_arrays, save_json
from .logs import log
from .models import describe, load_checkpoint, same_architecture
from .provenance import check, record


def versions() -> dict:
    return {"lossland": __version__, "torch": torch.__version__, "numpy": np.__version__}


@dataclass
class Context:
    """What every measurement job shares: the device, the model at θ (eval mode), its checkpoint and input transform."""

    settings: dict
    inputs: dict
    device: torch.device
    model: torch.nn.Module
    checkpoint: dict
    prepare: object

    @classmethod
    def load(cls, spec: dict, device_name: str, checkpoint_key: str = "checkpoint") -> "Context":
        device = select_device(device_name)
        model, checkpoint = load_checkpoint(spec["inputs"][checkpoint_key], device, spec["settings"].get("architecture"))
        return cls(spec["settings"], spec["inputs"], device, model, checkpoint, normalizer(checkpoint["config"], device))

    def subset(self, name: str, samples: int, key: str = "landscape.samples", block: int = 0) -> Dataset:
        """The seeded evaluation subset of the split in input `name` (at most all of it when `key` is None)."""
        from .surface import evaluation_subset

        data = load_split(self.inputs[name])
        samples = min(samples, len(data)) if key is None else samples
        return evaluation_subset(data, samples, self.settings["seed"], key or "landscape.samples", block).to(self.device)

    def bn_data(self) -> Dataset | None:
        """The training images BN statistics are recomputed from at every point when settings' `bn` is recompute,
        else None (BN statistics move with the directions)."""
        if self.settings.get("bn", "interpolate") != "recompute":
            return None
        if "bn_data" not in self.inputs:
            raise UserError("bn = recompute needs the training split to recompute BN statistics from: add input bn_data")
        return self.subset("bn_data", self.settings["bn_samples"], "bn_samples")

    def evaluator_options(self, cap: bool = False) -> dict:
        settings = self.settings
        options = {"batch_size": settings["batch_size"], "fold_bn": settings.get("fold_bn", True),
                   "precision": settings.get("precision", "fp32"), "compile": settings.get("compile", False)}
        return {**options, "cap": settings.get("cap")} if cap else options

    def directions(self) -> dict:
        return load_torch(self.inputs["directions"], "directions file")


def bn_treatment(settings: dict) -> str:
    """How a curve or plane treats BN statistics, in words for figures and provenance."""
    if settings.get("bn", "interpolate") == "recompute":
        return f"BN statistics recomputed at every point on {settings['bn_samples']:,} training images"
    return "BN statistics interpolated with the weights (loss-landscape's dir_type states)"


def grid_of(settings: dict, directions: dict) -> dict:
    """x, y and chunks of a plane; a trajectory plane's range comes with its directions (it follows the path)."""
    grid = {key: settings[key] for key in ("x", "y", "chunks")}
    return {**grid, **(directions.get("grid") or {})}


def plane_chunk(spec: dict, device_name: str) -> None:
    from .geometry import HessianOperator, SpectrumWalk
    from .surface import PlaneEvaluator, evaluate_chunk, grid_chunk, write_chunk

    ctx = Context.load(spec, device_name)
    settings, directions = ctx.settings, ctx.directions()
    grid, chunk = grid_of(settings, directions), settings["chunk"]
    if settings["measure"] == "loss":
        data = ctx.subset("data", settings["samples"])
        evaluator = PlaneEvaluator(ctx.model, directions["x"], directions["y"], data, ctx.prepare,
                                   **ctx.evaluator_options(cap=True), bn_data=ctx.bn_data(), log=log)
        frame = evaluate_chunk(evaluator, grid, chunk, log)
    elif settings["measure"] == "hessian":
        from .evaluate import batch_size_for

        data = ctx.subset("data", settings["samples"], "geometry.samples")
        batch = batch_size_for(ctx.device, settings["batch_size"])
        plane = PlaneEvaluator(ctx.model, directions["x"], directions["y"], data, ctx.prepare, batch, fold_bn=False)
        op = HessianOperator(plane.model, data, ctx.prepare, batch, settings["params"])
        walk = SpectrumWalk(settings["tol"], settings["seed"], settings["maxiter"])

        def extremes(a: float, b: float) -> tuple[float, float, float]:
            plane.move(a, b)
            products = op.products
            lambda_max, lambda_min = walk.ends(op.linear_operator())
            log(f"({a:+.3f}, {b:+.3f}): λmax {lambda_max:.6g}, λmin {lambda_min:.6g}, "
                f"{op.products - products} Hessian-vector products ({walk.how})")
            return op.loss(), lambda_max, lambda_min

        frame = grid_chunk(extremes, grid, chunk, ("loss", "lambda_max", "lambda_min"), log, serpentine=True)
    else:
        raise UserError(f"unknown measure {settings['measure']!r} on a plane: use loss or hessian")
    write_chunk(frame, record(settings, spec["inputs"]), spec["outputs"]["csv"])


MERGED_COLUMNS = {"loss": ("loss", "acc", "capped"), "hessian": ("loss", "lambda_max", "lambda_min")}


def merge(spec: dict, device_name: str = "auto") -> None:
    """Assemble a grid from its chunks: a surface, or an eigenvalue-ratio map."""
    from .surface import merge_chunks, save_surface

    settings, inputs = spec["settings"], dict(spec["inputs"])
    chunks = inputs.pop("chunks")
    expected = record(settings, inputs)
    directions = load_torch(inputs["directions"], "directions file")
    merged = merge_chunks(chunks, grid_of(settings, directions), MERGED_COLUMNS[settings["measure"]],
                          accept=lambda path, record: check(path, record, expected))
    summary = {**expected, "chunks": len(chunks), "versions": versions()}
    if settings["measure"] == "hessian":
        merged["ratio"] = np.abs(merged["lambda_min"] / merged["lambda_max"])
        log(f"eigenvalue ratio |min/max| {np.nanmin(merged['ratio']):.4f}..{np.nanmax(merged['ratio']):.4f}")
    else:
        merged["capped"] = merged["capped"].astype(bool)
        capped = int(merged["capped"].sum())
        summary.update(directions_seed=directions["seed"], directions_cosine=directions["cosine"],
                       directions_options=directions.get("options"), capped_points=capped)
        note = f", {capped} points above landscape.cap = {settings.get('cap')} (lower bounds)" if capped else ""
        log(f"surface {merged['loss'].shape}: loss {merged['loss'].min():.4f}..{merged['loss'].max():.4f}{note}")
    save_surface(merged, summary, spec["outputs"]["npz"], spec["outputs"]["json"])


def curve_splits(ctx: Context) -> dict:
    """The landscape's evaluation subset of the train split and as many images of the test split."""
    return {split: ctx.subset(split, ctx.settings["samples"], key=None) for split in ("train", "test")}


def save_curve(curve: dict, summary: dict, npz_path: str, at: str = "train_loss") -> None:
    """The curve's arrays and its summary (.json beside it); `at`: the curve its log line reports."""
    from pathlib import Path

    save_arrays(curve, npz_path)
    save_json({**summary, "versions": versions()}, Path(npz_path).with_suffix(".json"))
    log(f"wrote {npz_path}: {at.replace('_', ' ')} {np.nanmin(curve[at]):.4f}..{np.nanmax(curve[at]):.4f}")


def line(spec: dict, device_name: str) -> None:
    """Loss and accuracy along the first direction, on both splits."""
    from .surface import PlaneEvaluator, evaluate_curve

    ctx = Context.load(spec, device_name)
    settings = ctx.settings
    splits = curve_splits(ctx)
    evaluator = PlaneEvaluator(ctx.model, ctx.directions()["x"], None, splits["train"], ctx.prepare,
                               **ctx.evaluator_options(), bn_data=ctx.bn_data(), log=log)
    low, high, num = settings["line"]
    curve = evaluate_curve(evaluator, np.linspace(low, high, int(num)), splits, log, "line")
    summary = {**record(settings, spec["inputs"]), "images": {split: len(data) for split, data in splits.items()}}
    if "bn" in settings:
        summary["bn"] = curve["bn"] = bn_treatment(settings)
    save_curve(curve, summary, spec["outputs"]["npz"])


def interpolation(spec: dict, device_name: str) -> None:
    """Loss and accuracy along (1−α)·θ_A + α·θ_B (weights; BN statistics recomputed or interpolated)."""
    from .interpolation import difference, negative_variance
    from .surface import PlaneEvaluator, evaluate_curve

    ctx = Context.load(spec, device_name, checkpoint_key="a")
    settings, (a, b) = ctx.settings, (spec["inputs"]["a"], spec["inputs"]["b"])
    other, other_checkpoint = load_checkpoint(b, torch.device("cpu"), settings.get("architecture"))
    kinds = [describe(c["model"], c["config"]) for c in (ctx.checkpoint, other_checkpoint)]
    if kinds[0] != kinds[1]:
        raise UserError(f"cannot interpolate {a} ({kinds[0]}) and {b} ({kinds[1]}): endpoints must be one "
                        "architecture")
    splits = curve_splits(ctx)
    direction = difference(ctx.model, other)
    bn_data = ctx.bn_data()
    evaluator = PlaneEvaluator(ctx.model, direction, None, splits["train"], ctx.prepare, **ctx.evaluator_options(),
                               bn_data=bn_data)
    low, high, num = settings["alpha"]
    alphas = np.linspace(low, high, int(num))
    log(bn_treatment(settings))
    curve = evaluate_curve(evaluator, alphas, splits, log, "interpolation")
    curve["bn"] = bn_treatment(settings)
    curve["negative_variance"] = (np.zeros(len(alphas), dtype=bool) if bn_data is not None
                                  else negative_variance(direction, ctx.model, alphas))
    for split in splits:  # a loss that is not finite has no meaningful accuracy either
        curve[f"{split}_acc"][~np.isfinite(curve[f"{split}_loss"])] = np.nan
    undefined = ~np.isfinite(curve["train_loss"])
    if undefined.any():
        log(f"loss not finite at {int(undefined.sum())} of {len(alphas)} points (α = {alphas[undefined].min():g}.."
            f"{alphas[undefined].max():g}); {int(curve['negative_variance'].sum())} of them extrapolate a BN running "
            "variance below 0")
    summary = {**record(settings, spec["inputs"]), "a": a, "b": b, "not_finite_points": int(undefined.sum()),
               "bn": curve["bn"], "images": {split: len(data) for split, data in splits.items()}}
    save_curve(curve, summary, spec["outputs"]["npz"])


def barrier(alphas: np.ndarray, values: np.ndarray) -> float:
    """The largest rise of `values` along the path above the straight line between its ends (α = 0 and 1;
    Entezari et al. 2021's barrier; Frankle et al. 2020 subtract the ends' mean, the same where the ends agree).
    NaN where a point's value is not finite."""
    return float(np.max(values - ((1 - alphas) * values[0] + alphas * values[-1])))


def connectivity(spec: dict, device_name: str) -> None:
    """The loss and error between two trainings of one model: along the straight line θ_a → θ_b, and along θ_a →
    π(θ_b) with b's hidden units permuted to match a's (`align.align`: by weights, or by the units' correlations on
    the BN subset of the train split where settings' `matching` is activations); BN statistics recomputed at every
    point. The barriers of both paths, on the train subset and the test split."""
    import copy

    from .align import paths_between
    from .interpolation import difference
    from .surface import PlaneEvaluator, evaluate_curve

    ctx = Context.load(spec, device_name, checkpoint_key="a")
    settings = ctx.settings
    other, other_checkpoint = load_checkpoint(spec["inputs"]["b"], ctx.device, settings.get("architecture"))
    same_architecture((spec["inputs"]["a"], spec["inputs"]["b"]), ctx.checkpoint, other_checkpoint)
    splits, bn_data = curve_splits(ctx), ctx.bn_data()
    batches = None
    if settings.get("matching") == "activations":  # the units' correlations over the BN subset of the train split
        from .evaluate import batch_size_for

        size = batch_size_for(ctx.device, settings["batch_size"])
        batches = (ctx.prepare(bn_data.images[i : i + size]) for i in range(0, len(bn_data), size))
    ends, found = paths_between(ctx.model, other, settings["matching_seed"], batches)
    if found is None:
        log(f"{type(other).__name__}: weight matching knows Net, ResNet and PlainNet, not this architecture: only the "
            "linear barrier is computed")
    else:
        log(f"{found['method']} matching: {found['passes']} passes, {sum(found['moved'].values())} units moved")
    alphas = np.linspace(*settings["alpha"][:2], int(settings["alpha"][2]))
    curve, barriers = {"alpha": alphas}, {}
    planes = {path: (difference(ctx.model, end), None) for path, end in ends.items()}
    if "bend" in spec["inputs"]:  # the trained Bezier curve: θ_a + t·d₁ + t²·d₂
        planes["curve"] = bezier_plane(ctx.model, other, spec["inputs"], ctx.device)
    for path, (first, second) in planes.items():
        start = copy.deepcopy(ctx.model)  # the evaluator moves its model in place
        evaluator = PlaneEvaluator(start, first, second, splits["train"], ctx.prepare, **ctx.evaluator_options(),
                                   bn_data=bn_data)
        values = evaluate_curve(evaluator, alphas, splits, log, path,
                                point=(lambda t: (t,)) if second is None else (lambda t: (t, t * t)))
        for split in splits:
            curve[f"{path}_{split}_loss"], curve[f"{path}_{split}_acc"] = values[f"{split}_loss"], values[f"{split}_acc"]
            barriers[f"{path}_{split}_loss"] = barrier(alphas, values[f"{split}_loss"])
            barriers[f"{path}_{split}_error"] = barrier(alphas, 1 - values[f"{split}_acc"])
    for key in [f"{path}_{split}_{value}" for path in ("aligned", "curve") for split in splits
                for value in ("loss", "error")]:
        barriers.setdefault(key, None)  # no alignment for the architecture, no curve trained
    for name, perm in (found or {}).get("permutations", {}).items():
        curve[f"permutation_{name}"] = np.asarray(perm)
    matching = found and {"method": found["method"], "passes": found["passes"], "moved": found["moved"]}
    summary = {**record(settings, spec["inputs"]), "a": spec["inputs"]["a"], "b": spec["inputs"]["b"],
               "barriers": barriers, "matching": matching, "bn": bn_treatment(settings),
               "images": {split: len(data) for split, data in splits.items()}}
    aligned, bent = barriers["aligned_train_loss"], barriers["curve_train_loss"]
    log(f"barrier (train loss): {barriers['linear_train_loss']:.4f} straight"
        + ("" if aligned is None else f", {aligned:.4f} after {found['method'][:-1]} matching")
        + ("" if bent is None else f", {bent:.4f} along the trained curve"))
    save_curve(curve, summary, spec["outputs"]["npz"], at="linear_train_loss")


def bezier_plane(model_a: torch.nn.Module, model_b: torch.nn.Module, inputs: dict, device: torch.device):
    """(d₁, d₂) of the trained curve between the two models (`curve.plane`), from the bend's file, which must have
    been trained between these two checkpoints."""
    from .curve import plane
    from .io import load_torch, sha256

    trained = load_torch(inputs["bend"], "curve")
    bend = {name: value.to(device) for name, value in trained["bend"].items()}
    a, b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    ends = {end: sha256(inputs[end]) for end in ("a", "b")}
    if set(bend) != set(a) or {end: trained.get("data_sha256", {}).get(end) for end in ends} != ends:
        raise UserError(f"{inputs['bend']} holds the bend of a curve between other checkpoints than {inputs['a']} and "
                        f"{inputs['b']}: delete it and rerun")
    return plane({k: v.detach() for k, v in a.items()}, bend, {k: v.detach() for k, v in b.items()})


def random_lines(spec: dict, device_name: str) -> None:
    """The loss along many seeded random directions through θ, the flatness statistics of those lines, and the
    adaptive sharpness on the same images."""
    from .directions import direction_seed, direction_set
    from .evaluate import batch_size_for
    from .geometry import adaptive_sharpness, flatness_stats
    from .surface import lines_through

    ctx = Context.load(spec, device_name)
    settings, options = ctx.settings, ctx.settings["options"]
    data = ctx.subset("data", settings["samples"], "geometry.samples")
    seed = direction_seed(settings["seed"] + 1, ctx.checkpoint["model"])  # another stream than the surface's two
    directions = direction_set(ctx.model, seed, settings["directions"], options["norm"], options["ignore"],
                               options["type"])
    low, high, num = settings["line"]
    alphas = np.linspace(low, high, int(num))
    losses = lines_through(ctx.model, directions, alphas, data, ctx.prepare, settings["batch_size"], log)
    base = evaluate(ctx.model, data, ctx.prepare, settings["batch_size"])[0]
    stats = flatness_stats(alphas, losses, base, settings["delta"])
    sharpness = settings["sharpness"]
    stats.update(adaptive_sharpness(ctx.model, data, ctx.prepare, batch_size_for(ctx.device, settings["batch_size"]),
                                    sharpness["rho_average"], sharpness["rho_worst"], sharpness["draws"],
                                    sharpness["steps"], seed + 1))  # not the directions' stream
    log(f"adaptive sharpness: average {stats['adaptive_average']:.4g} ± {stats['adaptive_average_sd']:.2g}, worst "
        f"{stats['adaptive_worst']:.4g} ± {stats['adaptive_worst_sd']:.2g} over {sharpness['draws']} draws")
    stats.update(model=ctx.checkpoint["model"], loss=base, delta=settings["delta"], line=settings["line"], seed=seed,
                 samples=settings["samples"], **record(settings, spec["inputs"]), versions=versions())
    save_arrays({"alpha": alphas, "loss": losses, "base": base}, spec["outputs"]["npz"])
    save_json(stats, spec["outputs"]["json"])
    log(f"rise@0.5 {stats['rise@0.5']:.4g} ± {stats['rise@0.5_sd']:.3g}, half-width {stats['half_width']:.3f}"
        f" ± {stats['half_width_sd']:.3f} over {len(directions)} directions")


def spectrum(spec: dict, device_name: str) -> None:
    """At θ: the top eigenvalues, the most negative one and the trace of the Hessian, on `repeats` disjoint subsets."""
    from .evaluate import batch_size_for
    from .geometry import HessianOperator, across_subsets, hessian_summary
    from .surface import evaluation_subset

    ctx = Context.load(spec, device_name)
    settings = ctx.settings
    batch = batch_size_for(ctx.device, settings["batch_size"])
    split = load_split(spec["inputs"]["data"])  # loaded once for every subset
    started, summaries = time.monotonic(), []
    for block in range(settings["repeats"]):
        data = evaluation_subset(split, settings["samples"], settings["seed"], "geometry.samples", block).to(ctx.device)
        op = HessianOperator(ctx.model, data, ctx.prepare, batch, settings["params"])  # BN affine after the first
        log(f"{ctx.checkpoint['model']}: subset {block + 1}/{settings['repeats']}, Hessian of the mean loss over "
            f"{len(data)} images, {op.size:,} parameters ({settings['params']})")
        summaries.append(hessian_summary(op, settings["top_k"], settings["probes"], settings["tol"],
                                         settings["seed"] + 2 * block, log, settings["maxiter"]))
    summary = across_subsets(summaries)
    summary.update(model=ctx.checkpoint["model"], seconds=time.monotonic() - started, probes=settings["probes"],
                   repeats=settings["repeats"], samples=settings["samples"], params=settings["params"],
                   **record(settings, spec["inputs"]), versions=versions())
    save_json(summary, spec["outputs"]["json"])
    log(f"λmax {summary['lambda_max']:.4g} ± {summary['lambda_max_sd']:.2g}, trace {summary['trace']:.4g} ± "
        f"{summary['trace_sd']:.2g} over {settings['repeats']} disjoint subsets of {settings['samples']} images; wrote "
        f"{spec['outputs']['json']} in {summary['seconds']:.0f}s")


def density(spec: dict, device_name: str) -> None:
    """At θ: the Hessian's eigenvalue density by stochastic Lanczos quadrature, on the first geometry subset."""
    from pathlib import Path

    from .evaluate import batch_size_for
    from .geometry import HessianOperator, spectral_density
    from .io import save_arrays
    from .surface import evaluation_subset

    ctx = Context.load(spec, device_name)
    settings, options = ctx.settings, ctx.settings["density"]
    data = evaluation_subset(load_split(spec["inputs"]["data"]), settings["samples"], settings["seed"],
                             "geometry.samples").to(ctx.device)
    op = HessianOperator(ctx.model, data, ctx.prepare, batch_size_for(ctx.device, settings["batch_size"]),
                         settings["params"])
    log(f"{ctx.checkpoint['model']}: eigenvalue density of the Hessian over {len(data)} images, {op.size:,} "
        f"parameters ({settings['params']}): {options['runs']} runs x {options['steps']} Lanczos steps")
    started = time.monotonic()
    blob = spectral_density(op.matvec, op.size, options["runs"], options["steps"], options["grid"], options["sigma"],
                            settings["seed"])
    moments = np.nansum(blob["weights"] * blob["nodes"], axis=1)  # vᵀHv per run: trace / n in expectation
    summary = {"model": ctx.checkpoint["model"], "parameters": op.size, "hessian_vector_products": op.products,
               "seconds": time.monotonic() - started, "support": [float(np.nanmin(blob["nodes"])),
                                                                  float(np.nanmax(blob["nodes"]))],
               "trace_per_parameter": float(moments.mean()),
               "trace_per_parameter_sd": float(moments.std(ddof=1)) if len(moments) > 1 else float("nan"),
               **record(settings, spec["inputs"]), "versions": versions()}
    save_arrays(blob, spec["outputs"]["npz"])
    save_json(summary, Path(spec["outputs"]["npz"]).with_suffix(".json"))
    log(f"support [{summary['support'][0]:.4g}, {summary['support'][1]:.4g}], trace/n "
        f"{summary['trace_per_parameter']:.4g} ± {summary['trace_per_parameter_sd']:.2g}; wrote "
        f"{spec['outputs']['npz']} in {summary['seconds']:.0f}s ({op.products} products)")
