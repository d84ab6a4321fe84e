"""benchmarks/compare_results.py: equal numbers pass, one flipped bit anywhere fails, volatile keys are ignored."""

import json
import sys

import numpy as np
import torch
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from compare_results import compare  # noqa: E402


def tree(root, loss: float = 0.5, seconds: float = 1.0, provenance: str = "a", tensor_value: float = 1.0):
    (root / "landscape").mkdir(parents=True)
    np.savez(root / "landscape" / "surface.npz", loss=np.array([[loss, np.nan]]), x=np.arange(2.0))
    (root / "landscape" / "0.csv").write_text(f"# {json.dumps({'spec': provenance})}\nindex,loss\n0,{loss!r}\n")
    (root / "history.csv").write_text(f"epoch,train_loss,seconds\n1,{loss!r},{seconds}\n")
    (root / "hessian.json").write_text(json.dumps({"lambda_max": [loss, 2.0], "seconds": seconds,
                                                   "versions": {"torch": provenance}}))
    torch.save({"state_dict": {"w": torch.tensor([tensor_value, float("nan")])}, "epochs": 1}, root / "model.pt")
    (root / "logs").mkdir()
    (root / "logs" / "x.csv").write_text(f"a\n{seconds}\n")
    return root


def test_equal_numbers_pass_whatever_the_times_versions_and_provenance_lines(tmp_path, capsys):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b", seconds=9.0, provenance="b")
    assert compare(a, b) == (5, 0)
    assert capsys.readouterr().out.strip().endswith("5 files compared, 0 differ")


def test_one_bit_anywhere_is_a_difference(tmp_path, capsys):
    a = tree(tmp_path / "a")
    nudged = float(np.nextafter(0.5, 1.0))
    assert compare(a, tree(tmp_path / "b", loss=nudged)) == (5, 4)
    assert compare(a, tree(tmp_path / "c", tensor_value=float(np.nextafter(np.float32(1), np.float32(2))))) == (5, 1)
    out = capsys.readouterr().out
    assert "differs: model.pt: /state_dict/w" in out and "differs: landscape/surface.npz: loss" in out


def test_missing_files_and_json_layouts(tmp_path, capsys):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    (b / "model.pt").unlink()
    (b / "hessian.json").write_text(json.dumps({"lambda_max": [0.5, 2.0], "spec": {"tol": 0.01}}))
    assert compare(a, b) == (4, 1)  # model.pt only in a; the new key is a layout change
    assert compare(a, b, common=True, strict=True) == (4, 1)  # ... which --strict counts
    out = capsys.readouterr().out
    assert f"only in {a}: model.pt" in out and "keys in one file only: /spec/tol" in out
