"""Replicate trainings over seeds: per-seed paths (seed 0 keeps today's), tables with mean ± sd and n, a claims table
whose intervals are Welch's t on the per-seed numbers, and adding a seed schedules only that seed."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SEEDS_MODELS, planned_outputs, run_snakemake
from lossland import kinds
from lossland.claims import claim_pairs, claims_table
from lossland.plan import Plan
from lossland.runs import model_and_seed, run_name
from scipy import stats
from test_plan import config  # noqa: F401 - the merged smoke config fixture

MODELS = SEEDS_MODELS


def test_runs_paths_and_training_seeds(config):  # noqa: F811
    config["train"]["seeds"] = [0, 1, 2]
    plan = Plan(config)
    assert plan.runs["resnet20"] == ["resnet20", "resnet20/seed1", "resnet20/seed2"]
    assert model_and_seed("resnet20/seed2") == ("resnet20", 2) and run_name("net", 0) == "net"
    seed = config["train"]["defaults"]["seed"]
    assert plan.settings("train", {"model": "resnet20/seed2"})["settings"]["seed"] == seed + 2
    assert plan.settings("train", {"model": "resnet20"}) == Plan({**config, "train": {**config["train"], "seeds": [0]}}
                                                                 ).settings("train", {"model": "resnet20"})
    targets = plan.study_targets()
    assert "results/landscape/resnet20.png" in targets and "results/landscape/resnet20/seed1.png" not in targets
    assert "results/landscape/resnet20/seed1_1d.png" in targets and "results/metrics/resnet20/seed2.json" in targets
    assert "results/geometry/resnet20/seed2/hessian.json" in plan.inputs("geometry_table", {})["hessians"]
    config["landscape"]["seeds"], config["geometry"]["seeds"] = "all", "first"
    plan = Plan(config)
    assert "results/landscape/resnet20/seed1.png" in plan.study_targets()
    assert plan.inputs("geometry_table", {})["hessians"][:1] == ["results/geometry/net/hessian.json"]
    assert len(plan.inputs("geometry_table", {})["hessians"]) == len(config["models"])


def test_claim_intervals_are_welchs_t_from_scipy():
    rng = np.random.default_rng(0)
    per_seed = pd.DataFrame([{"model": m, "seed": s, "test_acc": 0.9 - 0.1 * ("plain" in m) + rng.normal(0, 0.01),
                              "lambda_max": 10 + rng.normal(0, 1), "trace": np.nan, "half_width": 0.5}
                             for m in ("resnet20", "plainnet20", "resnet56") for s in range(3)])
    table = claims_table(per_seed)
    assert claim_pairs(["resnet56", "resnet20", "plainnet20"]) == [("resnet20", "plainnet20"), ("resnet20", "resnet56")]
    row = table[(table["first"] == "resnet20") & (table["second"] == "plainnet20") & (table["number"] == "test_acc")]
    a = per_seed.loc[per_seed["model"] == "resnet20", "test_acc"]
    b = per_seed.loc[per_seed["model"] == "plainnet20", "test_acc"]
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert row["ci_low"].item() == pytest.approx(expected.low) and row["ci_high"].item() == pytest.approx(expected.high)
    assert row["excludes_zero"].item() is True and row["difference"].item() == pytest.approx(a.mean() - b.mean())
    assert "trace" not in set(table["number"])  # no run has it
    flat = table[table["number"] == "half_width"]
    assert (flat["note"] == "no spread across seeds: no interval").all()
    one = claims_table(per_seed[per_seed["seed"] == 0])
    assert (one["note"] == "one seed: no interval").all() and one["ci_low"].isna().all()


def test_barrier_claims_take_intervals_over_disjoint_seed_pairs_only():
    from lossland.claims import barrier_claims, disjoint_pairs

    assert disjoint_pairs(["seeds0-1", "seeds1-2", "seeds2-3", "seeds0-2", "seeds3-4"]) == ["seeds0-1", "seeds2-3"]
    rng = np.random.default_rng(0)
    pairs = ["seeds0-1", "seeds1-2", "seeds2-3", "seeds4-5", "seeds6-7"]
    per_pair = pd.DataFrame([{"model": m, "pair": p, "linear_train_loss": base + rng.normal(0, 0.1),
                              "aligned_train_loss": base / 2 + rng.normal(0, 0.1)}
                             for m, base in (("resnet20", 0.5), ("plainnet20", 1.5)) for p in pairs])
    table = barrier_claims(per_pair)
    row = table[table["number"] == "linear_train_loss"].iloc[0]
    kept = ["seeds0-1", "seeds2-3", "seeds4-5", "seeds6-7"]  # 1-2 shares seeds with both neighbours
    a, b = (per_pair.loc[(per_pair["model"] == m) & per_pair["pair"].isin(kept), "linear_train_loss"]
            for m in ("resnet20", "plainnet20"))
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (row["first"], row["second"], row["n_first"], row["n_second"]) == ("resnet20", "plainnet20", 4, 4)
    assert row["ci_low"] == pytest.approx(expected.low) and row["ci_high"] == pytest.approx(expected.high)
    assert row["excludes_zero"].item() is True and row["note"] == "2 pairs sharing a seed left out"
    wide = barrier_claims(per_pair, {"resnet20": 2})
    assert wide.iloc[0]["note"] == "2 pairs sharing a seed left out; widths differ: 2 vs 1"
    assert wide.iloc[0]["ci_low"] == pytest.approx(expected.low)  # the note only: the numbers are the same


def test_claims_say_where_the_two_models_differ_in_width(config):  # noqa: F811
    per_seed = pd.DataFrame([{"model": m, "seed": s, "test_acc": 0.8 + 0.01 * s + 0.05 * (m == "resnet20"),
                              "lambda_max": np.nan, "trace": np.nan, "half_width": np.nan}
                             for m in ("resnet20", "plainnet20", "resnet56") for s in range(3)])
    plain, wide = claims_table(per_seed), claims_table(per_seed, {"resnet20": 4})
    assert (plain["note"] == "").all()
    assert wide.set_index(["first", "second"])["note"].to_dict() == {("resnet20", "plainnet20"): "widths differ: 4 vs 1",
                                                                    ("resnet20", "resnet56"): "widths differ: 4 vs 1"}
    assert wide[["difference", "ci_low", "ci_high"]].equals(plain[["difference", "ci_low", "ci_high"]])
    assert (wide["excludes_zero"] == plain["excludes_zero"]).all()
    assert "widths" not in kinds.geometry_table_settings(Plan(config), {})  # width 1 everywhere: nothing rebuilt
    config["train"]["models"]["plainnet20"] = {**config["train"]["models"].get("plainnet20", {}), "width": 2}
    assert kinds.geometry_table_settings(Plan(config), {})["widths"] == {"plainnet20": 2}


def test_two_seeds_give_per_seed_runs_and_tables_with_n_2(seeds_run):
    results = seeds_run / "results"
    for model in MODELS:
        for run in (model, f"{model}/seed1"):
            assert (results / f"models/{run}.pt").is_file() and (results / f"metrics/{run}.json").is_file()
            assert (results / f"landscape/{run}/line.npz").is_file()
            assert (results / f"geometry/{run}/hessian.json").is_file()
        assert (results / f"landscape/{model}.png").is_file()  # seed 0: today's paths
        assert not (results / f"landscape/{model}/seed1/surface.npz").exists()  # landscape.seeds: first
    summary = pd.read_csv(results / "summary.csv").set_index("model")
    for model in MODELS:
        accs = [json.loads((results / f"metrics/{run}.json").read_text())["test_acc"] for run in (model, f"{model}/seed1")]
        assert summary.loc[model, "seeds"] == 2 and summary.loc[model, "test_acc"] == pytest.approx(np.mean(accs))
        assert summary.loc[model, "test_acc_sd"] == pytest.approx(np.std(accs, ddof=1))
    geometry = pd.read_csv(results / "geometry.csv").set_index("model")
    lmax = [json.loads((results / f"geometry/{run}/hessian.json").read_text())["lambda_max"]
            for run in ("resnet20", "resnet20/seed1")]
    assert geometry.loc["resnet20", "seeds"] == 2 and geometry.loc["resnet20", "lambda_max"] == pytest.approx(np.mean(lmax))
    assert geometry.loc["resnet20", "lambda_max_seed_sd"] == pytest.approx(np.std(lmax, ddof=1))
    claims = pd.read_csv(results / "claims.csv")
    row = claims[(claims["number"] == "lambda_max")].iloc[0]
    plain = [json.loads((results / f"geometry/{run}/hessian.json").read_text())["lambda_max"]
             for run in ("plainnet20", "plainnet20/seed1")]
    expected = stats.ttest_ind(lmax, plain, equal_var=False).confidence_interval(0.95)
    assert (row["first"], row["second"], row["n_first"]) == ("resnet20", "plainnet20", 2)
    assert row["ci_low"] == pytest.approx(expected.low) and row["ci_high"] == pytest.approx(expected.high)
    assert "Welch" in (results / "claims.md").read_text()
    assert "| 2 |" in (results / "summary.md").read_text()


def test_two_seeds_are_compared_straight_after_weight_matching_and_along_a_trained_curve(seeds_run):
    """Mode connectivity of each model's seeds 0 and 1: the barriers are those of the stored paths, the three paths
    start at seed 0 and end at one function (seed 1, seed 1 permuted, seed 1 at the curve's end), the curve's bend
    was trained (the smoke preset: 1 epoch), and the table holds the barriers."""
    results = seeds_run / "results"
    table = pd.read_csv(results / "connectivity.csv").set_index("model")
    for model in MODELS:
        curve = np.load(results / f"connectivity/{model}/seeds0-1.npz")
        summary = json.loads((results / f"connectivity/{model}/seeds0-1.json").read_text())
        alpha = curve["alpha"]
        assert alpha[0] == 0 and alpha[-1] == 1 and len(alpha) == 5
        for path in ("linear", "aligned", "curve"):
            for split in ("train", "test"):
                loss = curve[f"{path}_{split}_loss"]
                straight = np.interp(alpha, [0, 1], [loss[0], loss[-1]])
                assert summary["barriers"][f"{path}_{split}_loss"] == pytest.approx(np.max(loss - straight))
                error = 1 - curve[f"{path}_{split}_acc"]
                assert summary["barriers"][f"{path}_{split}_error"] == pytest.approx(
                    np.max(error - np.interp(alpha, [0, 1], [error[0], error[-1]])))
            assert table.loc[model, f"{path}_train_loss"] == pytest.approx(summary["barriers"][f"{path}_train_loss"])
        for split in ("train", "test"):
            assert curve[f"linear_{split}_loss"][0] == curve[f"aligned_{split}_loss"][0]  # seed 0 itself
            assert curve[f"linear_{split}_loss"][-1] == pytest.approx(curve[f"aligned_{split}_loss"][-1], rel=1e-5)
            assert curve[f"linear_{split}_loss"][0] == curve[f"curve_{split}_loss"][0]
            assert curve[f"linear_{split}_loss"][-1] == pytest.approx(curve[f"curve_{split}_loss"][-1], rel=1e-4)
        assert not np.allclose(curve["curve_train_loss"][1:-1], curve["linear_train_loss"][1:-1])  # a bent path
        history = pd.read_csv(results / f"connectivity/{model}/seeds0-1/curve.csv")
        assert history["epoch"].tolist() == [1] and np.isfinite(history["train_loss"]).all()
        assert summary["matching"]["passes"] >= 1 and sum(summary["matching"]["moved"].values()) > 0
        assert table.loc[model, "pairs"] == 1 and np.isnan(table.loc[model, "linear_train_loss_sd"])
    assert "| 1 |" in (results / "connectivity.md").read_text()
    assert (results / "figures/connectivity.png").stat().st_size > 20_000
    claims = pd.read_csv(results / "claims.csv")  # ResNet-20 vs PlainNet-20's barriers: one pair each, no interval
    barrier = claims[claims["number"] == "aligned_train_loss"].iloc[0]
    assert (barrier["first"], barrier["second"], barrier["n_first"], barrier["n_second"]) == (
        "resnet20", "plainnet20", 1, 1)
    assert barrier["difference"] == pytest.approx(table.loc["resnet20", "aligned_train_loss"]
                                                  - table.loc["plainnet20", "aligned_train_loss"])
    assert barrier["note"] == "one disjoint seed pair: no interval"
    assert "barrier aligned (train loss)" in (results / "claims.md").read_text()


def test_the_page_holds_each_models_curves_between_seeds(seeds_run):
    """The page's connectivity view: per model its pair's α, train loss and test error along the three paths, the
    stored curves as float32."""
    import base64
    import re

    page = (seeds_run / "results/landscapes.html").read_text()
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))

    def unpacked(text: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(text), dtype="<f4")

    for model in MODELS:
        between = data["models"][model]["between"]
        assert list(between) == ["seeds0-1"]
        curve = np.load(seeds_run / f"results/connectivity/{model}/seeds0-1.npz")
        np.testing.assert_array_equal(unpacked(between["seeds0-1"]["alpha"]), curve["alpha"].astype(np.float32))
        assert list(between["seeds0-1"]["paths"]) == ["linear", "aligned", "curve"]
        for path, values in between["seeds0-1"]["paths"].items():
            np.testing.assert_array_equal(unpacked(values["train_loss"]), curve[f"{path}_train_loss"].astype(np.float32))
            np.testing.assert_array_equal(unpacked(values["test_error"]),
                                          (1 - curve[f"{path}_test_acc"]).astype(np.float32))


def test_adding_a_seed_schedules_only_that_seed_and_the_tables(seeds_run):
    smoke = yaml.safe_load((seeds_run / "smoke.yaml").read_text())
    smoke["train"]["seeds"] = [0, 1, 2]
    (seeds_run / "three.yaml").write_text(yaml.safe_dump(smoke))
    outputs = planned_outputs(run_snakemake(seeds_run, "-n", "study", "--configfile", "three.yaml").stdout)
    trained = sorted(p for p in outputs if p.startswith("results/models/"))
    assert trained == ["results/models/plainnet20/seed2.pt", "results/models/resnet20/seed2.pt"]
    assert "results/summary.csv" in outputs and "results/claims.md" in outputs
    assert "results/connectivity/resnet20/seeds1-2.npz" in outputs  # the new pair; seeds 0-1's is kept
    assert not [p for p in outputs if "/seed1" in p or "/chunks/" in p or "seeds0-1" in p]


def test_interpolation_endpoints_follow_the_first_seed(config):  # noqa: F811
    config["train"]["seeds"] = [1, 2]
    plan = Plan(config)
    assert plan.endpoints["resnet20"][1] == "results/models/resnet20/seed1.pt"
    assert plan.report_inputs()["surfaces"][0] == "results/landscape/net/seed1/surface.npz"
