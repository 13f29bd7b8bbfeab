"""Issue 7, verify and weights: weight files are checked from their header before any data is
read (and only the tensors the spec uses are read), non-finite, float16 and non-regular weights
are refused with a clear message, WeightError lists one problem a line, and verify refuses
duplicate targets and absurd batches and runs large ones in chunks with the same verdict."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_SPEC

import cnnspec
from cnnspec import runtime
from cnnspec import weight_file as WF
from cnnspec import weights as W
from cnnspec.cli import main
from cnnspec.verify import compare, verify_network
from cnnspec.verify_batches import (
    CHUNK_BYTES,
    MAX_BATCH,
    SAMPLE_LIMIT,
    BatchError,
    plan_chunks,
    sample_bytes,
)

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def write_raw(path: Path, header: dict, data: bytes = b"", length: int | None = None) -> Path:
    """A safetensors file written by hand: 8-byte little-endian header length, JSON, data."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def entry(dtype: str, shape: list[int], begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def refusal(call) -> WF.WeightError:
    with pytest.raises(W.WeightError) as err:
        call()
    return err.value


# --- the header is checked against the file before anything is read ---

def test_a_header_declaring_a_3_gb_tensor_in_a_tiny_file_is_refused(net, tmp_path):
    path = write_raw(tmp_path / "big.safetensors",
                     {"c1.kernel": entry("F32", [750_000_000], 0, 3_000_000_000)}, b"\0" * 16)
    tracemalloc.start()
    try:
        for call in (lambda: W.load_file(path), lambda: W.resolve(net, path)):
            err = refusal(call)
            assert err.problems == [
                (f"cannot read weight file {path}: tensor 'c1.kernel' declares bytes "
                "0..3,000,000,000 of the data, but the file holds only 16 bytes of tensor data")]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # nothing near 3 GB was allocated


@pytest.mark.parametrize("key", ["conv1.kernel", "unused.huge"])
def test_a_real_3_gb_tensor_is_checked_from_the_header_and_never_read(transfer_file, tmp_path, key):
    """A sparse 3 GB file whose header is valid: the spec-checked loader reads nothing of it."""
    network, _, _ = transfer_file
    base = W.init_weights(cnnspec.load(SPECS / "digits_base.cnn"), seed=1)
    header, offset, blobs = {}, 0, []
    for k, v in base.items():
        header[k] = entry("F32", list(v.shape), offset, offset + v.nbytes)
        offset += v.nbytes
        blobs.append(v.tobytes())
    header[key] = entry(
        "F32", [750_000_000], offset, offset + 3_000_000_000)
    path = write_raw(tmp_path / "sparse.safetensors", header, b"".join(blobs))
    os.truncate(path, path.stat().st_size + 3_000_000_000)
    tracemalloc.start()
    try:
        if key == "conv1.kernel":
            assert refusal(lambda: W.resolve(network, path)).problems == [
                ("tensor 'conv1.kernel' of layer 'conv1' has shape (750000000,), but the spec "
                "needs (3, 3, 1, 16)")]
        else:
            assert W.resolve(network, path).keys() == W.expected_shapes(network).keys()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_a_used_tensor_whose_data_lies_beyond_the_end_is_refused(net, tmp_path):
    header = {k: entry("F32", list(v.shape), 0, 4 * v.size) for k, v in W.init_weights(net).items()}
    header["c1.bias"] = entry("F32", [4], 10_000, 10_016)
    path = write_raw(tmp_path / "w.safetensors", header, b"\0" * 1000)
    err = refusal(lambda: W.resolve(net, path))
    assert err.problems == [(f"cannot read weight file {path}: tensor 'c1.bias' declares bytes "
                             "10,000..10,016 of the data, but the file holds only 1,000 bytes of "
                             "tensor data")]


@pytest.mark.parametrize("header, says", [
    ({"c1.bias": entry("F32", [4], 0, 12)}, ("is float32 of shape (4,) (16 bytes), but its "
     "data_offsets span 12 bytes")),
    ({"c1.bias": entry("Q7", [4], 0, 16)}, "has an unknown dtype 'Q7'"),
    ({"c1.bias": entry("F32", [-4], 0, 16)}, "has a malformed shape [-4]"),
    ({"c1.bias": entry("F32", [4], 16, 0)}, "has malformed data_offsets [16, 0]"),
    ({"c1.bias": {"dtype": "F32"}}, "is not {'dtype', 'shape', 'data_offsets'}"),
])
def test_inconsistent_header_entries_are_named(tmp_path, header, says):
    path = write_raw(tmp_path / "w.safetensors", header, b"\0" * 64)
    assert refusal(lambda: W.load_file(path)).problems == [
        f"cannot read weight file {path}: tensor 'c1.bias' {says}"]


def test_header_length_is_capped_and_checked_against_the_file(tmp_path):
    huge = write_raw(tmp_path / "huge.safetensors", {}, length=WF.HEADER_LIMIT + 1)
    assert "more than the 16,777,216-byte limit" in str(refusal(lambda: W.load_file(huge)))
    long = write_raw(tmp_path / "long.safetensors", {}, length=5000)
    assert "the header declares 5,000 bytes, but the file has only 2 after the length" in str(
        refusal(lambda: W.load_file(long)))


@pytest.mark.parametrize("raw, says", [
    (b"[" * 100_000 + b"]" * 100_000, "the header is not valid JSON"),
    (b'{"a": {}, "a": {}}', "duplicate key 'a'"),
    (b"[1, 2]", "the header is not a JSON object"),
    (b"\xff\xfe", "the header is not valid JSON"),
])
def test_malformed_json_headers_are_weight_errors(tmp_path, raw, says):
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    message = str(refusal(lambda: W.load_file(path)))
    assert message.startswith(f"cannot read weight file {path}: ") and says in message


def test_a_hand_written_file_reads_like_safetensors_writes_it(net, tmp_path):
    params = W.init_weights(net, seed=4, dtype="float64")
    path = tmp_path / "w.safetensors"
    W.save_file(params, path)
    loaded = W.load_file(path)
    assert loaded.keys() == params.keys()
    assert all(loaded[k].dtype == np.float64 and np.array_equal(loaded[k], params[k]) for k in params)


# --- only the tensors the spec uses are read ---

@pytest.fixture(scope="module")
def transfer_file(tmp_path_factory) -> tuple[cnnspec.Network, Path, int]:
    """DigitsBase's weights plus a 32 MB tensor that the feature-extraction spec never uses."""
    base = W.init_weights(cnnspec.load(SPECS / "digits_base.cnn"), seed=1)
    big = np.ones(8_000_000, np.float32)
    path = tmp_path_factory.mktemp("w") / "base_plus_big.safetensors"
    W.save_file({**base, "unused.kernel": big}, path)
    return cnnspec.load(SPECS / "transfer_feature_extraction.cnn"), path, big.nbytes


def test_an_unused_big_tensor_is_never_read(transfer_file, monkeypatch):
    network, path, big = transfer_file
    read, real = [], WF.StoredTensor.read
    monkeypatch.setattr(WF.StoredTensor, "read", lambda self: read.append(self.key) or real(self))
    tracemalloc.start()
    try:
        params = W.resolve(network, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "unused.kernel" not in read and sorted(read) == sorted(
        k for k in W.expected_shapes(network) if k.split(".")[0] in ("conv1", "bn1", "conv2"))
    assert peak < big / 8, peak  # the 32 MB tensor was not copied
    assert params.keys() == W.expected_shapes(network).keys()


def test_a_plain_network_names_the_extra_tensor_without_reading_anything(net, tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    W.save_file({**W.init_weights(net), "extra.kernel": np.zeros(10, np.float32)}, path)
    monkeypatch.setattr(WF.StoredTensor, "read", lambda self: pytest.fail(f"read {self.key}"))
    assert refusal(lambda: W.resolve(net, path)).problems == [
        "unexpected tensor 'extra.kernel': the network has no such layer weight"]


# --- finite values, float32/float64 only ---

def test_non_finite_weights_are_refused_naming_tensor_and_count(net):
    params = W.init_weights(net, dtype="float64")
    params["c1.kernel"][0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    params["d1.bias"][1] = np.nan
    assert refusal(lambda: W.validate(net, params)).problems == [
        ("tensor 'c1.kernel' of layer 'c1' has 3 of 72 values that are not finite (1 NaN, 2 "
        "infinite); weights must be finite numbers"),
        ("tensor 'd1.bias' of layer 'd1' has 1 of 5 values that are not finite (1 NaN, 0 "
        "infinite); weights must be finite numbers")]


def test_verify_says_the_weights_are_not_finite_instead_of_blaming_backends(capsys, net,
                                                                             spec_file, tmp_path):
    params = W.init_weights(net)
    params["bn.moving_variance"][2] = np.inf
    path = tmp_path / "w.safetensors"
    W.save_file(params, path)
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "divergence" not in err
    assert err == (f"{path}: error: tensor 'bn.moving_variance' of layer 'bn' has 1 of 4 values "
                   "that are not finite (0 NaN, 1 infinite); weights must be finite numbers\n")


def test_float16_files_and_dicts_are_refused(net, tmp_path):
    half = {k: v.astype(np.float16) for k, v in W.init_weights(net).items()}
    path = tmp_path / "half.safetensors"
    W.save_file(half, path)
    says = ("tensor 'c1.kernel' of layer 'c1' has dtype float16; weights must be float32 or "
            "float64 (convert them, e.g. with .astype(numpy.float32), before saving)")
    for weights in (path, half):
        err = refusal(lambda w=weights: cnnspec.build(net, "numpy", weights=w))
        assert err.problems[0] == says and len(err.problems) == len(half)


# --- non-regular files are refused without blocking ---

def test_build_with_a_fifo_is_refused_not_blocked(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    code = ("import cnnspec\nfrom cnnspec.weights import WeightError\n"
            f"net = cnnspec.loads({SMALL_SPEC!r})\n"
            "try:\n    cnnspec.build(net, 'numpy', weights=" + repr(str(fifo)) + ")\n"
            "except WeightError as err:\n    print(type(err).__name__, err)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          env=env)
    assert time.monotonic() - start < 60
    assert done.stdout == (f"UnreadableWeightFile cannot read weight file {fifo}: not a regular "
                           "file (it is a FIFO)\n"), done.stderr


@pytest.mark.parametrize("make", ["fifo", "directory", "missing"])
def test_verify_exits_2_for_an_unreadable_weight_file(capsys, spec_file, tmp_path, make):
    path = tmp_path / "w.safetensors"
    {"fifo": lambda: os.mkfifo(path), "directory": path.mkdir, "missing": lambda: None}[make]()
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 2
    reason = {"fifo": "not a regular file (it is a FIFO)", "missing": "No such file or directory",
              "directory": "not a regular file (it is a directory)"}[make]
    assert capsys.readouterr().err == (f"{path}: error: cannot read weight file {path}: "
                                       f"{reason}\n")


# --- one problem a line ---

def test_weight_errors_carry_a_list_and_print_one_per_line(capsys, net, spec_file, tmp_path):
    params = W.init_weights(net)
    del params["c1.bias"]
    params["out.kernel"] = np.zeros((3, 5), np.float32)
    params["d1.bias"] = np.zeros(5, np.int32)
    path = tmp_path / "w.safetensors"
    W.save_file(params, path)
    err = refusal(lambda: W.resolve(net, path))
    assert err.problems == [
        "missing tensor 'c1.bias' (layer 'c1', expected shape (4,))",
        ("tensor 'd1.bias' of layer 'd1' has dtype int32; weights must be floating point "
        "(float32 or float64)"),
        "tensor 'out.kernel' of layer 'out' has shape (3, 5), but the spec needs (5, 3)"]
    assert str(err) == "\n".join(err.problems)
    assert main(["verify", spec_file, "--weights", str(path), "--targets", "numpy,torch"]) == 1
    assert capsys.readouterr().err.splitlines() == [f"{path}: error: {p}" for p in err.problems]


# --- verify: duplicate targets ---

@pytest.mark.parametrize("targets", ["numpy,numpy", "numpy,torch,numpy"])
def test_duplicate_targets_are_refused(capsys, spec_file, targets):
    assert main(["verify", spec_file, "--targets", targets]) == 2
    assert capsys.readouterr().err == ("cnnspec: error: --targets names numpy more than once; each "
                                       "backend is compared once, so list it once\n")


def test_verify_network_refuses_duplicate_targets(net):
    with pytest.raises(ValueError, match="names numpy more than once"):
        verify_network(net, ["numpy", "numpy"])


# --- verify: memory and chunks ---

def test_an_absurd_batch_is_refused_with_the_estimate_and_the_limit(capsys):
    start = time.monotonic()
    assert main(["verify", str(SPECS / "lenet5.cnn"), "--batch", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30
    assert err.startswith("cnnspec: error: a batch of 1,000,000,000 samples is more than verify "
                          "runs (at most 100,000); at once it would need about 832.9 TiB, and "
                          "verify would compare it in chunks of 1,172 samples")


def test_lenet5_batch_20000_is_planned_in_bounded_chunks():
    lenet = cnnspec.load(SPECS / "lenet5.cnn")
    plan = plan_chunks(lenet, 20_000, "float64", 3)
    assert plan.sample_bytes == sample_bytes(lenet, "float64", 3) == 915_744
    assert plan.chunk == CHUNK_BYTES // 915_744 == 1172 and sum(plan.sizes()) == 20_000
    assert max(plan.sizes()) * plan.sample_bytes <= CHUNK_BYTES
    assert plan_chunks(lenet, MAX_BATCH, "float32", 2).sizes()[-1] > 0


def test_a_network_whose_one_sample_is_too_big_is_refused():
    big = cnnspec.loads("network Big\ninput 2048x2048x16\nc: conv 64 3x3 pad=same\n")
    with pytest.raises(BatchError) as err:
        plan_chunks(big, 1, "float64", 3)
    estimate = sample_bytes(big, "float64", 3)
    assert estimate > SAMPLE_LIMIT
    assert str(err.value) == (f"one sample of Big needs about {estimate / 2**30:.1f} GiB in verify "
                              "(3 backend(s), float64), more than the 4.0 GiB limit; compare "
                              "fewer backends or use float32")


def record_outputs(monkeypatch) -> list:
    seen, real = [], runtime.run_layers

    def run_layers(model, target, network, x):
        outputs = real(model, target, network, x)
        seen.append((target, np.array(x), outputs))
        return outputs

    monkeypatch.setattr(runtime, "run_layers", run_layers)
    return seen


def test_a_chunked_batch_gives_the_same_report_as_one_chunk(monkeypatch):
    lenet = cnnspec.load(SPECS / "lenet5.cnn")
    whole = verify_network(lenet, ["numpy", "torch"], batch=30, seed=3)
    seen = record_outputs(monkeypatch)
    per_sample = sample_bytes(lenet, "float64", 2)
    chunked = verify_network(lenet, ["numpy", "torch"], batch=30, seed=3,
                             chunk_bytes=7 * per_sample)
    assert [len(x) for t, x, _ in seen if t == "numpy"] == [7, 7, 7, 7, 2]
    inputs = np.concatenate([x for t, x, _ in seen if t == "numpy"])
    np.testing.assert_array_equal(inputs, np.random.default_rng(3).standard_normal((30, 28, 28, 1)))
    # accumulating over chunks is exact: the same report as comparing the joined outputs at once
    joined = {t: {n.name: np.concatenate([o[n.name] for u, _, o in seen if u == t])
                  for n in lenet.layers} for t in ("numpy", "torch")}
    assert (chunked.diffs, chunked.argmax_ok) == compare(lenet, joined, "float64")
    # and the verdict is the unchunked one (a GEMM's rounding may depend on its batch size)
    assert chunked.ok and whole.ok and chunked.argmax_ok == whole.argmax_ok
    for a, b in zip(chunked.diffs, whole.diffs, strict=True):
        assert (a.layer, a.pair, a.scale, a.tolerance) == (b.layer, b.pair, b.scale, b.tolerance)
        assert a.max_abs == pytest.approx(b.max_abs, abs=1e-14)


def test_a_divergence_in_a_later_chunk_is_caught(monkeypatch):
    lenet = cnnspec.load(SPECS / "lenet5.cnn")
    calls, real = [], runtime.run_layers

    def run_layers(model, target, network, x):
        outputs = real(model, target, network, x)
        calls.append(target)
        if target == "torch" and calls.count("torch") == 3:  # only the third chunk
            outputs["c3"] = outputs["c3"] + 1e-6
        return outputs

    monkeypatch.setattr(runtime, "run_layers", run_layers)
    per_sample = sample_bytes(lenet, "float64", 2)
    report = verify_network(lenet, ["numpy", "torch"], batch=12, chunk_bytes=4 * per_sample)
    assert calls.count("torch") == 3 and not report.ok
    assert [d.layer for d in report.diffs if not d.ok] == ["c3"]
    assert report.first_divergence().max_abs == pytest.approx(1e-6, rel=1e-3)


def test_values_that_are_not_arrays_are_refused_not_raised(net):
    params = {**W.init_weights(net), "c1.bias": [[1.0], [1.0, 2.0]], "d1.bias": "abc"}
    assert refusal(lambda: W.validate(net, params)).problems == [
        ("tensor 'c1.bias' of layer 'c1' has dtype object; weights must be floating point "
         "(float32 or float64)"),
        ("tensor 'd1.bias' of layer 'd1' has dtype str96; weights must be floating point "
         "(float32 or float64)")]


def test_save_file_follows_the_output_rules(tmp_path):
    """Weight files are written like every output: an overwritten file keeps its mode, and a
    FIFO is refused rather than replaced."""
    params = {"c.kernel": np.ones((3, 3, 1, 2), np.float32)}
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    W.save_file(params, target)
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert W.load_file(target)["c.kernel"].shape == (3, 3, 1, 2)
    fifo = tmp_path / "f.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        W.save_file(params, fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
