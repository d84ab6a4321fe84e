"""The Net sweep: batch size × learning rate (× epochs), its tables and heatmaps, and the augmentation ablation.

Every sweep run trains on the training split less a held-out validation split (`data.validation`, seeded and
class-stratified); the best cell (batch, lr and epoch count) is the one with the highest validation accuracy, and
its test accuracy is reported, never used to choose.

Without an lr schedule, the epoch axis is read off one run's per-epoch history (epochs 25/50/75/100 are points
along one 100-epoch run); with a schedule each epoch count is a separate run, since the schedule depends on it.
"""

import copy
import re

import numpy as np
import pandas as pd

from .config import relevant_settings, split_size, train_settings
from .errors import UserError
from .io import atomic_write

RUN_PATTERN = r"b(?P<batch>\d+)_lr(?P<lr>[0-9.e-]+)_e(?P<epochs>\d+)(?P<aug>_aug)?"
TABLE_COLUMNS = ["batch", "lr", "epochs", "augment", "val_acc", "val_loss", "test_acc", "test_loss"]
SELECTED_BY = "val_acc"  # the validation split's accuracy picks the best cell; the test split only reports


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
    settings["validation"] = {"images": config["data"]["validation"], "seed": config["data"]["seed"]}
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
            rows.append(dict(parsed, epochs=epoch, **{key: float(by_epoch.loc[epoch, key]) for key in TABLE_COLUMNS[4:]}))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values(["lr", "batch", "epochs"]).reset_index(drop=True)


def best_row(table: pd.DataFrame) -> pd.Series:
    """The cell with the highest validation accuracy (the first such in table order on a tie)."""
    if table[SELECTED_BY].isna().any():
        raise UserError("the sweep table has cells without validation accuracy (runs trained before data.validation "
                        "existed): delete results/sweep/runs and rerun the sweep")
    return table.loc[table[SELECTED_BY].idxmax()]


def lr_markdown(table: pd.DataFrame, lr: float) -> str:
    """The study's layout: rows batch size, columns epochs, validation / test accuracy; the cell selected on
    validation in bold."""
    best = best_row(table)
    part = table[table["lr"] == lr]
    val = part.pivot(index="batch", columns="epochs", values="val_acc")
    test = part.pivot(index="batch", columns="epochs", values="test_acc")
    lines = [f"Validation / test accuracy, learning rate {lr:g} (in bold: the cell of the whole sweep with the best "
             "validation accuracy; the test split chose nothing)", "",
             "| batch \\ epochs | " + " | ".join(str(e) for e in val.columns) + " |",
             "|---:|" + "---:|" * len(val.columns)]
    for batch in val.index:
        cells = []
        for epochs in val.columns:
            text = f"{val.loc[batch, epochs]:.4f} / {test.loc[batch, epochs]:.4f}"
            if (batch, epochs, lr) == (best["batch"], best["epochs"], best["lr"]):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_heatmap(table: pd.DataFrame, lr: float, dest: str) -> None:
    """Colour: validation accuracy (what selects); text: validation over test accuracy; ★ the selected cell."""
    from .plots import plt, save_figure

    best = best_row(table)
    part = table[table["lr"] == lr]
    val = part.pivot(index="batch", columns="epochs", values="val_acc")
    test = part.pivot(index="batch", columns="epochs", values="test_acc")
    figure, axes = plt.subplots(figsize=(1.5 * len(val.columns) + 2.5, 0.7 * len(val.index) + 2))
    image = axes.imshow(val.to_numpy(), cmap="viridis", aspect="auto",
                        vmin=table["val_acc"].min(), vmax=table["val_acc"].max())
    axes.set(xticks=range(len(val.columns)), xticklabels=val.columns, yticks=range(len(val.index)),
             yticklabels=val.index, xlabel="epochs", ylabel="batch size",
             title=f"lr {lr:g}: validation / test accuracy (★ selected on validation)")
    for i, batch in enumerate(val.index):
        for j, epochs in enumerate(val.columns):
            is_best = (batch, epochs, lr) == (best["batch"], best["epochs"], best["lr"])
            axes.text(j, i, f"{val.iloc[i, j]:.3f}" + (" ★" if is_best else "") + f"\n{test.iloc[i, j]:.3f}",
                      ha="center", va="center", fontsize=8, color="w" if val.iloc[i, j] < val.to_numpy().mean() else "k",
                      fontweight="bold" if is_best else "normal")
    figure.colorbar(image, ax=axes, label="validation accuracy")
    save_figure(figure, dest)


def ablation_markdown(baseline: pd.Series | None, best: pd.Series, augmented: pd.Series, images: dict) -> str:
    """The baseline, the cell selected on validation and its augmented rerun; `images`: split sizes for the note."""
    lines = ["Augmentation step (random crop with padding 4, horizontal flip, CIFAR-10 mean/std normalization)", "",
             f"Every run trained on {images['train']:,} images; the best cell was selected on the validation accuracy "
             f"of {images['val']:,} held-out training images, and its test accuracy ({images['test']:,} images) is "
             "reported once, not used to select.", "",
             "| run | batch | lr | epochs | augmentation | val acc | test acc | test loss |",
             "|---|---:|---:|---:|---|---:|---:|---:|"]
    rows = [("baseline", baseline)] if baseline is not None else []
    rows += [("best of the sweep (on validation)", best), ("best of the sweep, augmented", augmented)]
    for label, row in rows:
        lines.append(f"| {label} | {int(row['batch'])} | {row['lr']:g} | {int(row['epochs'])} | "
                     f"{'on' if row['augment'] else 'off'} | {row['val_acc']:.4f} | {row['test_acc']:.4f} | "
                     f"{row['test_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, dest: str) -> None:
    with atomic_write(dest, "w") as handle:
        table.to_csv(handle, index=False)


def history_row(history: pd.DataFrame, run: str) -> pd.Series:
    last = history.iloc[-1]
    return pd.Series(dict(parse_run(run), epochs=int(last["epoch"]), **{key: last[key] for key in TABLE_COLUMNS[4:]}))


def lookup(table: pd.DataFrame, batch: int, lr: float, epochs: int) -> pd.Series | None:
    hit = table[(table["batch"] == batch) & np.isclose(table["lr"], lr) & (table["epochs"] == epochs)]
    return hit.iloc[0] if len(hit) else None


def sweep_images(config: dict) -> dict[str, int]:
    """What the sweep's runs train on, select on and report on."""
    validation = config["data"]["validation"]
    return {"train": split_size(config, "train") - validation, "val": validation, "test": split_size(config, "test")}
