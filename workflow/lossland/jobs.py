"""The computing jobs that are not measurements (see `measure` for those, `figures` for figures and tables): data,
training, evaluation, directions; one function per kind (`kinds.KINDS`). Each takes its job spec ({settings, inputs,
outputs}: see `plan`) and the device name."""

import json

import numpy as np
import torch

from .data import load_split, normalizer, prepare_split, split_info
from .device import select_device
from .errors import UserError
from .evaluate import evaluate
from .io import load_torch, save_json, save_torch, sha256
from .logs import log
from .models import count_parameters, load_checkpoint, variant


def prepare_data(spec: dict, device_name: str) -> None:
    s, out = spec["settings"], spec["outputs"]["split"]
    prepare_split(s["source"], s["root"], s["split"], s["download"], s["size"], s["seed"], out, s.get("name", "cifar10"))
    log(f"wrote {out} ({len(load_split(out))} images)")


def train(spec: dict, device_name: str) -> None:
    from .train import train_model

    settings, inputs, outputs = spec["settings"], spec["inputs"], spec["outputs"]
    device = select_device(device_name)
    log(f"training {settings['model']} on {device} with {json.dumps(settings['settings'], sort_keys=True)}")
    metrics = train_model(settings["model"], settings["settings"], inputs["train"], inputs["test"],
                          outputs["checkpoint"], outputs["history"], spec["scratch"]["resume"], device, log,
                          builder=inputs.get("builder"), snapshots_path=outputs.get("snapshots"))
    log(f"done: {metrics}")


def import_checkpoint(spec: dict, device_name: str) -> None:
    """A checkpoint trained elsewhere, as one of this workflow's: its state_dict (unwrapped, DataParallel prefixes
    removed) fitted to the model the config builds, with the settings it is evaluated with and its file's sha256."""
    from .io import load_torch
    from .models import build, fit_state_dict, unwrap_state_dict
    from .train import measured_normalization, model_record

    settings, inputs = spec["settings"], spec["inputs"]
    name, source = settings["model"], inputs["source"]
    info = split_info(inputs["train"])
    shape = {"classes": len(info["classes"]), "channels": info["channels"], "size": info["size"]}
    model = build(name, settings["settings"], shape)
    fit_state_dict(model, unwrap_state_dict(load_torch(source, "checkpoint"), source), source)
    config = {**variant(name, settings["settings"]), **measured_normalization(settings["settings"], info)}
    checkpoint = dict(model=name, state_dict=model.state_dict(), config=config, epochs=None, metrics={},
                      source={"path": source, "sha256": sha256(source)},
                      **model_record(model, shape, info["classes"], inputs.get("builder")))
    save_torch(checkpoint, spec["outputs"]["checkpoint"])
    log(f"imported {source} as {name}: {checkpoint['parameters']:,} parameters, {len(checkpoint['layers'])} layers")


def evaluate_model(spec: dict, device_name: str) -> None:
    device = select_device(device_name)
    model, checkpoint = load_checkpoint(spec["inputs"]["checkpoint"], device, spec["settings"].get("architecture"))
    prepare = normalizer(checkpoint["config"], device)
    result = {"model": checkpoint["model"], **variant(checkpoint["model"], checkpoint["config"]),
              "params": count_parameters(model), "epochs": checkpoint["epochs"],
              "precision": checkpoint["config"].get("precision"),  # what training ran (auto resolved)
              **{key: checkpoint[key] for key in ("layers", "builder_sha256", "source") if key in checkpoint}}
    for split in ("train", "test"):
        data = load_split(spec["inputs"][split]).to(device)
        loss, acc = evaluate(model, data, prepare, spec["settings"]["batch_size"])
        result.update({f"{split}_loss": loss, f"{split}_acc": acc})
    save_json(result, spec["outputs"]["json"])
    log(f"{result}")


def random_plane(spec: dict, device_name: str) -> None:
    """A plane's two seeded random directions (Li et al.: filter-normalized, biases and BN left out by default)."""
    from .directions import cosine, direction_seed, random_directions

    settings, path = spec["settings"], spec["inputs"]["checkpoint"]
    model, checkpoint = load_checkpoint(path, torch.device("cpu"), settings.get("architecture"))
    seed = direction_seed(settings["seed"], checkpoint["model"])
    options = {key: settings[key] for key in ("norm", "ignore", "type")}
    first, second = random_directions(model, seed, options["norm"], options["ignore"], options["type"])
    blob = {"x": first, "y": second, "seed": seed, "cosine": cosine(first, second), "options": options,
            "checkpoint_sha256": sha256(path)}
    log(f"directions for {checkpoint['model']}: seed {seed}, {options}, cosine {blob['cosine']:.6f}")
    save_torch(blob, spec["outputs"]["directions"])


def trajectory_plane(spec: dict, device_name: str) -> None:
    """The plane of the optimizer's path: PCA of the weight snapshots' offsets from the trained point."""
    settings, path = spec["settings"], spec["inputs"]["checkpoint"]
    model, checkpoint = load_checkpoint(path, torch.device("cpu"), settings.get("architecture"))
    blob = trajectory_directions(model, checkpoint, path, spec["inputs"]["snapshots"], settings)
    save_torch(blob, spec["outputs"]["directions"])


def hessian_plane(spec: dict, device_name: str) -> None:
    save_torch(hessian_directions(spec, device_name), spec["outputs"]["directions"])


def hessian_directions(spec: dict, device_name: str) -> dict:
    """The plane of the Hessian's top two eigenvectors (unit vectors over `geometry.params`, zero elsewhere), on the
    geometry's first image subset; its range ±r with ½·λ1·r² = `rise` (the quadratic model's rise along v1)."""
    from .directions import cosine
    from .evaluate import batch_size_for
    from .geometry import HessianOperator, top_eigenvectors
    from .surface import evaluation_subset

    settings, path = spec["settings"], spec["inputs"]["checkpoint"]
    device = select_device(device_name)
    model, checkpoint = load_checkpoint(path, device, settings.get("architecture"))
    names = {id(p): name for name, p in model.named_parameters()}
    shapes = {name: p.shape for name, p in model.named_parameters()}
    data = evaluation_subset(load_split(spec["inputs"]["data"]), settings["samples"], settings["seed"],
                             "geometry.samples").to(device)
    op = HessianOperator(model, data, normalizer(checkpoint["config"], device),
                         batch_size_for(device, settings["batch_size"]), settings["params"])
    values, vectors = top_eigenvectors(op, 2, settings["tol"], settings["seed"], settings["maxiter"])
    planes = []
    for vector in vectors:  # unit vectors over op.params, zero on every other parameter
        pieces = op._split(torch.as_tensor(vector, dtype=torch.float32, device=device))
        direction = {name: torch.zeros(shape) for name, shape in shapes.items()}
        direction.update({names[id(p)]: piece.cpu().clone() for p, piece in zip(op.params, pieces)})
        planes.append(direction)
    if values[0] <= 0:
        raise UserError(f"the Hessian of {path} has no positive eigenvalue ({values[0]:.4g}): no Hessian plane")
    reach = float(np.sqrt(2 * settings["rise"] / values[0]))
    (nx, ny) = settings["points"]
    log(f"Hessian plane of {checkpoint['model']}: λ1 {values[0]:.6g}, λ2 {values[1]:.6g} over {len(data)} images, "
        f"{op.size:,} parameters ({settings['params']}); range ±{reach:.4g} ({op.products} products)")
    return {"x": planes[0], "y": planes[1], "seed": None, "cosine": cosine(planes[0], planes[1]),
            "eigenvalues": values.tolist(), "grid": {"x": [-reach, reach, nx], "y": [-reach, reach, ny]},
            "options": {"span": "hessian", "params": settings["params"]}, "checkpoint_sha256": sha256(path)}


def trajectory_directions(model, checkpoint: dict, path: str, snapshots_path: str, settings: dict) -> dict:
    from .trajectory import trajectory_directions as pca_plane

    snapshots = load_torch(snapshots_path, "weight snapshots")
    final = snapshots["states"][-1]
    if any(not torch.equal(final[name], value.cpu()) for name, value in checkpoint["state_dict"].items()):
        raise UserError(f"{snapshots_path} is not from the training of {path} (its last snapshot differs from the "
                        "checkpoint's weights): delete both and rerun the workflow")
    if len(snapshots["epochs"]) < 3:
        raise UserError(f"{snapshots_path} holds fewer than 3 weight snapshots: set "
                        f"train.models.{checkpoint['model']}.snapshots to N <= epochs / 2 and retrain")
    blob = pca_plane(model, snapshots["states"], settings["ignore"], settings["type"], settings["grid"],
                     settings["margin"])
    blob.update(epochs=snapshots["epochs"], options={"ignore": settings["ignore"], "type": settings["type"]},
                checkpoint_sha256=sha256(path), seed=None, cosine=0.0)
    explained = ", ".join(f"{100 * float(v):.1f}%" for v in blob["explained"])
    log(f"trajectory of {checkpoint['model']}: {len(snapshots['epochs'])} snapshots, explained variance {explained}"
        f" (Li et al. report 40-90% in two components); grid {blob['grid']}")
    return blob
