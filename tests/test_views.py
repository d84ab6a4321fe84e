"""loss-landscape's other views: direction options, 1-D curves, interpolation, trajectories, ParaView export."""

import copy
import itertools
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import run_job
from lossland.data import Dataset, load_split, normalizer
from lossland.directions import random_directions
from lossland.evaluate import evaluate
from lossland.io import save_torch
from lossland.models import build_model, load_checkpoint
from lossland.surface import PlaneEvaluator, evaluation_subset
from lossland.train import train_model
from lossland.trajectory import trajectory_directions
from test_surface import SETTINGS, random_split, trained_with_directions


def bn_model(name="resnet20", seed=0, **variant):
    torch.manual_seed(seed)
    return trained_bn(build_model(name, **variant))


def trained_bn(model: torch.nn.Module) -> torch.nn.Module:
    """`model` in eval mode with non-trivial BN statistics and affine parameters, as after training."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_ignore_none_gives_1d_directions_equal_to_the_weights():
    model = bn_model()
    first, second = random_directions(model, 3, ignore="none")
    for name, theta in model.named_parameters():
        if theta.dim() <= 1:
            assert torch.equal(first[name], theta.detach()) and torch.equal(second[name], theta.detach()), name
    default, _ = random_directions(model, 3)
    assert torch.equal(first["conv1.weight"], default["conv1.weight"])  # same noise for the >1-D tensors


def test_layer_and_weight_norms_follow_loss_landscape():
    model = bn_model()
    layer, _ = random_directions(model, 4, norm="layer")
    weight, _ = random_directions(model, 4, norm="weight")
    for name, theta in model.named_parameters():
        if theta.dim() <= 1:
            continue
        theta = theta.detach()
        assert torch.linalg.vector_norm(layer[name]).item() == pytest.approx(torch.linalg.vector_norm(theta).item(),
                                                                             rel=1e-5)
        noise = weight[name] / theta  # weight: noise ⊙ θ; layer: the same noise scaled to |θ|
        ratio = layer[name] / noise
        torch.testing.assert_close(ratio, torch.full_like(ratio, ratio.flatten()[0].item()), rtol=1e-4, atol=0)


def test_states_directions_move_the_running_statistics():
    model = bn_model()
    first, second = random_directions(model, 5, ignore="none", kind="states")
    assert torch.equal(first["bn1.running_var"], model.bn1.running_var)
    zeroed, _ = random_directions(model, 5, kind="states")  # 1-D under ignore biasbn: zero, as loss-landscape
    assert torch.count_nonzero(zeroed["bn1.running_mean"]) == 0
    mean, var = model.bn1.running_mean.clone(), model.bn1.running_var.clone()
    data = Dataset(**random_split(20, 2))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    evaluator = PlaneEvaluator(model, first, second, data, prepare, 10, fold_bn=False)
    evaluator.at(0.5, 0.25)
    torch.testing.assert_close(model.bn1.running_mean, mean * 1.75)
    torch.testing.assert_close(model.bn1.running_var, var * 1.75)


@pytest.mark.parametrize("norm,ignore,kind,shortcut", list(itertools.product(
    ["filter", "layer", "weight"], ["biasbn", "none"], ["weights", "states"], ["avgpool", "projection"])))
def test_bn_folding_is_exact_under_every_direction_option(norm, ignore, kind, shortcut):
    model = bn_model(shortcut=shortcut, conv_bias=shortcut == "avgpool")  # the study's variant, Li et al.'s
    data = Dataset(**random_split(24, 4))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    first, second = random_directions(model, 6, norm, ignore, kind)
    plain = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 12, fold_bn=False)
    folded = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 12, fold_bn=True)
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.model.modules())
    bns = 19 + 2 * (shortcut == "projection")
    assert left == (bns if ignore == "none" else 0)  # a BN that a direction moves is never folded
    for a, b in [(0.0, 0.0), (0.3, -0.2), (-0.5, 0.4)]:
        (loss, acc), (folded_loss, folded_acc) = plain.at(a, b), folded.at(a, b)
        assert folded_loss == pytest.approx(loss, rel=1e-5) and folded_acc == acc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_with_directions(tmp_path_factory.mktemp("views"), 64, 40)


SPEC = {"samples": 48, "seed": 0, "batch_size": 20, "fold_bn": True, "precision": "fp32", "compile": False,
        "split": "train"}


def curve_job(root, kind: str, out: str, b: str = "", alpha=(-0.5, 1.5, 5), **changes) -> int:
    """A line (along directions.pt) or an interpolate (model.pt to `b`) job on root's train and test splits."""
    inputs = {"train": root / "train.pt", "test": root / "test.pt"}
    if kind == "line":
        settings = {"measure": "loss", "span": "line", "line": [-1.0, 1.0, 5], **SPEC, **changes}
        inputs.update(checkpoint=root / "model.pt", directions=root / "directions.pt")
    else:
        settings = {"measure": "loss", "span": "interpolation", "alpha": list(alpha), **SPEC, **changes}
        inputs.update(a=root / "model.pt", b=root / b)
    if settings.get("bn") == "recompute":
        inputs["bn_data"] = root / "train.pt"
    return run_job(kind, settings, inputs, {"npz": root / out, "json": (root / out).with_suffix(".json")})


def own_evaluation(root, checkpoint: str, split: str) -> tuple[float, float]:
    model, blob = load_checkpoint(str(root / checkpoint), torch.device("cpu"))
    data = load_split(root / f"{split}.pt")
    data = evaluation_subset(data, min(SPEC["samples"], len(data)), SPEC["seed"])
    return evaluate(model, data, normalizer(blob["config"], torch.device("cpu")), 16)


def test_line_at_zero_is_the_unperturbed_model(trained):
    out = trained / "line.npz"
    assert curve_job(trained, "line", "line.npz") == 0
    with np.load(out) as line:
        np.testing.assert_array_equal(line["alpha"], [-1, -0.5, 0, 0.5, 1])
        for split in ("train", "test"):
            loss, acc = own_evaluation(trained, "model.pt", split)
            assert line[f"{split}_loss"][2] == pytest.approx(loss, rel=1e-6) and line[f"{split}_acc"][2] == acc
            assert line[f"{split}_loss"][0] > line[f"{split}_loss"][2] < line[f"{split}_loss"][4]
    provenance = json.loads((trained / "line.json").read_text())
    assert provenance["images"] == {"train": 48, "test": 40} and provenance["spec"]["line"] == [-1.0, 1.0, 5]


def test_interpolation_ends_are_each_models_own_evaluation(trained):
    other = dict(SETTINGS, seed=3)
    train_model("resnet20", other, trained / "train.pt", trained / "test.pt", trained / "other.pt",
                trained / "other.csv", trained / "other-resume.pt", torch.device("cpu"), log=lambda _: None)
    out = trained / "interp.npz"
    assert curve_job(trained, "interpolate", "interp.npz", "other.pt") == 0
    with np.load(out) as curve:
        np.testing.assert_array_equal(curve["alpha"], [-0.5, 0, 0.5, 1, 1.5])
        for split in ("train", "test"):
            for index, checkpoint in ((1, "model.pt"), (3, "other.pt")):
                loss, acc = own_evaluation(trained, checkpoint, split)  # BN statistics included
                assert curve[f"{split}_loss"][index] == pytest.approx(loss, rel=1e-5), (split, checkpoint)
                assert curve[f"{split}_acc"][index] == acc
    assert own_evaluation(trained, "model.pt", "train") != own_evaluation(trained, "other.pt", "train")


def test_interpolation_refuses_two_architectures_in_one_line(trained, capsys):
    train_model("plainnet20", SETTINGS, trained / "train.pt", trained / "test.pt", trained / "plain.pt",
                trained / "plain.csv", trained / "plain-resume.pt", torch.device("cpu"), log=lambda _: None)
    code = curve_job(trained, "interpolate", "bad.npz", "plain.pt", alpha=(0, 1, 3))
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and "endpoints must be one architecture" in error
    assert not (trained / "bad.npz").exists()


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    root = tmp_path_factory.mktemp("trajectory")
    save_torch(random_split(64, 0), root / "train.pt")
    save_torch(random_split(20, 1), root / "test.pt")
    settings = dict(SETTINGS, epochs=4, snapshots=1)
    train_model("resnet20", settings, root / "train.pt", root / "test.pt", root / "model.pt", root / "history.csv",
                root / "resume.pt", torch.device("cpu"), log=lambda _: None, snapshots_path=root / "snapshots.pt")
    return root, settings


class Stop(Exception):
    pass


def snapshotted_run(snapshotted, folder, log) -> list:
    """train_model on the snapshotted fixture's data and settings, writing into `folder`; its output paths."""
    root, settings = snapshotted
    paths = [folder / name for name in ("model.pt", "history.csv", "resume.pt")]
    train_model("resnet20", settings, root / "train.pt", root / "test.pt", *paths, torch.device("cpu"), log=log,
                snapshots_path=folder / "snapshots.pt")
    return paths


def stop_after(epoch: int):
    """A log function that stops training once epoch `epoch` of 4 is done, as a kill there would."""
    def log(message):
        if f"epoch {epoch}/4" in message:
            raise Stop
    return log


def test_snapshots_are_kept_in_their_own_file_and_survive_an_interrupted_run(snapshotted, tmp_path):
    root, _ = snapshotted
    blob = torch.load(root / "model.pt", weights_only=True)
    snapshots = torch.load(root / "snapshots.pt", weights_only=True)
    assert "snapshots" not in blob  # every job that loads the checkpoint would read them
    assert snapshots["epochs"] == [0, 1, 2, 3, 4] and not (root / "snapshots").exists()
    final = snapshots["states"][-1]
    assert all(torch.equal(final[k], blob["state_dict"][k]) for k in final)

    with pytest.raises(Stop):
        snapshotted_run(snapshotted, tmp_path, stop_after(2))
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [f"epoch000{e}.pt" for e in range(3)]
    snapshotted_run(snapshotted, tmp_path, lambda _: None)
    resumed = torch.load(tmp_path / "snapshots.pt", weights_only=True)
    assert resumed["epochs"] == snapshots["epochs"]
    for a, b in zip(resumed["states"], snapshots["states"]):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_resume_point_whose_snapshots_are_gone_starts_over_to_the_same_bits(snapshotted, tmp_path):
    """Two runs of one training job (an orphan of a killed Snakemake and its rerun): one finished and removed the
    snapshots while the other wrote a resume point after its last epoch. The rerun starts over instead of failing."""
    root, _ = snapshotted
    with pytest.raises(Stop):
        snapshotted_run(snapshotted, tmp_path, stop_after(3))
    (tmp_path / "snapshots" / "epoch0000.pt").unlink()  # the other run's finish removed the folder meanwhile
    logged = []
    paths = snapshotted_run(snapshotted, tmp_path, logged.append)
    assert any("the weight snapshot of epoch 0 is gone" in line and "starting from epoch 1" in line for line in logged)
    assert not any(line.startswith("resuming") for line in logged)
    again = torch.load(tmp_path / "snapshots.pt", weights_only=True)
    expected = torch.load(root / "snapshots.pt", weights_only=True)
    assert again["epochs"] == expected["epochs"] == [0, 1, 2, 3, 4]
    for a, b in zip(again["states"], expected["states"]):
        assert all(torch.equal(a[k], b[k]) for k in a)
    model, clean = (torch.load(path, weights_only=True)["state_dict"] for path in (paths[0], root / "model.pt"))
    assert all(torch.equal(model[k], clean[k]) for k in clean)


def test_pca_directions_are_orthonormal_and_match_numpys_svd(snapshotted):
    root, _ = snapshotted
    model, blob = load_checkpoint(str(root / "model.pt"), torch.device("cpu"))
    states = torch.load(root / "snapshots.pt", weights_only=True)["states"]
    plane = trajectory_directions(model, states, "biasbn", "weights", [7, 5], 0.2)
    names = [n for n, p in model.named_parameters()]
    x = torch.cat([plane["x"][n].flatten() for n in names]).double()
    y = torch.cat([plane["y"][n].flatten() for n in names]).double()
    assert x.norm().item() == pytest.approx(1, abs=1e-6) and y.norm().item() == pytest.approx(1, abs=1e-6)
    assert abs(float(x @ y)) < 1e-6
    final = dict(model.named_parameters())
    matrix = np.stack([np.concatenate([(s[n].double() - final[n].detach().double()).flatten().numpy()
                                       if final[n].dim() > 1 else np.zeros(final[n].numel()) for n in names])
                       for s in states])
    centred = matrix - matrix.mean(0)
    singular = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(plane["explained"].numpy(), singular[:2] ** 2 / (singular ** 2).sum(), rtol=1e-6)
    np.testing.assert_allclose(plane["path"].numpy(), matrix @ np.stack([x.numpy(), y.numpy()]).T, atol=1e-5)
    np.testing.assert_array_equal(plane["path"][-1].numpy(), [0.0, 0.0])  # the final snapshot is the origin
    for axis, column in (("x", 0), ("y", 1)):
        low, high, num = plane["grid"][axis]
        assert low < plane["path"][:, column].min() and high > plane["path"][:, column].max()
    assert plane["grid"]["x"][2] == 7 and plane["grid"]["y"][2] == 5


def test_recomputed_bn_statistics_equal_torchs_update_bn():
    """At a point off θ the evaluator recomputes BN statistics; torch.optim.swa_utils.update_bn on the same weights
    and the same 128-image batches gives the same statistics (an independent implementation)."""
    from torch.optim.swa_utils import update_bn

    model, data = bn_model(), Dataset(**random_split(300, 5))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    first, _ = random_directions(model, 7)
    reference = copy.deepcopy(model)
    evaluator = PlaneEvaluator(model, first, None, data, prepare, 50, bn_data=data)
    evaluator.at(0.7)
    with torch.no_grad():
        for name, theta in reference.named_parameters():
            theta.add_(first[name], alpha=0.7)
    update_bn([prepare(data.images[i : i + 128]) for i in range(0, 300, 128)], reference)
    for (name, ours), (_, theirs) in zip(model.named_buffers(), reference.named_buffers()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, msg=name)
    assert not model.training and not any(m.training for m in model.modules())


def test_recomputed_bn_has_no_undefined_points_where_interpolated_variances_go_negative():
    from lossland.interpolation import difference, negative_variance

    model_a, model_b = bn_model(seed=0), bn_model(seed=1)
    data = Dataset(**random_split(64, 6))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    direction, alphas = difference(model_a, model_b), np.linspace(-1.0, 2.0, 7)
    assert negative_variance(direction, model_a, alphas)[[0, -1]].all()  # extrapolated variances below 0
    interpolated = PlaneEvaluator(copy.deepcopy(model_a), direction, None, data, prepare, 32, fold_bn=False)
    losses = np.array([interpolated.at(float(a))[0] for a in alphas])
    assert np.isnan(losses[[0, -1]]).all()  # loss-landscape's dir_type states: undefined there
    recomputed = PlaneEvaluator(copy.deepcopy(model_a), direction, None, data, prepare, 32, bn_data=data)
    assert np.isfinite([recomputed.at(float(a))[0] for a in alphas]).all()


def test_interpolation_command_recomputes_bn_by_default_and_says_so(trained):
    other = dict(SETTINGS, seed=4)
    train_model("resnet20", other, trained / "train.pt", trained / "test.pt", trained / "b.pt",
                trained / "b.csv", trained / "b-resume.pt", torch.device("cpu"), log=lambda _: None)
    out = trained / "recomputed.npz"
    assert curve_job(trained, "interpolate", "recomputed.npz", "b.pt", bn="recompute", bn_samples=32) == 0
    with np.load(out) as curve:
        assert np.isfinite(curve["train_loss"]).all() and not curve["negative_variance"].any()
        assert "recomputed at every point on 32 training images" in str(curve["bn"])
    assert "recomputed" in json.loads((trained / "recomputed.json").read_text())["bn"]


def test_trajectory_plane_does_not_mirror_when_the_svd_flips_signs(snapshotted, monkeypatch):
    from lossland import trajectory

    root, _ = snapshotted
    model, blob = load_checkpoint(str(root / "model.pt"), torch.device("cpu"))
    states = torch.load(root / "snapshots.pt", weights_only=True)["states"]
    plane = trajectory_directions(model, states, "biasbn", "weights", [5, 5], 0.2)
    svd = torch.linalg.svd

    def flipped(matrix, full_matrices=True):
        u, s, vt = svd(matrix, full_matrices=full_matrices)
        signs = torch.tensor([-1.0 if i % 2 == 0 else 1.0 for i in range(len(s))], dtype=vt.dtype)
        return u * signs, s, vt * signs[:, None]

    monkeypatch.setattr(trajectory.torch.linalg, "svd", flipped)
    again = trajectory_directions(model, states, "biasbn", "weights", [5, 5], 0.2)
    for axis in ("x", "y"):
        assert all(torch.equal(plane[axis][n], again[axis][n]) for n in plane[axis])
    assert torch.equal(plane["path"], again["path"]) and plane["grid"] == again["grid"]
    x = torch.cat([t.flatten() for t in plane["x"].values()])
    assert x[x.abs().argmax()] > 0  # scikit-learn's svd_flip convention


def test_narrow_basins_are_zoomed_into_and_depth_pairs_laid_out_by_family(tmp_path):
    from lossland.plots import basin_window, family_grid, landscapes_figure, plot_landscapes
    from PIL import Image

    x = y = np.linspace(-1, 1, 11)
    xx, yy = np.meshgrid(x, y)

    def surface(width, floor):
        loss = floor + (xx**2 + yy**2) / width**2
        return {"x": x, "y": y, "loss": loss, "acc": np.zeros_like(loss), "capped": loss > 10}

    narrow, wide = surface(0.15, 2.0), surface(1.0, 0.3)
    assert basin_window(wide) is None  # most of the grid below the top level: the whole grid is shown
    low, high = basin_window(narrow)[0]  # below 10 within |x| <= 0.3: one grid step (0.2) beyond, at -0.6..0.6
    assert (low, high) == pytest.approx((-0.6, 0.6)) and basin_window(narrow)[1] == basin_window(narrow)[0]
    assert family_grid(["plainnet110", "resnet56", "resnet110", "plainnet56"]) == [["resnet56", "resnet110"],
                                                                                  ["plainnet56", "plainnet110"]]
    assert family_grid(["net", "resnet56", "plainnet56"]) is None
    surfaces = {"resnet56": wide, "resnet110": wide, "plainnet56": wide, "plainnet110": narrow}
    plot_landscapes(surfaces, tmp_path / "four.png")
    with Image.open(tmp_path / "four.png") as image:
        assert image.size[0] < 1.6 * image.size[1]  # two rows of two, not one row of four
    # across models no panel is zoomed alone: all on the whole plane, then all zoomed to one window below
    figure = landscapes_figure(surfaces)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["resnet56", "resnet110", "plainnet56", "plainnet110",
                                                 "resnet56, zoomed", "resnet110, zoomed", "plainnet56, zoomed",
                                                 "plainnet110, zoomed"]
    for ax in panels[:4]:
        assert ax.get_xlim() == pytest.approx((-1, 1)) and ax.get_ylim() == pytest.approx((-1, 1))
    for ax in panels[4:]:
        assert ax.get_xlim() == pytest.approx((-0.6, 0.6)) and ax.get_ylim() == pytest.approx((-0.6, 0.6))
    assert "every panel zoomed to [-0.6, 0.6]²" in figure.get_suptitle()
    plt.close(figure)
    alone = landscapes_figure({"wide": wide, "narrow": narrow}, shared_axes=False)  # planes of other directions
    assert [lim for ax in alone.axes[:2] for lim in ax.get_xlim()] == pytest.approx([-1, 1, -0.6, 0.6])
    assert alone.axes[1].get_title() == "narrow\nzoomed to its basin: [-0.6, 0.6]²"
    plt.close(alone)
    assert len(landscapes_figure({"a": wide, "b": wide}).axes) == 3  # no narrow basin: one block (and the colour bar)
