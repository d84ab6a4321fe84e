"""The Net sweep: batch size × learning rate (× epochs), its tables and heatmaps, and the augmentation ablation.

Without an lr schedule, the epoch axis is read off one run's per-epoch history (epochs 25/50/75/100 are points
along one 100-epoch run); with a schedule each epoch count is a separate run, since the schedule depends on it.
"""

import copy
import re

import numpy as np
import pandas as pd

from .config import relevant_settings, train_settings
from .io import atomic_write

RUN_PATTERN = r"b(?P<batch>\d+)_lr(?P<lr>[0-9.e-]+)_e(?P<epochs>\d+)(?P<aug>_aug)?"
TABLE_COLUMNS = ["batch", "lr", "epochs", "augment", "test_acc", "test_loss"]


def run_name(batch: int, lr: float, epochs: int, augment: bool = False) -> str:
    return f"b{batch}_lr{lr:g}_e{epochs}" + ("_aug" if augment else "")


def parse_run(run: str) -> dict:
    """batch, lr, epochs and augment of a run name made by `run_name`."""
    match = re.fullmatch(RUN_PATTERN, run)
    return dict(batch=int(match["batch"]), lr=float(match["lr"]), epochs=int(match["epochs"]),
                augment=bool(match["aug"]))


def grid_runs(sweep: dict, scheduled: bool) -> list[str]:
    epochs = sweep["epochs"] if scheduled else [max(sweep["epochs"])]
    return [run_name(b, lr, e) for b in sweep["batch_sizes"] for lr in sweep["lrs"] for e in epochs]


def run_settings(config: dict, run: str) -> dict:
    sweep = config["sweep"]
    parsed = parse_run(run)
    settings = train_settings(config, sweep["model"])
    settings.update(copy.deepcopy(sweep["settings"]))
    if parsed["augment"]:
        settings.update(copy.deepcopy(sweep["augmented"]))
    settings.update(batch_size=parsed["batch"], lr=parsed["lr"], epochs=parsed["epochs"])
    return relevant_settings(sweep["model"], settings)


def is_scheduled(config: dict) -> bool:
    sweep = config["sweep"]
    schedule = sweep["settings"].get("schedule") or train_settings(config, sweep["model"])["schedule"]
    return schedule["type"] != "none"


def sweep_table(histories: dict[str, pd.DataFrame], epochs: list[int], scheduled: bool) -> pd.DataFrame:
    """Long format: one row per (batch, lr, epochs) of the grid, read from the runs' histories."""
    rows = []
    for run, history in histories.items():
        parsed = parse_run(run)
        by_epoch = history.set_index("epoch")
        for epoch in [parsed["epochs"]] if scheduled else epochs:
            rows.append(dict(parsed, epochs=epoch, test_acc=float(by_epoch.loc[epoch, "test_acc"]),
                             test_loss=float(by_epoch.loc[epoch, "test_loss"])))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values(["lr", "batch", "epochs"]).reset_index(drop=True)


def best_row(table: pd.DataFrame) -> pd.Series:
    return table.loc[table["test_acc"].idxmax()]


def lr_markdown(table: pd.DataFrame, lr: float) -> str:
    """The study's layout: rows batch size, columns epochs, test accuracy; the best cell of the sweep in bold."""
    best = best_row(table)
    part = table[table["lr"] == lr].pivot(index="batch", columns="epochs", values="test_acc")
    lines = [f"Test accuracy, learning rate {lr:g} (best of the sweep in bold)", "",
             "| batch \\ epochs | " + " | ".join(str(e) for e in part.columns) + " |",
             "|---:|" + "---:|" * len(part.columns)]
    for batch, row in part.iterrows():
        cells = []
        for epochs, value in row.items():
            text = f"{value:.4f}"
            if (batch, epochs, lr) == (best["batch"], best["epochs"], best["lr"]):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_heatmap(table: pd.DataFrame, lr: float, dest: str) -> None:
    from .plots import plt, save_figure

    best = best_row(table)
    part = table[table["lr"] == lr].pivot(index="batch", columns="epochs", values="test_acc")
    figure, axes = plt.subplots(figsize=(1.4 * len(part.columns) + 2.5, 0.6 * len(part.index) + 2))
    image = axes.imshow(part.to_numpy(), cmap="viridis", aspect="auto",
                        vmin=table["test_acc"].min(), vmax=table["test_acc"].max())
    axes.set(xticks=range(len(part.columns)), xticklabels=part.columns, yticks=range(len(part.index)),
             yticklabels=part.index, xlabel="epochs", ylabel="batch size", title=f"test accuracy, lr {lr:g}")
    for i, batch in enumerate(part.index):
        for j, epochs in enumerate(part.columns):
            is_best = (batch, epochs, lr) == (best["batch"], best["epochs"], best["lr"])
            axes.text(j, i, f"{part.iloc[i, j]:.3f}" + (" ★" if is_best else ""), ha="center", va="center",
                      color="w" if part.iloc[i, j] < part.to_numpy().mean() else "k",
                      fontweight="bold" if is_best else "normal")
    figure.colorbar(image, ax=axes, label="test accuracy")
    save_figure(figure, dest)


def ablation_markdown(baseline: pd.Series | None, best: pd.Series, augmented: pd.Series) -> str:
    lines = ["Augmentation step (random crop with padding 4, horizontal flip, CIFAR-10 mean/std normalization)", "",
             "| run | batch | lr | epochs | augmentation | test acc | test loss |", "|---|---:|---:|---:|---|---:|---:|"]
    rows = [("baseline", baseline)] if baseline is not None else []
    rows += [("best of the sweep", best), ("best of the sweep, augmented", augmented)]
    for label, row in rows:
        lines.append(f"| {label} | {int(row['batch'])} | {row['lr']:g} | {int(row['epochs'])} | "
                     f"{'on' if row['augment'] else 'off'} | {row['test_acc']:.4f} | {row['test_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, dest: str) -> None:
    with atomic_write(dest, "w") as handle:
        table.to_csv(handle, index=False)


def history_row(history: pd.DataFrame, run: str) -> pd.Series:
    last = history.iloc[-1]
    return pd.Series(dict(parse_run(run), epochs=int(last["epoch"]), test_acc=last["test_acc"],
                          test_loss=last["test_loss"]))


def lookup(table: pd.DataFrame, batch: int, lr: float, epochs: int) -> pd.Series | None:
    hit = table[(table["batch"] == batch) & np.isclose(table["lr"], lr) & (table["epochs"] == epochs)]
    return hit.iloc[0] if len(hit) else None
