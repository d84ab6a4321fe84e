"""Figures: one model's landscape (contour + 3D), training curves, all contours on one colour scale."""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from .config import MODEL_NAMES  # noqa: E402
from .io import atomic_write  # noqa: E402

LEVELS = np.logspace(-1, 1, 21)  # 0.1 … 10, as Li et al.'s contour plots
NORM = LogNorm(vmin=LEVELS[0], vmax=LEVELS[-1])
TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10]


def save_figure(figure: plt.Figure, dest: str) -> None:
    with atomic_write(dest) as handle:
        figure.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def _colorbar(figure: plt.Figure, mappable, axes, label: str) -> None:
    bar = figure.colorbar(mappable, ax=axes, label=label, ticks=TICKS)
    bar.ax.set_yticklabels([f"{tick:g}" for tick in TICKS])
    bar.ax.minorticks_off()


def plotted_loss(surface: dict) -> np.ndarray:
    """The loss clipped to the plotted levels; a capped point (a lower bound above landscape.cap) is drawn as above
    the top level, whatever its bound."""
    loss = surface["loss"]
    if "capped" in surface:
        loss = np.where(surface["capped"], np.inf, loss)
    return np.clip(loss, LEVELS[0], LEVELS[-1])


BASIN_FRACTION = 0.15  # a basin (points below the top level) covering less of the grid than this is zoomed into


def basin_window(surface: dict) -> tuple[list[float], list[float]] | None:
    """x and y limits around the points below the top contour level, one grid step beyond, when they cover less
    than BASIN_FRACTION of the grid (else None: the whole grid is shown)."""
    below = plotted_loss(surface) < LEVELS[-1]
    if not below.any() or below.mean() >= BASIN_FRACTION or min(below.shape) < 2:
        return None
    rows, cols = np.nonzero(below)
    x, y = np.asarray(surface["x"]), np.asarray(surface["y"])
    dx, dy = x[1] - x[0], y[1] - y[0]
    return ([max(x[0], x[cols.min()] - dx), min(x[-1], x[cols.max()] + dx)],
            [max(y[0], y[rows.min()] - dy), min(y[-1], y[rows.max()] + dy)])


def union_window(windows: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """The smallest x and y limits that hold every window."""
    return ([min(w[0][0] for w in windows), max(w[0][1] for w in windows)],
            [min(w[1][0] for w in windows), max(w[1][1] for w in windows)])


def window_text(window: tuple[list[float], list[float]]) -> str:
    (x0, x1), (y0, y1) = window
    return f"[{x0:g}, {x1:g}]²" if window[0] == window[1] else f"x [{x0:g}, {x1:g}], y [{y0:g}, {y1:g}]"


def _contour(axes: plt.Axes, surface: dict, title: str, window="basin"):
    """Filled log-scale contours over the whole grid (`window` None), limited to `window` (x and y limits), or, for
    "basin", zoomed into a basin narrower than BASIN_FRACTION of the grid, as the title then says."""
    loss = plotted_loss(surface)
    if min(loss.shape) < 2:
        axes.text(0.5, 0.5, "grid too small for a contour", ha="center", transform=axes.transAxes)
        return None
    filled = axes.contourf(surface["x"], surface["y"], loss, levels=LEVELS, norm=NORM, cmap="viridis")
    axes.contour(surface["x"], surface["y"], loss, levels=LEVELS, colors="k", linewidths=0.3)
    if window == "basin":
        window = basin_window(surface)
        title = f"{title}\nzoomed to its basin: {window_text(window)}" if window else title
    if window:
        axes.set_xlim(*window[0])
        axes.set_ylim(*window[1])
    axes.set(xlabel="direction 1", ylabel="direction 2", aspect="equal")
    axes.set_title(title, fontsize="medium")
    return filled


def plot_landscape(surface: dict, model: str, test_acc: float, dest: str) -> None:
    figure = plt.figure(figsize=(12, 5))
    flat = figure.add_subplot(1, 2, 1)
    filled = _contour(flat, surface, "loss contours")
    if filled is not None:
        _colorbar(figure, filled, flat, "loss")
    surf = figure.add_subplot(1, 2, 2, projection="3d")
    xx, yy = np.meshgrid(surface["x"], surface["y"])
    height = np.log10(plotted_loss(surface))  # a log z-axis shows the basin, not only the plateau at the clip
    colours = plt.get_cmap("viridis")(NORM(10**height))
    surf.plot_surface(xx, yy, height, facecolors=colours, linewidth=0, rstride=1, cstride=1, shade=False)
    surf.set(title="loss surface (log z, clipped at 10)", xlabel="direction 1", ylabel="direction 2", zlabel="loss")
    surf.set_zticks(np.log10(TICKS), [f"{tick:g}" for tick in TICKS])
    surf.set_zlim(np.log10(LEVELS[0]), np.log10(LEVELS[-1]))
    for axis in (surf.xaxis, surf.yaxis):
        axis.set_major_locator(MaxNLocator(5))
    surf.view_init(elev=30, azim=-60)
    figure.suptitle(f"{model} — test accuracy {test_acc:.4f}")
    save_figure(figure, dest)


def family_grid(names: list[str]) -> list[list[str]] | None:
    """ResNets in one row above PlainNets, depth by depth, when the models are exactly such pairs; else None."""
    depths = sorted({int(n[6:]) for n in names if n in MODEL_NAMES and n.startswith("resnet")})
    pairs = [[f"resnet{d}" for d in depths], [f"plainnet{d}" for d in depths]]
    return pairs if depths and sorted(names) == sorted(pairs[0] + pairs[1]) else None


def plot_landscapes(surfaces: dict[str, dict], dest: str, shared_axes: bool = True) -> None:
    save_figure(landscapes_figure(surfaces, shared_axes), dest)


def landscapes_figure(surfaces: dict[str, dict], shared_axes: bool = True) -> plt.Figure:
    """Every surface's contours on one colour scale: ResNet row above PlainNet row by depth when the models are such
    pairs, else a grid of up to 4 columns. With `shared_axes` every panel shows the whole plane on the same axes, and
    where some basin is narrow (`basin_window`) a second block below shows every panel zoomed to one window that
    holds all such basins; without (planes along different directions), each panel is zoomed to its own basin."""
    layout = family_grid(list(surfaces))
    if layout is None:
        columns = min(4, len(surfaces))
        names = list(surfaces)
        layout = [names[i:i + columns] for i in range(0, len(names), columns)]
    rows, columns = len(layout), max(len(row) for row in layout)
    narrow = [window for window in map(basin_window, surfaces.values()) if window] if shared_axes else []
    blocks = [None, union_window(narrow)] if narrow else [None]
    figure, axes = plt.subplots(rows * len(blocks), columns, figsize=(3.6 * columns + 1, 3.8 * rows * len(blocks)),
                                squeeze=False, layout="constrained")
    filled = None
    for b, window in enumerate(blocks):
        for r, row in enumerate(layout):
            for c in range(columns):
                ax = axes[b * rows + r, c]
                if c >= len(row):
                    ax.axis("off")
                    continue
                title = row[c] if window is None else f"{row[c]}, zoomed"
                filled = _contour(ax, surfaces[row[c]], title, window if shared_axes else "basin") or filled
                if shared_axes and r + 1 < rows and c < len(layout[r + 1]):  # axis labels on a block's outer panels
                    ax.set_xlabel("")
                if shared_axes and c:
                    ax.set_ylabel("")
    if narrow:
        figure.suptitle(f"the whole plane, every panel on the same axes; below, every panel zoomed to "
                        f"{window_text(blocks[1])}")
    if filled is not None:
        _colorbar(figure, filled, axes, "loss (shared log scale)")
    return figure


def plot_training_curves(histories: dict[str, list[pd.DataFrame]], dest: str) -> None:
    """Train (solid) and test (dashed) accuracy and loss per epoch, a row per family (Net, ResNet, PlainNet, and
    other models, keyed by their labels); with several seeds, the mean over seeds and a band of ± one sd."""
    families = {"Net": [], "ResNet": [], "PlainNet": [], "Other models": []}
    for model in histories:
        family = ("Other models" if model not in MODEL_NAMES else "Net" if model == "net"
                  else "ResNet" if model.startswith("resnet") else "PlainNet")
        families[family].append(model)
    families = {name: models for name, models in families.items() if models}
    if not families:  # every model was trained elsewhere (checkpoints): nothing to draw
        figure, axes = plt.subplots(figsize=(6, 2))
        axes.axis("off")
        axes.text(0.5, 0.5, "no training curves: every model came from a checkpoint", ha="center", va="center")
        save_figure(figure, dest)
        return
    figure, axes = plt.subplots(len(families), 2, figsize=(12, 4 * len(families)), squeeze=False, layout="constrained")
    for row, (family, models) in enumerate(families.items()):
        for col, metric in enumerate(("acc", "loss")):
            ax, epochs = axes[row, col], set()
            for model in models:
                runs = histories[model]
                seeds = f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""
                colour = None
                for split, style, marker in (("train", "-", "o"), ("test", "--", "s")):  # a marker each: one
                    values = pd.concat([h.set_index("epoch")[f"{split}_{metric}"] for h in runs], axis=1)  # epoch
                    mean = values.mean(axis=1)  # shows no line style
                    epochs |= set(mean.index)
                    line = ax.plot(mean.index, mean, marker=marker, markersize=4, linestyle=style, color=colour,
                                   label=f"{model} {split}{seeds}")
                    colour = line[0].get_color()
                    if len(runs) > 1:
                        sd = values.std(axis=1, ddof=1)
                        ax.fill_between(mean.index, mean - sd, mean + sd, color=colour, alpha=0.2, linewidth=0)
                        if len(mean) < 3:  # a band over one or two epochs hardly shows: bars too
                            ax.errorbar(mean.index, mean, yerr=sd, color=colour, linestyle="none", capsize=3)
            ax.set(title=f"{family}: {'accuracy' if metric == 'acc' else 'loss'}", xlabel="epoch", ylabel=metric)
            if len(epochs) <= 10:  # every epoch a tick (one epoch: a tick in the middle, not fractions around it)
                ax.set_xticks(sorted(epochs))
                ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
    save_figure(figure, dest)


def plot_curve(curve: dict, title: str, xlabel: str, dest: str, marks: dict[float, str] | None = None) -> None:
    """Loss (log axis) and accuracy (twin axis) along a line; train solid, test dashed."""
    figure, loss_axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    acc_axes = loss_axes.twinx()
    alpha = curve["alpha"]
    for split, style in (("train", "-"), ("test", "--")):
        loss_axes.plot(alpha, curve[f"{split}_loss"], style, color="tab:blue", label=f"{split} loss")
        acc_axes.plot(alpha, 100 * curve[f"{split}_acc"], style, color="tab:red", label=f"{split} accuracy")
    undefined = ~np.isfinite(curve["train_loss"]) | ~np.isfinite(curve["test_loss"])
    if undefined.any():
        step = (alpha[-1] - alpha[0]) / max(len(alpha) - 1, 1)
        why = "extrapolated BN variance < 0" if curve.get("negative_variance", np.zeros(1)).any() else "overflow"
        for k, index in enumerate(np.flatnonzero(undefined)):
            loss_axes.axvspan(alpha[index] - step / 2, alpha[index] + step / 2, color="0.88", linewidth=0,
                              label=f"loss not finite ({why})" if k == 0 else None)
    loss_axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:,.6g}")
    loss_axes.yaxis.set_major_formatter(plain)
    low, high = loss_axes.get_ylim()
    if high / low < 10:  # under a decade there is no major tick to read: label the minor ones
        loss_axes.yaxis.set_minor_formatter(plain)
        loss_axes.tick_params(axis="y", which="minor", labelsize=7)
    loss_axes.set(xlabel=xlabel, title=f"{title}\n{curve['bn']}" if "bn" in curve else title)
    loss_axes.set_ylabel("loss (log scale)", color="tab:blue")
    acc_axes.set_ylabel("accuracy (%)", color="tab:red")
    acc_axes.set_ylim(0, 100)
    for position, label in (marks or {}).items():
        loss_axes.axvline(position, color="0.6", linewidth=0.8)
        loss_axes.annotate(label, (position, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                           textcoords="offset points", fontsize=8, color="0.3")
    handles = loss_axes.get_legend_handles_labels()[0] + acc_axes.get_legend_handles_labels()[0]
    figure.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=min(len(handles), 5))
    save_figure(figure, dest)


def plot_trajectory(surface: dict, path: np.ndarray, epochs: list[int], explained: np.ndarray, model: str,
                    dest: str) -> None:
    """Loss contours of the PCA plane with the projected optimizer path on top."""
    figure, axes = plt.subplots(figsize=(7, 6), layout="constrained")
    filled = _contour(axes, surface, "")
    if filled is not None:
        _colorbar(figure, filled, axes, "loss")
    axes.set_aspect("auto")
    axes.plot(path[:, 0], path[:, 1], "-o", color="tab:red", markersize=4, linewidth=1.5)
    for (px, py), epoch in zip(path, epochs):
        if epoch in (epochs[0], epochs[-1]) or len(epochs) <= 12:
            axes.annotate(str(epoch), (px, py), xytext=(4, 4), textcoords="offset points", fontsize=7, color="tab:red")
    axes.set(xlabel=f"1st PC: {100 * explained[0]:.1f}% of the path's variance",
             ylabel=f"2nd PC: {100 * explained[1]:.1f}%",
             title=f"{model}: optimizer path (epochs marked) on its PCA plane")
    save_figure(figure, dest)


def plot_eigen_map(eigen: dict, surface: dict, model: str, dest: str) -> None:
    """|λmin/λmax| over the plane (Li et al.'s convexity maps) beside the loss contours of the same plane."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    filled = _contour(left, surface, "loss contours")
    if filled is not None:
        _colorbar(figure, filled, left, "loss")
    mesh = right.pcolormesh(eigen["x"], eigen["y"], eigen["ratio"], cmap="magma_r", shading="nearest",
                            vmin=0, vmax=max(1e-3, float(np.nanmax(eigen["ratio"]))))
    right.set(title="|λmin / λmax| of the Hessian (dark: non-convex)", xlabel="direction 1", ylabel="direction 2",
              aspect="equal", xlim=left.get_xlim(), ylim=left.get_ylim())
    figure.colorbar(mesh, ax=right, label="|λmin / λmax|")
    figure.suptitle(f"{model}: curvature on the loss-surface plane")
    save_figure(figure, dest)


def depth_categories(models: list[str]) -> list[str]:
    """The geometry figure's x axis: Net, the ResNet/PlainNet depths present (20, 56, 110: categories, not a
    linear axis), then every other model by its label."""
    built_in = [m for m in models if m in MODEL_NAMES and m != "net"]
    depths = sorted({int(re.sub(r"\D", "", m)) for m in built_in})
    others = [m for m in models if m not in MODEL_NAMES]
    return (["Net"] if "net" in models else []) + [str(d) for d in depths] + others


def plot_geometry(table: pd.DataFrame, dest: str, labels: dict[str, str] | None = None) -> None:
    """Each geometry metric by depth (categories 20/56/110): ResNet and PlainNet as lines, Net and any other model
    as a labelled point; bars are ± sd across image subsets (Hessian numbers) or across directions (flatness)."""
    labels = labels or {}
    n = int(table["subsets"].iloc[0]) if len(table) else 0
    metrics = [("lambda_max", "lambda_max_sd", f"λmax ± sd (n={n} subsets)"),
               ("ratio", "ratio_sd", f"|λmin / λmax| ± sd (n={n} subsets)"),
               ("trace", "trace_sd", f"Hessian trace ± sd (n={n} subsets)"),
               ("rise@0.5", "rise@0.5_sd", "loss rise at 0.5 ± sd (directions)"),
               ("half_width", "half_width_sd", "basin half-width ± sd (directions)"),
               ("adaptive_average", "adaptive_average_sd", "adaptive sharpness, average ± sd (draws)"),
               ("adaptive_worst", "adaptive_worst_sd", "adaptive sharpness, worst ± sd (starts)"),
               ("test_acc", None, "test accuracy")]
    figure, axes = plt.subplots(2, 4, figsize=(17, 7), layout="constrained")
    from .geometry import PARAMETER_SETS

    params = " / ".join(PARAMETER_SETS[p] for p in sorted(set(table["params"])))
    samples = int(table["samples"].iloc[0]) if len(table) else 0
    figure.suptitle(f"Hessian over {params}, on {samples:,} images per subset")
    models = list(table["model"])
    categories = depth_categories(models)
    position = {}
    for model in models:
        category = model if model not in MODEL_NAMES else "Net" if model == "net" else re.sub(r"\D", "", model)
        position[model] = categories.index(category)
    series = [("ResNet", [m for m in models if m in MODEL_NAMES and m.startswith("resnet")], "tab:blue", "o", "-"),
              ("PlainNet", [m for m in models if m in MODEL_NAMES and m.startswith("plainnet")], "tab:orange", "s", "-"),
              ("Net", [m for m in models if m == "net"], "k", "*", "none")]
    named = {m for _, ms, *_ in series for m in ms}
    series += [(labels.get(m, m), [m], f"C{2 + i}", "D", "none") for i, m in enumerate(m for m in models if m not in named)]
    across_seeds = "seeds" in table and table["seeds"].max() > 1
    if across_seeds:  # bars: the sd across training seeds, for every number
        metrics = [(column, f"{column}_seed_sd", re.sub(r"± sd \(.*\)", f"± sd (n={table['seeds'].max()} seeds)",
                                                         title) if error else f"{title} ± sd (seeds)")
                   for column, error, title in metrics]
        metrics[-1] = ("test_acc", "test_acc_seed_sd", f"test accuracy ± sd (n={table['seeds'].max()} seeds)")
    for ax, (column, error, title) in zip(axes.flat, metrics):
        for label, members, colour, marker, style in series:
            if not members:
                continue
            rows = table.set_index("model").loc[members]
            dodge = {"ResNet": -0.08, "PlainNet": 0.08}.get(label, 0.0)  # both at each depth: side by side
            ax.errorbar([position[m] + dodge for m in members], rows[column],
                        yerr=None if error is None else rows[error],
                        color=colour, marker=marker, capsize=3, linestyle=style, label=label)
        ax.set(title=title, xlabel="depth (layers), or model")
        ax.set_xticks(range(len(categories)), [labels.get(c, c) for c in categories])
        ax.set_xlim(-0.5, len(categories) - 0.5)
        values = table[column].abs()
        if column not in ("ratio", "half_width", "test_acc") and values.max() > 100 * max(values.min(), 1e-12):
            if (table[column] > 0).all():  # decades apart: a log axis, no empty negative half
                ax.set_yscale("log")
            else:  # and some negative
                ax.set_yscale("symlog", linthresh=max(values.min(), 1e-3))
    axes.flat[0].legend(fontsize=8)
    save_figure(figure, dest)


def plot_densities(densities: dict[tuple[str, int], dict], labels: dict[str, str], dest: str) -> None:
    """The Hessian eigenvalue densities (stochastic Lanczos quadrature), log density against eigenvalue: one panel
    per family (ResNet, PlainNet, then Net and other models), one colour per depth or model, seeds > 0 fainter."""
    families = {"ResNet": [], "PlainNet": [], "other": []}
    for model, seed in densities:
        family = ("ResNet" if model.startswith("resnet") else "PlainNet" if model.startswith("plainnet") else "other")
        families[family if model in MODEL_NAMES else "other"].append((model, seed))
    panels = [(name, members) for name, members in families.items() if members]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False, layout="constrained")
    for ax, (name, members) in zip(axes.flat, panels):
        colours = {model: f"C{i}" for i, model in enumerate(dict.fromkeys(m for m, _ in members))}
        for model, seed in members:
            blob = densities[(model, seed)]
            density = np.maximum(blob["density"], blob["density"].max() * 1e-7)  # log axis: floor far below the mass
            ax.plot(blob["eigenvalue"], density, color=colours[model], alpha=1.0 if seed == 0 else 0.4, lw=1.2,
                    label=labels.get(model, model) if seed == 0 or (model, 0) not in densities else None)
        ax.set(yscale="log", xlabel="eigenvalue", ylabel="density (log; floor 1e-7 × peak)",
               title=f"{name}: Hessian eigenvalue density" if name != "other" else "Net and other models")
        ax.legend(fontsize=8)
    runs = {int(np.asarray(blob["nodes"]).shape[0]) for blob in densities.values()}
    figure.suptitle(f"stochastic Lanczos quadrature, {'/'.join(map(str, sorted(runs)))} random vectors per model")
    save_figure(figure, dest)


def plot_connectivity(curves: dict[tuple[str, str], dict], labels: dict[str, str], dest: str,
                      matching: str = "weight") -> None:
    """Between two training seeds of each model (a column each): the train loss (top) and the test error (bottom)
    along the straight path (dashed), after weight matching (solid) and along the trained curve (dotted), one colour
    per seed pair."""
    models = list(dict.fromkeys(model for model, _ in curves))
    figure, axes = plt.subplots(2, len(models), figsize=(3.6 * len(models) + 0.6, 6), squeeze=False, sharex=True,
                                layout="constrained")
    for column, model in enumerate(models):
        pairs = [pair for m, pair in curves if m == model]
        for i, pair in enumerate(pairs):
            curve = curves[(model, pair)]
            for row, (value, name) in enumerate(((lambda c, p: c[f"{p}_train_loss"], "train loss"),
                                                 (lambda c, p: 1 - c[f"{p}_test_acc"], "test error"))):
                ax = axes[row, column]
                for path, style, label in (("linear", "--", "straight"), ("aligned", "-", "aligned"),
                                           ("curve", ":", "curve")):
                    if f"{path}_train_loss" not in curve:  # no alignment for the user's architecture, no curve
                        continue
                    ax.plot(curve["alpha"], value(curve, path), style, color=f"C{i}", lw=1.4,
                            label=f"{pair.removeprefix('seeds')}, {label}")
                ax.set(ylabel=name if column == 0 else None, xlabel="α, t on the curve (seed a → seed b)" if row == 1 else None)
        axes[0, column].set_title(labels.get(model, model))
        axes[0, column].legend(fontsize=7, title="seeds", title_fontsize=7)
    curved = any("curve_train_loss" in curve for curve in curves.values())
    figure.suptitle(f"mode connectivity: straight between seeds (dashed), after {matching} matching (solid)"
                    + (", along the trained curve (dotted)" if curved else "") + ", BN recomputed")
    save_figure(figure, dest)
