"""Curvature and flatness in numbers: Hessian eigenvalues and trace, eigenvalue-ratio maps, flatness over many
random directions.

The Hessian is that of the mean cross-entropy over a fixed evaluation subset, in eval mode, with respect to a stated
parameter set (`geometry.params`): `weights`, the >1-D tensors (conv and linear weights) that the surfaces, lines
and flatness directions move under `ignore: biasbn` and that loss-landscape's eigenvalue maps use, or `all` (also
biases and BN γ/β, as PyHessian). By eigenvalue interlacing the two sets give different λmax/λmin. The Hessian is
never formed: Hessian-vector products come from double backprop (Pearlmutter), summed batch by batch, and feed
scipy's Lanczos solver (`eigsh`, both ends of the spectrum in one run) or Hutchinson's trace estimator.
"""

from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import nn

from .data import Dataset
from .errors import UserError


class AffineBatchNorm(nn.Module):
    """Eval-mode BatchNorm2d written as the per-channel affine map it is, on the same parameters and buffers.

    The same function, but its double backward is a few multiplications: PyTorch's BN double backward implements
    the training-mode formula and took 30% of a ResNet-56 Hessian-vector product (measured: 1.3x faster overall).
    """

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


def affine_batchnorm(model: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d of `model` (in place, keeping parameter order and objects) for AffineBatchNorm."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm2d) and child.affine and child.track_running_stats:
            setattr(model, name, AffineBatchNorm(child))
        else:
            affine_batchnorm(child)
    return model


PARAMETER_SETS = {"weights": "the >1-D weights (conv, linear; geometry.params: weights)",
                  "all": "every parameter (with biases and BN γ/β; geometry.params: all)"}


def hessian_parameters(model: nn.Module, which: str = "weights") -> list[torch.Tensor]:
    """`weights`: the >1-D parameters (what the planes move under ignore: biasbn); `all`: every parameter."""
    if which not in PARAMETER_SETS:
        raise ValueError(f"unknown parameter set {which!r}: use weights or all")
    return [p for p in model.parameters() if p.requires_grad and (which == "all" or p.dim() > 1)]


class HessianOperator:
    """v ↦ H·v for the mean loss of `model` (in eval mode) over `data` (float64 numpy vectors in and out, float32
    inside). The model's BatchNorm layers are swapped in place for their affine form (same function, same tensors).

    Where `data` is one batch, the gradient's graph is built once and each product is one backward pass through it
    (the same bits, ~30% faster: the memory a product needs anyway, kept between products); it is rebuilt whenever
    the model's parameters or buffers differ from those it was built at (an eigenvalue map moves them in place
    between its points)."""

    def __init__(self, model: nn.Module, data: Dataset, prepare, batch_size: int = 256, params: str = "weights"):
        self.model = affine_batchnorm(model.eval())
        self.data, self.prepare, self.batch_size = data, prepare, batch_size
        self.params = hessian_parameters(model, params)
        self.size = sum(p.numel() for p in self.params)
        self.device = self.params[0].device
        self.products = 0
        self._graph: tuple[list[torch.Tensor], tuple[torch.Tensor, ...]] | None = None  # (state at, gradients)

    def _split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        chunks, start = [], 0
        for p in self.params:
            chunks.append(vector[start : start + p.numel()].view_as(p))
            start += p.numel()
        return chunks

    def loss_and_grad_batches(self):
        for start in range(0, len(self.data), self.batch_size):
            images = self.prepare(self.data.images[start : start + self.batch_size])
            labels = self.data.labels[start : start + self.batch_size]
            loss = nn.functional.cross_entropy(self.model(images), labels, reduction="sum") / len(self.data)
            yield loss

    def gradient_graphs(self):
        """(gradients with their graph, whether to keep the graph) for each batch: built afresh per product, or the
        one batch's kept graph while the model's parameters and buffers are unchanged."""
        if len(self.data) > self.batch_size:
            for loss in self.loss_and_grad_batches():
                yield torch.autograd.grad(loss, self.params, create_graph=True), False
            return
        state = [*self.model.parameters(), *self.model.buffers()]  # what the loss depends on (BN statistics too)
        if self._graph is None or not all(torch.equal(t, kept) for t, kept in zip(state, self._graph[0])):
            self._graph = None  # free the old graph before building the new one
            grads = torch.autograd.grad(next(self.loss_and_grad_batches()), self.params, create_graph=True)
            self._graph = ([t.detach().clone() for t in state], grads)
        yield self._graph[1], True

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        v = self._split(torch.as_tensor(np.asarray(vector).ravel(), dtype=torch.float32, device=self.device))
        total = [torch.zeros_like(p) for p in self.params]
        for grads, keep in self.gradient_graphs():
            dot = sum((g * u).sum() for g, u in zip(grads, v))
            for acc, hv in zip(total, torch.autograd.grad(dot, self.params, retain_graph=keep)):
                acc += hv
        self.products += 1
        return torch.cat([t.flatten() for t in total]).double().cpu().numpy()

    def loss(self) -> float:
        with torch.no_grad():
            return float(sum(loss.item() for loss in self.loss_and_grad_batches()))

    def linear_operator(self) -> LinearOperator:
        return LinearOperator((self.size, self.size), matvec=self.matvec, dtype=np.float64)


def start_vector(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size)


def lanczos(operator: LinearOperator, k: int, which: str, tol: float, seed: int,
            maxiter: int | None = None, fail: bool = True) -> np.ndarray:
    """`eigsh` eigenvalues (ascending) from a seeded start vector; no convergence is one line naming the settings
    (`fail`; else scipy's ArpackNoConvergence, for a caller with another way)."""
    try:
        values = eigsh(operator, k=k, which=which, tol=tol, maxiter=maxiter, v0=start_vector(operator.shape[0], seed),
                       return_eigenvectors=False)
    except ArpackNoConvergence as error:
        if not fail:
            raise
        raise UserError(f"Lanczos did not converge to tol {tol:g} in {maxiter} restarts ({len(error.eigenvalues)} "
                        f"of {k} eigenvalues): raise geometry.maxiter or geometry.tol") from None
    return np.sort(values)


def extreme_eigenvalues(operator: LinearOperator, tol: float, seed: int, top_k: int = 1,
                        maxiter: int | None = None, fail: bool = True) -> tuple[np.ndarray, float]:
    """The top_k largest eigenvalues (largest first) and the smallest one, from one Lanczos run that converges on
    both ends of the spectrum (`eigsh(which="BE")`: ceil(k/2) from the top, floor(k/2) from the bottom)."""
    k = max(2, 2 * top_k - 1)
    if k >= operator.shape[0]:
        raise UserError(f"{top_k} top eigenvalues and the lowest need more than the operator's {operator.shape[0]} "
                        "dimensions: lower geometry.top_k")
    values = lanczos(operator, k, "BE", tol, seed, maxiter, fail)
    return values[::-1][:top_k], float(values[0])


def spectrum_ends(operator: LinearOperator, tol: float, seed: int, top_k: int = 1,
                  maxiter: int | None = None) -> tuple[np.ndarray, float, float, str]:
    """`extreme_eigenvalues`, with λmin's absolute error bound and how it was found. Where the run on both ends does
    not converge in `maxiter` restarts (the lowest end of an ill-conditioned Hessian: 2-epoch PlainNet-110 on 100
    images has λmax ~1e10 and |λmin| ~1e2, and eigsh's criterion is relative to each eigenvalue), λmax comes from a
    run on the top end alone and λmin as loss-landscape finds it: λmax + the lowest eigenvalue of H − λmax·I, whose
    criterion is relative to the spectrum's width, so λmin is then known to ± tol·(λmax − λmin), not ± tol·|λmin|."""
    try:
        top, lowest = extreme_eigenvalues(operator, tol, seed, top_k, maxiter, fail=False)
        return top, lowest, tol * abs(lowest), "both ends"
    except ArpackNoConvergence:
        pass
    top = lanczos(operator, top_k, "LA", tol, seed, maxiter)[::-1]
    shift = float(top[0])
    shifted = LinearOperator(operator.shape, matvec=lambda v: np.ravel(operator.matvec(v)) - shift * np.ravel(v),
                             dtype=np.float64)
    lowest = float(lanczos(shifted, 1, "SA", tol, seed, maxiter)[0]) + shift
    return top, lowest, tol * (shift - lowest), "shifted"


class SpectrumWalk:
    """λmax and λmin at each point of a walk through nearby Hessians: an eigenvalue map's chunk, in serpentine order.

    Each point runs a Lanczos of its own (`lanczos_ends`) that stops at the first product after which both ends meet
    eigsh's own criterion, ‖H·u − θ·u‖ ≤ tol·|θ| (eigsh can stop only at the end of a factorisation or restart: 21
    products at the least for both ends from a cold start), so each eigenvalue is known to the same tolerance as
    from eigsh. The first point starts from the seeded vector, each later one from the sum of the previous point's
    two end eigenvectors, which barely move between neighbouring points. A point whose ends have not converged
    within `budget` products is solved by eigsh from the same start, as `spectrum_ends` solves it (both ends in one
    run; where that does not converge, λmax alone, then λmin of H − λmax·I). The bits depend on the walk (a map's
    chunks)."""

    def __init__(self, tol: float, seed: int, maxiter: int | None = None, budget: int = 24):
        self.tol, self.seed, self.maxiter, self.budget = tol, seed, maxiter, budget
        self.vectors: tuple[np.ndarray, np.ndarray] | None = None  # the previous point's top and bottom eigenvectors
        self.how = ""  # how the last point was solved: cold, warm or fallback

    def ends(self, operator: LinearOperator) -> tuple[float, float]:
        """(λmax, λmin) of `operator`, the walk's next point."""
        warm = self.vectors is not None
        start = sum(self.vectors) if warm else start_vector(operator.shape[0], self.seed)
        found = lanczos_ends(operator.matvec, start, self.tol, self.budget)
        if found is not None:
            (top, bottom), self.vectors, self.how = found[:2], found[2:], "warm" if warm else "cold"
            return top, bottom
        self.how = "fallback"
        return self._eigsh(operator, start)

    def _eigsh(self, operator: LinearOperator, start: np.ndarray) -> tuple[float, float]:
        try:
            values, vectors = eigsh(operator, k=2, which="BE", tol=self.tol, maxiter=self.maxiter, v0=start)
            self.vectors = vectors[:, values.argmax()], vectors[:, values.argmin()]
            return float(values.max()), float(values.min())
        except ArpackNoConvergence:
            pass
        try:
            values, top = eigsh(operator, k=1, which="LA", tol=self.tol, maxiter=self.maxiter, v0=start)
            shift = float(values[0])
            shifted = LinearOperator(operator.shape, matvec=lambda v: np.ravel(operator.matvec(v)) - shift * np.ravel(v),
                                     dtype=np.float64)
            values, bottom = eigsh(shifted, k=1, which="SA", tol=self.tol, maxiter=self.maxiter, v0=start)
        except ArpackNoConvergence as error:
            raise UserError(f"Lanczos did not converge to tol {self.tol:g} in {self.maxiter} restarts "
                            f"({len(error.eigenvalues)} eigenvalues): raise geometry.maxiter or geometry.map_tol") from None
        self.vectors = top[:, 0], bottom[:, 0]
        return shift, float(values[0]) + shift


def lanczos_ends(matvec: Callable[[np.ndarray], np.ndarray], start: np.ndarray, tol: float,
                 budget: int) -> tuple[float, float, np.ndarray, np.ndarray] | None:
    """(λmax, λmin, their unit Ritz vectors) of the symmetric H behind `matvec`, by Lanczos from `start` with full
    reorthogonalisation, stopped at the first product after which both extreme Ritz pairs meet ‖H·u − θ·u‖ ≤
    tol·|θ| (the residual norm is |β·s_last|, as eigsh estimates it); None where `budget` products do not."""
    basis = np.empty((budget + 1, start.size))
    basis[0] = start / np.linalg.norm(start)
    diagonal, off = [], []
    for step in range(budget):
        image = np.ravel(matvec(basis[step]))
        diagonal.append(float(basis[step] @ image))
        kept = basis[: step + 1]
        for _ in range(2):  # Gram–Schmidt twice: orthogonal to rounding
            image -= kept.T @ (kept @ image)
        beta = float(np.linalg.norm(image))
        values, vectors = scipy.linalg.eigh_tridiagonal(np.array(diagonal), np.array(off))
        residuals = beta * np.abs(vectors[-1, [-1, 0]])
        invariant = beta <= 1e-12 * max(abs(values[0]), abs(values[-1]))  # the Krylov space is exact
        if invariant and step == 0:
            return None  # the start is an eigenvector: one end, not two
        if invariant or (step >= 1 and (residuals <= tol * np.abs(values[[-1, 0]])).all()):
            top, bottom = (kept.T @ vectors[:, index] for index in (-1, 0))
            return float(values[-1]), float(values[0]), top, bottom
        off.append(beta)
        basis[step + 1] = image / beta
    return None


def top_eigenvectors(op: "HessianOperator", k: int, tol: float, seed: int,
                     maxiter: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (largest first) and their unit eigenvectors as rows, each signed so that its
    largest-magnitude entry is positive (eigsh's signs are arbitrary)."""
    try:
        values, vectors = eigsh(op.linear_operator(), k=k, which="LA", tol=tol, maxiter=maxiter,
                                v0=start_vector(op.size, seed))
    except ArpackNoConvergence as error:
        raise UserError(f"Lanczos did not converge to tol {tol:g} in {maxiter} restarts ({len(error.eigenvalues)} "
                        f"of {k} eigenvalues): raise geometry.maxiter or geometry.tol") from None
    order = np.argsort(values)[::-1]
    rows = vectors[:, order].T
    rows *= np.sign(rows[np.arange(k), np.abs(rows).argmax(1)])[:, None]
    return values[order], rows


def largest_eigenvalue(operator: LinearOperator, tol: float, seed: int, maxiter: int | None = None) -> float:
    """λmax alone (`eigsh(which="LA")`): cheaper than `extreme_eigenvalues` where λmin is not wanted."""
    return float(lanczos(operator, 1, "LA", tol, seed, maxiter)[0])


def hutchinson_trace(op: HessianOperator, probes: int, seed: int) -> tuple[float, float, np.ndarray]:
    """Mean of zᵀHz over Rademacher probes z, its standard error, and the samples."""
    rng = np.random.default_rng(seed)
    samples = np.empty(probes)
    for i in range(probes):
        z = rng.choice([-1.0, 1.0], size=op.size)
        samples[i] = z @ op.matvec(z)
    error = samples.std(ddof=1) / np.sqrt(probes) if probes > 1 else float("nan")
    return float(samples.mean()), float(error), samples


def hessian_summary(op: HessianOperator, top_k: int, probes: int, tol: float, seed: int,
                    log: Callable[[str], None] = print, maxiter: int | None = None) -> dict:
    top, lowest, lowest_error, method = spectrum_ends(op.linear_operator(), tol, seed, top_k, maxiter)
    log(f"top {top_k} eigenvalues {np.array2string(top, precision=4)}, lowest {lowest:.6g} ± {lowest_error:.3g}"
        f" ({method}; {op.products} Hessian-vector products)")
    trace, error, samples = hutchinson_trace(op, probes, seed + 1)
    log(f"trace {trace:.6g} ± {error:.3g} (Hutchinson, {probes} Rademacher probes)")
    return {"loss": op.loss(), "top_eigenvalues": top.tolist(), "lambda_max": float(top[0]), "lambda_min": lowest,
            "lambda_min_error": lowest_error, "lambda_min_method": method,
            "ratio": abs(lowest / top[0]) if top[0] else float("nan"), "trace": trace, "trace_se": error,
            "trace_samples": samples.tolist(), "hessian_vector_products": op.products, "parameters": op.size}


SUBSET_KEYS = ("loss", "lambda_max", "lambda_min", "ratio", "trace")


def across_subsets(summaries: list[dict]) -> dict:
    """Mean and sample standard deviation over the disjoint image subsets of each Hessian number. The trace's sd is
    that of the per-subset Hutchinson estimates, so it holds both the subsets' and the probes' noise; `trace_se` is
    the probes' share alone (the pooled standard error of the mean)."""
    n = len(summaries)
    out = {"subsets": n, "per_subset": summaries,
           "top_eigenvalues": np.mean([s["top_eigenvalues"] for s in summaries], axis=0).tolist()}
    for key in SUBSET_KEYS:
        values = np.array([s[key] for s in summaries], dtype=float)
        out[key] = float(values.mean())
        out[f"{key}_sd"] = float(values.std(ddof=1)) if n > 1 else float("nan")
    out["trace_se"] = float(np.sqrt(np.sum(np.square([s["trace_se"] for s in summaries]))) / n)
    out["hessian_vector_products"] = int(sum(s["hessian_vector_products"] for s in summaries))
    if all("lambda_min_error" in s for s in summaries):  # the largest bound over subsets, and how each was found
        out["lambda_min_error"] = float(max(s["lambda_min_error"] for s in summaries))
        out["lambda_min_methods"] = sorted({s["lambda_min_method"] for s in summaries})
    out["parameters"] = summaries[0]["parameters"]
    return out


def flatness_stats(alphas: np.ndarray, losses: np.ndarray, base: float, delta: float,
                   distances: tuple[float, ...] = (0.25, 0.5, 1.0)) -> dict:
    """Per direction (rows of `losses`, sampled at `alphas` on both sides of 0): the rise at each distance — the mean
    of L(+t) and L(−t), linearly interpolated, minus `base` — and the basin half-width — the mean over both sides of
    the first distance at which the loss exceeds base + delta (linear between samples; a side that never exceeds it
    counts as its range end and is reported as censored). Then mean and standard deviation over directions."""
    alphas = np.asarray(alphas, dtype=float)
    plus, minus = alphas >= 0, alphas <= 0
    rises = {t: [] for t in distances}
    widths, censored = [], 0
    for row in np.asarray(losses, dtype=float):
        for t in distances:
            up = np.interp(t, alphas[plus], row[plus])
            down = np.interp(t, -alphas[minus][::-1], row[minus][::-1])
            rises[t].append((up + down) / 2 - base)
        sides = []
        for side_t, side_l in ((alphas[plus], row[plus]), (-alphas[minus][::-1], row[minus][::-1])):
            width, hit = _first_crossing(side_t, side_l, base + delta)
            sides.append(width)
            censored += not hit
        widths.append(np.mean(sides))
    stats = {}
    for t in distances:
        stats[f"rise@{t:g}"] = float(np.mean(rises[t]))
        stats[f"rise@{t:g}_sd"] = float(np.std(rises[t], ddof=1)) if len(rises[t]) > 1 else 0.0
    stats["half_width"] = float(np.mean(widths))
    stats["half_width_sd"] = float(np.std(widths, ddof=1)) if len(widths) > 1 else 0.0
    stats["half_width_censored_sides"] = int(censored)
    stats["directions"] = int(len(widths))
    return stats


def _first_crossing(distance: np.ndarray, loss: np.ndarray, level: float) -> tuple[float, bool]:
    above = np.flatnonzero(loss > level)
    if not above.size:
        return float(distance[-1]), False
    i = int(above[0])
    if i == 0:
        return float(distance[0]), True
    t0, t1, l0, l1 = distance[i - 1], distance[i], loss[i - 1], loss[i]
    return float(t0 + (level - l0) / (l1 - l0) * (t1 - t0)), True


def lanczos_quadrature(matvec: Callable[[np.ndarray], np.ndarray], size: int, steps: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One run of stochastic Lanczos quadrature (Ghorbani et al. 2019): `steps` Lanczos steps from a random unit
    Rademacher vector v, with full reorthogonalisation, then the tridiagonal T = Q diag(θ) Qᵀ. Returns the nodes θ
    (Ritz values) and weights Q[0, j]², which sum to 1: Σ_j w_j f(θ_j) ≈ vᵀ f(H) v, exactly for polynomials f of
    degree < 2·steps (so Σ_j w_j θ_j = vᵀHv, an estimate of trace(H)/n)."""
    steps = min(steps, size)
    basis = np.empty((steps, size))
    basis[0] = rng.choice([-1.0, 1.0], size=size) / np.sqrt(size)
    alpha, beta = [], []
    for j in range(steps):
        w = matvec(basis[j])
        alpha.append(float(w @ basis[j]))
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        if j + 1 == steps:
            break
        norm = float(np.linalg.norm(w))
        if norm <= 1e-10 * max(1.0, abs(alpha[0])):  # an invariant subspace: the quadrature is exact already
            break
        beta.append(norm)
        basis[j + 1] = w / norm
    tridiagonal = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    nodes, vectors = np.linalg.eigh(tridiagonal)
    return nodes, vectors[0] ** 2


def spectral_density(matvec: Callable[[np.ndarray], np.ndarray], size: int, runs: int, steps: int, points: int,
                     sigma: float, seed: int) -> dict[str, np.ndarray]:
    """The Hessian's eigenvalue density by stochastic Lanczos quadrature, averaged over `runs` random vectors and
    smoothed with a Gaussian of width `sigma` × (the nodes' range), on `points` eigenvalues spanning the nodes with
    5 widths to spare on each side (so the density integrates to 1 on the grid)."""
    rng = np.random.default_rng(seed)
    quadratures = [lanczos_quadrature(matvec, size, steps, rng) for _ in range(runs)]
    nodes = [q[0] for q in quadratures]
    low, high = min(n.min() for n in nodes), max(n.max() for n in nodes)
    width = sigma * max(high - low, 1e-12)
    grid = np.linspace(low - 5 * width, high + 5 * width, points)
    density = np.zeros(points)
    for theta, weights in quadratures:
        density += (weights[:, None] * np.exp(-0.5 * ((grid[None, :] - theta[:, None]) / width) ** 2)).sum(0)
    density /= runs * width * np.sqrt(2 * np.pi)
    padded = max(len(n) for n in nodes)  # runs stopped early (invariant subspace) are padded with NaN
    return {"eigenvalue": grid, "density": density, "width": np.asarray(width),
            "nodes": np.array([np.pad(q[0], (0, padded - len(q[0])), constant_values=np.nan) for q in quadratures]),
            "weights": np.array([np.pad(q[1], (0, padded - len(q[1])), constant_values=np.nan) for q in quadratures])}


def adaptive_sharpness(model: nn.Module, data: Dataset, prepare, batch_size: int, rho_average: float,
                       rho_worst: float, draws: int, steps: int, seed: int) -> dict:
    """Adaptive sharpness (Kwon et al. 2021; Andriushchenko et al. 2023), over every parameter, each perturbation
    scaled elementwise by |θ|, so that rescaling a ReLU layer by c and the next by 1/c changes nothing:

    - average-case: E[L(θ + ρ·|θ|⊙z)] − L(θ), z ~ N(0, I), over `draws` seeded draws (mean, sd across draws);
    - worst-case: max L(θ + |θ|⊙ε) − L(θ) over ‖ε‖∞ ≤ ρ, by `steps` steps of projected sign-gradient ascent from
      each of `draws` seeded random starts in the ball (mean, sd across starts).

    L is the mean cross-entropy over `data` in eval mode; the model's weights are restored afterwards."""
    params = [p for p in model.parameters() if p.requires_grad]
    theta = [p.detach().clone() for p in params]
    scale = [t.abs() for t in theta]
    model.eval()

    def loss(with_grad: bool = False) -> float:
        total = 0.0
        for start in range(0, len(data), batch_size):
            images = prepare(data.images[start : start + batch_size])
            with torch.set_grad_enabled(with_grad):
                batch = nn.functional.cross_entropy(model(images), data.labels[start : start + batch_size],
                                                    reduction="sum") / len(data)
            if with_grad:
                batch.backward()
            total += float(batch.detach())
        return total

    def move_to(epsilon: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, t, s, e in zip(params, theta, scale, epsilon):
                p.copy_(t + s * e)

    generator = torch.Generator(device="cpu").manual_seed(seed)

    def draw(kind: str) -> list[torch.Tensor]:
        return [(torch.randn(t.shape, generator=generator) if kind == "normal"
                 else torch.rand(t.shape, generator=generator) * 2 - 1).to(t.device) for t in theta]

    try:
        base = loss()
        average = []
        for _ in range(draws):
            move_to([rho_average * z for z in draw("normal")])
            average.append(loss() - base)
        worst, step_size = [], 2.5 * rho_worst / steps
        for _ in range(draws):
            epsilon, best = [rho_worst * u for u in draw("uniform")], -np.inf
            for _ in range(steps + 1):
                move_to(epsilon)
                for p in params:
                    p.grad = None
                best = max(best, loss(with_grad=True) - base)
                with torch.no_grad():  # dL/dε = |θ| ⊙ dL/dθ; a sign step, then back into the ball
                    epsilon = [(e + step_size * torch.sign(s * p.grad)).clamp(-rho_worst, rho_worst)
                               if p.grad is not None else e for e, s, p in zip(epsilon, scale, params)]
            worst.append(best)
    finally:
        move_to([torch.zeros_like(t) for t in theta])
        for p in params:
            p.grad = None
    return {"loss": base, "adaptive_average": float(np.mean(average)), "adaptive_average_sd": _sd(average),
            "adaptive_worst": float(np.mean(worst)), "adaptive_worst_sd": _sd(worst), "draws": draws,
            "rho_average": rho_average, "rho_worst": rho_worst, "ascent_steps": steps}


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
