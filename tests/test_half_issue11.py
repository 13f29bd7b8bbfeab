"""Issue 11: half precision. build(..., dtype="float16"|"bfloat16") for PyTorch and Keras (NumPy:
float16 only), clear errors where a backend cannot, and `verify --dtype` against NumPy's float32
reference on the rounded weights and input, at rtol 5 u sqrt(depth) (cnnspec.precision,
docs/semantics.md "Half precision"). Every kind of tests/backend_cases.py is checked in both
dtypes on both frameworks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from backend_cases import CASES

import cnnspec
from cnnspec import precision
from cnnspec.cli import main
from cnnspec.verify import verify_network

torch = pytest.importorskip("torch")  # conftest: in CI a skip is a failure
pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")

LENET = "specs/lenet5.cnn"
GRAPH = "tests/fixtures/deploy_graph.cnn"
HALF = ("float16", "bfloat16")
# float16's largest number is 65504: the normalize case divides by eps = 1e-7 where a variance
# is 0, giving ~1e7, which overflows to inf (the float32 reference is finite): verify says so
OVERFLOWS = {("normalize", "float16")}


@pytest.mark.parametrize("dtype", HALF)
def test_torch_and_keras_build_in_the_half_dtype(dtype):
    import keras
    net = cnnspec.load(LENET)
    model = cnnspec.build(net, "torch", dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {getattr(torch, dtype)}
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 28, 28, dtype=getattr(torch, dtype))).dtype == getattr(torch, dtype)
    kmodel = cnnspec.build(net, "keras", dtype=dtype)
    assert {w.dtype for w in kmodel.weights} == {dtype}
    assert str(keras.ops.convert_to_numpy(kmodel(np.zeros((1, 28, 28, 1)))).dtype) == dtype


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_kind_runs_in_half_precision_on_both_frameworks(kind, dtype):
    report = verify_network(CASES[kind](), ["numpy", "torch", "keras"], dtype, seed=1)
    assert {d.pair for d in report.diffs} == {("numpy", "torch"), ("numpy", "keras")}
    if (kind, dtype) in OVERFLOWS:
        worst = report.first_divergence()
        assert not report.ok and worst.max_abs == float("inf") and worst.layer == "n"
        return
    assert report.ok, report.first_divergence()
    # not vacuous: half precision is visibly less exact than float32
    assert max(d.max_abs for d in report.diffs) > 2 * precision.UNIT_ROUNDOFF["float32"] * 10


def test_numpy_has_float16_but_no_bfloat16():
    net = cnnspec.load(LENET)
    with pytest.raises(ValueError, match=r"the numpy backend cannot build in bfloat16 \(NumPy has "
                       r"no bfloat16 type\); it supports float64, float32, float16"):
        cnnspec.build(net, "numpy", dtype="bfloat16")
    model = cnnspec.build(net, "numpy", dtype="float16")
    assert model(np.zeros((1, 28, 28, 1), dtype=np.float16)).dtype == np.float16


@pytest.mark.parametrize("target", ["numpy", "torch", "keras"])
def test_an_unknown_dtype_is_a_value_error_not_a_key_error(target):
    with pytest.raises(ValueError, match="unknown dtype 'float8'; choose one of float64, float32, "
                       "float16, bfloat16"):
        cnnspec.build(cnnspec.load(LENET), target, dtype="float8")


def test_rounding_to_bfloat16_is_torchs():
    x = np.random.default_rng(0).standard_normal(10000).astype(np.float32) * 100
    x[:3] = [1.00390625, 1.01171875, -1.00390625]  # ties: to even
    mine = precision.round_to(x, "bfloat16")
    assert np.array_equal(mine, torch.from_numpy(x).bfloat16().float().numpy())
    assert list(mine[:3]) == [1.0, 1.015625, -1.0]


def test_the_tolerance_grows_with_depth_from_the_unit_roundoff():
    assert precision.half_rtol("bfloat16", 1) == 5 * 2.0 ** -8
    assert precision.half_rtol("float16", 16) == 4 * 5 * 2.0 ** -11
    net = cnnspec.load(GRAPH)
    depth = precision.depths(net)
    # a block's shortcut add is one deeper than its longer branch
    assert depth["layer1.0.out"] == 1 + max(depth["layer1.0.bn2"], depth["stem"])
    assert depth["fc"] == max(depth.values())


@pytest.mark.parametrize("spec", [LENET, GRAPH])
def test_verify_bfloat16_passes(spec, capsys):
    assert main(["verify", spec, "--dtype", "bfloat16", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["dtype"] == "bfloat16"
    pairs = {tuple(layer["pair"]) for layer in report["layers"]}
    assert pairs == {("numpy", "torch"), ("numpy", "keras")}


def test_verify_bfloat16_fails_on_a_sabotaged_weight(monkeypatch, capsys):
    """c1's torch kernel 20% off is caught at c1 (depth 1: tolerance 5 u = 2% of the output
    scale). bfloat16 has 8 significant bits: a 10% error deeper down (f5, under sigmoids) stays
    within what its rounding explains, and verify cannot tell it from rounding."""
    from cnnspec import runtime
    build = runtime.build_model

    def sabotaged(network, target, *args, **kwargs):
        model = build(network, target, *args, **kwargs)
        if target == "torch":
            with torch.no_grad():
                model.c1.weight.mul_(1.2)
        return model
    monkeypatch.setattr(runtime, "build_model", sabotaged)
    assert main(["verify", LENET, "--dtype", "bfloat16", "--targets", "torch"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: first divergence at layer 'c1' (numpy vs torch)" in out


def test_verify_names_the_reference_and_the_tolerance(capsys):
    assert main(["verify", LENET, "--dtype", "float16", "--targets", "torch"]) == 0
    verdict = capsys.readouterr().out.strip().splitlines()[-1]
    assert verdict.startswith("OK: numpy, torch agree on all 8 layers (float16, tolerance 5u "
                              "sqrt(depth) x max(1, max|a|), u = 2^-11, against NumPy in float32 "
                              "on float16-rounded weights and input)")
