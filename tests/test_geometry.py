"""Curvature and flatness numbers, checked against exact computations on small real cases."""

import json

import numpy as np
import pytest
import torch
from conftest import run_job
from lossland.data import CLASSES, Dataset, normalizer
from lossland.errors import UserError
from lossland.geometry import (
    HessianOperator,
    SpectrumWalk,
    across_subsets,
    extreme_eigenvalues,
    flatness_stats,
    hutchinson_trace,
    lanczos_ends,
    spectrum_ends,
)
from lossland.surface import serpentine_order
from scipy.sparse.linalg import LinearOperator, aslinearoperator, eigsh
from torch import nn


def class_images(per_class: int) -> Dataset:
    """`per_class` 32×32 images of each of the 10 classes, made here: a mean colour per class plus seeded noise, as
    tests/test_own_model.py makes its ImageFolder tree, but smooth (8×8 noise upsampled, as natural images' power
    sits at low frequencies): learnable, not trivial, and no data set needed."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for label in range(len(CLASSES)):
        base = np.array([25 * label, 255 - 25 * label, 60 + 15 * label], dtype=float)
        for _ in range(per_class):
            noise = np.kron(rng.normal(0, 60, (8, 8, 3)), np.ones((4, 4, 1))) + rng.normal(0, 10, (32, 32, 3))
            images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
            labels.append(label)
    return Dataset(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels))


def tiny_cnn() -> nn.Module:
    """290 parameters: conv 3→4 (stride 2), eval-mode BN with real statistics, ReLU, 2×2 pool, linear 16→10."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(16, 10))
    bn = model[1]
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 1.5)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


def exact_loss(model: nn.Module, data: Dataset, prepare):
    """The mean loss of `model` on `data` as a function of its parameters flattened (float64, PyTorch's own
    BatchNorm2d in eval mode), and those parameters now: for torch.autograd.functional.hessian."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
    buffers = {k: v.double() for k, v in model.named_buffers()}
    double = tiny_cnn().double()

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = flat[start : start + shape.numel()].view(shape)
            start += shape.numel()
        logits = torch.func.functional_call(double, {**params, **buffers}, (prepare(data.images).double(),))
        return nn.functional.cross_entropy(logits, data.labels)

    return loss_of, theta


@pytest.fixture(scope="module")
def exact():
    """The tiny model on 40 images, its Hessian operator and the exact Hessian (autograd.functional)."""
    model, data = tiny_cnn(), class_images(4)  # the exact Hessian: of this model, with PyTorch's own BatchNorm2d
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    op = HessianOperator(tiny_cnn(), data, prepare, batch_size=16, params="all")  # same weights; its BN becomes affine
    loss_of, theta = exact_loss(model, data, prepare)
    hessian = torch.autograd.functional.hessian(loss_of, theta).numpy()
    assert isinstance(model[1], nn.BatchNorm2d) and not isinstance(op.model[1], nn.BatchNorm2d)
    assert op.size == 290 and hessian.shape == (290, 290)
    return op, hessian


def test_hessian_vector_products_equal_the_exact_hessian(exact):
    op, hessian = exact
    v = np.random.default_rng(0).standard_normal(op.size)
    np.testing.assert_allclose(op.matvec(v), hessian @ v, rtol=1e-4, atol=1e-5 * np.abs(hessian @ v).max())


def test_a_one_batch_operator_keeps_its_graph_with_the_same_bits_and_rebuilds_it_when_the_weights_move(exact):
    _, hessian = exact
    data, prepare = class_images(4), normalizer({"normalize": True}, torch.device("cpu"))
    kept = HessianOperator(tiny_cnn(), data, prepare, batch_size=40, params="all")  # one batch: the graph is kept
    fresh = HessianOperator(tiny_cnn(), data, prepare, batch_size=20, params="all")  # two: built for each product
    v, w = np.random.default_rng(1).standard_normal((2, kept.size))
    first = kept.matvec(v)
    graph = kept._graph[1]
    np.testing.assert_allclose(first, hessian @ v, rtol=1e-4, atol=1e-5 * np.abs(hessian @ v).max())
    np.testing.assert_allclose(kept.matvec(w), fresh.matvec(w), rtol=1e-4, atol=1e-5 * np.abs(hessian @ w).max())
    assert kept._graph[1] is graph and np.array_equal(kept.matvec(v), first)  # the same graph, the same bits
    unkept = HessianOperator(tiny_cnn(), data, prepare, batch_size=40, params="all")
    unkept._graph = None
    grads = torch.autograd.grad(next(unkept.loss_and_grad_batches()), unkept.params, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, unkept._split(torch.as_tensor(v, dtype=torch.float32))))
    rebuilt = torch.cat([h.flatten() for h in torch.autograd.grad(dot, unkept.params)]).double().numpy()
    assert np.array_equal(rebuilt, first)  # a kept graph's product is bit for bit the product built afresh
    for moving in (kept, fresh):  # weights moved in place, as an eigenvalue map moves them between its points
        with torch.no_grad():
            moving.params[0].add_(0.05)
    moved = kept.matvec(v)
    assert kept._graph[1] is not graph and not np.allclose(moved, first, rtol=1e-3)
    np.testing.assert_allclose(moved, fresh.matvec(v), rtol=1e-4, atol=1e-5 * np.abs(moved).max())  # float32 sums
    graph = kept._graph[1]
    for moving in (kept, fresh):  # BN statistics moved alone (directions of type states move them too)
        with torch.no_grad():
            moving.model[1].running_var.mul_(1.5)
    stats_moved = kept.matvec(v)
    assert kept._graph[1] is not graph and not np.allclose(stats_moved, moved, rtol=1e-3)
    np.testing.assert_allclose(stats_moved, fresh.matvec(v), rtol=1e-4, atol=1e-5 * np.abs(stats_moved).max())


def test_top_and_lowest_eigenvalues_equal_the_exact_ones(exact):
    op, hessian = exact
    eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    assert eigenvalues[0] < 0  # ReLU nets at random weights have negative curvature: the test has something to find
    top, lowest = extreme_eigenvalues(op.linear_operator(), tol=1e-10, seed=0, top_k=3)
    np.testing.assert_allclose(top, eigenvalues[::-1][:3], rtol=1e-4)
    assert lowest == pytest.approx(eigenvalues[0], rel=1e-4)


def test_the_weights_hessian_is_the_exact_hessians_block_of_the_weights(exact):
    """geometry.params: weights = the >1-D tensors (conv 108 + linear 160 of the 290 entries); its eigenvalues are
    those of that block of the exact Hessian, which differ from the whole Hessian's (interlacing)."""
    _, hessian = exact
    data = class_images(4)
    op = HessianOperator(tiny_cnn(), data, normalizer({"normalize": True}, torch.device("cpu")), 16, "weights")
    rows = np.r_[0:108, 120:280]  # conv weight, then (after conv bias 4, BN weight 4, BN bias 4) linear weight
    block = hessian[np.ix_(rows, rows)]
    assert op.size == 268
    v = np.random.default_rng(1).standard_normal(op.size)
    np.testing.assert_allclose(op.matvec(v), block @ v, rtol=1e-4, atol=1e-5 * np.abs(block @ v).max())
    exact_block = np.linalg.eigvalsh((block + block.T) / 2)
    (largest,), lowest = extreme_eigenvalues(op.linear_operator(), tol=1e-10, seed=0)
    assert largest == pytest.approx(exact_block[-1], rel=1e-4) and lowest == pytest.approx(exact_block[0], rel=1e-4)
    whole = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    assert abs(whole[-1] - exact_block[-1]) > 1e-3 * whole[-1]  # the parameter set matters: it must be stated


EXACT_SPECTRA: dict[int, np.ndarray] = {}  # walk_plane's points: the same Hessians at every tolerance and budget


def exact_spectrum(loss_of, point: torch.Tensor, index: int) -> np.ndarray:
    """The exact ascending eigenvalues of the Hessian of `loss_of` at walk_plane's point `index` (computed once)."""
    if index not in EXACT_SPECTRA:
        EXACT_SPECTRA[index] = np.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, point).numpy())
    return EXACT_SPECTRA[index]


def walk_plane(budget: int = 24, count: int = 9, tol: float = 1e-3):
    """The tiny CNN's Hessian over a 3×3 plane of random directions, walked in serpentine order (its first `count`):
    per point (the exact ascending eigenvalues, the walk's (λmax, λmin), how it solved them, its products, a cold
    run's ends and products)."""
    data, prepare = class_images(4), normalizer({"normalize": True}, torch.device("cpu"))
    model = tiny_cnn()
    op = HessianOperator(model, data, prepare, batch_size=40, params="all")
    loss_of, theta = exact_loss(tiny_cnn(), data, prepare)
    first, second = torch.randn(2, theta.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    first, second = (0.3 * d / d.norm() * theta.norm() for d in (first, second))
    axis = np.linspace(-1, 1, 3)
    walk, points = SpectrumWalk(tol, seed=0, maxiter=1000, budget=budget), []
    for index in serpentine_order(np.arange(9), 3)[:count]:
        point = theta + axis[index % 3] * first + axis[index // 3] * second
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(point.float(), op.params)
        exact_values = exact_spectrum(loss_of, point, index)
        start = op.products
        warm = walk.ends(op.linear_operator())
        warm_products, start = op.products - start, op.products
        (top,), lowest, _, _ = spectrum_ends(op.linear_operator(), tol, 0, 1, 1000)
        points.append((exact_values, warm, walk.how, warm_products, (top, lowest), op.products - start))
    return points, tol


@pytest.mark.parametrize("tol", [1e-3, 1e-2], ids=["geometry.tol", "geometry.map_tol"])
def test_a_warm_started_walk_finds_every_points_exact_ends_with_half_the_products(tol):
    """An eigenvalue map's walk (SpectrumWalk, serpentine over a 3×3 plane): at every point λmax and λmin equal the
    exact Hessian's (`torch.autograd.functional.hessian`, `eigvalsh`) to eigsh's tolerance, as each point's cold
    start does, and the warm points (Lanczos from the previous point's eigenvectors, stopped as soon as both ends
    converge) take at most half the cold runs' products (at 1e-3, 72 against 168 here; benchmarks/bench.py --parts
    maps measures it on a real checkpoint). At both defaults: the Hessian numbers' tol and the maps' map_tol."""
    points, tol = walk_plane(tol=tol)
    assert [how for _, _, how, *_ in points] == ["cold"] + ["warm"] * 8
    for exact_values, warm, _, _, cold, _ in points:  # eigsh's criterion: each eigenvalue to tol relative to itself
        assert exact_values[0] < 0
        for found in (warm, cold):
            assert found[0] == pytest.approx(exact_values[-1], rel=tol)
            assert found[1] == pytest.approx(exact_values[0], rel=tol)
    warm_products = sum(products for _, _, how, products, _, _ in points if how == "warm")
    cold_products = sum(cold for *_, cold in points[1:])
    assert warm_products <= cold_products / 2, (warm_products, cold_products)


def test_a_walk_point_past_its_budget_is_solved_cold_to_the_same_tolerance():
    """A point whose Lanczos has not converged within `budget` products is solved by eigsh from the same start: the
    same exact ends, more products."""
    points, tol = walk_plane(budget=2, count=3)  # two Lanczos steps: too few for these ends
    assert [how for _, _, how, *_ in points] == ["fallback"] * 3
    for exact_values, warm, *_ in points:
        assert warm[0] == pytest.approx(exact_values[-1], rel=tol) and warm[1] == pytest.approx(exact_values[0], rel=tol)


def test_lanczos_ends_reaches_a_known_spectrums_ends_from_a_nearby_start():
    """The warm points' solver alone, on a matrix with known eigenvalues, started from the sum of the ends'
    eigenvectors of a perturbed matrix: both ends to tol relative to each, in fewer products than a cold eigsh, and
    None where the budget is spent first."""
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    spectrum = np.r_[-4.0, np.linspace(-1, 1, 197), 9.0, 12.0]
    matrix = rotation @ np.diag(spectrum) @ rotation.T
    noise = rng.standard_normal((200, 200))
    _, vectors = np.linalg.eigh(matrix + 0.01 * (noise + noise.T))
    products = []
    top, bottom, top_vector, _ = lanczos_ends(lambda v: products.append(1) or matrix @ v,
                                              vectors[:, -1] + vectors[:, 0], 1e-8, 60)
    assert top == pytest.approx(12.0, rel=1e-8) and bottom == pytest.approx(-4.0, rel=1e-8)
    assert np.linalg.norm(matrix @ top_vector - top * top_vector) <= 1e-8 * 12.0 * 1.01
    cold = []
    eigsh(LinearOperator((200, 200), matvec=lambda v: cold.append(1) or matrix @ v, dtype=np.float64), k=2,
          which="BE", tol=1e-8, v0=rng.standard_normal(200))
    assert len(products) < len(cold), (len(products), len(cold))
    assert lanczos_ends(lambda v: matrix @ v, vectors[:, -1] + vectors[:, 0], 1e-8, 3) is None


@pytest.mark.parametrize("spectrum", [
    np.linspace(1, 10, 60),                                   # all positive (old code: lambda_min = 9.99999)
    -np.linspace(1, 10, 60),                                  # all negative
    np.r_[np.linspace(-3, -0.5, 20), np.linspace(0.1, 7, 40)],  # mixed
    np.r_[np.full(20, 5.0), np.full(20, -2.0), np.linspace(-1, 4, 20)],  # repeated at both ends
], ids=["positive", "negative", "mixed", "repeated"])
def test_both_ends_of_known_spectra(spectrum):
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((60, 60)))
    matrix = rotation @ np.diag(spectrum) @ rotation.T
    top, lowest = extreme_eigenvalues(aslinearoperator(matrix), tol=1e-10, seed=0, top_k=2)
    ordered = np.sort(spectrum)
    np.testing.assert_allclose(top, ordered[::-1][:2], rtol=1e-8)
    assert lowest == pytest.approx(ordered[0], rel=1e-8)


def test_lanczos_that_does_not_converge_says_so_in_one_line():
    matrix = np.diag(np.r_[np.linspace(0, 1, 2000), 1 + 1e-9])  # a gap of 1e-9: hopeless in one restart
    with pytest.raises(UserError, match=r"did not converge to tol 1e-14 in 1 restarts.*raise geometry.maxiter"):
        extreme_eigenvalues(aslinearoperator(matrix), tol=1e-14, seed=0, maxiter=1)


def test_across_subsets_is_mean_and_sample_sd():
    subsets = [{"loss": 1.0, "lambda_max": 10.0, "lambda_min": -1.0, "ratio": 0.1, "trace": 100.0, "trace_se": 3.0,
                "top_eigenvalues": [10.0, 5.0], "hessian_vector_products": 40, "parameters": 7},
               {"loss": 2.0, "lambda_max": 14.0, "lambda_min": -3.0, "ratio": 3 / 14, "trace": 120.0, "trace_se": 4.0,
                "top_eigenvalues": [14.0, 6.0], "hessian_vector_products": 50, "parameters": 7}]
    summary = across_subsets(subsets)
    assert summary["lambda_max"] == 12.0 and summary["lambda_max_sd"] == pytest.approx(np.std([10, 14], ddof=1))
    assert summary["trace"] == 110.0 and summary["trace_sd"] == pytest.approx(np.std([100, 120], ddof=1))
    assert summary["trace_se"] == pytest.approx(5.0 / 2)  # the probes' share: sqrt(3² + 4²) / 2
    assert summary["top_eigenvalues"] == [12.0, 5.5] and summary["subsets"] == 2
    assert summary["hessian_vector_products"] == 90


def test_hutchinson_trace_is_within_three_standard_errors(exact):
    op, hessian = exact
    trace, error, samples = hutchinson_trace(op, probes=60, seed=1)
    assert len(samples) == 60 and error > 0
    assert abs(trace - np.trace(hessian)) < 3 * error
    again = hutchinson_trace(op, probes=60, seed=1)
    assert again[0] == trace  # seeded


def test_flatness_of_a_quadratic_is_what_hand_computation_gives():
    alphas = np.linspace(-1, 1, 17)  # steps of 0.125
    curvatures = np.array([3.0, 8.0, 4.0])
    base = 0.3
    losses = base + 0.5 * curvatures[:, None] * alphas[None, :] ** 2
    stats = flatness_stats(alphas, losses, base, delta=1.0)
    # rise at t is c t²/2 exactly (both sides agree), half-width: where c t²/2 = 1, linearly interpolated between
    # the grid points around sqrt(2/c)
    for t in (0.25, 0.5, 1.0):
        rises = curvatures * t**2 / 2
        assert stats[f"rise@{t:g}"] == pytest.approx(rises.mean())
        assert stats[f"rise@{t:g}_sd"] == pytest.approx(rises.std(ddof=1))
    # by hand: c = 3 rises from 0.84375 at 0.75 to 1.1484375 at 0.875: 0.75 + 0.15625 / 0.3046875 * 0.125;
    # c = 8 is 1.0 at 0.5, not above, then 1.5625 at 0.625: 0.5; c = 4: 0.625 + 0.21875 / 0.34375 * 0.125
    widths = [0.75 + 0.15625 / 0.3046875 * 0.125, 0.5, 0.625 + 0.21875 / 0.34375 * 0.125]
    assert stats["half_width"] == pytest.approx(np.mean(widths))
    assert stats["half_width_sd"] == pytest.approx(np.std(widths, ddof=1))
    assert stats["half_width_censored_sides"] == 0
    flat = flatness_stats(alphas, np.full((2, 17), base), base, delta=1.0)
    assert flat["half_width"] == 1.0 and flat["half_width_censored_sides"] == 4  # never exceeded: the range end


def test_ratio_map_at_the_origin_is_the_hessians_own_ratio(tmp_path):
    from lossland.models import build_model
    from lossland.surface import read_chunk
    from test_surface import trained_with_directions

    root = trained_with_directions(tmp_path, 64, 20)
    geometry = {"samples": 16, "seed": 0, "batch_size": 16, "tol": 1e-6, "params": "weights", "maxiter": 300}  # one batch
    inputs = {"checkpoint": root / "model.pt", "data": root / "train.pt"}
    spectrum = {"measure": "spectrum", "span": "point", **geometry, "repeats": 2, "top_k": 2, "probes": 3}
    assert run_job("hessian", spectrum, inputs, {"json": root / "hessian.json"}) == 0
    plane = {"measure": "hessian", "span": "plane", **geometry, "x": [-0.5, 0.5, 3], "y": [-0.5, 0.5, 3], "chunks": 9,
             "chunk": 4}
    assert run_job("eigen_chunk", plane, {**inputs, "directions": root / "directions.pt"},
                   {"csv": root / "centre.csv"}) == 0
    hessian = json.loads((root / "hessian.json").read_text())
    first = hessian["per_subset"][0]  # the maps use the first subset
    frame, provenance = read_chunk(root / "centre.csv")
    assert list(frame["x"]) == [0.0] and list(frame["y"]) == [0.0] and provenance["spec"]["tol"] == 1e-6
    assert provenance["spec"]["params"] == hessian["params"] == hessian["spec"]["params"] == "weights"
    centre = frame.iloc[0]
    assert centre["lambda_max"] == pytest.approx(first["lambda_max"], rel=1e-4)
    assert centre["lambda_min"] == pytest.approx(first["lambda_min"], rel=1e-4)
    assert abs(centre["lambda_min"] / centre["lambda_max"]) == pytest.approx(first["ratio"], rel=1e-4)
    assert centre["loss"] == pytest.approx(first["loss"], rel=1e-6)
    weights = sum(p.numel() for p in build_model("resnet20").parameters() if p.dim() > 1)
    assert len(hessian["top_eigenvalues"]) == 2 and hessian["trace_se"] > 0 and hessian["parameters"] == weights
    # two disjoint subsets: two different Hessians, summarised as mean ± sd
    second = hessian["per_subset"][1]
    assert second["loss"] != first["loss"] and hessian["subsets"] == 2
    assert hessian["lambda_max"] == pytest.approx((first["lambda_max"] + second["lambda_max"]) / 2)
    assert hessian["lambda_max_sd"] == pytest.approx(abs(first["lambda_max"] - second["lambda_max"]) / np.sqrt(2))


def test_spectral_density_against_the_exact_spectrum_of_a_real_model(exact):
    """Stochastic Lanczos quadrature on the tiny CNN's Hessian (290 parameters, 40 real images) against its exact
    spectrum (torch.autograd.functional.hessian, numpy eigvalsh): each run's quadrature reproduces vᵀHv exactly (the
    weights are Q[0, j]², the pitfall PyHessian fixed in its PR #23), the density integrates to 1, its first moment
    is trace/n within the probes' sampling error, its support covers [λmin, λmax], and it matches the exact
    eigenvalues smoothed with the same Gaussian."""
    from lossland.geometry import lanczos_quadrature, spectral_density

    op, hessian = exact
    hessian = (hessian + hessian.T) / 2
    eigenvalues = np.linalg.eigvalsh(hessian)
    n = len(eigenvalues)

    rng = np.random.default_rng(3)
    probe = np.random.default_rng(3).choice([-1.0, 1.0], size=n) / np.sqrt(n)
    nodes, weights = lanczos_quadrature(lambda v: hessian @ v, n, 30, rng)
    assert weights.sum() == pytest.approx(1, abs=1e-10)
    assert weights @ nodes == pytest.approx(probe @ hessian @ probe, rel=1e-9)
    assert weights @ nodes ** 3 == pytest.approx(probe @ hessian @ hessian @ hessian @ probe, rel=1e-8)

    runs = 20  # on the exact Hessian's products (op.matvec equals them: test above), 1,200 of them in a blink
    blob = spectral_density(lambda v: hessian @ v, n, runs=runs, steps=60, points=4000, sigma=0.01, seed=0)
    grid, density = blob["eigenvalue"], blob["density"]
    assert np.trapezoid(density, grid) == pytest.approx(1, abs=1e-3)
    first_moments = (blob["weights"] * blob["nodes"]).sum(1)
    standard_error = first_moments.std(ddof=1) / np.sqrt(runs)
    assert abs(first_moments.mean() - eigenvalues.mean()) < 3 * standard_error
    assert np.trapezoid(grid * density, grid) == pytest.approx(first_moments.mean(), rel=1e-3)
    assert blob["nodes"].min() == pytest.approx(eigenvalues[0], rel=1e-4)  # Ritz values reach both ends
    assert blob["nodes"].max() == pytest.approx(eigenvalues[-1], rel=1e-6)
    assert grid[0] < eigenvalues[0] and grid[-1] > eigenvalues[-1]
    width = float(blob["width"])
    smoothed = np.exp(-0.5 * ((grid[None, :] - eigenvalues[:, None]) / width) ** 2).sum(0) / (n * width * np.sqrt(2 * np.pi))
    assert np.trapezoid(np.abs(density - smoothed), grid) < 0.1  # L1 distance of two densities (at most 2): 0.034


def relu_cnn() -> nn.Module:
    """No BatchNorm: conv 3→4, ReLU, conv 4→6, ReLU, 2×2 pool, linear 24→10 (positively homogeneous layers)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10)).eval()


def test_adaptive_sharpness_is_unchanged_by_rescaling_a_relu_layer_while_lambda_max_changes():
    """Multiply the first conv (weights and bias) by c and the second conv's weights by 1/c: the function is the
    same (ReLU is positively homogeneous), adaptive sharpness is too (float error), λmax is not."""
    from lossland.geometry import adaptive_sharpness

    data = class_images(2)
    prepare = normalizer({"normalize": True}, torch.device("cpu"))
    model, rescaled = relu_cnn(), relu_cnn()
    with torch.no_grad():
        rescaled[0].weight.mul_(4.0)
        rescaled[0].bias.mul_(4.0)
        rescaled[2].weight.div_(4.0)
    options = {"batch_size": 8, "rho_average": 0.05, "rho_worst": 0.01, "draws": 3, "steps": 3, "seed": 0}
    ours, theirs = adaptive_sharpness(model, data, prepare, **options), adaptive_sharpness(rescaled, data, prepare,
                                                                                            **options)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    for key in ("adaptive_average", "adaptive_worst"):
        assert ours[key] > 0 and ours[key] == pytest.approx(theirs[key], rel=1e-3), key
    assert ours["adaptive_average_sd"] > 0 and np.isfinite(ours["adaptive_worst_sd"])
    lambda_max = [extreme_eigenvalues(HessianOperator(m, data, prepare, 8, "all").linear_operator(), 1e-6, 0)[0][0]
                  for m in (relu_cnn(), rescaled)]
    assert abs(lambda_max[0] / lambda_max[1] - 1) > 0.3  # the raw curvature is not invariant (1.25 vs 2.20)
    restored = relu_cnn()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), restored.parameters()))  # θ put back


def test_top_eigenvectors_are_the_exact_hessians_with_a_fixed_sign(exact):
    from lossland.geometry import top_eigenvectors

    op, hessian = exact
    values, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
    ours, rows = top_eigenvectors(op, 2, tol=1e-8, seed=0)
    np.testing.assert_allclose(ours, values[::-1][:2], rtol=1e-4)
    for row, exact_vector in zip(rows, vectors[:, ::-1].T):
        assert abs(row @ exact_vector) == pytest.approx(1, abs=1e-4)  # the same line
        assert row[np.abs(row).argmax()] > 0  # and the same sign whatever eigsh returns


def test_an_ill_conditioned_lowest_end_falls_back_to_the_shifted_operator():
    """λmax isolated at 1e6 above a dense bulk in [-0.01, 1] (PlainNet-110's shape: λmin tiny against λmax): the run
    on both ends cannot bring λmin to tol·|λmin| in one restart; λmax then comes from the top end alone and λmin from
    H − λmax·I, to within the bound it reports, tol·(λmax − λmin), against numpy's exact spectrum."""
    from lossland.geometry import spectrum_ends

    spectrum = np.r_[1e6, np.linspace(-0.01, 1.0, 300)]
    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((spectrum.size, spectrum.size)))
    matrix = rotation @ np.diag(spectrum) @ rotation.T
    exact = np.linalg.eigvalsh(matrix)
    with pytest.raises(UserError, match="did not converge"):
        extreme_eigenvalues(aslinearoperator(matrix), tol=1e-4, seed=0, maxiter=1)
    top, lowest, error, method = spectrum_ends(aslinearoperator(matrix), tol=1e-4, seed=0, maxiter=1)
    assert method == "shifted" and error == pytest.approx(1e-4 * (top[0] - lowest))
    assert top[0] == pytest.approx(exact[-1], rel=1e-8)
    assert abs(lowest - exact[0]) <= error
    top, lowest, error, method = spectrum_ends(aslinearoperator(matrix), tol=1e-10, seed=0)  # converges: both ends
    assert method == "both ends" and abs(lowest - exact[0]) < 1e-8 and error == pytest.approx(1e-10 * abs(lowest))
