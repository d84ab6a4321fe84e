"""The Python API (lossland.api, docs/python.md) on small real models: each number against an exact or independent
computation, and the docs' example run as written."""

import re

import numpy as np
import pytest
import torch
from conftest import REPO
from lossland import api
from lossland.data import Dataset, normalizer
from lossland.evaluate import evaluate
from test_geometry import class_images, exact, tiny_cnn  # noqa: F401 - the exact Hessian fixture


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


def test_surfaces_lines_and_interpolations_hit_the_model_at_their_origin(inputs):
    images, labels = inputs
    model, other = tiny_cnn(), tiny_cnn()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1 * torch.randn_like(p))
    loss, acc = evaluate(model, Dataset(images, labels), lambda x: x, 16)
    plane = api.surface(model, images, labels, x=(-1, 1, 3), y=(-0.5, 0.5, 3), batch_size=16)
    assert plane["loss"][1, 1] == pytest.approx(loss, rel=1e-5) and plane["acc"][1, 1] == acc
    assert plane["loss"].shape == (3, 3) and not np.allclose(plane["loss"], loss)
    curve = api.line(model, images, labels, alpha=(-1, 1, 3), batch_size=16)
    assert curve["loss"][1] == pytest.approx(loss, rel=1e-5) and curve["loss"][0] == pytest.approx(plane["loss"][1, 0])
    path = api.interpolation(model, other, images, labels, alpha=(0, 1, 3), batch_size=16)
    loss_b = evaluate(other, Dataset(images, labels), lambda x: x, 16)[0]
    assert path["loss"][0] == pytest.approx(loss, rel=1e-5) and path["loss"][-1] == pytest.approx(loss_b, rel=1e-5)
    again = api.surface(model, images, labels, x=(-1, 1, 3), y=(-0.5, 0.5, 3), batch_size=16)
    assert np.array_equal(again["loss"], plane["loss"])  # seeded: the same call, the same numbers


def test_flatness_and_sharpness_are_the_jobs_statistics(inputs):
    from lossland.geometry import flatness_stats

    images, labels = inputs
    flat = api.flatness(tiny_cnn(), images, labels, directions=3, alpha=(-1, 1, 5), delta=0.5, batch_size=16)
    assert flat["losses"].shape == (3, 5) and flat["losses"][:, 2] == pytest.approx(flat["loss"], rel=1e-5)
    assert flat["half_width"] == flatness_stats(flat["alpha"], flat["losses"], flat["loss"], 0.5)["half_width"]
    sharp = api.sharpness(tiny_cnn(), images, labels, draws=2, steps=2, batch_size=16)
    assert sharp["adaptive_worst"] > 0 and np.isfinite(sharp["adaptive_average"])
