import pandas as pd
import pytest
from conftest import study_config
from lossland.config import normalization, train_settings
from lossland.errors import UserError
from lossland.sweep import (
    ablation_markdown,
    best_row,
    grid_runs,
    lookup,
    lr_markdown,
    run_name,
    run_settings,
    sweep_table,
)

SWEEP = {"model": "net", "batch_sizes": [32, 64], "epochs": [1, 3], "lrs": [0.01, 0.001],
         "settings": {"augment": False, "normalize": False}, "augmented": {"augment": True, "normalize": True}}


def history(accs, val=None):
    """A run's history: test accuracies `accs`, validation accuracies `val` (default: the same)."""
    val = accs if val is None else val
    return pd.DataFrame({"epoch": range(1, len(accs) + 1), "val_acc": val, "val_loss": [1 - a for a in val],
                         "test_acc": accs, "test_loss": [1 - a for a in accs]})


def test_without_a_schedule_one_run_per_batch_and_lr_gives_every_epoch_column():
    runs = grid_runs(SWEEP, scheduled=False)
    assert runs == ["b32_lr0.01_e3", "b32_lr0.001_e3", "b64_lr0.01_e3", "b64_lr0.001_e3"]
    histories = {run: history([0.1 * (i + 1), 0.2, 0.3 * (i + 1)]) for i, run in enumerate(runs)}
    table = sweep_table(histories, SWEEP["epochs"], scheduled=False)
    assert list(table.columns) == ["batch", "lr", "epochs", "augment", "val_acc", "val_loss", "test_acc", "test_loss"]
    assert len(table) == 8 and set(table["epochs"]) == {1, 3} and not table["augment"].any()
    row = lookup(table, 64, 0.001, 3)
    assert row["test_acc"] == pytest.approx(1.2) and row["test_loss"] == pytest.approx(-0.2)
    assert (best_row(table)["batch"], best_row(table)["lr"], best_row(table)["epochs"]) == (64, 0.001, 3)


def test_the_best_cell_and_epoch_count_are_chosen_on_validation_never_on_test():
    """b32 peaks on test at epoch 3 (0.9), b64 on validation at epoch 1 (0.8): the sweep selects b64 after 1 epoch
    (the old selection, idxmax of test accuracy, chose b32 at 3) and reports its test accuracy, 0.5."""
    table = sweep_table({"b32_lr0.01_e3": history([0.1, 0.2, 0.9], val=[0.3, 0.4, 0.5]),
                         "b64_lr0.01_e3": history([0.5, 0.6, 0.7], val=[0.8, 0.6, 0.7])}, [1, 3], scheduled=False)
    best = best_row(table)
    assert (best["batch"], best["epochs"], best["val_acc"], best["test_acc"]) == (64, 1, 0.8, 0.5)
    text = lr_markdown(table, 0.01)
    assert "| 64 | **0.8000 / 0.5000** | 0.7000 / 0.7000 |" in text and "| 32 | 0.3000 / 0.1000 | 0.5000 / 0.9000 |" in text
    without = table.assign(val_acc=float("nan"))
    with pytest.raises(UserError, match="without validation accuracy"):
        best_row(without)


def test_sweep_runs_hold_out_the_validation_split_and_record_it(tmp_path):
    """A run with `validation` trains on the rest (its data order draws from fewer images), records val columns,
    and the held-out images are a seeded, class-stratified subset: equal counts per class, disjoint from training."""
    import torch
    from lossland.data import Dataset
    from lossland.train import split_validation

    labels = torch.arange(200) % 10
    data = Dataset(torch.zeros(200, 3, 32, 32, dtype=torch.uint8), labels)
    train, val = split_validation(data, {"validation": {"images": 50, "seed": 3}})
    assert len(train) == 150 and len(val) == 50
    assert torch.bincount(val.labels).tolist() == [5] * 10
    again = split_validation(data, {"validation": {"images": 50, "seed": 3}})[1]
    assert torch.equal(again.labels, val.labels)
    assert split_validation(data, {})[1] is None
    with pytest.raises(UserError, match="data.validation = 200 leaves no training images"):
        split_validation(data, {"validation": {"images": 200, "seed": 0}})


def test_with_a_schedule_every_epoch_count_is_its_own_run():
    runs = grid_runs(SWEEP, scheduled=True)
    assert len(runs) == 8 and "b32_lr0.01_e1" in runs and "b32_lr0.01_e3" in runs
    histories = {run: history([0.5] * int(run.split("_e")[1])) for run in runs}
    table = sweep_table(histories, SWEEP["epochs"], scheduled=True)
    assert len(table) == 8 and sorted(set(table["epochs"])) == [1, 3]


def test_run_settings_apply_the_sweep_and_the_augmentation_step():
    config = study_config()
    config["sweep"] = SWEEP
    plain = run_settings(config, "b64_lr0.01_e3")
    assert (plain["batch_size"], plain["lr"], plain["epochs"]) == (64, 0.01, 3)
    assert plain["augment"] is False and plain["normalize"] is False and plain["optimizer"] == "adam"
    assert plain["validation"] == {"images": 5000, "seed": 0}  # held out of the training split, seeded by data.seed
    augmented = run_settings(config, run_name(64, 0.01, 3, augment=True))
    assert augmented["augment"] is True and augmented["normalize"] is True and augmented["batch_size"] == 64
    # the study's constants where it normalizes; none of the ResNet variant keys for Net
    assert (augmented["mean"], augmented["std"]) == ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
    assert not {"mean", "std", "shortcut", "conv_bias"} & set(plain) and not {"shortcut", "conv_bias"} & set(augmented)


def test_each_model_gets_only_the_settings_it_uses():
    config = study_config()
    assert (train_settings(config, "resnet56")["shortcut"], train_settings(config, "resnet56")["conv_bias"]) == (
        "avgpool", True)
    assert "shortcut" not in train_settings(config, "plainnet56") and train_settings(config, "plainnet56")["conv_bias"]
    assert normalization(train_settings(config, "net")) == ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    config["train"]["models"]["net"] = {"normalize": False}
    assert normalization(train_settings(config, "net")) == ((0.0,), (1.0,))  # [0, 1] scaling, any channel count
    assert normalization({"normalize": True}) == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # older files


def test_markdown_tables_have_the_studys_layout_and_highlight_the_best():
    table = sweep_table({"b32_lr0.01_e3": history([0.1, 0.2, 0.9]), "b64_lr0.01_e3": history([0.1, 0.2, 0.3])},
                        [1, 3], scheduled=False)
    text = lr_markdown(table, 0.01)
    assert "| batch \\ epochs | 1 | 3 |" in text
    assert "| 32 | 0.1000 / 0.1000 | **0.9000 / 0.9000** |" in text and "| 64 | 0.1000 / 0.1000 | 0.3000 / 0.3000 |" in text
    best = best_row(table)
    augmented = pd.Series(dict(batch=32, lr=0.01, epochs=3, augment=True, val_acc=0.94, test_acc=0.95, test_loss=0.05))
    ablation = ablation_markdown(lookup(table, 64, 0.01, 1), best, augmented, {"train": 45000, "val": 5000,
                                                                                "test": 10000})
    assert "| baseline | 64 | 0.01 | 1 | off | 0.1000 | 0.1000 |" in ablation
    assert "| best of the sweep (on validation) | 32 | 0.01 | 3 | off | 0.9000 | 0.9000 |" in ablation
    assert "| best of the sweep, augmented | 32 | 0.01 | 3 | on | 0.9400 | 0.9500 |" in ablation
    assert "trained on 45,000 images" in ablation and "validation accuracy of 5,000 held-out" in ablation
