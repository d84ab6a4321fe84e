import copy
import json

import numpy as np
import pytest
import torch
from conftest import make_directions, run_job
from lossland.data import Dataset, normalizer
from lossland.directions import random_directions
from lossland.evaluate import evaluate
from lossland.io import save_torch
from lossland.models import build_model
from lossland.surface import PlaneEvaluator, read_chunk
from lossland.train import train_model

SETTINGS = dict(optimizer="adam", lr=1e-3, momentum=0.9, nesterov=False, weight_decay=0.0, batch_size=16,
                epochs=1, schedule={"type": "none"}, augment=False, normalize=True, seed=0, eval_batch_size=32,
                precision="fp32", compile=False)


def random_split(count: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return {"images": images, "labels": torch.arange(count) % 10}


def trained_with_directions(root, train_images: int, test_images: int):
    """root/{train,test}.pt of random images, model.pt: resnet20 trained 1 epoch on them, directions.pt."""
    save_torch(random_split(train_images, 0), root / "train.pt")
    save_torch(random_split(test_images, 1), root / "test.pt")
    train_model("resnet20", SETTINGS, root / "train.pt", root / "test.pt", root / "model.pt", root / "history.csv",
                root / "resume.pt", torch.device("cpu"), log=lambda _: None)
    make_directions(root)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_with_directions(tmp_path_factory.mktemp("surface"), 64, 32)


def landscape(chunks: int, **changes) -> dict:
    """A plane chunk job's settings (plan.Plan.settings for kind surface, less the chunk index)."""
    return {"measure": "loss", "span": "plane", "x": [-1.0, 1.0, 3], "y": [-0.5, 0.5, 3], "chunks": chunks,
            "split": "train", "samples": 48, "seed": 0, "batch_size": 20, "fold_bn": True, "precision": "fp32",
            "compile": False, "cap": None, **changes}


def compute_surface(root, chunks: int, tag: str, directions: str = "directions.pt", **changes) -> dict:
    settings = landscape(chunks, **changes)
    inputs = {"checkpoint": root / "model.pt", "directions": root / directions, "data": root / "train.pt"}
    paths = [root / f"{tag}-chunk{chunk}.csv" for chunk in range(chunks)]
    for chunk, path in enumerate(paths):
        assert run_job("landscape_chunk", {**settings, "chunk": chunk}, inputs, {"csv": path}) == 0
    code = run_job("surface", settings, {**inputs, "chunks": paths},
                   {"npz": root / f"{tag}.npz", "json": root / f"{tag}.json"})
    assert code == 0
    with np.load(root / f"{tag}.npz") as blob:
        return {key: blob[key] for key in blob.files}


def test_one_chunk_and_three_chunks_give_the_same_surface(trained):
    whole, split = compute_surface(trained, 1, "one"), compute_surface(trained, 3, "three")
    assert whole["loss"].shape == (3, 3) and whole["acc"].shape == (3, 3)
    np.testing.assert_array_equal(whole["x"], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(whole["y"], [-0.5, 0.0, 0.5])
    for key in ("loss", "acc"):
        np.testing.assert_array_equal(whole[key], split[key])
    assert np.isfinite(whole["loss"]).all() and whole["loss"].std() > 0
    provenance = json.loads((trained / "three.json").read_text())
    assert provenance["spec"]["samples"] == 48 and provenance["chunks"] == 3 and len(provenance["inputs"]["checkpoint"]) == 64


def test_surface_origin_is_the_unperturbed_model(trained):
    surface = compute_surface(trained, 1, "origin")
    blob = torch.load(trained / "model.pt", weights_only=True)
    model = build_model("resnet20")
    model.load_state_dict(blob["state_dict"])
    from lossland.data import load_split
    from lossland.surface import evaluation_subset

    data = evaluation_subset(load_split(trained / "train.pt"), 48, 0)
    loss, acc = evaluate(model, data, normalizer({"normalize": True}, torch.device("cpu")), 20)
    assert surface["loss"][1, 1] == pytest.approx(loss, rel=1e-6)
    assert surface["acc"][1, 1] == acc


def test_plane_evaluator_moves_along_the_directions_and_back():
    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    data = Dataset(**{k: v for k, v in random_split(40, 3).items()})
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    before = evaluate(model, data, prepare, 16)
    first, second = random_directions(model, 5)
    evaluator = PlaneEvaluator(model, first, second, data, prepare, 16, fold_bn=False)
    theta = {k: v.clone() for k, v in model.state_dict().items()}
    evaluator.at(0.3, -0.2)
    torch.testing.assert_close(model.conv1.weight, theta["conv1.weight"] + 0.3 * first["conv1.weight"]
                               - 0.2 * second["conv1.weight"])
    assert torch.equal(model.bn1.weight, theta["bn1.weight"])  # zero direction for BN
    assert torch.equal(model.bn1.running_mean, theta["bn1.running_mean"])
    assert evaluator.at(0.0, 0.0) == before


def test_stale_chunk_is_refused(trained, capsys):
    compute_surface(trained, 1, "fresh")
    make_directions(trained, seed=7, out="other.pt")
    inputs = {"checkpoint": trained / "model.pt", "directions": trained / "other.pt", "data": trained / "train.pt",
              "chunks": [trained / "fresh-chunk0.csv"]}
    outputs = {"npz": trained / "stale.npz", "json": trained / "stale.json"}
    code = run_job("surface", landscape(1), inputs, outputs)
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith(f"error: {trained / 'fresh-chunk0.csv'} is stale (its directions differ")
    assert "\n" not in error and not (trained / "stale.npz").exists()
    code = run_job("surface", landscape(1, samples=40), {**inputs, "directions": trained / "directions.pt"},
                   outputs)
    assert code == 2 and "is stale (its samples differ" in capsys.readouterr().err
    frame, provenance = read_chunk(trained / "fresh-chunk0.csv")
    assert len(frame) == 9 and provenance["spec"]["seed"] == 0 and "chunk" not in provenance["spec"]
    assert set(provenance["inputs"]) == {"checkpoint", "directions", "data"}



def test_a_chunk_or_surface_damaged_after_writing_is_refused_in_one_line(trained, capsys):
    """The chunk's provenance line holds its rows' sha256, every .npz its arrays' sha256: truncating or editing
    either after it was written stops the job that reads it, naming the file."""
    compute_surface(trained, 2, "sealed")
    chunk = trained / "sealed-chunk1.csv"
    inputs = {"checkpoint": trained / "model.pt", "directions": trained / "directions.pt", "data": trained / "train.pt",
              "chunks": [trained / "sealed-chunk0.csv", chunk]}
    outputs = {"npz": trained / "merged.npz", "json": trained / "merged.json"}
    lines = chunk.read_text().splitlines(keepends=True)
    for damaged in ("".join(lines[:-1]), "".join(lines).replace(",0.", ",1.", 1)):  # truncated; one value edited
        chunk.write_text(damaged)
        assert run_job("surface", landscape(2), inputs, outputs) == 2
        error = capsys.readouterr().err.strip()
        assert error == (f"error: chunk {chunk} does not match the content hash in its provenance line (truncated "
                         "or edited after it was written): delete it and rerun the workflow")
        assert not (trained / "merged.npz").exists()
    surface = trained / "sealed.npz"
    plot = {"surface": surface, "metrics": trained / "metrics.json"}
    (trained / "metrics.json").write_text('{"test_acc": 0.5}')
    good = dict(np.load(surface))
    np.savez(surface, **{**good, "loss": good["loss"] + 1e-9})  # edited by hand, old hash kept
    assert run_job("plot_landscape", {"model": "resnet20"}, plot, {"png": trained / "s.png"}) == 2
    assert capsys.readouterr().err.strip() == (f"error: {surface} does not match the content hash written with it "
                                               "(edited or damaged after it was written): delete it and rerun the "
                                               "workflow")
    surface.write_bytes(surface.read_bytes()[:300])
    assert run_job("plot_landscape", {"model": "resnet20"}, plot, {"png": trained / "s.png"}) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {surface} is unreadable (") and error.endswith("delete it and rerun the workflow")
    assert "\n" not in error and not (trained / "s.png").exists()


def test_a_full_disk_leaves_no_partial_output_and_the_rerun_completes(trained, capsys, monkeypatch):
    import errno
    import os

    settings = {**landscape(1), "chunk": 0}
    inputs = {"checkpoint": trained / "model.pt", "directions": trained / "directions.pt", "data": trained / "train.pt"}
    dest = trained / "full" / "chunk0.csv"

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)  # where a full disk shows up for buffered writes
        assert run_job("landscape_chunk", settings, inputs, {"csv": dest}) == 2
    assert capsys.readouterr().err.strip() == (f"error: no space left to write {dest} (No space left on device); "
                                               "nothing was written: free space on its file system and rerun")
    assert list(dest.parent.iterdir()) == []
    assert run_job("landscape_chunk", settings, inputs, {"csv": dest}) == 0
    compute_surface(trained, 1, "clean")
    assert dest.read_text() == (trained / "clean-chunk0.csv").read_text()


VARIANTS = [("resnet20", {}), ("plainnet20", {}), ("net", {}), ("resnet20", {"shortcut": "avgpool", "conv_bias": True}),
            ("resnet20", {"shortcut": "projection"}), ("plainnet20", {"conv_bias": True})]


@pytest.mark.parametrize("name,variant", VARIANTS, ids=[f"{n}-{'-'.join(map(str, v.values()))}" for n, v in VARIANTS])
def test_bn_folding_gives_the_same_surface_values(name, variant):
    torch.manual_seed(0)
    model = build_model(name, **variant)
    for module in model.modules():  # non-trivial running statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
        if isinstance(module, torch.nn.Conv2d) and module.bias is not None:
            module.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    data = Dataset(**random_split(40, 4))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    first, second = random_directions(model, 5)
    plain = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 16, fold_bn=False)
    folded = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 16, fold_bn=True)
    folded_bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.model.modules())
    assert folded_bns == (4 if name == "net" else 0)  # Net's BN follows a ReLU: nothing to fold
    for a, b in [(0.0, 0.0), (0.4, -0.3), (-1.0, 1.0)]:
        (loss, acc), (folded_loss, folded_acc) = plain.at(a, b), folded.at(a, b)
        assert folded_loss == pytest.approx(loss, rel=1e-5) and folded_acc == acc


def test_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    data = Dataset(**random_split(40, 4))
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    fp32 = evaluate(model, data, prepare, 16)
    bf16 = evaluate(model, data, prepare, 16, precision="bf16")
    assert bf16[0] == pytest.approx(fp32[0], rel=0.05) and bf16[0] != fp32[0]


def test_capped_points_are_certified_bounds_and_the_rest_are_bit_identical(trained):
    exact = compute_surface(trained, 1, "uncapped", x=[-1.0, 1.0, 7], y=[-1.0, 1.0, 7], batch_size=8)
    cap = float(np.median(exact["loss"]))  # half the grid above it
    capped = compute_surface(trained, 2, "capped", x=[-1.0, 1.0, 7], y=[-1.0, 1.0, 7], batch_size=8, cap=cap)
    below = exact["loss"] <= cap
    assert 10 <= below.sum() <= 39 and capped["capped"].dtype == bool
    np.testing.assert_array_equal(capped["loss"][below], exact["loss"][below])  # bit for bit
    np.testing.assert_array_equal(capped["acc"][below], exact["acc"][below])
    stopped = capped["capped"]
    assert stopped.sum() > 0 and not stopped[below].any()
    assert (capped["loss"][stopped] > cap).all() and (capped["loss"][stopped] <= exact["loss"][stopped]).all()
    assert np.isnan(capped["acc"][stopped]).all() and not np.isnan(capped["acc"][~stopped]).any()
    frame, provenance = read_chunk(trained / "capped-chunk0.csv")
    assert provenance["spec"]["cap"] == cap and set(frame["capped"]) <= {0, 1}
    record = json.loads((trained / "capped.json").read_text())
    assert record["capped_points"] == int(stopped.sum()) and record["spec"]["cap"] == cap


def test_evaluation_subset_order_is_a_seeded_shuffle_not_class_blocks():
    from lossland.surface import evaluation_subset

    labels = torch.arange(100) // 10  # stored class by class, as a prepared ImageFolder split
    data = Dataset(torch.zeros(100, 3, 32, 32, dtype=torch.uint8), labels)
    subset = evaluation_subset(data, 60, 0)
    assert len(set(subset.labels[:16].tolist())) >= 6  # the first batch already sees most classes
    assert torch.equal(subset.labels, evaluation_subset(data, 60, 0).labels)
    assert sorted(subset.labels.tolist()) != subset.labels.tolist()
