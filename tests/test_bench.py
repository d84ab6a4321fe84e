"""The benchmark's converge part (time to accuracy) and precision part (bf16's cost) run for real on a few JPEG
images, in one run: both recipes train, the recipe's validation images are held out of its training images, the
table times each target accuracy; bf16 and fp32 train over two seeds each and bf16 once more for its bits."""

import json
import subprocess
import sys

import pytest
from conftest import JPEG_DATA, REPO


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[str, dict]:
    if not JPEG_DATA.is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--parts", "converge,precision", "--data", str(JPEG_DATA),
         "--samples", "64", "--train-batches", "1", "--converge-images", "200", "--converge-test", "100",
         "--validation", "100", "--converge-epochs", "2", "--baseline-minutes", "0.001", "--targets", "0", "1.01",
         "--precision-epochs", "1", "--precision-seeds", "2", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, {row[0]: row for row in json.loads(out.read_text())["rows"]}


def test_the_converge_part_trains_the_recipe_then_the_studys_and_times_each_target(bench_run):
    stdout, rows = bench_run
    # the recipe of workflow/presets/trained.yaml for the 2 epochs asked, then config.yaml's for one epoch (its budget)
    assert "sgd nesterov lr 0.1, batch 128, 2 epochs, schedule linear, warm-up 1, wd 0.0005, label smoothing 0.1, " \
           "crop+flip" in stdout
    assert "recipe epoch 2/2:" in stdout and "recipe epoch 3/" not in stdout
    assert "the study's recipe (config.yaml): adam lr 0.001, batch 32, 100 epochs" in stdout
    assert "study's recipe epoch 1/100:" in stdout and "study's recipe epoch 2/100:" not in stdout
    reached = rows["time to 0% test accuracy, resnet20"]
    assert reached[1].endswith("(epoch 1)") and reached[2].endswith("(epoch 1)")
    never = rows["time to 101% test accuracy, resnet20"]
    assert never[1].startswith("not in ") and never[2].startswith("not in ")
    final = rows["validation / test accuracy at the end, resnet20"]
    assert "100 training images, 100 held out" in final[4]
    for accuracies in final[1:3]:
        assert all(0 <= float(value) <= 1 for value in accuracies.split(" / "))


def test_the_precision_part_compares_bf16_with_fp32_over_seeds_and_reruns_bf16_for_its_bits(bench_run):
    stdout, rows = bench_run
    for label in ("fp32 seed 0", "fp32 seed 1", "bf16 seed 0", "bf16 seed 1", "bf16 seed 0 again"):
        assert f"  {label} epoch 1/1:" in stdout, label
    means = {}
    for precision in ("fp32", "bf16"):
        mean, sd = rows[f"test accuracy, {precision} (n = 2)"][1].split(" ± ")
        means[precision] = float(mean)
        assert 0 <= float(mean) <= 1 and float(sd) >= 0
    difference = rows["test accuracy, bf16 − fp32"]
    assert float(difference[1]) == pytest.approx(means["bf16"] - means["fp32"], abs=1e-4)
    low, high = (float(value) for value in difference[2].strip("[]").split(", "))
    assert low <= float(difference[1]) <= high
    assert rows["bf16 run twice, seed 0: the same bits"][1] == "True"
