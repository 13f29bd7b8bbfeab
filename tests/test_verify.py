"""`cnnspec verify`: the table, the verdict, the flags, the JSON, and that a mismatch is caught.

Most runs go through cli.main in-process (a process start imports torch and TensorFlow, seconds
on this machine); one runs `python -m cnnspec verify` as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec import runtime
from cnnspec.cli import main
from cnnspec.verify import verify_network

pytest.importorskip("torch")
pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]
LENET = str(ROOT / "specs" / "lenet5.cnn")
SMALL = "network Small\ninput 6x6x2\nc: conv 3 3x3 pad=same -> tanh\np: avgpool 2x2\nf: flatten\nd: dense 4\n"


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def small(tmp_path) -> str:
    path = tmp_path / "small.cnn"
    path.write_text(SMALL)
    return str(path)


def perturb(monkeypatch, target: str, layer: str, amount: float) -> None:
    """Make one backend's output of one layer differ by `amount` (later layers untouched)."""
    real = runtime.run_layers

    def run_layers(model, t, network, x):
        outputs = real(model, t, network, x)
        if t == target:
            outputs[layer] = outputs[layer] + amount
        return outputs

    monkeypatch.setattr(runtime, "run_layers", run_layers)


def test_lenet5_as_a_process_prints_the_table_and_ok():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "cnnspec", "verify", "specs/lenet5.cnn"], cwd=ROOT,
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["Layer", "Output", "shape", "numpy", "vs", "torch", "numpy", "vs",
                                "keras", "torch", "vs", "keras"]
    rows = {line.split()[0]: line.split() for line in lines[2:-1]}
    assert list(rows) == [n.name for n in cnnspec.load(LENET).layers]
    assert rows["c1"][1] == "28x28x6" and rows["flatten_1"][1] == "400"
    assert all(float(v) <= 1e-12 for row in rows.values() for v in row[2:])
    assert lines[-1].startswith("OK: numpy, torch, keras agree on all 8 layers (float64, tolerance 1e-10")
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr  # a quiet success


def test_two_targets_give_one_column(capsys):
    code, out, _ = run(capsys, LENET, "--targets", "numpy,torch")
    assert code == 0
    assert "numpy vs torch" in out and "keras" not in out.splitlines()[0]
    assert "OK: numpy, torch agree" in out


def test_float32_uses_its_tolerance(capsys, small):
    code, out, _ = run(capsys, small, "--dtype", "float32", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["dtype"] == "float32"
    worst = max(d["max_abs_diff"] for d in data["layers"])
    assert 0 < worst < 1e-5  # float32 rounding shows, well inside its tolerance
    assert all(d["tolerance"] >= 1e-5 for d in data["layers"])


def test_batch_and_seed_reach_the_input(capsys, monkeypatch, small):
    seen = []
    real = runtime.run_layers

    def run_layers(model, target, network, x):
        seen.append((target, np.array(x)))
        return real(model, target, network, x)

    monkeypatch.setattr(runtime, "run_layers", run_layers)
    code, _, _ = run(capsys, small, "--batch", "5", "--seed", "7", "--targets", "numpy,torch")
    assert code == 0
    expected = np.random.default_rng(7).standard_normal((5, 6, 6, 2))
    assert [t for t, _ in seen] == ["numpy", "torch"]
    for _, x in seen:
        np.testing.assert_array_equal(x, expected)


def test_json_keys(capsys, small):
    code, out, _ = run(capsys, small, "--format", "json", "--targets", "numpy,keras")
    data = json.loads(out)
    assert code == 0
    assert set(data) >= {"file", "network", "dtype", "ok", "missing", "layers", "argmax_equal"}
    assert data["network"] == "Small" and data["file"].endswith("small.cnn")
    assert data["missing"] == {} and data["argmax_equal"] == {"numpy/keras": True}
    assert [d["layer"] for d in data["layers"]] == ["c", "p", "f", "d"]
    assert set(data["layers"][0]) == {"layer", "pair", "max_abs_diff", "tolerance", "ok"}
    assert data["layers"][0]["pair"] == ["numpy", "keras"]


@pytest.mark.parametrize("amount, ok", [(1e-6, False), (1e-9, False), (1e-12, True)])
def test_a_perturbation_is_caught_at_its_layer(monkeypatch, amount, ok):
    net = cnnspec.load(LENET)
    perturb(monkeypatch, "torch", "c3", amount)
    report = verify_network(net, ["numpy", "torch"], dtype="float64")
    assert report.ok is ok
    if not ok:  # sigmoid outputs: max|a| <= 1, so the tolerance is exactly 1e-10
        first = report.first_divergence()
        assert (first.layer, first.pair) == ("c3", ("numpy", "torch"))
        assert first.max_abs == pytest.approx(amount, rel=1e-3)
        assert [d.layer for d in report.diffs if not d.ok] == ["c3"]
    else:
        assert report.first_divergence() is None


def test_a_mismatch_exits_1_and_names_the_layer(capsys, monkeypatch):
    perturb(monkeypatch, "keras", "f5", 1e-6)
    code, out, _ = run(capsys, LENET, "--targets", "numpy,torch,keras")
    assert code == 1
    assert "MISMATCH: first divergence at layer 'f5' (numpy vs keras)" in out
    row = next(line for line in out.splitlines() if line.startswith("f5 "))
    assert row.count("FAIL") == 2  # numpy vs keras and torch vs keras; numpy vs torch agree


def test_a_changed_prediction_is_reported(capsys, monkeypatch, small):
    real = runtime.run_layers

    def run_layers(model, target, network, x):
        outputs = real(model, target, network, x)
        if target == "torch":
            outputs["d"] = outputs["d"][:, ::-1].copy()
        return outputs

    monkeypatch.setattr(runtime, "run_layers", run_layers)
    code, out, _ = run(capsys, small, "--targets", "numpy,torch")
    assert code == 1
    assert "numpy and torch predict different classes" in out


def test_a_missing_backend_is_reported_and_fails(capsys, monkeypatch, small):
    real = runtime.missing_backend
    monkeypatch.setattr(runtime, "missing_backend", lambda t: "keras is not installed (pip install "
                        "'cnnspec[keras]')" if t == "keras" else real(t))
    code, out, _ = run(capsys, small)
    assert code == 1
    assert "keras: not run: keras is not installed" in out
    assert "numpy vs torch" in out and "keras" not in out.splitlines()[0]
    code, out, _ = run(capsys, small, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and "keras" in data["missing"]
    code, out, _ = run(capsys, small, "--targets", "numpy,keras")
    assert code == 1 and "verify needs at least two backends" in out


@pytest.mark.parametrize("args, says", [
    (["--targets", "numpy,tensorflow"], "bad --targets: tensorflow; choose from numpy, torch, keras"),
    (["--targets", ","], "bad --targets: ','"),
    (["--batch", "0"], "got --batch 0"),
    (["--seed", "-1"], "--seed -1"),
])
def test_bad_usage_exits_2(capsys, small, args, says):
    code, _, err = run(capsys, small, *args)
    assert code == 2
    assert err.startswith("cnnspec: error:") and says in err


def test_a_bad_dtype_is_refused_by_argparse(capsys, small):
    with pytest.raises(SystemExit) as exc:
        main(["verify", small, "--dtype", "float8"])
    assert exc.value.code == 2 and "invalid choice: 'float8'" in capsys.readouterr().err


def test_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope.cnn"))
    assert code == 2 and "cannot read" in err


def test_a_spec_with_errors_exits_1_with_diagnostics(capsys, tmp_path):
    path = tmp_path / "bad.cnn"
    path.write_text("network Bad\ninput 5x5x3\nc: conv 4 3x3 -> swsh\nc: dense 3\n")
    code, out, err = run(capsys, str(path))
    assert code == 1 and out == ""
    assert "bad.cnn:3:15: error[E101]: unknown activation 'swsh'" in err
    assert "bad.cnn:4:1: error[E201]" in err  # every error, not the first only


def test_verify_in_a_stage(capsys):
    code, out, _ = run(capsys, str(ROOT / "specs" / "transfer_finetune.cnn"), "--stage", "finetune",
                       "--targets", "numpy,torch")
    assert code == 0 and out.splitlines()[-1].startswith("OK")
    code, _, err = run(capsys, str(ROOT / "specs" / "transfer_finetune.cnn"), "--stage", "nope")
    assert code == 2 and "no stage named 'nope'" in err


def test_a_missing_weight_file_is_an_unreadable_file(capsys, small, tmp_path):
    code, _out, err = run(capsys, small, "--weights", str(tmp_path / "none.safetensors"))
    assert code == 2 and "cannot read weight file" in err


def test_argmax_ties_within_tolerance_are_not_a_changed_prediction():
    from cnnspec.verify import argmax_gap, max_abs, same_prediction

    def same(a, b):
        return same_prediction(argmax_gap(a, b), max_abs(a), 1e-10)
    assert same(np.array([[0.5, 0.5 + 1e-13, 0.1]]), np.array([[0.5 + 1e-13, 0.5, 0.1]]))
    assert not same(np.array([[0.2, 0.7, 0.1]]), np.array([[0.7, 0.2, 0.1]]))
