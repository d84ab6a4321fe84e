"""The Python API (lossland.api, docs/python.md) on small real models: each number against an exact or independent
computation, and the docs' example run as written."""

import copy
import re

import numpy as np
import pytest
import torch
from conftest import REPO
from lossland import api
from lossland.data import Dataset, normalizer
from lossland.evaluate import evaluate
from test_geometry import class_images, exact, tiny_cnn  # noqa: F401 - the exact Hessian fixture
from torch import nn


@pytest.fixture(scope="module")
def inputs():
    data = class_images(4)
    return normalizer({"normalize": True}, torch.device("cpu"))(data.images), data.labels


def test_the_docs_example_runs_as_written():
    first = re.search(r"```python\n(.*?)```", (REPO / "docs" / "python.md").read_text(), re.S).group(1)
    names: dict = {}
    exec(compile(first, "docs/python.md", "exec"), names)  # noqa: S102 - the docs' own example
    assert names["top"].shape == (2,) and names["top"][0] >= names["top"][1] >= names["lowest"]
    assert names["plane"]["loss"].shape == (3, 3) and names["curve"]["loss"].shape == (5,)
    assert names["flat"]["directions"] == 2 and names["flat"]["losses"].shape == (2, 5)
    assert np.isfinite([names["trace"], names["trace_se"], names["sharp"]["adaptive_worst"]]).all()
    assert np.trapezoid(names["density"]["density"], names["density"]["eigenvalue"]) == pytest.approx(1, abs=1e-3)


def test_the_hessian_equals_the_exact_one(exact, inputs):  # noqa: F811
    _, hessian = exact
    eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    images, labels = inputs
    model = tiny_cnn()
    ours = api.hessian(model, images, labels, params="all", batch_size=16)
    np.testing.assert_allclose(ours.eigenvalues(top_k=3, tol=1e-6), eigenvalues[::-1][:3], rtol=1e-4)
    assert ours.lowest(tol=1e-6) == pytest.approx(eigenvalues[0], rel=1e-3, abs=1e-5)
    trace, error = ours.trace(probes=200)
    assert abs(trace - np.trace(hessian)) < 4 * error and ours.products > 200
    density = ours.density(runs=2, steps=30, points=400)
    mean = np.trapezoid(density["eigenvalue"] * density["density"], density["eigenvalue"])
    assert mean == pytest.approx(eigenvalues.mean(), abs=0.1 * np.abs(eigenvalues).max())  # trace / n, roughly
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), tiny_cnn().state_dict().values()))


def loss_at(model, images, labels, *steps) -> float:
    """By hand: the mean cross-entropy of `model` with each (direction, step) added to its parameters and buffers."""
    moved = copy.deepcopy(model).eval()
    state = moved.state_dict()
    with torch.no_grad():
        for direction, step in steps:
            for name, tensor in direction.items():
                state[name].add_(step * tensor)
        return float(nn.functional.cross_entropy(moved(images), labels))


def unchanged(model, reference) -> bool:
    return all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_surfaces_lines_and_interpolations_equal_the_loss_computed_by_hand(inputs):
    from lossland.directions import random_directions
    from lossland.evaluate import recompute_bn
    from lossland.interpolation import difference

    images, labels = inputs
    model, other = tiny_cnn(), tiny_cnn()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1 * torch.randn_like(p))
    first, second = random_directions(model, 0)
    plane = api.surface(model, images, labels, x=(-1, 1, 3), y=(-0.5, 0.5, 3), batch_size=16)
    assert plane["loss"][1, 1] == pytest.approx(loss_at(model, images, labels), rel=1e-5)
    assert plane["loss"][0, 2] == pytest.approx(loss_at(model, images, labels, (first, 1.0), (second, -0.5)), rel=1e-4)
    assert plane["acc"][1, 1] == evaluate(model, Dataset(images, labels), lambda x: x, 16)[1]
    curve = api.line(model, images, labels, alpha=(-1, 1, 3), batch_size=16)
    assert curve["loss"][0] == pytest.approx(loss_at(model, images, labels, (first, -1.0)), rel=1e-4)
    path = api.interpolation(model, other, images, labels, alpha=(0, 1, 3), batch_size=16)
    assert path["loss"][0] == pytest.approx(loss_at(model, images, labels), rel=1e-5)
    assert path["loss"][2] == pytest.approx(loss_at(other, images, labels), rel=1e-5)
    delta = difference(model, other)
    assert path["loss"][1] == pytest.approx(loss_at(model, images, labels, (delta, 0.5)), rel=1e-4)
    recomputed = api.interpolation(model, other, images, labels, alpha=(0.5, 0.5, 1), bn_images=images[:24],
                                   bn_labels=labels[:24], batch_size=16)
    halfway = copy.deepcopy(model)
    with torch.no_grad():
        for name, tensor in halfway.named_parameters():
            tensor.add_(0.5 * delta[name])
    recompute_bn(halfway, Dataset(images[:24], labels[:24]), lambda x: x)
    assert recomputed["loss"][0] == pytest.approx(loss_at(halfway, images, labels), rel=1e-4)
    assert recomputed["loss"][0] != pytest.approx(path["loss"][1], rel=1e-3)  # the statistics did change
    again = api.surface(model, images, labels, x=(-1, 1, 3), y=(-0.5, 0.5, 3), batch_size=16)
    assert np.array_equal(again["loss"], plane["loss"])  # seeded: the same call, the same numbers
    assert unchanged(model, tiny_cnn())


def test_flatness_lines_are_the_loss_by_hand_and_sharpness_the_jobs(inputs):
    from lossland.directions import direction_set
    from lossland.geometry import adaptive_sharpness, flatness_stats

    images, labels = inputs
    model = tiny_cnn()
    flat = api.flatness(model, images, labels, directions=3, alpha=(-1, 1, 5), delta=0.5, seed=3, batch_size=16)
    directions = direction_set(model, 3, 3)
    assert flat["losses"].shape == (3, 5) and flat["loss"] == pytest.approx(loss_at(model, images, labels), rel=1e-5)
    for row, direction in zip(flat["losses"], directions):
        assert row[0] == pytest.approx(loss_at(model, images, labels, (direction, -1.0)), rel=1e-4)
        assert row[3] == pytest.approx(loss_at(model, images, labels, (direction, 0.5)), rel=1e-4)
    assert flat["half_width"] == flatness_stats(flat["alpha"], flat["losses"], flat["loss"], 0.5)["half_width"]
    sharp = api.sharpness(model, images, labels, draws=2, steps=2, batch_size=16)
    job = adaptive_sharpness(tiny_cnn(), Dataset(images, labels), lambda x: x, 16, 0.1, 0.001, 2, 2, 0)
    assert sharp == job and sharp["adaptive_worst"] > 0
    assert unchanged(model, tiny_cnn())
