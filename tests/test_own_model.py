"""Your own model, checkpoint and data: a user's builder, a checkpoint trained elsewhere, an ImageFolder tree of
another class count, size and channel statistics; BN folding found from the graph; each bad input one line."""

import copy
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from conftest import REPO, planned_outputs, run_job, run_snakemake, study_config
from lossland.data import Dataset, normalizer, prepare_split
from lossland.directions import random_directions
from lossland.errors import UserError
from lossland.fold import foldable_pairs
from lossland.models import build_custom, build_model
from lossland.plan import problems
from lossland.surface import PlaneEvaluator
from PIL import Image
from test_views import trained_bn
from user_models import small_cnn, two_branches

CLASSES = ["circle", "cross", "dots", "lines", "plain"]


def make_tree(root, per_class: dict, size: int = 16, classes=CLASSES):
    """An ImageFolder tree of `classes`, each class a different mean colour plus noise (learnable, not trivial)."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                base = np.array([40 * index, 255 - 40 * index, 120], dtype=float)
                pixels = np.clip(base + rng.normal(0, 60, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def test_bn_folding_follows_the_graph_not_the_names():
    assert foldable_pairs(small_cnn(5)) == []  # conv -> ReLU -> BN: nothing follows a conv directly
    assert foldable_pairs(two_branches(5)) == [("conv", "bn")]  # the stem feeds its BN and the skip: not folded
    pairs = foldable_pairs(build_model("resnet20", shortcut="projection"))
    assert len(pairs) == 21 and ("layer2.0.shortcut.conv1", "layer2.0.shortcut.bn1") in pairs


@pytest.mark.parametrize("builder", [small_cnn, two_branches])
def test_folded_and_unfolded_surfaces_are_equal(builder):
    torch.manual_seed(1)
    model = trained_bn(builder(5))
    generator = torch.Generator().manual_seed(0)
    data = Dataset(torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8, generator=generator),
                   torch.arange(24) % 5)
    prepare = normalizer({"normalize": False}, torch.device("cpu"))
    first, second = random_directions(model, 0)
    folded = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 8, fold_bn=True)
    plain = PlaneEvaluator(copy.deepcopy(model), first, second, data, prepare, 8, fold_bn=False)
    for point in ((0.0, 0.0), (0.5, -0.3), (-1.0, 1.0)):
        assert folded.at(*point)[0] == pytest.approx(plain.at(*point)[0], rel=1e-5)


def test_a_builder_that_cannot_be_imported_or_returns_no_module_is_one_line():
    with pytest.raises(UserError, match=r"builder 'nowhere.models:cnn' cannot be imported \(No module named"):
        build_custom({"builder": "nowhere.models:cnn", "kwargs": {}}, 5)
    with pytest.raises(UserError, match="returned a str, not a torch.nn.Module"):
        build_custom({"builder": "user_models:not_a_model", "kwargs": {}}, 5)
    with pytest.raises(UserError, match="kwargs give num_classes 10, the data has 5 classes"):
        build_custom({"builder": "user_models:small_cnn", "kwargs": {"num_classes": 10}}, 5)


def test_a_data_tree_with_one_class_is_one_line(tmp_path):
    make_tree(tmp_path / "one", {"train": 3, "test": 2}, classes=["only"])
    with pytest.raises(UserError, match="has 1 class folder\\(s\\): a classifier needs at least 2"):
        prepare_split("imagefolder", str(tmp_path / "one"), "train", False, None, 0, str(tmp_path / "train.pt"))


def test_a_model_that_is_neither_built_in_nor_in_architectures_stops_the_config():
    config = study_config()
    config["models"] = ["resnet20", "mynet"]
    (problem,) = problems(config)
    assert problem.startswith("models: 'mynet' is neither a built-in model")
    config["architectures"] = {"resnet20": {"builder": "user_models:small_cnn"}}
    clash, unknown = problems(config)  # both at once
    assert clash.startswith("architectures.resnet20: resnet20 is a built-in model") and unknown == problem


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = make_tree(tmp_path_factory.mktemp("tree") / "shapes", {"train": 12, "test": 6})
    prepare_split("imagefolder", str(root), "train", False, None, 0, str(root.parent / "train.pt"))
    return root


def import_job(tree, source, builder: str = "torchvision.models:resnet18"):
    settings = {"model": "theirs", "settings": {"normalize": True, "architecture": {"builder": builder, "kwargs": {}}}}
    return run_job("import_checkpoint", settings, {"source": source, "train": tree.parent / "train.pt"},
                   {"checkpoint": tree.parent / "imported.pt"})


def test_checkpoints_that_do_not_fit_or_hold_code_are_one_line(tree, capsys):
    foreign = tree.parent / "foreign.pt"
    torch.save(small_cnn(5).state_dict(), foreign)
    assert import_job(tree, foreign) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith(f"error: checkpoint {foreign} does not fit the model: missing [")
    pickled = tree.parent / "pickled.pt"
    torch.save(small_cnn(5), pickled)  # the whole module: loading it would run code
    assert import_job(tree, pickled) == 2
    assert "holds pickled code" in capsys.readouterr().err
    assert not (tree.parent / "imported.pt").exists()


def test_a_dataparallel_checkpoint_in_a_wrapper_imports(tree):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5)
    source = tree.parent / "dataparallel.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 90}, source)
    assert import_job(tree, source) == 0
    checkpoint = torch.load(tree.parent / "imported.pt", weights_only=True)
    assert checkpoint["classes"] == CLASSES and checkpoint["input"] == {"classes": 5, "channels": 3, "size": [16, 16]}
    assert checkpoint["parameters"] == sum(p.numel() for p in model.parameters())
    assert checkpoint["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert torch.equal(checkpoint["state_dict"]["fc.weight"], model.state_dict()["fc.weight"])
    info = torch.load(tree.parent / "train.pt", weights_only=True)
    assert checkpoint["config"]["mean"] == pytest.approx(info["mean"]) and len(info["mean"]) == 3


def own_workdir(path, tree):
    """A run directory with the repository's config.yaml and a config for a user's model and an external one."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    torch.manual_seed(0)
    external = torchvision.models.resnet18(num_classes=5)
    torch.save({"model": external.state_dict()}, path / "theirs.pt")
    config = {
        "models": ["mynet", "theirs"],
        "architectures": {"mynet": {"builder": "tests.user_models:small_cnn", "kwargs": {"width": 8},
                                    "label": "my CNN"},
                          "theirs": {"builder": "torchvision.models:resnet18"}},
        "checkpoints": {"theirs": "theirs.pt"},
        "data": {"source": "imagefolder", "root": str(tree), "validation": 10, "subset": {"train": None, "test": None},
                 "mean": None, "std": None},
        "train": {"defaults": {"epochs": 2, "batch_size": 16}, "models": {}},
        "landscape": {"x": [-1.0, 1.0, 3], "y": [-1.0, 1.0, 3], "chunks": 2, "samples": 32, "line": [-1.0, 1.0, 3],
                      "bn_samples": 16},
        "interpolation": {"pairs": [], "bn_samples": 16},
        "geometry": {"samples": 8, "repeats": 1, "top_k": 1, "probes": 2, "tol": 0.1, "map_tol": 0.1, "grid": [-0.5, 0.5, 2],
                     "chunks": 1, "maps": ["mynet"], "directions": 2, "line": [-1.0, 1.0, 5],
                     # ResNet-18: 0.75 s a Hessian-vector product (its Hessian job, one subset: the run's longest)
                     "density": {"runs": 1, "steps": 3, "grid": 100, "sigma": 0.01},
                     "sharpness": {"rho_average": 0.1, "rho_worst": 0.001, "draws": 2, "steps": 1}},
        "sweep": {"batch_sizes": [16], "epochs": [1], "lrs": [0.001], "baseline": {"batch_size": 16, "lr": 0.001,
                                                                              "epochs": 1}},
        "threads": {"data": 1, "train": 1, "evaluate": 1, "chunk": 1},
    }
    (path / "own.yaml").write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory, tree):
    workdir = own_workdir(tmp_path_factory.mktemp("own"), tree)
    run_snakemake(workdir, "--cores", "2", "study", "--configfile", "own.yaml")
    return workdir


def test_own_model_and_external_checkpoint_through_every_view(own_run):
    results = own_run / "results"
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary["model"]) == ["mynet", "theirs"] and list(summary["label"]) == ["my CNN", "theirs"]
    geometry = pd.read_csv(results / "geometry.csv")
    assert list(geometry["model"]) == ["mynet", "theirs"] and (geometry["lambda_max"] > 0).all()
    for model in ("mynet", "theirs"):
        with np.load(results / f"landscape/{model}/surface.npz") as surface:
            assert surface["loss"].shape == (3, 3) and np.isfinite(surface["loss"]).all()
        with np.load(results / f"landscape/{model}/line.npz") as line:
            assert np.isfinite(line["test_loss"]).all()
        assert (results / f"landscape/{model}.png").is_file() and (results / f"landscape/{model}_1d.png").is_file()
    mine = torch.load(results / "models/mynet.pt", weights_only=True)
    source = (REPO / "tests" / "user_models.py").read_bytes()
    assert mine["builder_sha256"] == hashlib.sha256(source).hexdigest() and mine["input"]["classes"] == 5
    assert mine["config"]["architecture"] == {"builder": "tests.user_models:small_cnn", "kwargs": {"width": 8}}
    metrics = json.loads((results / "metrics/theirs.json").read_text())
    assert metrics["epochs"] is None and metrics["params"] == 11_179_077 and "fc: Linear" in metrics["layers"]
    assert metrics["source"]["sha256"] == hashlib.sha256((own_run / "theirs.pt").read_bytes()).hexdigest()
    assert not (results / "train/theirs").exists()  # no training job for a checkpoint trained elsewhere
    chunk_log = (results / "logs/landscape/theirs/chunk0.log").read_text()
    assert "BN folding: 20 of 20 conv/linear -> BN pairs folded" in chunk_log
    assert "BN folding: 0 of 0" in (results / "logs/landscape/mynet/chunk0.log").read_text()
    assert (results / "geometry/mynet_eigen.png").is_file() and (results / "figures/geometry.png").is_file()


def test_own_model_targets_and_reruns(own_run, tmp_path, tree):
    outputs = planned_outputs(run_snakemake(own_workdir(tmp_path / "fresh", tree), "-n", "results/landscape/mynet.png",
                                            "--configfile", "own.yaml").stdout)
    assert "results/models/mynet.pt" in outputs and not [p for p in outputs if "theirs" in p]
    config = yaml.safe_load((own_run / "own.yaml").read_text())
    config["architectures"]["mynet"]["kwargs"] = {"width": 16}
    (own_run / "wider.yaml").write_text(yaml.safe_dump(config))
    outputs = planned_outputs(run_snakemake(own_run, "-n", "study", "--configfile", "wider.yaml").stdout)
    assert "results/models/mynet.pt" in outputs and "results/models/theirs.pt" not in outputs
    assert "results/geometry/theirs/hessian.json" not in outputs


def test_the_docs_own_model_config_passes_the_schema_and_names_only_its_missing_file():
    import re

    import jsonschema

    page = (REPO / "docs" / "own-model.md").read_text()
    section = page.split("## Your own model", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = study_config(yaml.safe_load(block))
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(config)
    assert problems(config) == ["checkpoints.theirs = path/to/weights.pt: no such file: fix the path (relative to "
                                "the working directory)"]


def test_labels_and_names_that_would_clash_stop_the_config():
    config = study_config()
    config["models"] = ["resnet20", "mine", "yours"]
    config["architectures"] = {"mine": {"builder": "user_models:small_cnn", "label": "resnet20"},
                               "yours": {"builder": "user_models:small_cnn"}}
    assert problems(config) == ["architectures: the label 'resnet20' names two models: give each its own label"]
    config["architectures"] = {"mine_1d": {"builder": "user_models:small_cnn"}}
    config["models"] = ["mine_1d"]
    assert problems(config)[0].startswith("architectures.mine_1d: a name ending in _1d or _eigen clashes")


def test_normalization_constants_must_fit_the_channel_count():
    from lossland.train import measured_normalization

    grey = {"classes": ["a", "b"], "channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.25]}
    assert measured_normalization({"normalize": True}, grey)["mean"] == [0.5]
    assert measured_normalization({"normalize": True, "mean": [0.1], "std": [0.2]}, grey)["std"] == [0.2]
    with pytest.raises(UserError, match="mean has 3 values, the data 1 channel"):
        measured_normalization({"normalize": True, "mean": [0.1, 0.2, 0.3], "std": [0.2]}, grey)
    net = build_model("net", classes=2, channels=1, size=(16, 32))  # Net on non-square grey images
    assert net(torch.zeros(2, 1, 16, 32)).shape == (2, 2)
