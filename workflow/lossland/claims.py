"""The study's claims with confidence: differences of means across training seeds, with 95 % Welch intervals.

For each pair the study compares — ResNet-d against PlainNet-d at every depth d present, and every two depths within
one family — and each number (test accuracy, λmax, Hessian trace, basin half-width): the difference of the means
over seeds (first minus second) and its 95 % confidence interval by Welch's t (unequal variances, Welch–Satterthwaite
degrees of freedom; `scipy.stats.ttest_ind(equal_var=False).confidence_interval`). With one seed on either side
there is no interval, and the table says so instead of printing a number.
"""

import itertools
import re

import numpy as np
import pandas as pd

CLAIM_NUMBERS = {"test_acc": "test accuracy", "lambda_max": "λmax", "trace": "Hessian trace",
                 "half_width": "basin half-width"}
CLAIM_COLUMNS = ["first", "second", "number", "mean_first", "mean_second", "difference", "ci_low", "ci_high",
                 "n_first", "n_second", "excludes_zero", "note"]
LEVEL = 0.95


def claim_pairs(models: list[str]) -> list[tuple[str, str]]:
    """ResNet-d vs PlainNet-d for each depth both have, then shallower vs deeper within each family."""
    depths = {family: sorted(int(m[len(family):]) for m in models if re.fullmatch(rf"{family}(20|56|110)", m))
              for family in ("resnet", "plainnet")}
    pairs = [(f"resnet{d}", f"plainnet{d}") for d in depths["resnet"] if d in depths["plainnet"]]
    for family, present in depths.items():
        pairs += [(f"{family}{a}", f"{family}{b}") for a, b in itertools.combinations(present, 2)]
    return pairs


def welch_interval(first: np.ndarray, second: np.ndarray) -> tuple[float, float, str]:
    """(low, high, note) of the difference of means; NaN and a note where no interval exists."""
    from scipy import stats

    if min(len(first), len(second)) < 2:
        return float("nan"), float("nan"), "one seed: no interval"
    if np.var(first) == 0 and np.var(second) == 0:
        return float("nan"), float("nan"), "no spread across seeds: no interval"
    interval = stats.ttest_ind(first, second, equal_var=False).confidence_interval(LEVEL)
    return float(interval.low), float(interval.high), ""


def claims_table(per_seed: pd.DataFrame) -> pd.DataFrame:
    """`per_seed`: one row per (model, seed) with the CLAIM_NUMBERS columns (NaN where a run has no such number)."""
    rows = []
    for first, second in claim_pairs(list(per_seed["model"].unique())):
        for number in CLAIM_NUMBERS:
            a = per_seed.loc[per_seed["model"] == first, number].dropna().to_numpy(float)
            b = per_seed.loc[per_seed["model"] == second, number].dropna().to_numpy(float)
            if not len(a) or not len(b):
                continue
            low, high, note = welch_interval(a, b)
            rows.append({"first": first, "second": second, "number": number, "mean_first": a.mean(),
                         "mean_second": b.mean(), "difference": a.mean() - b.mean(), "ci_low": low, "ci_high": high,
                         "n_first": len(a), "n_second": len(b),
                         "excludes_zero": bool(low > 0 or high < 0) if not note else None, "note": note})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_markdown(table: pd.DataFrame) -> str:
    lines = ["Differences of means across training seeds (first − second), 95 % Welch's t interval (unequal "
             "variances) over the seeds.", "",
             "| first | second | number | mean first | mean second | difference | 95 % interval | n | excludes 0 |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    if not len(table):
        lines.append("| (no pair of ResNet/PlainNet models to compare in this config) | | | | | | | | |")
    for row in table.to_dict("records"):
        interval = row["note"] or f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]"
        verdict = "" if row["note"] else ("yes" if row["excludes_zero"] else "no")
        lines.append(f"| {row['first']} | {row['second']} | {CLAIM_NUMBERS[row['number']]} | {row['mean_first']:.4g} "
                     f"| {row['mean_second']:.4g} | {row['difference']:+.4g} | {interval} "
                     f"| {row['n_first']} / {row['n_second']} | {verdict} |")
    return "\n".join(lines) + "\n"
