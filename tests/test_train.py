import math
import os
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from lossland.errors import UserError
from lossland.io import save_torch, sha256
from lossland.models import ShortcutA, ShortcutB, load_checkpoint
from lossland.train import lr_factor, train_model
from test_surface import SETTINGS, random_split


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    save_torch(random_split(96, 0), root / "train.pt")
    save_torch(random_split(32, 1), root / "test.pt")
    return root


def run(root, tag, model="net", **changes):
    settings = {**SETTINGS, **changes}
    metrics = train_model(model, settings, root / "train.pt", root / "test.pt", root / f"{tag}.pt",
                          root / f"{tag}.csv", root / f"{tag}-resume.pt", torch.device("cpu"), log=lambda _: None)
    return metrics, torch.load(root / f"{tag}.pt", weights_only=True), pd.read_csv(root / f"{tag}.csv")


def test_training_writes_history_and_checkpoint_and_is_deterministic(splits):
    metrics, checkpoint, history = run(splits, "a", epochs=2, augment=True)
    _, again, history_again = run(splits, "b", epochs=2, augment=True)
    assert list(history.columns) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"]
    assert checkpoint["data_sha256"]["train"] == sha256(splits / "train.pt")
    assert list(history["epoch"]) == [1, 2]
    assert checkpoint["model"] == "net" and checkpoint["epochs"] == 2 and checkpoint["config"]["augment"] is True
    assert checkpoint["metrics"] == metrics and metrics["test_acc"] == history["test_acc"].iloc[-1]
    for key, tensor in checkpoint["state_dict"].items():
        assert torch.equal(tensor, again["state_dict"][key]), key
    pd.testing.assert_frame_equal(history.drop(columns="seconds"), history_again.drop(columns="seconds"))
    assert not (splits / "a-resume.pt").exists()  # the resume point goes once the run is complete
    _, other_seed, _ = run(splits, "c", epochs=2, augment=True, seed=1)
    assert not torch.equal(other_seed["state_dict"]["classifier.4.weight"], checkpoint["state_dict"]["classifier.4.weight"])


def test_training_lowers_the_loss_on_a_learnable_problem(splits):
    _, _, history = run(splits, "learn", model="resnet20", epochs=4, lr=3e-3)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_lr_schedules():
    step = lr_factor({"type": "multistep", "milestones": [2, 3], "gamma": 0.1, "unit": "epoch"}, 10, 50)
    assert [step(s) for s in (0, 19, 20, 29, 30)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    by_iteration = lr_factor({"type": "multistep", "milestones": [5], "gamma": 0.5, "unit": "iteration"}, 10, 50)
    assert (by_iteration(4), by_iteration(5)) == (1, 0.5)
    cosine = lr_factor({"type": "cosine"}, 10, 100)
    assert (cosine(0), cosine(50), cosine(100)) == pytest.approx((1, 0.5, 0))


def test_warm_up_then_linear_or_cosine_decay_to_zero():
    linear = lr_factor({"type": "linear", "warmup": 2}, 10, 100)  # 20 warm-up steps, then 80 of decay
    assert [linear(s) for s in (0, 9, 19)] == pytest.approx([1 / 20, 10 / 20, 1])
    assert [linear(s) for s in (20, 60, 99, 100)] == pytest.approx([1, 0.5, 1 / 80, 0])
    cosine = lr_factor({"type": "cosine", "warmup": 0.5}, 10, 45)  # 5 steps up, 40 down
    assert (cosine(4), cosine(5), cosine(25), cosine(45)) == pytest.approx((1, 1, 0.5, 0))
    constant = lr_factor({"type": "none", "warmup": 1}, 4, 40)
    assert [constant(s) for s in (0, 3, 4, 39)] == pytest.approx([0.25, 1, 1, 1])
    # without warm-up the schedules are the ones of earlier versions, bit for bit
    assert [lr_factor({"type": "cosine", "warmup": 0}, 7, 93)(s) for s in range(94)] == [
        0.5 * (1.0 + math.cos(math.pi * min(s, 93) / 93)) for s in range(94)]


def test_label_smoothing_trains_on_the_smoothed_loss_and_reports_plain_cross_entropy(splits):
    from lossland.config import relevant_settings
    from lossland.data import load_split, normalizer
    from lossland.models import build
    from lossland.train import make_optimizer, train_epoch

    data, cpu = load_split(splits / "train.pt"), torch.device("cpu")
    settings = {**SETTINGS, "optimizer": "sgd", "lr": 0.0, "batch_size": len(data), "label_smoothing": 0.3}
    prepare = normalizer(settings, cpu)
    torch.manual_seed(0)
    model = build("resnet20", settings, {"classes": 10, "channels": 3, "size": [32, 32]})
    loss, _, _ = train_epoch(model, make_optimizer(settings, model.parameters()), data, settings, prepare, 1, 0,
                             lambda step: 1.0)  # lr 0: the weights stay, one batch of all images in train mode
    logits = model.train()(prepare(data.images))
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.labels).item(), rel=1e-5)
    smoothed = torch.nn.functional.cross_entropy(logits, data.labels, label_smoothing=0.3).item()
    assert smoothed != pytest.approx(loss, rel=1e-3)  # what it trained on differs from what it reports
    _, smooth, _ = run(splits, "smooth", optimizer="sgd", lr=0.05, label_smoothing=0.2)
    _, plain, _ = run(splits, "plain", optimizer="sgd", lr=0.05)
    assert smooth["config"]["label_smoothing"] == 0.2
    assert not torch.equal(smooth["state_dict"]["classifier.4.weight"], plain["state_dict"]["classifier.4.weight"])
    # at 0 it is left out of the settings: the jobs and checkpoints of configs without the key stay as they were
    assert "label_smoothing" not in relevant_settings("resnet20", {**SETTINGS, "label_smoothing": 0.0})
    assert relevant_settings("resnet20", {**SETTINGS, "label_smoothing": 0.1})["label_smoothing"] == 0.1


def test_precision_auto_is_bf16_where_the_hardware_runs_it_fast(splits, monkeypatch):
    from lossland import device as devices

    cpu = torch.device("cpu")
    for fast in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda fast=fast: fast)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert devices.resolve_precision("auto", cpu) == ("bf16" if fast else "fp32")
        assert devices.resolve_precision("fp32", cpu) == "fp32" and devices.resolve_precision("bf16", cpu) == "bf16"
        _, checkpoint, _ = run(splits, f"auto{fast}", model="resnet20", precision="auto")
        assert checkpoint["config"]["precision"] == ("bf16" if fast else "fp32")  # what ran, not "auto"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)  # AMX alone (Sapphire Rapids' kind)
    assert devices.resolve_precision("auto", cpu) == "bf16"
    assert devices.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_sgd_with_nesterov_and_schedule_trains(splits):
    _, checkpoint, history = run(splits, "sgd", optimizer="sgd", lr=0.05, nesterov=True, epochs=2, batch_size=32,
                                 schedule={"type": "multistep", "milestones": [1], "gamma": 0.1, "unit": "epoch"})
    assert history["lr"].tolist() == pytest.approx([0.05, 0.005])


def test_corrupt_or_foreign_checkpoints_are_refused_with_the_file_named(splits):
    _, checkpoint, _ = run(splits, "good")
    good = (splits / "good.pt").read_bytes()
    (splits / "truncated.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match=f"checkpoint {splits / 'truncated.pt'} is unreadable .*delete it and rerun"):
        load_checkpoint(str(splits / "truncated.pt"), torch.device("cpu"))
    variant = {"shortcut": "subsample", "conv_bias": False}
    save_torch({**checkpoint, "model": "resnet20", "config": {**checkpoint["config"], **variant}}, splits / "foreign.pt")
    with pytest.raises(UserError, match=r"does not hold the resnet20 \(shortcut=subsample, conv_bias=False\) it .*rerun"):
        load_checkpoint(str(splits / "foreign.pt"), torch.device("cpu"))


def test_checkpoint_records_the_variant_and_refuses_another_variants_weights(splits):
    _, checkpoint, _ = run(splits, "projection", model="resnet20", shortcut="projection", conv_bias=True)
    assert checkpoint["config"]["shortcut"] == "projection" and checkpoint["config"]["conv_bias"] is True
    model, _ = load_checkpoint(str(splits / "projection.pt"), torch.device("cpu"))
    assert isinstance(model.layer2[0].shortcut, ShortcutB) and model.conv1.bias is not None
    assert all(torch.equal(model.state_dict()[k], v) for k, v in checkpoint["state_dict"].items())
    mixed = splits / "mixed.pt"
    save_torch({**checkpoint, "config": {**checkpoint["config"], "shortcut": "avgpool"}}, mixed)
    with pytest.raises(UserError) as error:
        load_checkpoint(str(mixed), torch.device("cpu"))
    assert str(error.value) == (f"checkpoint {mixed} does not hold the resnet20 (shortcut=avgpool, conv_bias=True) it "
                                "records (weights of another architecture or variant): delete it and rerun the workflow")
    _, defaulted, _ = run(splits, "defaulted", model="resnet20")  # settings without the keys: what it trained is recorded
    assert (defaulted["config"]["shortcut"], defaulted["config"]["conv_bias"]) == ("subsample", False)
    model, _ = load_checkpoint(str(splits / "defaulted.pt"), torch.device("cpu"))
    assert isinstance(model.layer2[0].shortcut, ShortcutA) and not model.layer2[0].shortcut.pool
    assert model.conv1.bias is None


@pytest.mark.parametrize("damage,message", [
    (lambda c: {**c, "config": {k: v for k, v in c["config"].items() if k != "shortcut"}},
     "does not record its variant key 'shortcut' (config.shortcut, e.g. shortcut: avgpool"),
    (lambda c: {**c, "config": {k: v for k, v in c["config"].items() if k != "conv_bias"}},
     "does not record its variant key 'conv_bias'"),
    (lambda c: {k: v for k, v in c.items() if k != "config"}, "does not record its training settings (the 'config' key"),
    (lambda c: {**c, "config": {k: v for k, v in c["config"].items() if k != "normalize"}},
     "does not record its training settings (the 'config' key with 'normalize')"),
    (lambda c: {**c, "model": "resnet21"}, "names the model 'resnet21', which is none of net, resnet20"),
], ids=["no-shortcut", "no-conv-bias", "no-config", "no-normalize", "unknown-model"])
def test_a_checkpoint_missing_what_defines_its_network_is_refused_in_one_line(splits, damage, message):
    """avgpool and subsample ResNets have identical state_dicts: a checkpoint without its variant used to load as
    subsample, silently evaluating another network."""
    checkpoint = torch.load(splits / "defaulted.pt", weights_only=True) if (splits / "defaulted.pt").exists() else \
        run(splits, "defaulted", model="resnet20")[1]
    path = splits / "damaged.pt"
    save_torch(damage(checkpoint), path)
    with pytest.raises(UserError) as error:
        load_checkpoint(str(path), torch.device("cpu"))
    assert str(error.value).startswith(f"checkpoint {path} ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_loss_that_turns_nan_stops_training_at_that_epoch(splits):
    with pytest.raises(UserError) as error:
        run(splits, "diverged", lr=1e30, epochs=3)
    assert str(error.value).startswith("net: the training loss became nan in epoch 1 (lr 1e+30)")
    assert "lower the lr" in str(error.value) and not (splits / "diverged.pt").exists()


def test_resume_against_other_data_starts_over(splits, tmp_path):
    """The resume point records the sha256 of the prepared data: other data means starting from epoch 1."""
    for name in ("train.pt", "test.pt"):
        (tmp_path / name).write_bytes((splits / name).read_bytes())
    args = dict(checkpoint_path=tmp_path / "m.pt", history_path=tmp_path / "h.csv", resume_path=tmp_path / "r.pt",
                device=torch.device("cpu"))

    class Stop(Exception):
        pass

    def stop_after_epoch_1(message):
        if "epoch 1/2" in message:
            raise Stop

    settings = {**SETTINGS, "epochs": 2}
    with pytest.raises(Stop):
        train_model("net", settings, tmp_path / "train.pt", tmp_path / "test.pt", **args, log=stop_after_epoch_1)
    assert (tmp_path / "r.pt").exists()
    save_torch(random_split(96, 9), tmp_path / "train.pt")  # other images under the same name
    lines = []
    train_model("net", settings, tmp_path / "train.pt", tmp_path / "test.pt", **args, log=lines.append)
    assert any("trained on other data" in line and "starting from epoch 1" in line for line in lines)
    assert not any(line.startswith("resuming") for line in lines)
    assert sum("epoch 1/2" in line for line in lines) == 1


def test_a_second_run_of_one_training_waits_for_the_first_and_gives_the_same_bits(splits, tmp_path):
    """Two runs of one training job (an orphan of a killed Snakemake and its rerun) share a resume point and
    snapshots: the second waits until the first has ended, then trains to the same checkpoint, leaving no scratch."""
    import threading

    from lossland.io import exclusive

    held, release = threading.Event(), threading.Event()

    def first_run():
        with exclusive(tmp_path / "run"):
            held.set()
            release.wait()

    thread = threading.Thread(target=first_run)
    thread.start()
    held.wait()
    threading.Timer(1.0, release.set).start()
    lines = []
    settings = {**SETTINGS, "epochs": 2, "snapshots": 1}
    train_model("net", settings, splits / "train.pt", splits / "test.pt", tmp_path / "run/model.pt",
                tmp_path / "run/history.csv", tmp_path / "run/resume.pt", torch.device("cpu"),
                log=lambda line: lines.append((release.is_set(), line)), snapshots_path=tmp_path / "run/snapshots.pt")
    thread.join()
    assert lines[0][0] is False and "another run of this job holds" in lines[0][1] and "waiting" in lines[0][1]
    assert all(released for released, _ in lines[1:]) and len(lines) == 3  # it trained only once the first had ended
    alone = train_model("net", settings, splits / "train.pt", splits / "test.pt", tmp_path / "alone.pt",
                        tmp_path / "alone.csv", tmp_path / "alone/resume.pt", torch.device("cpu"), log=lambda _: None,
                        snapshots_path=tmp_path / "alone/snapshots.pt")
    waited, clean = (torch.load(tmp_path / path, weights_only=True) for path in ("run/model.pt", "alone.pt"))
    assert waited["metrics"] == alone and all(torch.equal(waited["state_dict"][k], v) for k, v in clean["state_dict"].items())
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock", "history.csv", "model.pt", "snapshots.pt"]


def test_snapshots_without_a_file_for_them_stop_before_training(splits, tmp_path):
    lines = []
    with pytest.raises(UserError, match="keeps weight snapshots .snapshots: 1. but its job names no file for them"):
        train_model("net", {**SETTINGS, "snapshots": 1}, splits / "train.pt", splits / "test.pt", tmp_path / "m.pt",
                    tmp_path / "h.csv", tmp_path / "r.pt", torch.device("cpu"), log=lines.append)
    assert lines == [] and not (tmp_path / "r.pt").exists()


def test_bf16_training_runs_records_its_settings_and_repeats_bit_for_bit(splits):
    _, checkpoint, history = run(splits, "bf16", model="resnet20", precision="bf16")
    assert checkpoint["config"]["precision"] == "bf16" and history["train_loss"].notna().all()
    _, again, history_again = run(splits, "bf16-again", model="resnet20", precision="bf16")
    _, fp32, _ = run(splits, "fp32", model="resnet20")
    for key, tensor in checkpoint["state_dict"].items():
        assert torch.equal(tensor, again["state_dict"][key]), key  # the same config gives the same bits, bf16 too
    pd.testing.assert_frame_equal(history.drop(columns="seconds"), history_again.drop(columns="seconds"))
    assert not torch.equal(checkpoint["state_dict"]["linear.weight"], fp32["state_dict"]["linear.weight"])


def test_fp32_means_fp32_and_gpu_runs_are_set_up_to_repeat(monkeypatch):
    from lossland.device import reproducible_numerics

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.utils.deterministic.fill_uninitialized_memory)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's own default
    try:
        reproducible_numerics(torch.device("cpu"))
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert not torch.are_deterministic_algorithms_enabled()  # CPU kernels need no switch (and no NaN fills)
        reproducible_numerics(torch.device("cuda"))  # only sets flags: no GPU needed
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert not torch.utils.deterministic.fill_uninitialized_memory
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(False)
        (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
         torch.utils.deterministic.fill_uninitialized_memory) = saved


def test_device_choice_prefers_cuda_then_mps_then_cpu(monkeypatch, tmp_path):
    from lossland import device, gpus
    from lossland.evaluate import batch_size_for

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "mps_available", lambda: False)
    assert device.select_device("auto").type == "cpu"
    with pytest.raises(UserError, match=r"^device = mps but no Apple-silicon GPU \(MPS\) is available"):
        device.select_device("mps")
    monkeypatch.setattr(device, "mps_available", lambda: True)  # an Apple-silicon laptop, as far as we can tell here
    assert device.select_device("auto").type == "mps" and device.select_device("mps").type == "mps"
    assert batch_size_for(torch.device("mps")) == 1024
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(uuid="test"))
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)
    monkeypatch.setenv(gpus.LOCK_DIR_ENV, str(tmp_path))
    try:
        assert device.select_device("auto") == torch.device("cuda", 0)
    finally:
        gpus.release_all()
        torch.use_deterministic_algorithms(False)
