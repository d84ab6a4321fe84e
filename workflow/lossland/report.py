"""The cross-model tables: the study's Table 5 (summary), the geometry table and the claims table, each over
training seeds (mean, sd, n)."""

import pandas as pd

from .config import MODEL_NAMES
from .io import atomic_write, save_text

SUMMARY_METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]
# how each model was trained: epochs (none for an imported checkpoint) and the precision it ran (auto resolved)
TRAINING_COLUMNS = ["epochs", "precision"]
SUMMARY_COLUMNS = ["model", "params", "seeds", *TRAINING_COLUMNS] + [c for m in SUMMARY_METRICS for c in (m, f"{m}_sd")]


def model_order(model: str) -> tuple[int, int | str]:
    """Net, PlainNets, ResNets by depth, then the user's models by name."""
    if model not in MODEL_NAMES:
        return 3, model
    family = 0 if model == "net" else 1 if model.startswith("plainnet") else 2
    depth = int("".join(ch for ch in model if ch.isdigit()) or 0)
    return family, depth


def across_seeds(per_seed: pd.DataFrame, columns: list[str], sd_suffix: str = "_sd") -> pd.DataFrame:
    """One row per model: the mean of each column over its seeds, their sd (ddof 1; NaN with one seed) as
    `<column><sd_suffix>`, and `seeds` = n; other columns from the first seed."""
    rows = []
    for model, group in per_seed.groupby("model", sort=False):
        row = group.iloc[0].drop(labels=["seed"], errors="ignore").to_dict()
        for column in columns:
            values = group[column].astype(float)
            row[column] = float(values.mean()) if len(values) > 1 else float(values.iloc[0])
            row[f"{column}{sd_suffix}"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        row["seeds"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(metrics: dict[tuple[str, int], dict], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The study's Table 5, one row per model: parameters, n seeds, epochs and precision (the first seed's), and each
    loss and accuracy as mean and sd over the seeds (a `label` column when some model has a label other than its
    name)."""
    per_seed = pd.DataFrame([{"model": model, "seed": seed, "params": values["params"],
                              **{key: values.get(key) for key in TRAINING_COLUMNS},
                              **{key: values[key] for key in SUMMARY_METRICS}}
                             for (model, seed), values in metrics.items()])
    frame = across_seeds(per_seed, SUMMARY_METRICS)[SUMMARY_COLUMNS]
    frame = with_labels(frame, labels)
    return frame.sort_values("model", key=lambda col: col.map(model_order)).reset_index(drop=True)


def mean_sd(value: float, sd: float, digits: str = ".4f") -> str:
    """'0.9123 ± 0.0021', or '0.9123' without a spread (one seed)."""
    return f"{value:{digits}}" if pd.isna(sd) else f"{value:{digits}} ± {sd:{digits}}"


def summary_markdown(frame: pd.DataFrame) -> str:
    seeds = sorted(set(frame["seeds"]))
    note = ("Mean ± sd across training seeds (n per row)." if max(seeds) > 1 else "One training seed per model: no "
            "spread across seeds (train.seeds).")
    lines = [note, "", "| model | params | n | epochs | precision | train loss | train acc | test loss | test acc |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for row in frame.to_dict("records"):
        training = [f"{row['epochs']:.0f}" if pd.notna(row["epochs"]) else "—",
                    row["precision"] if pd.notna(row["precision"]) else "—"]
        cells = training + [mean_sd(row[m], row[f"{m}_sd"]) for m in SUMMARY_METRICS]
        lines.append(f"| {named(row)} | {row['params']:,} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def with_labels(frame: pd.DataFrame, labels: dict[str, str] | None) -> pd.DataFrame:
    if labels:
        frame.insert(1, "label", frame["model"].map(lambda m: labels.get(m, m)))
    return frame


HESSIAN_COLUMNS = ["lambda_max", "lambda_max_sd", "lambda_min", "lambda_min_sd", "ratio", "ratio_sd", "trace",
                   "trace_sd", "trace_se", "subsets", "samples", "params"]
GEOMETRY_COLUMNS = ["model", "params_count", "test_acc", *HESSIAN_COLUMNS,
                    "rise@0.25", "rise@0.25_sd", "rise@0.5", "rise@0.5_sd", "rise@1", "rise@1_sd", "half_width",
                    "half_width_sd", "directions", "adaptive_average", "adaptive_average_sd", "adaptive_worst",
                    "adaptive_worst_sd"]


GEOMETRY_NUMBERS = ["test_acc", "lambda_max", "lambda_min", "ratio", "trace", "rise@0.25", "rise@0.5", "rise@1",
                    "half_width", "adaptive_average", "adaptive_worst"]


def geometry_rows(rows: dict[tuple[str, int], tuple[dict, dict, dict]]) -> pd.DataFrame:
    """One row per (model, seed) from its hessian.json, flatness.json and metrics.json."""
    records = []
    for (model, seed), (hessian, flatness, metrics) in rows.items():
        records.append({"model": model, "seed": seed, "params_count": metrics["params"],
                        "test_acc": metrics["test_acc"], **{k: hessian[k] for k in HESSIAN_COLUMNS},
                        **{k: flatness[k] for k in GEOMETRY_COLUMNS if k in flatness}})
    return pd.DataFrame(records, columns=["model", "seed", *GEOMETRY_COLUMNS[1:]])


def geometry_table(rows: dict[tuple[str, int], tuple[dict, dict, dict]],
                   labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per model: each number's mean over seeds, its within-seed error bar (`<number>_sd`: across image
    subsets or directions, averaged over seeds) and its sd across seeds (`<number>_seed_sd`), and `seeds` = n."""
    per_seed = geometry_rows(rows)
    frame = across_seeds(per_seed, GEOMETRY_NUMBERS, "_seed_sd")
    within = [f"{c}_sd" for c in GEOMETRY_NUMBERS if f"{c}_sd" in per_seed]
    means = per_seed.groupby("model", sort=False)[within].mean()
    for column in within:
        frame[column] = means[column].reindex(frame["model"]).to_numpy()
    columns = [*GEOMETRY_COLUMNS, *[f"{c}_seed_sd" for c in GEOMETRY_NUMBERS], "seeds"]
    frame = with_labels(frame[columns], labels)
    return frame.sort_values("model", key=lambda col: col.map(model_order)).reset_index(drop=True)


def spread(row: dict, column: str) -> float:
    """A number's ± in the readable tables: its sd across seeds with several seeds, else its within-seed sd."""
    return row[f"{column}_seed_sd"] if row["seeds"] > 1 else row.get(f"{column}_sd", float("nan"))


def geometry_markdown(frame: pd.DataFrame) -> str:
    """The readable table: each number ± its sd across training seeds (several seeds), or ± its within-seed sd
    across disjoint image subsets (Hessian) and random directions (flatness) with one seed."""
    note = ""
    if len(frame):
        first = frame.iloc[0]
        from .geometry import PARAMETER_SETS

        note = (f"Hessian over {PARAMETER_SETS[first['params']]}, on {first['subsets']} disjoint subsets of "
                f"{first['samples']:,} images; rise and half-width over {first['directions']} random directions. ")
        note += ("± is the sd across training seeds (n per row; the within-seed sd is in geometry.csv).\n\n"
                 if frame["seeds"].max() > 1 else "One training seed: ± is the sd across those subsets and "
                 "directions.\n\n")
    lines = ["| model | params | n | test acc | λmax ± sd | λmin ± sd | \\|λmin/λmax\\| ± sd | trace ± sd "
             "| rise@0.5 ± sd | half-width ± sd | adaptive avg ± sd | adaptive worst ± sd |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in frame.to_dict("records"):
        cells = [mean_sd(row["test_acc"], row["test_acc_seed_sd"])]
        cells += [f"{row[c]:.4g} ± {spread(row, c):.2g}" for c in ("lambda_max", "lambda_min")]
        cells += [f"{row['ratio']:.4f} ± {spread(row, 'ratio'):.2g}", f"{row['trace']:.4g} ± {spread(row, 'trace'):.2g}",
                  f"{row['rise@0.5']:.4g} ± {spread(row, 'rise@0.5'):.2g}",
                  f"{row['half_width']:.3f} ± {spread(row, 'half_width'):.3f}",
                  *[f"{row[c]:.3g} ± {spread(row, c):.2g}" for c in ("adaptive_average", "adaptive_worst")]]
        lines.append(f"| {named(row)} | {row['params_count']:,} | {row['seeds']} | " + " | ".join(cells) + " |")
    return note + "\n".join(lines) + "\n"


def named(row: dict) -> str:
    """A table's model cell: its label, with the name when they differ."""
    label = row.get("label") or row["model"]
    return label if label == row["model"] else f"{label} ({row['model']})"


def write_table(frame: pd.DataFrame, csv_path: str, md_path: str) -> None:
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    save_text(geometry_markdown(frame), md_path)


def write_summary(metrics: dict[tuple[str, int], dict], csv_path: str, md_path: str,
                  labels: dict[str, str] | None = None) -> None:
    frame = summary_table(metrics, labels)
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    save_text(summary_markdown(frame), md_path)
