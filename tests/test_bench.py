"""The benchmark's converge part (time to accuracy) run for real on a few JPEG images: both recipes train, the
recipe's validation images are held out of its training images, and the table times each target accuracy."""

import json
import subprocess
import sys

import pytest
from conftest import JPEG_DATA, REPO


def test_the_converge_part_trains_the_recipe_then_the_studys_and_times_each_target(tmp_path):
    if not JPEG_DATA.is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    out = tmp_path / "converge.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--parts", "converge", "--data", str(JPEG_DATA), "--samples", "64",
         "--train-batches", "1", "--converge-images", "300", "--converge-test", "100", "--validation", "100",
         "--converge-epochs", "2", "--baseline-minutes", "0.001", "--targets", "0", "1.01", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    # the recipe of workflow/presets/trained.yaml for the 2 epochs asked, then config.yaml's for one epoch (its budget)
    assert "sgd nesterov lr 0.1, batch 128, 2 epochs, schedule linear, warm-up 1, wd 0.0005, label smoothing 0.1, " \
           "crop+flip" in run.stdout
    assert "recipe epoch 2/2:" in run.stdout and "recipe epoch 3/" not in run.stdout
    assert "the study's recipe (config.yaml): adam lr 0.001, batch 32, 100 epochs" in run.stdout
    assert "study's recipe epoch 1/100:" in run.stdout and "study's recipe epoch 2/100:" not in run.stdout
    rows = {row[0]: row for row in json.loads(out.read_text())["rows"]}
    reached = rows["time to 0% test accuracy, resnet20"]
    assert reached[1].endswith("(epoch 1)") and reached[2].endswith("(epoch 1)")
    never = rows["time to 101% test accuracy, resnet20"]
    assert never[1].startswith("not in ") and never[2].startswith("not in ")
    final = rows["validation / test accuracy at the end, resnet20"]
    assert "200 training images, 100 held out" in final[4]
    for accuracies in final[1:3]:
        assert all(0 <= float(value) <= 1 for value in accuracies.split(" / "))
