"""The real workflow, end to end, on the smoke preset (the JPEG copy, 1 epoch, a 5×5 grid in 3 chunks)."""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import JPEG_DATA, REPO, merged, planned_outputs, run_snakemake, smoke_workdir
from PIL import Image

MODELS = ["net", "resnet20", "plainnet20"]  # the smoke preset's
REPORTS = ["results/summary.csv", "results/summary.md", "results/figures/training_curves.png",
           "results/figures/landscapes.png", "results/geometry.csv", "results/geometry.md", "results/figures/geometry.png",
           "results/claims.csv", "results/claims.md", "results/figures/density.png", "results/landscapes.html"]
SWEEP = ["results/sweep/", "results/ablation/"]


def test_every_output_exists_and_is_valid(smoke_run):
    results = smoke_run / "results"
    for model in MODELS:
        for path in [f"models/{model}.pt", f"train/{model}/history.csv", f"metrics/{model}.json",
                     f"landscape/{model}/directions.pt", f"landscape/{model}/surface.json",
                     *[f"landscape/{model}/chunks/{i}.csv" for i in range(3)]]:
            assert (results / path).is_file(), path
        with np.load(results / f"landscape/{model}/surface.npz") as surface:
            assert surface["loss"].shape == surface["acc"].shape == (5, 5)
            measured = ~surface["capped"]  # landscape.cap = 10: the rest hold lower bounds above 10, accuracy NaN
            assert np.isfinite(surface["loss"]).all() and ((surface["acc"] >= 0) & (surface["acc"] <= 1))[measured].all()
            assert np.isnan(surface["acc"][~measured]).all() and (surface["loss"][~measured] > 10).all()
        history = pd.read_csv(results / f"train/{model}/history.csv")
        epochs = [1, 2, 3] if model == "resnet20" else [1]  # the smoke preset's trajectory model
        assert list(history["epoch"]) == epochs and history["seconds"].gt(0).all()
        log = (results / f"logs/train/{model}.log").read_text()
        assert f"{model} epoch 1/{len(epochs)} train loss" in log and "img/s" in log and "ETA" in log
    for png in [f"landscape/{model}.png" for model in MODELS] + ["figures/training_curves.png",
                                                                  "figures/landscapes.png"]:
        with Image.open(results / png) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary["model"]) == ["net", "plainnet20", "resnet20"]
    means = summary[["params", "seeds", "train_loss", "train_acc", "test_loss", "test_acc"]].to_numpy(dtype=float)
    assert np.isfinite(means).all() and summary["test_acc_sd"].isna().all()  # one seed: no spread
    assert summary.set_index("model").loc["net", "params"] == 655_882 and (summary["seeds"] == 1).all()
    assert list(summary["epochs"]) == [1, 1, 3] and (summary["precision"] == "fp32").all()  # how each was trained
    assert (results / "summary.md").read_text().count("\n") == 7  # note, blank, header, rule, 3 models
    metrics = json.loads((results / "metrics/resnet20.json").read_text())
    assert metrics["params"] == 270_410 and 0 <= metrics["test_acc"] <= 1  # the study's variant (config.yaml)
    assert (metrics["shortcut"], metrics["conv_bias"]) == ("avgpool", True)


def test_views_lines_interpolation_trajectory_paraview(smoke_run):
    results = smoke_run / "results"
    for model in MODELS:
        with np.load(results / f"landscape/{model}/line.npz") as line, \
                np.load(results / f"landscape/{model}/surface.npz") as surface:
            np.testing.assert_array_equal(line["alpha"], np.linspace(-1, 1, 5))
            # the line's train curve at 0 is the surface's centre: same subset, same evaluator
            assert line["train_loss"][2] == pytest.approx(surface["loss"][2, 2], rel=1e-6)
            measured = ~surface["capped"][2, :]  # the line is never capped
            np.testing.assert_allclose(line["train_loss"][measured], surface["loss"][2, measured], rtol=1e-5)
            assert (line["train_loss"][~measured] >= surface["loss"][2, ~measured]).all()  # bounds are bounds
            assert np.isfinite(line["test_loss"]).all() and line["test_loss"][2] > 0
        head = (results / f"landscape/{model}.vts").read_bytes()[:400].decode("ascii", "replace")
        assert "StructuredGrid" in head and 'WholeExtent="0 4 0 4 0 0"' in head
        with Image.open(results / f"landscape/{model}_1d.png") as image:
            assert image.format == "PNG" and image.size[0] > 300
    with np.load(results / "interpolation/net_batch64_vs_batch128.npz") as curve:
        np.testing.assert_array_equal(curve["alpha"], np.linspace(-0.5, 1.5, 5))
        assert np.isfinite(curve["train_loss"]).all() and np.isfinite(curve["test_loss"]).all()
        assert str(curve["bn"]) == "BN statistics recomputed at every point on 128 training images"
    record = json.loads((results / "interpolation/net_batch64_vs_batch128.json").read_text())
    assert record["images"]["test"] == 256 and record["not_finite_points"] == 0 and "recomputed" in record["bn"]
    with np.load(results / "trajectory/resnet20.npz") as trajectory:
        assert trajectory["loss"].shape == (5, 5) and list(trajectory["epochs"]) == [0, 1, 2, 3]
        np.testing.assert_array_equal(trajectory["path"][-1], [0, 0])
        assert 0 < trajectory["explained"].sum() <= 1 + 1e-9
        assert trajectory["x"].min() < trajectory["path"][:, 0].min() < trajectory["path"][:, 0].max() < \
            trajectory["x"].max()
    with Image.open(results / "trajectory/resnet20.png") as image:
        assert image.format == "PNG"


def test_geometry_table_maps_and_figure(smoke_run):
    results = smoke_run / "results"
    table = pd.read_csv(results / "geometry.csv")
    assert list(table["model"]) == ["net", "plainnet20", "resnet20"]
    for row in table.to_dict("records"):
        hessian = json.loads((results / f"geometry/{row['model']}/hessian.json").read_text())
        assert row["lambda_max"] == hessian["top_eigenvalues"][0] >= hessian["top_eigenvalues"][1]
        assert row["lambda_min"] <= row["lambda_max"] and row["ratio"] >= 0 and row["trace_se"] > 0
        assert hessian["samples"] == 16 and row["subsets"] == 2 and row["params"] == "weights"
        per_subset = [s["lambda_max"] for s in hessian["per_subset"]]
        assert len(per_subset) == 2 and len(hessian["per_subset"][0]["trace_samples"]) == 3
        assert row["lambda_max"] == pytest.approx(np.mean(per_subset))
        assert row["lambda_max_sd"] == pytest.approx(np.std(per_subset, ddof=1)) and row["lambda_max_sd"] > 0
        assert row["directions"] == 3 and row["half_width"] > 0 and np.isfinite(row["rise@0.5_sd"])
        assert row["adaptive_worst"] > 0 and np.isfinite([row["adaptive_average"], row["adaptive_worst_sd"]]).all()
        with np.load(results / f"geometry/{row['model']}/flatness.npz") as flatness:
            assert flatness["loss"].shape == (3, 9)
            assert row["rise@1"] == pytest.approx((flatness["loss"][:, [0, -1]].mean(1) - flatness["base"]).mean())
    markdown = (results / "geometry.md").read_text()
    assert markdown.count("\n") == 7  # note, blank, header, rule, 3 models
    assert ("Hessian over the >1-D weights (conv, linear; geometry.params: weights), on 2 disjoint subsets of 16 "
            "images") in markdown and "One training seed: ± is the sd across those subsets" in markdown
    claims = (results / "claims.md").read_text()
    assert "| resnet20 | plainnet20 | λmax |" in claims and "one seed: no interval" in claims
    for model in ("resnet20", "plainnet20"):
        with np.load(results / f"geometry/{model}/eigen.npz") as eigen:
            assert eigen["ratio"].shape == (3, 3) and np.isfinite(eigen["ratio"]).all()
            hessian = json.loads((results / f"geometry/{model}/hessian.json").read_text())
            first = hessian["per_subset"][0]  # the map's subset
            assert eigen["lambda_max"][1, 1] == pytest.approx(first["lambda_max"], rel=0.05)  # same point, seed and tol
        with Image.open(results / f"geometry/{model}_eigen.png") as image:
            assert image.format == "PNG"
    assert not (results / "geometry/net_eigen.png").exists()  # geometry.maps leaves it out
    with Image.open(results / "figures/geometry.png") as image:
        assert image.format == "PNG" and image.size[0] > 800
    for model in table["model"]:  # the eigenvalue density (SLQ; its numerics: test_geometry) on the first subset
        with np.load(results / f"geometry/{model}/density.npz") as blob:
            assert blob["nodes"].shape == (2, 8) and np.nansum(blob["weights"], axis=1) == pytest.approx([1, 1])
            assert np.trapezoid(blob["density"], blob["eigenvalue"]) == pytest.approx(1, abs=1e-3)
        summary = json.loads((results / f"geometry/{model}/density.json").read_text())
        first = json.loads((results / f"geometry/{model}/hessian.json").read_text())["per_subset"][0]
        assert summary["support"][1] <= first["lambda_max"] * 1.25 and summary["hessian_vector_products"] == 16
    with Image.open(results / "figures/density.png") as image:
        assert image.format == "PNG" and image.size[0] > 1000
    planes = torch.load(results / "hessian/resnet20/directions.pt", weights_only=True)  # geometry.hessian_planes
    first = json.loads((results / "geometry/resnet20/hessian.json").read_text())["per_subset"][0]
    assert planes["eigenvalues"][0] == pytest.approx(first["lambda_max"], rel=0.1)  # same Hessian, same subset
    assert abs(planes["cosine"]) < 1e-5 and planes["eigenvalues"][0] >= planes["eigenvalues"][1]
    with np.load(results / "hessian/resnet20/surface.npz") as surface:
        reach = np.sqrt(10 / planes["eigenvalues"][0])
        assert surface["x"][-1] == pytest.approx(reach) and np.isfinite(surface["loss"]).all()
    assert (results / "hessian/resnet20.png").stat().st_size > 10_000 and not (results / "hessian/net.png").exists()


def test_changing_geometry_reruns_no_training_and_no_surface(smoke_run):
    config = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
    config["geometry"]["delta"] = 0.5
    config["geometry"]["probes"] = 4
    (smoke_run / "geometry.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "geometry.yaml").stdout)
    assert "results/geometry/resnet20/hessian.json" in outputs and "results/geometry.csv" in outputs
    reruns = ("results/geometry", "results/figures/geometry", "results/claims", "results/landscapes.html")  # the page
    assert all(path.startswith(reruns) for path in outputs), outputs  # shows each model's geometry row


def test_changing_directions_reruns_surfaces_and_views_but_no_training(smoke_run):
    config = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
    config["landscape"]["directions"] = {"norm": "layer"}
    (smoke_run / "layer.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "layer.yaml").stdout)
    assert "results/landscape/plainnet20/directions.pt" in outputs and "results/landscape/plainnet20.png" in outputs
    assert "results/landscape/plainnet20/line.npz" in outputs and "results/landscape/net.vts" in outputs
    assert not [path for path in outputs if path.startswith(("results/models/", "results/sweep/", "results/train/"))]
    assert not [path for path in outputs if path.startswith(("results/interpolation/", "results/trajectory/"))]
    config["landscape"].pop("directions")
    config["landscape"]["line"] = [-1.0, 1.0, 7]
    (smoke_run / "line.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "line.yaml").stdout)
    expected = [f"results/landscape/{m}{suffix}" for m in MODELS for suffix in ("/line.npz", "/line.json", "_1d.png")]
    assert sorted(outputs) == sorted([*expected, "results/landscapes.html"])  # the lines and the page that shows them


def test_sweep_tables_heatmaps_and_ablation(smoke_run):
    results = smoke_run / "results"
    table = pd.read_csv(results / "sweep/table.csv")
    assert list(table.columns) == ["batch", "lr", "epochs", "augment", "val_acc", "val_loss", "test_acc", "test_loss"]
    assert len(table) == 8 and set(table["batch"]) == {64, 128} and set(table["epochs"]) == {1, 2}
    runs = sorted(p.name for p in (results / "sweep/runs").iterdir())
    grid = [r for r in runs if not r.endswith("_aug")]
    assert grid == ["b128_lr0.001_e2", "b128_lr0.01_e2", "b64_lr0.001_e2", "b64_lr0.01_e2"]  # epochs: one run each
    best = table.loc[table["val_acc"].idxmax()]  # selected on the 64 held-out training images, never on test
    log = (results / "logs/sweep" / f"{grid[0]}.log").read_text()
    assert "| val loss" in log and "448 img" not in log
    assert [r for r in runs if r.endswith("_aug")] == [f"b{best['batch']}_lr{best['lr']:g}_e{best['epochs']}_aug"]
    history = pd.read_csv(results / f"sweep/runs/{grid[0]}/history.csv")
    assert table[(table["batch"] == 128) & (table["lr"] == 0.001) & (table["epochs"] == 1)]["test_acc"].item() == \
        history.loc[0, "test_acc"]
    for lr in ("0.01", "0.001"):
        assert "| batch \\ epochs | 1 | 2 |" in (results / f"sweep/table_lr{lr}.md").read_text()
        with Image.open(results / f"sweep/heatmap_lr{lr}.png") as image:
            assert image.format == "PNG"
    ablation = (results / "ablation/augmentation.md").read_text()
    assert ablation.count("\n| ") == 4 and "| best of the sweep, augmented |" in ablation and "| on |" in ablation
    assert "trained on 448 images" in ablation and "64 held-out training images" in ablation
    augmented = pd.read_csv(results / f"sweep/runs/b{best['batch']}_lr{best['lr']:g}_e{best['epochs']}_aug/history.csv")
    assert "val_acc" in augmented.columns and len(augmented) == best["epochs"]


def test_html_report_holds_every_figure_by_category(smoke_run):
    run_snakemake(smoke_run, "--report", "results/report.html", "--configfile", "smoke.yaml")
    html = (smoke_run / "results/report.html").read_text()
    for name in ["training_curves.png", "landscapes.png", "plainnet20.png", "heatmap_lr0.01.png", "augmentation.md",
                 "summary.csv"]:
        assert name in html, name
    for category in ("training", "landscapes", "sweep"):
        assert category in html


def test_second_run_has_nothing_to_do(smoke_run):
    result = run_snakemake(smoke_run, "-n", "all", "--configfile", "smoke.yaml")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_one_plot_from_scratch_schedules_only_that_model(tmp_path):
    workdir = smoke_workdir(tmp_path / "fresh")
    result = run_snakemake(workdir, "-n", "results/landscape/plainnet20.png", "--configfile", "smoke.yaml")
    outputs = planned_outputs(result.stdout)
    assert "results/landscape/plainnet20.png" in outputs and "results/models/plainnet20.pt" in outputs
    others = [path for path in outputs if "plainnet20" not in path and not path.startswith("results/data/")]
    assert not any(path.startswith(tuple(SWEEP)) for path in outputs)
    assert others == []


def test_study_target_leaves_the_sweep_out(tmp_path):
    workdir = smoke_workdir(tmp_path / "study")
    outputs = planned_outputs(run_snakemake(workdir, "-n", "study", "--configfile", "smoke.yaml").stdout)
    assert "results/geometry.csv" in outputs and "results/landscape/plainnet20.png" in outputs
    assert not [p for p in outputs if p.startswith(("results/sweep/", "results/ablation/", "results/interpolation/"))]


def test_a_job_runs_its_configured_threads_on_any_number_of_cores(tmp_path):
    """A CPU job's bits depend on its torch threads: Snakemake lowers a rule's threads to --cores, so a job's torch
    threads are the config's (`threads.*`), never Snakemake's, and `--cores 1` trains what `--cores 16` trains."""
    threads = {"data": 1, "train": 2, "evaluate": 3, "chunk": 4}
    workdir = smoke_workdir(tmp_path / "threads", threads=threads)
    result = run_snakemake(workdir, "-n", "-p", "--cores", "1", "results/models/net.pt", "results/metrics/net.json",
                           "results/landscape/net.png", "--configfile", "smoke.yaml")
    commands = [line.strip() for line in result.stdout.splitlines() if "python -m lossland" in line]
    threads_of = {line.split("--threads ")[1].split()[1]: int(line.split("--threads ")[1].split()[0])
                  for line in commands}
    assert {kind: threads_of[kind] for kind in ("prepare_data", "train", "evaluate", "landscape_chunk")} == {
        "prepare_data": 1, "train": 2, "evaluate": 3, "landscape_chunk": 4}


def test_changing_threads_reruns_nothing(smoke_run):
    """Threads are how a job runs, as the device is: changing them leaves every result in place (a guard: a torch
    threads param Snakemake's rerun trigger saw, one not computed from the job's input and output, reruns all)."""
    config = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
    config["threads"] = {"data": 2, "train": 2, "evaluate": 2, "chunk": 2}
    (smoke_run / "threads.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(smoke_run, "-n", "all", "--configfile", "threads.yaml")
    assert "Nothing to be done" in result.stdout + result.stderr, planned_outputs(result.stdout)


def planned_resources(dry_run_stdout: str) -> dict[str, dict[str, str]]:
    """rule name -> the resources of (the last of) its jobs in a `snakemake -n` listing."""
    found, rule = {}, None
    for line in dry_run_stdout.splitlines():
        if line.strip().startswith(("rule ", "localrule ")):  # indented inside a group (batched chunks)
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            found[rule] = dict(item.strip().split("=", 1) for item in line.split(":", 1)[1].split(","))
    return found


def test_chunk_jobs_can_ask_the_scheduler_for_gpus(tmp_path):
    workdir = smoke_workdir(tmp_path / "gpu")
    target = "results/landscape/resnet20/surface.npz"
    default = planned_resources(run_snakemake(workdir, "-n", target, "--configfile", "smoke.yaml").stdout)
    assert default["landscape_chunk"]["gpu"] == "0" and "gpu_model" not in default["landscape_chunk"]
    (workdir / "gpu.yaml").write_text("resources:\n  chunk: {gpu: 1, gpu_model: a100}\n")
    asked = planned_resources(run_snakemake(workdir, "-n", target, "--configfile", "smoke.yaml", "gpu.yaml").stdout)
    assert asked["landscape_chunk"]["gpu"] == "1" and asked["landscape_chunk"]["gpu_model"] == "a100"
    assert asked["train_with_snapshots"]["gpu"] == "0"  # the smoke preset's trainings still ask for none
    assert int(asked["landscape_chunk"]["runtime"]) >= 10


def test_on_a_machine_with_gpus_each_computing_job_takes_one_and_no_more_run_than_there_are(tmp_path):
    workdir = smoke_workdir(tmp_path / "workstation")
    smi = tmp_path / "bin" / "nvidia-smi"  # a driver that lists two GPUs; torch still sees none, so jobs use the CPU
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-1)'\n")
    smi.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{smi.parent}:{env['PATH']}"
    target = "results/landscape/resnet20/surface.npz"
    planned = planned_resources(run_snakemake(workdir, "-n", target, "results/metrics/resnet20.json",
                                              "--configfile", "smoke.yaml", env=env).stdout)
    assert {rule: res.get("gpu") for rule, res in planned.items()} == {
        "prepare_data": None, "train_with_snapshots": "1", "evaluate": "1", "directions": None, "landscape_chunk": "1",
        "surface": None}  # resnet20 keeps snapshots in the smoke preset: its training is train_with_snapshots
    ran = run_snakemake(workdir, "--cores", "2", "results/data/test.pt", "--configfile", "smoke.yaml", env=env)
    assert 'Provided resources: gpu=Resource("gpu", 2)' in ran.stdout + ran.stderr  # the limit: one job per GPU
    ran = run_snakemake(workdir, "--cores", "2", "results/data/test.pt", "--forcerun", "prepare_data",
                        "--configfile", "smoke.yaml", env={**env, "CUDA_VISIBLE_DEVICES": "1"})
    assert 'Provided resources: gpu=Resource("gpu", 1)' in ran.stdout + ran.stderr
    on_cpu = planned_resources(run_snakemake(workdir, "-n", target, "--configfile", "smoke.yaml", "--config",
                                             "device=cpu", env=env).stdout)
    assert on_cpu["landscape_chunk"]["gpu"] == "0"  # device: cpu uses no GPU: the config's scheduler request


def test_changing_one_models_lr_reruns_only_that_model_and_the_reports(smoke_run):
    config = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
    config["train"]["models"]["resnet20"] = {"lr": 0.01}
    (smoke_run / "changed.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(smoke_run, "-n", "all", "--configfile", "changed.yaml")
    outputs = planned_outputs(result.stdout)
    assert "results/models/resnet20.pt" in outputs and "results/landscape/resnet20.png" in outputs
    assert set(REPORTS) <= set(outputs)
    assert [path for path in outputs if "resnet20" not in path and path not in REPORTS] == []


def test_changing_the_shortcut_retrains_only_the_resnets(smoke_run):
    config = yaml.safe_load((smoke_run / "smoke.yaml").read_text())
    config["train"]["defaults"]["shortcut"] = "projection"
    (smoke_run / "projection.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "projection.yaml").stdout)
    trained = sorted(path for path in outputs if path.startswith(("results/models/", "results/sweep/runs/")))
    assert trained == [f"results/models/{m}.pt" for m in sorted(MODELS) if m.startswith("resnet")]
    config["train"]["defaults"].pop("shortcut")
    config["train"]["defaults"]["conv_bias"] = False
    (smoke_run / "nobias.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "nobias.yaml").stdout)
    trained = sorted(path for path in outputs if path.startswith(("results/models/", "results/sweep/runs/")))
    assert trained == [f"results/models/{m}.pt" for m in sorted(MODELS) if m != "net"]
    config["train"]["defaults"]["conv_bias"] = True
    for width, retrained in ((1, []), (2, [m for m in sorted(MODELS) if m != "net"])):  # width 1: today's networks
        config["train"]["defaults"]["width"] = width
        (smoke_run / "wide.yaml").write_text(yaml.safe_dump(config))
        outputs = planned_outputs(run_snakemake(smoke_run, "-n", "all", "--configfile", "wide.yaml").stdout)
        trained = sorted(path for path in outputs if path.startswith(("results/models/", "results/sweep/runs/")))
        assert trained == [f"results/models/{m}.pt" for m in retrained]


BAD_CONFIGS = [
    ({"models": ["resnet20", "resnet21"]}, "config error: models: 'resnet21' is neither a built-in model"),
    ({"train": {"defaults": {"lr": -0.1}}}, "config error: train.defaults.lr: -0.1 is less than or equal to"),
    ({"data": {"root": "/nonexistent/cifar"}}, "config error: data folder /nonexistent/cifar/train not found"),
    ({"landscape": {"chunks": 26}}, "config error: landscape.chunks = 26 is more than the 25 grid points"),
    ({"landscape": {"x": [-1, 1, 0]}}, "config error: landscape.x.2: 0 is less than the minimum of 1"),
    ({"landscape": {"y": [1, 1, 5]}}, "config error: landscape.y = [1, 1, 5]: min must be below max"),
    ({"landscape": {"samples": 600}}, "config error: landscape.samples = 600 is more than the 512 images"),
    ({"train": {"models": {"net": {"batch_size": 0}}}}, "config error: train.models.net.batch_size: 0 is less than"),
    ({"train": {"defaults": {"optimizer": "rmsprop"}}}, "config error: train.defaults.optimizer: 'rmsprop' is not"),
    ({"train": {"defaults": {"schedule": {"type": "step"}}}}, "config error: train.defaults.schedule.type: 'step'"),
    ({"train": {"models": {"resnet21": {"lr": 0.1}}}}, "config error: train.models: 'resnet21' is neither a built-in"),
    ({"models": ["net", "mine"], "architectures": {"mine": {"builder": "not a builder"}}},
     "config error: architectures.mine.builder: 'not a builder' does not match"),
    ({"interpolation": {"pairs": [{"name": "x", "a": "resnet20", "b": "b32_lr0.1_e9"}]}},
     "config error: interpolation.pairs.0.b = 'b32_lr0.1_e9' is not a model this config trains"),
    ({"interpolation": {"pairs": [{"name": "x", "a": "resnet20", "b": "plainnet20"}]}},
     "config error: interpolation.pairs.0: resnet20 is a resnet20 (shortcut=avgpool, conv_bias=True) and plainnet20 a "
     "plainnet20 (conv_bias=True): endpoints must share one architecture"),
    ({"train": {"defaults": {"shortcut": "optionC"}}}, "config error: train.defaults.shortcut: 'optionC' is not one of"),
    ({"train": {"models": {"net": {"std": [0.2, 0.0, 0.2]}}}}, "config error: train.models.net.std.1: 0.0 is less than"),
    ({"landscape": {"directions": {"norm": "unit"}}}, "config error: landscape.directions.norm: 'unit' is not one of"),
    ({"train": {"models": {"net": {"snapshots": 1}}}}, "config error: train.models.net.snapshots = 1 leaves fewer"),
    ({"landscape": {"cap": 5}}, "config error: landscape.cap: 5 is less than the minimum of 10"),
    ({"data": {"validation": 512}}, "config error: data.validation = 512 holds out every one of the 512 training"),
    ({"interpolation": {"bn_samples": 1000}}, "config error: interpolation.bn_samples = 1000 is more than the 512"),
    ({"interpolation": {"bn": "reset"}}, "config error: interpolation.bn: 'reset' is not one of"),
    ({"geometry": {"repeats": 40}}, "config error: geometry.samples x geometry.repeats = 16 x 40 disjoint subsets"),
    ({"geometry": {"params": "biases"}}, "config error: geometry.params: 'biases' is not one of"),
]


MANY_PROBLEMS = [  # configs with several problems: each reported, in one run
    ({"landscape": {"cap": 5}, "interpolation": {"bn": "reset"}},
     ["config error: interpolation.bn: 'reset' is not one of", "config error: landscape.cap: 5 is less than"]),
    ({"landscape": {"samples": 600, "bn_samples": 1000}, "data": {"validation": 512},
      "interpolation": {"bn_samples": 1000}},
     ["config error: landscape.samples = 600", "config error: data.validation = 512",
      "config error: interpolation.bn_samples = 1000", "config error: landscape.bn_samples = 1000"]),
]


def run_bad_config(workdir, change, name: str = "bad.yaml"):
    (workdir / name).write_text(yaml.safe_dump(change))
    result = run_snakemake(workdir, "--cores", "1", "all", "--configfile", "smoke.yaml", name, check=False)
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    return result.returncode, errors, result.stderr


def refused(change: dict) -> list[str]:
    """The lines the Snakefile stops with for the smoke preset plus `change`, found in-process by the function it
    calls (`plan.every_problem`) on the config Snakemake would merge (config.yaml, smoke.yaml, the change)."""
    from lossland.plan import every_problem

    if not JPEG_DATA.is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {JPEG_DATA}")
    smoke = yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text())
    smoke["data"]["root"] = str(JPEG_DATA)
    config = merged(merged(yaml.safe_load((REPO / "config.yaml").read_text()), smoke), change)
    return [f"config error: {line}" for line in every_problem(config, REPO / "workflow/schemas/config.schema.yaml")]


@pytest.mark.parametrize("change,message", BAD_CONFIGS)
def test_a_bad_config_is_refused_in_one_line_naming_it(change, message):
    errors = refused(change)
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.parametrize("change,messages", MANY_PROBLEMS)
def test_every_problem_of_a_bad_config_is_refused_at_once(change, messages):
    errors = refused(change)
    assert len(errors) == len(messages), errors  # every problem at once, one line each
    assert all(any(error.startswith(message) for error in errors) for message in messages), errors


@pytest.mark.parametrize("change,message", BAD_CONFIGS[:4])
def test_bad_config_stops_with_one_line_before_any_job(tmp_path, change, message):
    workdir = smoke_workdir(tmp_path / "bad")
    code, errors, stderr = run_bad_config(workdir, change)
    assert code != 0 and len(errors) == 1 and message in errors[0], stderr
    assert errors == refused(change)  # the lines the fast tier checks for every bad config
    assert "Traceback" not in stderr
    assert not (workdir / "results").exists()


def test_bad_configs_leave_earlier_results_untouched(smoke_run):
    """Snakemake stopped by a bad config on a finished run, for a problem the schema finds, one only the plan finds
    and several at once: it prints exactly the lines `every_problem` gives (the fast tier checks those for every bad
    config) and touches nothing of the run."""
    def snapshot():
        return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in (smoke_run / "results").rglob("*")}

    before = snapshot()
    changes = [BAD_CONFIGS[1][0], BAD_CONFIGS[13][0]] + [change for change, _ in MANY_PROBLEMS]
    with ThreadPoolExecutor(2) as pool:  # each run is one core's work
        results = list(pool.map(lambda item: run_bad_config(smoke_run, item[1], f"bad{item[0]}.yaml"),
                                enumerate(changes)))
    for change, (code, errors, stderr) in zip(changes, results):
        assert code != 0 and errors == refused(change), stderr
        assert "Traceback" not in stderr
    assert snapshot() == before
