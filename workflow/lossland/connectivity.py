"""Mode connectivity across models: each seed pair's barriers (`measure.connectivity`) as a table, their mean ± sd
over a model's pairs, and the paths in one figure.

A barrier is the largest rise of the loss (or error) along the path above the straight line between its ends
(Entezari et al. 2021; Frankle et al. 2020 subtract the ends' mean); "aligned" is the path to the second seed after
weight matching (Ainsworth et al. 2022).
Pairs of one model share seeds where there are more than two (0-1 and 1-2 share seed 1): the sd describes the
pairs, it is not an interval over independent units.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .report import model_order

PATHS = ("linear", "aligned", "curve")  # straight, after weight matching, along the trained Bezier curve
BARRIERS = [f"{path}_{value}" for value in ("train_loss", "test_loss", "test_error") for path in PATHS]


def pair_rows(settings: dict, paths: list[str]) -> pd.DataFrame:
    rows = []
    for (model, pair), path in zip(settings["pairs"], paths, strict=True):
        summary = json.loads(Path(path).with_suffix(".json").read_text())
        method = (summary.get("matching") or {}).get("method", "weights")  # how the aligned path was aligned
        rows.append({"model": model, "pair": pair, "matching": method,
                     **{k: summary["barriers"].get(k) for k in BARRIERS}})
    return pd.DataFrame(rows).astype({key: float for key in BARRIERS})  # None (no alignment, no curve): NaN


def model_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per model: the number of pairs and each barrier's mean and sd over them (sd NaN for one pair)."""
    grouped = pairs.groupby("model")[BARRIERS]
    table = grouped.mean().join(grouped.std(ddof=1).add_suffix("_sd")).join(grouped.size().rename("pairs"))
    table = table.reset_index()
    return table.iloc[sorted(range(len(table)), key=lambda i: model_order(table["model"][i]))].reset_index(drop=True)


def cell(mean: float, sd: float) -> str:
    """mean ± sd; the mean alone for one pair; — where there is no value (no alignment for the architecture, no
    curve trained)."""
    if np.isnan(mean):
        return "—"
    return f"{mean:.4f}" if np.isnan(sd) else f"{mean:.4f} ± {sd:.4f}"


def markdown(table: pd.DataFrame, labels: dict, matching: str = "weight") -> str:
    head = ("| model | pairs | train loss: straight | aligned | curve | test loss: straight | aligned | curve "
            "| test error: straight | aligned | curve |\n|---|---:" + "|---:" * len(BARRIERS) + "|\n")
    lines = [f"| {labels.get(row.model, row.model)} | {row.pairs} | " + " | ".join(
        cell(getattr(row, k), getattr(row, f"{k}_sd")) for k in BARRIERS) + " |" for row in table.itertuples()]
    note = ("\nBarriers between training seeds (the largest rise along the path above the straight line between its "
            f"ends), straight, after {matching} matching (Ainsworth et al. 2022) and along a quadratic Bezier curve with "
            "a trained bend (Garipov et al. 2018; — where connectivity.curve.epochs is 0), BN statistics "
            "recomputed at every point; mean ± sd over a model's seed pairs (pairs sharing a seed are not "
            "independent).\n")
    return head + "\n".join(lines) + "\n" + note


def write(settings: dict, inputs: dict, outputs: dict) -> None:
    from .io import atomic_write, read_arrays, save_text
    from .plots import plot_connectivity

    pairs = pair_rows(settings, inputs["paths"])
    table, labels = model_table(pairs), settings.get("labels", {})
    with atomic_write(outputs["csv"], "w") as handle:
        table.to_csv(handle, index=False)
    matching = " or ".join(sorted({method[:-1] for method in pairs["matching"]})) or "weight"
    save_text(markdown(table, labels, matching), outputs["md"])
    curves = {(model, pair): read_arrays(path) for (model, pair), path in zip(settings["pairs"], inputs["paths"])}
    plot_connectivity(curves, labels, outputs["png"], matching)
