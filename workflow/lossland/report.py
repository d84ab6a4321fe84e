"""The cross-model summary table (the study's Table 5)."""

import pandas as pd

from .config import MODEL_NAMES
from .io import atomic_write, save_text

SUMMARY_COLUMNS = ["model", "params", "train_loss", "train_acc", "test_loss", "test_acc"]


def model_order(model: str) -> tuple[int, int | str]:
    """Net, PlainNets, ResNets by depth, then the user's models by name."""
    if model not in MODEL_NAMES:
        return 3, model
    family = 0 if model == "net" else 1 if model.startswith("plainnet") else 2
    depth = int("".join(ch for ch in model if ch.isdigit()) or 0)
    return family, depth


def summary_table(metrics: dict[str, dict], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per model; a `label` column when some model has a label other than its name."""
    rows = [{"model": model, **{key: values[key] for key in SUMMARY_COLUMNS[1:]}} for model, values in metrics.items()]
    frame = with_labels(pd.DataFrame(rows, columns=SUMMARY_COLUMNS), labels)
    return frame.sort_values("model", key=lambda col: col.map(model_order)).reset_index(drop=True)


def with_labels(frame: pd.DataFrame, labels: dict[str, str] | None) -> pd.DataFrame:
    if labels:
        frame.insert(1, "label", frame["model"].map(lambda m: labels.get(m, m)))
    return frame


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if c == "model" else "---:" for c in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [f"{v:,}" if isinstance(v, int) else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


HESSIAN_COLUMNS = ["lambda_max", "lambda_max_sd", "lambda_min", "lambda_min_sd", "ratio", "ratio_sd", "trace",
                   "trace_sd", "trace_se", "subsets", "samples", "params"]
GEOMETRY_COLUMNS = ["model", "params_count", "test_acc", *HESSIAN_COLUMNS,
                    "rise@0.25", "rise@0.25_sd", "rise@0.5", "rise@0.5_sd", "rise@1", "rise@1_sd", "half_width",
                    "half_width_sd", "directions"]


def geometry_table(rows: dict[str, tuple[dict, dict, dict]], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per model from its hessian.json, flatness.json and metrics.json."""
    records = []
    for model, (hessian, flatness, metrics) in rows.items():
        record = {"model": model, "params_count": metrics["params"], "test_acc": metrics["test_acc"],
                  **{k: hessian[k] for k in HESSIAN_COLUMNS},
                  **{k: flatness[k] for k in GEOMETRY_COLUMNS if k in flatness}}
        records.append(record)
    frame = with_labels(pd.DataFrame(records, columns=GEOMETRY_COLUMNS), labels)
    return frame.sort_values("model", key=lambda col: col.map(model_order)).reset_index(drop=True)


def geometry_markdown(frame: pd.DataFrame) -> str:
    """The readable table: Hessian numbers as mean ± sd across disjoint image subsets, flatness ± sd over directions."""
    if len(frame):
        first = frame.iloc[0]
        from .geometry import PARAMETER_SETS

        note = (f"Hessian over {PARAMETER_SETS[first['params']]}, mean ± sd across {first['subsets']} disjoint subsets "
                f"of {first['samples']:,} images; rise and half-width ± sd across {first['directions']} random "
                "directions.\n\n")
    else:
        note = ""
    lines = ["| model | params | test acc | λmax ± sd | λmin ± sd | \\|λmin/λmax\\| ± sd | trace ± sd | rise@0.5 ± sd "
             "| half-width ± sd |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in frame.to_dict("records"):
        lines.append(
            f"| {named(row)} | {row['params_count']:,} | {row['test_acc']:.4f} "
            f"| {row['lambda_max']:.4g} ± {row['lambda_max_sd']:.2g} | {row['lambda_min']:.4g} ± {row['lambda_min_sd']:.2g} "
            f"| {row['ratio']:.4f} ± {row['ratio_sd']:.2g} | {row['trace']:.4g} ± {row['trace_sd']:.2g} "
            f"| {row['rise@0.5']:.4g} ± {row['rise@0.5_sd']:.2g} | {row['half_width']:.3f} ± {row['half_width_sd']:.3f} |"
        )
    return note + "\n".join(lines) + "\n"


def named(row: dict) -> str:
    """A table's model cell: its label, with the name when they differ."""
    label = row.get("label") or row["model"]
    return label if label == row["model"] else f"{label} ({row['model']})"


def write_table(frame: pd.DataFrame, csv_path: str, md_path: str) -> None:
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    save_text(geometry_markdown(frame), md_path)


def write_summary(metrics: dict[str, dict], csv_path: str, md_path: str, labels: dict[str, str] | None = None) -> None:
    frame = summary_table(metrics, labels)
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    save_text(markdown_table(frame), md_path)
