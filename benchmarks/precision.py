"""What bf16 costs in accuracy, against the spread over seeds, and whether it repeats bit for bit.

bench.py --parts precision trains `--converge-model` with the recipe of `--recipe` for `--precision-epochs` epochs
on `--converge-images` training images, once per seed (`--precision-seeds`) in fp32 and once in bf16 autocast, and
seed 0 in bf16 a second time. It reports each precision's test accuracy (mean ± sd over the seeds), the difference
of the means with its Welch 95 % interval, each run's wall time, and whether the two bf16 runs of seed 0 ended in
the same bits. Nothing is chosen here: the test split only reports. On a CPU without AVX512_BF16 or AMX bf16 is
emulated (slower than fp32), but the numbers it computes are bf16's.
"""

import statistics
import time

import torch
from converge import prepare, recipe_settings, train_timed
from scipy import stats


def same_bits(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    theirs = second.state_dict()
    return all(torch.equal(tensor, theirs[key]) for key, tensor in first.state_dict().items())


def bench_precision(args, work, device, rows: list) -> None:
    model = args.converge_model
    recipe = {**recipe_settings([str(args.recipe)], model, 0, device), "epochs": args.precision_epochs}
    splits = prepare(args, work)
    accuracy, seconds, first = {}, {}, {}
    for precision in ("fp32", "bf16"):
        for seed in range(args.precision_seeds):
            started = time.perf_counter()
            epochs, trained = train_timed(f"{precision} seed {seed}", model, {**recipe, "precision": precision,
                                                                             "seed": recipe["seed"] + seed},
                                          splits, device)
            seconds.setdefault(precision, []).append(time.perf_counter() - started)
            accuracy.setdefault(precision, []).append(epochs[-1]["test_acc"])
            first.setdefault(precision, trained)
    _, again = train_timed("bf16 seed 0 again", model, {**recipe, "precision": "bf16"}, splits, device)
    n, note = args.precision_seeds, f"{model}, {args.precision_epochs} epochs of the recipe"
    for precision in ("fp32", "bf16"):
        values = accuracy[precision]
        spread = f" ± {statistics.stdev(values):.4f}" if n > 1 else ""
        rows.append((f"test accuracy, {precision} (n = {n})", f"{statistics.mean(values):.4f}{spread}", "", "",
                     f"{note}; {statistics.mean(seconds[precision]) / 60:.1f} min a run"))
    difference = statistics.mean(accuracy["bf16"]) - statistics.mean(accuracy["fp32"])
    interval = (stats.ttest_ind(accuracy["bf16"], accuracy["fp32"], equal_var=False).confidence_interval(0.95)
                if n > 1 else None)
    rows.append(("test accuracy, bf16 − fp32", f"{difference:+.4f}",
                 f"[{interval.low:+.4f}, {interval.high:+.4f}]" if interval else "", "",
                 f"the difference of the means and its Welch 95 % interval (n = {n} seeds each)"))
    rows.append(("bf16 run twice, seed 0: the same bits", str(same_bits(first["bf16"], again)), "", "",
                 "every tensor of the two trained state dicts compared"))
