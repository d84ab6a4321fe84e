"""The study's claims with confidence: differences of means across training seeds, with 95 % Welch intervals.

For each pair the study compares — ResNet-d against PlainNet-d at every depth d present, and every two depths within
one family — and each number (test accuracy, λmax, Hessian trace, basin half-width): the difference of the means
over seeds (first minus second) and its 95 % confidence interval by Welch's t (unequal variances, Welch–Satterthwaite
degrees of freedom; `scipy.stats.ttest_ind(equal_var=False).confidence_interval`). With one seed on either side
there is no interval, and the table says so instead of printing a number. Where the two models of a pair are
built at different widths (`width`), the note says so: the difference is then not the shortcuts' (or depth's) alone.
"""

import itertools
import re

import numpy as np
import pandas as pd

SEED_NUMBERS = {"test_acc": "test accuracy", "lambda_max": "λmax", "trace": "Hessian trace",
                "half_width": "basin half-width"}
# barriers between two seeds (connectivity.py): one value per seed pair; intervals only over pairs sharing no seed
PAIR_NUMBERS = {"linear_train_loss": "barrier straight (train loss)",
                "aligned_train_loss": "barrier aligned (train loss)",
                "curve_train_loss": "barrier along the trained curve (train loss)"}
CLAIM_NUMBERS = {**SEED_NUMBERS, **PAIR_NUMBERS}
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


def welch_interval(first: np.ndarray, second: np.ndarray, unit: str = "seed") -> tuple[float, float, str]:
    """(low, high, note) of the difference of means; NaN and a note where no interval exists."""
    from scipy import stats

    if min(len(first), len(second)) < 2:
        return float("nan"), float("nan"), f"one {unit}: no interval"
    if np.var(first) == 0 and np.var(second) == 0:
        return float("nan"), float("nan"), f"no spread across {unit}s: no interval"
    interval = stats.ttest_ind(first, second, equal_var=False).confidence_interval(LEVEL)
    return float(interval.low), float(interval.high), ""


def width_note(first: str, second: str, widths: dict[str, int] | None) -> str:
    """'widths differ: 2 vs 1' where `widths` (model → width, 1 where absent) builds the two models differently."""
    a, b = ((widths or {}).get(model, 1) for model in (first, second))
    return f"widths differ: {a} vs {b}" if a != b else ""


def claims_table(per_seed: pd.DataFrame, widths: dict[str, int] | None = None) -> pd.DataFrame:
    """`per_seed`: one row per (model, seed) with the CLAIM_NUMBERS columns (NaN where a run has no such number);
    `widths`: each model's width where it is not 1."""
    rows = []
    for first, second in claim_pairs(list(per_seed["model"].unique())):
        for number in SEED_NUMBERS:
            a = per_seed.loc[per_seed["model"] == first, number].dropna().to_numpy(float)
            b = per_seed.loc[per_seed["model"] == second, number].dropna().to_numpy(float)
            if not len(a) or not len(b):
                continue
            low, high, note = welch_interval(a, b)
            note = "; ".join(filter(None, [note, width_note(first, second, widths)]))
            rows.append({"first": first, "second": second, "number": number, "mean_first": a.mean(),
                         "mean_second": b.mean(), "difference": a.mean() - b.mean(), "ci_low": low, "ci_high": high,
                         "n_first": len(a), "n_second": len(b),
                         "excludes_zero": bool(low > 0 or high < 0) if not np.isnan(low) else None, "note": note})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def disjoint_pairs(pairs: list[str]) -> list[str]:
    """Seed pairs ("seeds0-1", ...) in order, each kept only if it shares no seed with one kept before: the
    independent units an interval may be taken over (0-1 and 1-2 share seed 1)."""
    kept, used = [], set()
    for pair in pairs:
        seeds = set(pair.removeprefix("seeds").split("-"))
        if not seeds & used:
            kept.append(pair)
            used |= seeds
    return kept


def barrier_claims(per_pair: pd.DataFrame, widths: dict[str, int] | None = None) -> pd.DataFrame:
    """`per_pair`: one row per (model, pair) with the PAIR_NUMBERS columns. ResNet-d vs PlainNet-d (and depths
    within a family) as in `claims_table`, over each model's disjoint pairs only; the note says how many were left
    out."""
    rows = []
    for first, second in claim_pairs(list(per_pair["model"].unique())):
        chosen = {model: disjoint_pairs(per_pair.loc[per_pair["model"] == model, "pair"].tolist())
                  for model in (first, second)}
        for number in [number for number in PAIR_NUMBERS if number in per_pair]:
            a, b = (per_pair.loc[(per_pair["model"] == m) & per_pair["pair"].isin(chosen[m]), number].dropna()
                    .to_numpy(float) for m in (first, second))
            if not len(a) or not len(b):
                continue
            low, high, note = welch_interval(a, b, unit="disjoint seed pair")
            left_out = sum(int((per_pair["model"] == m).sum()) - len(chosen[m]) for m in (first, second))
            note = "; ".join(filter(None, [note, f"{left_out} pairs sharing a seed left out" if left_out else "",
                                           width_note(first, second, widths)]))
            rows.append({"first": first, "second": second, "number": number, "mean_first": a.mean(),
                         "mean_second": b.mean(), "difference": a.mean() - b.mean(), "ci_low": low, "ci_high": high,
                         "n_first": len(a), "n_second": len(b),
                         "excludes_zero": bool(low > 0 or high < 0) if not np.isnan(low) else None, "note": note})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_markdown(table: pd.DataFrame) -> str:
    lines = ["Differences of means across training seeds (first − second), 95 % Welch's t interval (unequal "
             "variances) over the seeds; barriers between seeds: over disjoint seed pairs.", "",
             "| first | second | number | mean first | mean second | difference | 95 % interval | n | excludes 0 |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    if not len(table):
        lines.append("| (no pair of ResNet/PlainNet models to compare in this config) | | | | | | | | |")
    for row in table.to_dict("records"):
        interval = "; ".join(filter(None, ["" if np.isnan(row["ci_low"]) else f"[{row['ci_low']:.4g}, "
                                           f"{row['ci_high']:.4g}]", row["note"]]))
        verdict = "" if np.isnan(row["ci_low"]) else ("yes" if row["excludes_zero"] else "no")
        lines.append(f"| {row['first']} | {row['second']} | {CLAIM_NUMBERS[row['number']]} | {row['mean_first']:.4g} "
                     f"| {row['mean_second']:.4g} | {row['difference']:+.4g} | {interval} "
                     f"| {row['n_first']} / {row['n_second']} | {verdict} |")
    return "\n".join(lines) + "\n"
