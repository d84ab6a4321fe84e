"""The plan layer: job settings, inputs, targets and the cost model from a config, without Snakemake; provenance."""

import json
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, study_config
from lossland.cli import read_spec
from lossland.errors import UserError
from lossland.plan import Plan, problems
from lossland.provenance import check, record


@pytest.fixture
def config() -> dict:
    return study_config(yaml.safe_load((REPO / "tests" / "smoke.yaml").read_text()))


def test_a_chunk_is_defined_by_its_grid_and_evaluation_not_by_line_or_direction_options(config):
    plan = Plan(config)
    chunk = plan.settings("landscape_chunk", {"plane": "landscape", "model": "resnet20", "chunk": "1"})
    assert chunk == {"measure": "loss", "span": "plane", "x": [-1.0, 1.0, 5], "y": [-1.0, 1.0, 5], "chunks": 3,
                     "cap": 10.0, "split": "train", "samples": 256, "seed": 0, "batch_size": "auto", "fold_bn": True,
                     "precision": "fp32", "compile": False, "chunk": 1}
    config["landscape"]["line"] = [-2.0, 2.0, 9]
    config["landscape"]["directions"]["norm"] = "layer"
    config["landscape"]["bn"] = "interpolate"  # only for states-type directions
    other = Plan(config)
    assert other.settings("landscape_chunk", {"plane": "landscape", "model": "resnet20", "chunk": "1"}) == chunk
    assert other.settings("line", {"model": "resnet20"})["line"] == [-2.0, 2.0, 9]
    assert other.settings("directions", {"model": "resnet20"})["norm"] == "layer"
    # a merge expects exactly its chunks' settings, less the chunk index
    surface = plan.settings("surface", {"plane": "landscape", "model": "resnet20"})
    assert surface == {k: v for k, v in chunk.items() if k != "chunk"}


def test_the_maps_points_are_solved_to_map_tol_and_the_hessian_numbers_to_tol(config):
    """geometry.map_tol defines the eigenvalue maps' chunks and merge (their `tol`), geometry.tol the Hessian numbers
    and the Hessian planes' eigenvectors: changing one reruns only its own jobs."""
    wildcards = {"model": "resnet20", "chunk": "0"}
    config["geometry"].update(tol=0.001, map_tol=0.01)
    plan = Plan(config)
    assert plan.settings("eigen_chunk", wildcards)["tol"] == plan.settings("eigen_map", wildcards)["tol"] == 0.01
    assert plan.settings("hessian", wildcards)["tol"] == plan.settings("hessian_directions", wildcards)["tol"] == 0.001
    kinds = ("eigen_chunk", "eigen_map", "hessian", "hessian_directions")
    before = {kind: plan.settings(kind, wildcards) for kind in kinds}
    config["geometry"]["map_tol"] = 0.05
    changed = {kind for kind in kinds if Plan(config).settings(kind, wildcards) != before[kind]}
    assert changed == {"eigen_chunk", "eigen_map"}
    config["geometry"].update(map_tol=0.01, tol=0.05)
    changed = {kind for kind in kinds if Plan(config).settings(kind, wildcards) != before[kind]}
    assert changed == {"hessian", "hessian_directions"}


def test_bn_settings_and_input_appear_only_where_bn_statistics_are_treated(config):
    plan = Plan(config)
    wildcards = {"plane": "landscape", "model": "net", "chunk": "0"}
    assert "bn" not in plan.settings("landscape_chunk", wildcards)
    assert "bn_data" not in plan.inputs("landscape_chunk", wildcards)
    pair = {"pair": "net_batch64_vs_batch128"}
    assert plan.settings("interpolate", pair)["bn"] == "recompute"
    assert plan.inputs("interpolate", pair) == {
        "a": "results/sweep/runs/b64_lr0.001_e2/model.pt", "b": "results/sweep/runs/b128_lr0.001_e2/model.pt",
        "train": "results/data/train.pt", "test": "results/data/test.pt", "bn_data": "results/data/train.pt"}
    config["landscape"]["directions"]["type"] = "states"
    states = Plan(config)
    assert states.settings("landscape_chunk", wildcards)["bn"] == "recompute"
    assert states.settings("line", wildcards)["bn_samples"] == 128
    assert states.inputs("landscape_chunk", wildcards)["bn_data"] == "results/data/train.pt"


def test_trajectory_chunks_take_their_point_counts_from_the_trajectory_section(config):
    plan = Plan(config)
    settings = plan.settings("landscape_chunk", {"plane": "trajectory", "model": "resnet20", "chunk": "0"})
    assert settings["span"] == "trajectory" and settings["x"] == [-1.0, 1.0, 5] and settings["chunks"] == 2
    assert plan.inputs("surface", {"plane": "trajectory", "model": "resnet20"})["chunks"] == [
        "results/trajectory/resnet20/chunks/0.csv", "results/trajectory/resnet20/chunks/1.csv"]
    assert plan.trajectory_models == ["resnet20"]


def test_targets_follow_models_maps_and_sweep(config):
    plan = Plan(config)
    targets = plan.all_targets()
    assert "results/landscape/plainnet20.png" in targets and "results/geometry/resnet20_eigen.png" in targets
    assert "results/landscape/plainnet56.png" not in targets  # the smoke preset's models
    assert "results/landscape/net.png" in targets and "results/geometry/net_eigen.png" not in targets  # geometry.maps
    assert "results/interpolation/net_batch64_vs_batch128.png" in targets and "results/sweep/table_lr0.01.md" in targets
    assert not [t for t in plan.study_targets() if t.startswith(("results/sweep", "results/interpolation"))]
    assert plan.sweep_runs == ["b64_lr0.01_e2", "b64_lr0.001_e2", "b128_lr0.01_e2", "b128_lr0.001_e2"]
    assert len(targets) == len(set(targets))
    config["models"] = ["resnet56"]
    config["geometry"]["maps"] = None
    small = Plan(config)
    assert small.eigen_map_models() == ["resnet56"] and small.trajectory_models == []
    assert [t for t in small.study_targets() if "resnet20" in t] == []


def test_cost_model_runtimes_and_cluster_groups(config):
    plan = Plan(config)
    # resnet20: 8 s per point on 10,000 images, so 0.2 s on 256; ceil(25 / 3) = 9 points: 10 + 2 * 0.03 min -> 11
    assert plan.runtime("landscape_chunk", {"plane": "landscape", "model": "resnet20", "chunk": "0"}) == 11
    assert plan.runtime("landscape_chunk", {"plane": "landscape", "model": "resnet20", "chunk": "0"}, attempt=2) == 22
    # training: 0.2 min per epoch of 50,000 images at batch 128; batch 32 -> x4, 512 images, 3 epochs
    from lossland.kinds import KINDS, hessian_products, training_minutes

    assert training_minutes(plan, {"batch_size": 32, "epochs": 3}, "resnet20") == pytest.approx(0.2 * 4 * 512 / 50_000 * 3)
    config["resources"]["train"]["minutes_per_epoch"]["resnet20"] = 20.0  # 10 + 2 * 2.4583 = 14.9 -> 15
    assert Plan(config).runtime("train", {"model": "resnet20"}) == 15
    assert plan.runtime("sweep_train", {"run": "b64_lr0.01_e2"}) == math_ceil(10 + 2 * 0.1 * 2 * 448 / 50_000 * 2)
    # a Lanczos run for both ends at tol 0.1: 20 products; + 3 probes, 2 repeats, 6 evaluations a product
    assert hessian_products(plan, {"model": "net"}) == 6 * (20 + 3) * 2
    assert KINDS["hessian"].cost(plan, {"model": "net"}) == pytest.approx(plan.point_seconds("net", 16) * 6 * 23 * 2 / 60)
    assert plan.group("landscape", "resnet20") == "landscape"  # short chunks share one submission
    config["chunk_batch_minutes"] = 0
    assert Plan(config).group("landscape", "resnet20") is None
    # width k: k x the channels, ~k^2 the work of a training epoch and a grid point
    assert training_minutes(plan, {"batch_size": 32, "epochs": 3, "width": 2}, "resnet20") == pytest.approx(
        4 * training_minutes(plan, {"batch_size": 32, "epochs": 3}, "resnet20"))
    wide = json.loads(json.dumps(config))
    wide["train"]["models"]["resnet20"] = {"width": 2}
    assert Plan(wide).point_seconds("resnet20", 256) == pytest.approx(4 * plan.point_seconds("resnet20", 256))
    wide["train"]["models"]["net"] = {"width": 2}
    assert Plan(wide).point_seconds("net", 256) == plan.point_seconds("net", 256)  # Net ignores width
    assert plan.gpu("chunk") == {"gpu": 0} and Plan(config, local_gpus=2).gpu() == {"gpu": 1}
    assert plan.mem_mb("landscape_chunk", 3) == 4500 and plan.mem_mb("train") == 2000


def math_ceil(value: float) -> int:
    import math

    return math.ceil(value)


def rule_blocks() -> dict[str, str]:
    """{rule name: its text} of every rule and checkpoint in workflow/rules."""
    blocks = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", path.read_text(), re.S | re.M):
            blocks[match.group(1)] = match.group(2)
    return blocks


def test_each_kind_is_one_rule_of_its_name_running_the_command_of_its_name(config):
    from lossland.cli import build_parser
    from lossland.kinds import KINDS

    plan = Plan(config)
    wildcards = {"model": "resnet20", "plane": "landscape", "chunk": "0", "split": "train", "run": "b64_lr0.01_e2",
                 "pair": "net_batch64_vs_batch128"}
    for name, kind in KINDS.items():
        json.dumps(plan.settings(name, wildcards))  # JSON all the way down
        assert callable(kind.function()), name
    blocks = rule_blocks()
    computing = {name for name, block in blocks.items() if "job_command(" in block}
    assert computing == set(KINDS)
    for name in computing:
        block = blocks[name]
        what = KINDS[name].what
        assert block.startswith(f'    """{what[0].upper()}{what[1:]}."""\n'), name  # the rule says what it makes
        logged = r'    log:\n        paths\.log\("(.*)"\),\n    benchmark:\n        paths\.benchmark\("\1"\)'
        assert re.search(logged, block), name
        assert re.search(rf'    shell:\n        job_command\("{name}"\)\n', block), name  # the command, written once
        used = set(re.findall(r'(?:job_params|job_inputs|job_resources|job_command|PLAN\.inputs)\("(\w+)"', block))
        assert used == {name}, (name, used)
        assert (KINDS[name].inputs is None) == ("job_inputs(" not in block and "PLAN.inputs(" not in block), name
        assert (KINDS[name].cost is None) == ("job_resources(" not in block), name
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == set(KINDS) | {"estimate"}  # a command per kind, and the estimate of a whole config


def test_every_file_is_named_once_in_paths_and_every_template_is_used():
    from lossland import paths

    sources = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk")),
               *sorted(p for p in (REPO / "workflow" / "lossland").glob("*.py") if p.name != "paths.py")]
    for source in sources:  # no path of its own: a string that starts with results/ (docstrings and messages aside)
        spelled = re.findall(r'(?<![\w"])f?"results/[^"]*"', source.read_text())
        assert spelled == [], (source.name, spelled)
    text = "\n".join(source.read_text() for source in sources)
    templates = [name for name, value in vars(paths).items() if name.isupper() and isinstance(value, str)]
    assert len(templates) > 50
    unused = [name for name in templates if not re.search(rf"paths\.{name}\b", text)]
    assert unused == []
    assert paths.fill(paths.SURFACE, plane="hessian") == "results/hessian/{model}/surface.npz"
    assert paths.SURFACE.format(plane="landscape", model="net") == "results/landscape/net/surface.npz"


def test_interpolation_endpoints_are_checked_by_the_plan(config):
    config["interpolation"]["pairs"] = [{"name": "x", "a": "resnet20", "b": "nothing"}]
    (problem,) = problems(config)
    assert problem.startswith("interpolation.pairs.0.b = 'nothing' is not a model this config trains")


def test_every_problem_of_a_config_is_reported_at_once(tmp_path):
    """120 images of one's own with the study's config: each count that exceeds them, in one go."""
    for split, count in (("train", 100), ("test", 20)):
        for i in range(count):
            folder = tmp_path / "mine" / split / f"class{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.png").touch()  # counted by name: nothing reads them before a job runs
    config = study_config()
    config["data"] = {**config["data"], "source": "imagefolder", "root": str(tmp_path / "mine"), "mean": None,
                      "std": None, "subset": {"train": None, "test": None}}
    found = problems(config)
    for start in ("landscape.samples = 10000 is more than the 100 images of the train split",
                  "data.validation = 5000 holds out every one of the 100 training images",
                  "interpolation.bn_samples = 2000 is more than the 100 images of the train split",
                  "landscape.bn_samples = 2000 is more than the 100 images of the train split"):
        assert sum(problem.startswith(start) for problem in found) == 1, (start, found)
    assert all("\n" not in problem for problem in found) and len(found) == len(set(found))


def test_config_no_longer_imports_sweep():
    code = "import sys, lossland.config; print('lossland.sweep' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "workflow")})
    assert out.stdout.strip() == "False"


def test_provenance_names_every_stale_setting_and_input(tmp_path):
    (tmp_path / "a").write_text("one")
    (tmp_path / "b").write_text("two")
    written = record({"samples": 10, "chunk": 3}, {"checkpoint": tmp_path / "a", "data": tmp_path / "b"})
    assert "chunk" not in written["spec"] and len(written["inputs"]["checkpoint"]) == 64
    check("chunk.csv", written, record({"samples": 10}, {"checkpoint": tmp_path / "a"}))  # equal: accepted
    with pytest.raises(UserError, match=r"chunk.csv is stale \(its samples, checkpoint differ"):
        check("chunk.csv", written, record({"samples": 20}, {"checkpoint": tmp_path / "b"}))


@pytest.mark.parametrize("text,message", [
    ("not-a-file.json", "neither a JSON object nor a file"),
    ("{broken", "is not valid JSON"),
    ('{"chunk": 0}', "the job spec has no settings, inputs, outputs"),
])
def test_a_bad_spec_is_one_line(text, message):
    with pytest.raises(UserError, match=message):
        read_spec(text)


def test_an_unknown_kind_names_the_kinds_and_a_spec_file_is_read_like_inline_json(tmp_path, capsys):
    from lossland.cli import main
    from lossland.kinds import KINDS

    with pytest.raises(SystemExit) as stopped:
        main(["sideways", "--spec", "{}"])
    refused = capsys.readouterr().err
    assert stopped.value.code == 2 and "invalid choice: 'sideways'" in refused
    assert all(name in refused for name in KINDS)  # it names the kinds there are
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"settings": {}, "inputs": {}}))
    assert main(["landscape_chunk", "--spec", str(spec)]) == 2
    assert capsys.readouterr().err == "error: the job spec has no outputs: pass the job spec a rule passes\n"
    assert "landscape_chunk" in KINDS and all(name.isidentifier() for name in KINDS)


def test_the_page_shows_the_first_run_of_every_model(config):
    plan = Plan({**config, "train": {**config["train"], "seeds": [0, 1]}})
    assert "results/landscapes.html" in plan.study_targets() and "results/landscapes.html" in plan.all_targets()
    inputs = plan.inputs("page", {})
    assert inputs["surfaces"] == [f"results/landscape/{m}/surface.npz" for m in config["models"]]
    assert inputs["lines"] == [f"results/landscape/{m}/line.npz" for m in config["models"]]
    assert inputs["metrics"] == [f"results/metrics/{m}.json" for m in config["models"]]
    assert inputs["geometry"] == "results/geometry.csv"
    pairs = [[model, "seeds0-1"] for model in config["models"]]  # every model with two seeds
    assert inputs["connectivity"] == [f"results/connectivity/{model}/{pair}.npz" for model, pair in pairs]
    assert plan.settings("page", {}) == {"models": config["models"], "cap": config["landscape"]["cap"],
                                         "connectivity_pairs": pairs}
    assert "connectivity_pairs" not in Plan(config).settings("page", {})  # one seed: the page's settings as before


def test_connectivity_pairs_follow_the_seeds_and_bad_settings_get_one_line_each(config):
    assert Plan(config).connectivity == {} and Plan(config).connectivity_targets() == []  # one seed: none
    config["train"]["seeds"] = [0, 1, 2]
    plan = Plan(config)
    assert plan.connectivity["resnet20"] == {"seeds0-1": ("resnet20", "resnet20/seed1"),
                                             "seeds1-2": ("resnet20/seed1", "resnet20/seed2")}
    assert "results/connectivity.md" in plan.study_targets() and len(plan.connectivity_paths()) == 2 * 3
    inputs = plan.inputs("connectivity", {"model": "net", "seeds": "seeds1-2"})
    assert (inputs["a"], inputs["b"], inputs["bn_data"]) == ("results/models/net/seed1.pt", "results/models/net/seed2.pt",
                                                             "results/data/train.pt")
    assert plan.settings("connectivity", {"model": "net", "seeds": "seeds1-2"})["bn"] == "recompute"
    # the smoke preset trains a curve (1 epoch): its bend is an input of the pair's job, trained with the model's recipe
    wildcards = {"model": "resnet20", "seeds": "seeds1-2"}
    assert plan.inputs("connectivity", wildcards)["bend"] == "results/connectivity/resnet20/seeds1-2/curve.pt"
    assert plan.inputs("curve", wildcards) == {"a": "results/models/resnet20/seed1.pt",
                                               "b": "results/models/resnet20/seed2.pt",
                                               "train": "results/data/train.pt", "test": "results/data/test.pt"}
    recipe = plan.settings("curve", wildcards)["train"]
    assert recipe["epochs"] == 1 and "snapshots" not in recipe and recipe["lr"] == config["train"]["defaults"]["lr"]
    config["connectivity"]["curve"]["epochs"] = 0
    assert "bend" not in Plan(config).inputs("connectivity", wildcards)
    assert "curve" not in Plan(config).settings("connectivity", wildcards)
    config["connectivity"].update(pairs="all", models=["plainnet20"])
    assert list(Plan(config).connectivity) == ["plainnet20"] and len(Plan(config).connectivity["plainnet20"]) == 3
    config["connectivity"].update(bn_samples=5000, models=None)
    assert any(line.startswith("connectivity.bn_samples = 5000 is more than the 512 images") for line in problems(config))
    config["train"]["seeds"] = [0]
    assert problems(config) == []  # one seed: no connectivity, so its images do not matter
    config["connectivity"].update(models=["resnet56"], alpha=[-0.5, 1.5, 9])
    found = problems(config)
    assert any(line.startswith("connectivity.alpha = [-0.5, 1.5, 9]: ") for line in found), found
    assert any(line.startswith("connectivity.models: resnet56 is not a model this config trains") for line in found)
    assert any(line.startswith("connectivity.models names resnet56 but train.seeds = [0] has one seed") for line in found)
