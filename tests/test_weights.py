"""Portable weights: the safetensors file, validation messages, deterministic initialisation,
`cnnspec verify --weights`, and weights that travel from a trained PyTorch model to Keras."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec.cli import main
from cnnspec.weights import (
    WeightError,
    expected_shapes,
    init_weights,
    load_file,
    resolve,
    save_file,
    validate,
)


def problems(net, params) -> str:
    with pytest.raises(WeightError) as err:
        validate(net, params)
    return str(err.value)


# --- the file ---

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_round_trip(net, tmp_path, dtype):
    params = init_weights(net, seed=3, dtype=dtype)
    path = tmp_path / "w.safetensors"
    save_file(params, path)
    back = load_file(path)
    assert sorted(back) == sorted(params)
    for key, value in params.items():
        assert back[key].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temporary file left


def test_the_file_is_safetensors_not_pickle(net, tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(init_weights(net), path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])  # safetensors: 8-byte header length, JSON header, data
    header = json.loads(raw[8:8 + size])
    assert header["c1.kernel"] == {"dtype": "F32", "shape": [3, 3, 2, 4],
                                   "data_offsets": header["c1.kernel"]["data_offsets"]}
    assert header["d1.kernel"]["shape"] == [24, 5]  # 3x2x4 flattened
    assert set(header) - {"__metadata__"} == set(expected_shapes(net))
    assert raw[:1] != b"\x80"  # not a pickle stream


def test_a_failed_save_leaves_the_old_file(net, tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(init_weights(net, seed=1), path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error for an unsavable value
        save_file({"c1.kernel": np.zeros((2, 2), dtype=object)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


class Exploit:
    """Unpickling this would create a file: proof that a loader used pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("content", ["random", "pickle", "empty", "json", "truncated"])
def test_a_file_that_is_not_safetensors_is_refused(net, tmp_path, content):
    path, marker = tmp_path / "w.safetensors", tmp_path / "pwned"
    good = tmp_path / "good.safetensors"
    save_file(init_weights(net), good)
    path.write_bytes({
        "random": np.random.default_rng(0).bytes(512),
        "pickle": pickle.dumps({"c1.kernel": Exploit(marker)}),
        "empty": b"",
        "json": b'{"c1.kernel": [1, 2, 3]}',
        "truncated": good.read_bytes()[:200],
    }[content])
    with pytest.raises(WeightError, match=r"cannot read weight file .*w\.safetensors: "):
        load_file(path)
    assert not marker.exists()


def test_missing_file_and_directory_are_refused(tmp_path):
    for path in (tmp_path / "nope.safetensors", tmp_path):
        with pytest.raises(WeightError, match="cannot read weight file"):
            load_file(path)


def test_bfloat16_is_refused(net, tmp_path):
    """NumPy alone cannot read bfloat16 (the file is refused); once ml_dtypes is imported (by
    TensorFlow) it can, and validation refuses the dtype. Either way: a WeightError, no traceback."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as torch_save
    path = tmp_path / "bf16.safetensors"
    tensors = {k: torch.zeros(v.shape, dtype=torch.bfloat16) for k, v in init_weights(net).items()}
    torch_save(tensors, str(path))
    with pytest.raises(WeightError, match="bfloat16.*(float32 or float64)"):
        resolve(net, str(path))


# --- validation messages ---

def test_missing_tensor_names_the_layer_and_shape(net):
    params = init_weights(net)
    del params["bn.moving_variance"]
    assert problems(net, params) == ("missing tensor 'bn.moving_variance' (layer 'bn', expected "
                                     "shape (4,))")


def test_extra_tensor_is_named(net):
    params = {**init_weights(net), "out.bias": np.zeros(3, np.float32)}
    assert problems(net, params) == ("unexpected tensor 'out.bias': the network has no such layer "
                                     "weight")


def test_wrong_shape_names_the_layer_and_both_shapes(net):
    params = init_weights(net)
    params["c1.kernel"] = np.zeros((4, 2, 3, 3), np.float32)  # PyTorch's layout, not the portable one
    assert problems(net, params) == ("tensor 'c1.kernel' of layer 'c1' has shape (4, 2, 3, 3), but "
                                     "the spec needs (3, 3, 2, 4)")


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, bool, np.complex64])
def test_non_float_dtypes_are_refused(net, dtype):
    params = init_weights(net)
    params["d1.bias"] = np.zeros(5, dtype)
    assert problems(net, params) == (f"tensor 'd1.bias' of layer 'd1' has dtype {np.dtype(dtype)}; "
                                     "weights must be floating point (float32 or float64)")


def test_every_problem_is_reported_at_once(net):
    params = init_weights(net)
    del params["c1.bias"]
    params["d1.kernel"] = np.zeros((5, 24), np.float32)
    params["extra.kernel"] = np.zeros(1, np.float32)
    message = problems(net, params)
    assert "'c1.bias'" in message and "(5, 24), but the spec needs (24, 5)" in message
    assert "'extra.kernel'" in message and len(message.splitlines()) == 3  # one problem a line


def test_validate_casts_to_the_requested_dtype(net):
    params = init_weights(net, dtype="float32")  # float16 is refused (test_weights_issue7.py)
    out = validate(net, params, "float64")
    assert all(v.dtype == np.float64 for v in out.values())


# --- deterministic initialisation ---

def test_init_is_deterministic_per_seed(net):
    a, b, c = init_weights(net, 5), init_weights(net, 5), init_weights(net, 6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert all(not np.array_equal(a[k], c[k]) for k in a)
    assert {k: v.shape for k, v in a.items()} == expected_shapes(net)


def test_init_ranges(net):
    w = init_weights(net, 0, "float64")
    assert w["c1.kernel"].dtype == np.float64
    limit = np.sqrt(6 / (3 * 3 * 2 + 3 * 3 * 4))  # Glorot uniform: fan_in 18, fan_out 36
    assert np.abs(w["c1.kernel"]).max() <= limit and np.abs(w["c1.kernel"]).max() > limit / 2
    assert (w["bn.moving_variance"] > 0).all() and (w["bn.gamma"] > 0).all()


# --- cnnspec verify --weights ---

def test_verify_with_a_good_weight_file(capsys, net, spec_file, tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(init_weights(net, seed=11), path)
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("OK: numpy, torch agree")


@pytest.mark.parametrize("damage, says", [
    (lambda p: p.pop("bn.gamma"), "missing tensor 'bn.gamma' (layer 'bn', expected shape (4,))"),
    (lambda p: p.update({"out.kernel": np.zeros((3, 5), np.float32)}),
     "tensor 'out.kernel' of layer 'out' has shape (3, 5), but the spec needs (5, 3)"),
    (lambda p: p.update({"c1.bias": np.zeros(4, np.int32)}), "has dtype int32"),
])
def test_verify_with_a_bad_weight_file_exits_1(capsys, net, spec_file, tmp_path, damage, says):
    params = init_weights(net)
    damage(params)
    path = tmp_path / "w.safetensors"
    save_file(params, path)
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"{path}: error: ") and says in err


@pytest.mark.parametrize("content", [b"not a weight file at all", pickle.dumps({"c1.kernel": [1.0]})])
def test_verify_refuses_a_file_that_is_not_safetensors(capsys, spec_file, tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot read weight file {path}: " in err and "Traceback" not in err


# --- weights travel between frameworks ---

def test_weights_trained_in_torch_run_the_same_in_keras(net, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    start = init_weights(net, seed=2, dtype="float64")
    model = cnnspec.build(net, "torch", weights=start, dtype="float64")
    train_a_little(torch, model)
    trained = model.cnnspec_module.to_portable(model)
    for key in ("c1.kernel", "d1.kernel", "bn.moving_mean", "bn.moving_variance", "out.kernel"):
        assert not np.allclose(trained[key], start[key]), key  # training moved them all
    path = tmp_path / "trained.safetensors"
    save_file(trained, path)

    keras_model = cnnspec.build(net, "keras", weights=str(path), dtype="float64")
    x = np.random.default_rng(4).standard_normal((3, 6, 5, 2))
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(keras_model(x, training=False))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * max(1, np.abs(want).max()))
    back = keras_model.cnnspec_module.to_portable(keras_model)  # and back out of Keras, unchanged
    assert all(np.array_equal(back[k], trained[k]) for k in trained)


def train_a_little(torch, model) -> None:
    """A few SGD steps in training mode: weights and batch-norm running statistics all change."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((8, 2, 6, 5)))
    y = torch.from_numpy(rng.integers(0, 3, 8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
