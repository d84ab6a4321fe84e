"""The trained Bezier curve between two seeds (lossland/curve.py): the curve as a point of a plane, its bend's
training (seeded, resumable bit for bit) and the connectivity job's path along it."""

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, run_job, study_config
from lossland.curve import Bezier, bezier, plane
from lossland.io import save_torch, sha256
from lossland.models import build, load_checkpoint
from lossland.plan import Plan
from lossland.surface import PlaneEvaluator
from lossland.train import train_model
from test_surface import SETTINGS, random_split

SHAPE = {"classes": 10, "channels": 3, "size": [32, 32]}


def two_nets():
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(build("net", SETTINGS, SHAPE))
    return nets


def parameters(model) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_a_bend_at_the_midpoint_is_the_straight_line_and_the_plane_point_is_the_curve():
    a, b = (parameters(net) for net in two_nets())
    middle = {name: (a[name] + b[name]) / 2 for name in a}
    curve = Bezier(two_nets()[0], a, b, seed=0)
    for t in (0.0, 0.3, 1.0):
        for name, value in curve.weights(t).items():
            torch.testing.assert_close(value, a[name] + t * (b[name] - a[name]), rtol=0, atol=1e-6)
    first, second = plane(a, middle, b)
    assert max(v.abs().max().item() for v in second.values()) < 1e-6  # no bend: no t² term
    # a bent curve: the plane's point at (t, t²) is the Bezier point at t, parameter by parameter
    bend = {name: middle[name] + 0.1 * torch.randn_like(middle[name]) for name in a}
    model = two_nets()[0]
    evaluator = PlaneEvaluator(model, *plane(a, bend, b), None, lambda x: x, fold_bn=False)  # moves, not evaluates
    for t in (0.25, 0.7):
        evaluator.move(t, t * t)
        for name, value in model.named_parameters():
            torch.testing.assert_close(value.detach(), bezier(a[name], bend[name], b[name], t), rtol=1e-5, atol=1e-5)
    trained = sum(p.numel() for p in curve.parameters() if p.requires_grad)
    assert trained == sum(v.numel() for v in a.values())  # only the bend trains


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Two Nets trained one epoch each (seeds 0 and 1) on 96 random images: root/{train,test,a,b}.pt."""
    root = tmp_path_factory.mktemp("curve")
    save_torch(random_split(96, 0), root / "train.pt")
    save_torch(random_split(32, 1), root / "test.pt")
    for name, seed in (("a", 0), ("b", 1)):
        train_model("net", {**SETTINGS, "seed": seed}, root / "train.pt", root / "test.pt", root / f"{name}.pt",
                    root / f"{name}.csv", root / f"{name}-resume.pt", torch.device("cpu"), log=lambda _: None)
    return root


def train_bend(root, tag: str, epochs: int = 3, seed: int = 0) -> int:
    settings = {"model": "net", "seed": seed, "train": {**SETTINGS, "epochs": epochs, "seed": seed}}
    inputs = {"a": root / "a.pt", "b": root / "b.pt", "train": root / "train.pt", "test": root / "test.pt"}
    return run_job("curve", settings, inputs, {"bend": root / f"{tag}.pt", "history": root / f"{tag}.csv"},
                   resume=root / tag / "resume.pt")


def test_the_bend_trains_seeded_and_resumes_bit_identical_after_a_sigterm(seeds, monkeypatch):
    assert train_bend(seeds, "once") == 0
    assert train_bend(seeds, "again") == 0
    once, again = (torch.load(seeds / f"{tag}.pt", weights_only=True) for tag in ("once", "again"))
    assert once["epochs"] == 3 and set(once["bend"]) == set(parameters(load_checkpoint(seeds / "a.pt", "cpu")[0]))
    assert all(torch.equal(once["bend"][k], again["bend"][k]) for k in once["bend"])
    history = (seeds / "once.csv").read_text().splitlines()
    assert len(history) == 4 and history[0].startswith("epoch,train_loss")
    a, b = (parameters(load_checkpoint(seeds / f"{end}.pt", "cpu")[0]) for end in ("a", "b"))
    moved = max((once["bend"][k] - (a[k] + b[k]) / 2).abs().max().item() for k in a)
    assert moved > 1e-4  # trained away from the straight line's midpoint
    # a SIGTERM after epoch 1 (from the job's own log line): one line naming the resume point; the rerun resumes
    import lossland.logs

    real_log = lossland.logs.log

    def log_then_stop(message: str) -> None:
        real_log(message)
        if "epoch 1/3" in message:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(lossland.logs, "log", log_then_stop)
    assert train_bend(seeds, "stopped") != 0 and (seeds / "stopped" / "resume.pt").is_file()
    logged = []
    monkeypatch.setattr(lossland.logs, "log", logged.append)
    assert train_bend(seeds, "stopped") == 0 and not (seeds / "stopped" / "resume.pt").exists()
    assert any(line.startswith("resuming net curve after epoch 1 ") for line in logged), logged  # not a restart
    resumed = torch.load(seeds / "stopped.pt", weights_only=True)
    assert all(torch.equal(once["bend"][k], resumed["bend"][k]) for k in once["bend"])
    histories = [pd.read_csv(seeds / f"{tag}.csv").drop(columns="seconds") for tag in ("once", "stopped")]
    pd.testing.assert_frame_equal(*histories)  # the midpoint's test loss too: BN statistics resumed with the bend
    assert train_bend(seeds, "other", seed=1) == 0
    other = torch.load(seeds / "other.pt", weights_only=True)
    assert not all(torch.equal(once["bend"][k], other["bend"][k]) for k in once["bend"])


def connectivity_along(root, bend: dict, tag: str, ends=("a", "b"), matching: str = "weights") -> tuple[int, dict]:
    """The connectivity job between root/a.pt and root/b.pt with `bend` as its curve's (a bend file recording the
    checkpoints `ends` as those it was trained between), the plan's settings for the smoke preset with two seeds."""
    config = study_config(yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text()),
                          {"models": ["net"], "train": {"seeds": [0, 1]}, "connectivity": {"matching": matching}})
    settings = Plan(config).settings("connectivity", {"model": "net", "seeds": "seeds0-1"})
    assert settings["curve"] is True
    settings.update(samples=32, bn_samples=48)
    save_torch({"model": "net", "bend": bend, "data_sha256": {"a": sha256(root / f"{ends[0]}.pt"),
                                                              "b": sha256(root / f"{ends[1]}.pt")}}, root / f"{tag}.pt")
    inputs = {"a": root / "a.pt", "b": root / "b.pt", "train": root / "train.pt", "test": root / "test.pt",
              "bn_data": root / "train.pt", "bend": root / f"{tag}.pt"}
    outputs = {"npz": root / f"{tag}-path.npz", "json": root / f"{tag}-path.json"}
    return run_job("connectivity", settings, inputs, outputs), settings


def test_the_connectivity_job_along_a_midpoint_bend_finds_the_straight_path(seeds):
    a, b = (parameters(load_checkpoint(seeds / f"{end}.pt", "cpu")[0]) for end in ("a", "b"))
    assert connectivity_along(seeds, {k: (a[k] + b[k]) / 2 for k in a}, "middle")[0] == 0
    with np.load(seeds / "middle-path.npz") as path:
        for key in ("train_loss", "test_loss", "test_acc"):
            np.testing.assert_allclose(path[f"curve_{key}"], path[f"linear_{key}"], rtol=1e-4, atol=1e-5)
    barriers = json.loads((seeds / "middle-path.json").read_text())["barriers"]
    assert barriers["curve_train_loss"] == pytest.approx(barriers["linear_train_loss"], abs=1e-4)
    assert set(barriers) >= {"curve_train_loss", "curve_test_loss", "curve_test_error", "aligned_train_loss"}


def test_the_connectivity_job_along_a_bent_curve_equals_evaluating_each_bezier_point(seeds):
    """A randomly bent curve: at every t the job's loss and accuracy equal the network with the weights
    bezier(a, c, b, t) written in, its BN statistics recomputed on the same images, evaluated on the same images."""
    from lossland.data import load_split, normalizer
    from lossland.evaluate import evaluate, recompute_bn
    from lossland.surface import evaluation_subset

    model, checkpoint = load_checkpoint(seeds / "a.pt", "cpu")
    a, b = parameters(model), parameters(load_checkpoint(seeds / "b.pt", "cpu")[0])
    generator = torch.Generator().manual_seed(3)
    bend = {k: (a[k] + b[k]) / 2 + 0.05 * torch.randn(a[k].shape, generator=generator) for k in a}
    code, settings = connectivity_along(seeds, bend, "bent")
    assert code == 0
    prepare = normalizer(checkpoint["config"], torch.device("cpu"))
    bn_images = evaluation_subset(load_split(seeds / "train.pt"), 48, settings["seed"], "bn_samples")
    splits = {split: evaluation_subset(load_split(seeds / f"{split}.pt"), 32, settings["seed"])
              for split in ("train", "test")}
    with np.load(seeds / "bent-path.npz") as path:
        assert not np.allclose(path["curve_train_loss"][1:-1], path["linear_train_loss"][1:-1])
        for i, t in enumerate(path["alpha"]):
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    parameter.copy_(bezier(a[name], bend[name], b[name], float(t)))
            recompute_bn(model, bn_images, prepare)
            for split, data in splits.items():
                loss, accuracy = evaluate(model, data, prepare, settings["batch_size"])
                assert path[f"curve_{split}_loss"][i] == pytest.approx(loss, rel=1e-4), (split, t)
                assert path[f"curve_{split}_acc"][i] == pytest.approx(accuracy, abs=1e-6), (split, t)


def test_the_connectivity_job_aligns_by_activations_where_asked(seeds):
    """connectivity.matching: activations permutes b's units by their correlations with a's over the job's BN subset
    of the train split (the permutation `align.activation_matching` finds on those images), and the aligned path
    ends where the straight one does (the same function); the default, weights, keeps the settings unchanged."""
    from lossland.align import activation_matching, spec_of
    from lossland.data import load_split, normalizer
    from lossland.surface import evaluation_subset

    a, b = (parameters(load_checkpoint(seeds / f"{end}.pt", "cpu")[0]) for end in ("a", "b"))
    code, settings = connectivity_along(seeds, {k: (a[k] + b[k]) / 2 for k in a}, "activations", matching="activations")
    assert code == 0 and settings["matching"] == "activations"
    assert "matching" not in connectivity_along(seeds, {k: (a[k] + b[k]) / 2 for k in a}, "weights")[1]
    summary = json.loads((seeds / "activations-path.json").read_text())
    assert summary["matching"]["method"] == "activations" and summary["matching"]["passes"] == 1
    assert json.loads((seeds / "weights-path.json").read_text())["matching"]["method"] == "weights"
    (model_a, checkpoint), model_b = load_checkpoint(seeds / "a.pt", "cpu"), load_checkpoint(seeds / "b.pt", "cpu")[0]
    prepare = normalizer(checkpoint["config"], torch.device("cpu"))
    bn_images = evaluation_subset(load_split(seeds / "train.pt"), 48, settings["seed"], "bn_samples").images
    expected = activation_matching(model_a, model_b, spec_of(model_b), [prepare(bn_images)])
    with np.load(seeds / "activations-path.npz") as path:
        for name, perm in expected.items():
            np.testing.assert_array_equal(path[f"permutation_{name}"], perm)
        assert any((perm != np.arange(len(perm))).any() for perm in expected.values())
        for key in ("train_loss", "test_loss", "test_acc"):
            assert path[f"aligned_{key}"][-1] == pytest.approx(path[f"linear_{key}"][-1], rel=1e-4, abs=1e-6)


def test_a_bend_trained_between_other_checkpoints_is_refused_in_one_line(seeds, capsys):
    a, b = (parameters(load_checkpoint(seeds / f"{end}.pt", "cpu")[0]) for end in ("a", "b"))
    assert connectivity_along(seeds, {k: (a[k] + b[k]) / 2 for k in a}, "stale", ends=("a", "a"))[0] != 0
    assert "holds the bend of a curve between other checkpoints than" in capsys.readouterr().err
