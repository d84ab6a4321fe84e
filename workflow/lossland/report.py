"""The cross-model summary table (the study's Table 5)."""

import pandas as pd

from .io import atomic_write, save_text

SUMMARY_COLUMNS = ["model", "params", "train_loss", "train_acc", "test_loss", "test_acc"]


def model_order(model: str) -> tuple[int, int]:
    family = 0 if model == "net" else 1 if model.startswith("plainnet") else 2
    depth = int("".join(ch for ch in model if ch.isdigit()) or 0)
    return family, depth


def summary_table(metrics: dict[str, dict]) -> pd.DataFrame:
    rows = [{"model": model, **{key: values[key] for key in SUMMARY_COLUMNS[1:]}} for model, values in metrics.items()]
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return frame.sort_values("model", key=lambda col: col.map(model_order)).reset_index(drop=True)


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if c == "model" else "---:" for c in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [f"{v:,}" if isinstance(v, int) else f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(metrics: dict[str, dict], csv_path: str, md_path: str) -> None:
    frame = summary_table(metrics)
    with atomic_write(csv_path, "w") as handle:
        frame.to_csv(handle, index=False)
    save_text(markdown_table(frame), md_path)
