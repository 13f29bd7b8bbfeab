"""The NumPy backend (cnnspec's reference implementation) against naive loop references.

The generated code does shifted GEMMs, im2col and broadcasting; the references below are
written the slow, obvious way instead: a loop over output positions (and output channels),
each output an explicit sum of products over the window, on tiny shapes. Output sizes come
from the written-out PyTorch rule and must equal the checker's node.out_shape too.
"""

from __future__ import annotations

import ast
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec.backends.numpy import generate
from cnnspec.runtime import exec_module
from cnnspec.shapes import shape_text

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn"))
TOL = {"float32": 2e-5, "float64": 1e-12}


# --- running a spec ----------------------------------------------------------------------

def build(spec: str, params: dict, dtype: str = "float64"):
    return cnnspec.build(cnnspec.loads(spec), "numpy", weights=params, dtype=dtype)


def layer_output(spec: str, params: dict, x: np.ndarray, name: str) -> np.ndarray:
    return build(spec, params, str(x.dtype)).forward_layers(x)[name]


def random_params(net, rng) -> dict:
    params = {}
    for node in net.nodes:
        for w in node.weights:
            low = 0.5 if w.name == "moving_variance" else -1.0
            params[f"{node.name}.{w.name}"] = rng.uniform(low, 1.5, w.shape)
    return params


def assert_close(actual, expected, dtype: str):
    assert actual.dtype == np.dtype(dtype)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL[dtype] * scale)


# --- naive references (loops are fine here: tiny shapes) ---------------------------------

def naive_conv(x, kernel, bias, stride, padding, dilation=(1, 1), groups=1):
    """Each output (a, b, o) is the sum of kernel[:, :, :, o] times its (dilated) window."""
    (sh, sw), (dh, dw) = stride, dilation
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, depth, c_out = kernel.shape
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, c_out))
    for a in range(oh):
        for b in range(ow):
            rows = slice(a * sh, a * sh + dh * (kh - 1) + 1, dh)
            cols = slice(b * sw, b * sw + dw * (kw - 1) + 1, dw)
            for o in range(c_out):
                g = o // (c_out // groups)
                window = xp[:, rows, cols, g * depth:(g + 1) * depth]
                y[:, a, b, o] = (window * kernel[:, :, :, o]).sum(axis=(1, 2, 3))
    return y if bias is None else y + bias


def pool_size(n, k, s, lo, hi, ceil):
    """PyTorch's rule: floor/ceil((N + lo + hi - K)/S) + 1, dropping a window that would
    start at or past N + lo (wholly in the right padding) in ceil mode."""
    size = (n + lo + hi - k) / s
    out = (math.ceil(size) if ceil else math.floor(size)) + 1
    if ceil and (out - 1) * s >= n + lo:
        out -= 1
    return out


def naive_pool(x, op, kernel, stride, padding, ceil=False, count_include_pad=False):
    """Windows in input coordinates; max over the real cells (padding is -inf, never wins),
    average over the real cells divided by the cells counted under count_include_pad."""
    _, h, w, _ = x.shape
    (kh, kw), (sh, sw), (top, bottom, left, right) = kernel, stride, padding
    oh, ow = pool_size(h, kh, sh, top, bottom, ceil), pool_size(w, kw, sw, left, right, ceil)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for a in range(oh):
        for b in range(ow):
            r0, c0 = a * sh - top, b * sw - left
            cells = x[:, max(r0, 0):min(r0 + kh, h), max(c0, 0):min(c0 + kw, w)]
            if op == "max":
                y[:, a, b] = cells.max(axis=(1, 2))
                continue
            count = cells.shape[1] * cells.shape[2]
            if count_include_pad:
                count = (min(r0 + kh, h + bottom) - r0) * (min(c0 + kw, w + right) - c0)
            y[:, a, b] = cells.sum(axis=(1, 2)) / count
    return y


# --- the seed's worked example -----------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_worked_example_is_exact(dtype):
    x = np.zeros((1, 3, 3, 2))
    x[0, :, :, 0] = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    x[0, :, :, 1] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    kernel = np.zeros((2, 2, 2, 1))  # canonical (kh, kw, c_in, c_out)
    kernel[:, :, 0, 0] = [[0, 1], [2, 3]]
    kernel[:, :, 1, 0] = [[1, 2], [3, 4]]
    model = cnnspec.build(cnnspec.load(ROOT / "specs" / "multichannel.cnn"), "numpy",
                          weights={"single.kernel": kernel}, dtype=dtype)
    y = model(x.astype(dtype))
    assert y.dtype == np.dtype(dtype)
    assert y.shape == (1, 2, 2, 1)
    assert y[0, :, :, 0].tolist() == [[56, 72], [104, 120]]


# --- convolution -------------------------------------------------------------------------

CONV_CASES = {
    # name: (input, layer, the padding the checker must resolve (top, bottom, left, right))
    "same_s2_k2_odd": ("7x7x3", "conv 4 2x2 stride=2 pad=same", (0, 1, 0, 1)),
    "same_s2_k2_even": ("8x8x3", "conv 4 2x2 stride=2 pad=same", (0, 0, 0, 0)),
    "same_s2_k4_odd": ("7x7x3", "conv 4 4x4 stride=2 pad=same", (1, 2, 1, 2)),
    "same_s2_k4_even": ("8x8x3", "conv 4 4x4 stride=2 pad=same", (1, 1, 1, 1)),
    "same_s2_k3_even": ("8x8x2", "conv 3 3x3 stride=2 pad=same", (0, 1, 0, 1)),
    "same_non_square": ("7x10x2", "conv 3 2x3 stride=(2, 3) pad=same", (0, 1, 1, 1)),
    "dilation_2": ("9x9x3", "conv 4 3x3 dilation=2 pad=2", (2, 2, 2, 2)),
    "dilation_2x1_same": ("8x7x2", "conv 3 3x3 dilation=(2, 1) pad=same", (2, 2, 1, 1)),
    "dilation_stride": ("10x9x2", "conv 3 2x3 dilation=(3, 2) stride=(2, 3) round=floor", None),
    "groups_2": ("6x6x4", "conv 6 3x3 groups=2 pad=1", None),
    "depthwise": ("6x6x4", "conv 4 3x3 groups=4 pad=1", None),
    "depthwise_multiplier_2": ("6x5x3", "conv 6 3x3 groups=3 stride=2 round=floor", None),
    "depthwise_dilated": ("7x7x5", "conv 5 3x3 groups=5 dilation=2 pad=(2, 1, 0, 2)", None),
    "deep_shifted_gemm": ("5x5x64", "conv 8 3x3 pad=1", None),
    "deep_groups_shifted": ("4x5x128", "conv 16 3x3 groups=2 stride=(2, 1) pad=(1, 0, 1, 1)", None),
    "deep_dilated_stride": ("7x7x70", "conv 5 3x2 dilation=2 stride=2 round=floor", None),
    "non_square_kernel_stride": ("7x6x3", "conv 5 3x2 stride=(2, 1) pad=(1, 0, 2, 1)", None),
    "kernel_1x3_stride_1x2": ("5x6x2", "conv 3 1x3 stride=(1, 2) round=floor", None),
    "pointwise_1x1": ("5x5x6", "conv 4 1x1", None),
    "pointwise_1x1_stride_2": ("5x5x6", "conv 4 1x1 stride=2", None),
    "pointwise_1x1_deep": ("3x3x70", "conv 4 1x1", None),
    "no_bias": ("5x5x2", "conv 3 3x3 bias=false", None),
}


# small layers take the im2col path; forcing _IM2COL_LIMIT to 0 sends every layer with 32 or
# more channels per group down the shifted-GEMM path, so the "deep" cases check both
CONV_PARAMS = [(case, path) for case in sorted(CONV_CASES)
               for path in (("im2col", "shifted") if case.startswith("deep") else ("default",))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("case", "path"), CONV_PARAMS)
def test_conv_matches_naive_reference(case, path, dtype):
    shape, layer, expected_padding = CONV_CASES[case]
    spec = f"input {shape}\nc: {layer}\n"
    net = cnnspec.loads(spec)
    node = net.node("c")
    a = node.attrs
    if expected_padding is not None:
        assert tuple(a["padding"]) == expected_padding
    rng = np.random.default_rng(len(case))
    params = random_params(net, rng)
    x = rng.standard_normal((2, *net.input_shape))
    model = build(spec, params, dtype)
    if path == "shifted":
        model.module._IM2COL_LIMIT = 0
    y = model.forward_layers(x.astype(dtype))["c"]
    expected = naive_conv(x, params["c.kernel"], params.get("c.bias"), a["stride"], a["padding"],
                          a["dilation"], a["groups"])
    assert y.shape == expected.shape == (2, *node.out_shape)
    assert_close(y, expected, dtype)


# --- pooling -----------------------------------------------------------------------------

POOL_CASES = {
    "max_2x2": ("6x6x3", "maxpool 2x2"),
    "max_pad": ("5x5x3", "maxpool 3x3 stride=2 pad=1"),
    "max_same": ("5x5x2", "maxpool 3x3 stride=2 pad=same"),
    "max_ceil_overhang": ("6x6x2", "maxpool 3x3 stride=2 pad=1 round=ceil"),
    "max_ceil_window_would_start_in_padding": ("2x2x2", "maxpool 3x3 stride=3 pad=1 round=ceil"),
    "max_non_square": ("7x6x2", "maxpool 3x2 stride=(2, 1) pad=(1, 0, 1, 1) round=ceil"),
    "avg_2x2": ("6x6x3", "avgpool 2x2"),
    "avg_pad_include": ("5x5x3", "avgpool 3x3 stride=2 pad=1 count_include_pad=true"),
    "avg_pad_exclude": ("5x5x3", "avgpool 3x3 stride=2 pad=1 count_include_pad=false"),
    "avg_ceil_include": ("6x6x2", "avgpool 3x3 stride=2 pad=1 round=ceil count_include_pad=true"),
    "avg_ceil_exclude": ("6x6x2", "avgpool 3x3 stride=2 pad=1 round=ceil count_include_pad=false"),
    "avg_ceil_no_pad": ("5x5x1", "avgpool 2x2 round=ceil count_include_pad=true"),
    "avg_ceil_window_would_start_in_padding":
        ("2x2x3", "avgpool 3x3 stride=3 pad=1 round=ceil count_include_pad=true"),
    "avg_asymmetric_pad": ("6x5x2", "avgpool 2x3 stride=(2, 1) pad=(1, 0, 1, 1) count_include_pad=true"),
    "avg_same_keras_rule": ("5x5x2", "avgpool 2x2 stride=2 pad=same"),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_matches_naive_reference(case, dtype):
    shape, layer = POOL_CASES[case]
    spec = f"input {shape}\np: {layer}\n"
    node = cnnspec.loads(spec).node("p")
    a = node.attrs
    rng = np.random.default_rng(len(case))
    x = -rng.uniform(1.0, 2.0, (2, *node.in_shape))  # all negative: zero padding would show
    y = layer_output(spec, {}, x.astype(dtype), "p")
    expected = naive_pool(x, a["op"], a["kernel"], a["stride"], a["padding"], a["ceil"],
                          a["count_include_pad"])
    assert y.shape == expected.shape == (2, *node.out_shape)
    assert_close(y, expected, dtype)


def test_maxpool_pads_with_minus_infinity():
    spec = "input 4x4x2\np: maxpool 3x3 stride=1 pad=1\n"
    x = -np.arange(1.0, 33.0).reshape(1, 4, 4, 2)
    y = layer_output(spec, {}, x, "p")
    assert y.shape == (1, 4, 4, 2)
    assert (y < 0).all()
    assert y[0, 0, 0].tolist() == [-1.0, -2.0]  # the best real cell of the corner window


def test_avgpool_divisors_by_hand():
    """2x2 window, stride 2, pad 1 on a 3x3 input of ones: every window holds 1, 2 or 4 real
    cells; counting the padding every divisor is 4, not counting it the average is 1."""
    x = np.ones((1, 3, 3, 1))
    base = "input 3x3x1\np: avgpool 2x2 stride=2 pad=1 count_include_pad="
    included = layer_output(base + "true\n", {}, x, "p")[0, :, :, 0]
    excluded = layer_output(base + "false\n", {}, x, "p")[0, :, :, 0]
    assert included.tolist() == [[0.25, 0.5], [0.5, 1.0]]
    assert excluded.tolist() == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_sizes_sweep(op):
    """Every small (N, K, S, P, rounding): checker shape == PyTorch rule == what the generated
    pooling helper computes (called directly, to keep the sweep fast)."""
    helpers = exec_module(generate(cnnspec.loads(ALL_FEATURES)), "helpers")
    pool = helpers._maxpool2d if op == "max" else helpers._avgpool2d
    extra = {} if op == "max" else {"count_include_pad": True}
    rng = np.random.default_rng(1)
    checked = 0
    for n, k, s in itertools.product(range(2, 8), range(1, 5), range(1, 4)):
        for p, ceil in itertools.product(range(k // 2 + 1), (False, True)):
            if k > n + 2 * p:
                continue
            spec = (f"input {n}x{n}x1\np: {op}pool {k}x{k} stride={s} pad={p} "
                    f"round={'ceil' if ceil else 'floor'}\n")
            x = rng.standard_normal((1, n, n, 1))
            y = pool(x, (k, k), (s, s), (p,) * 4, ceil, **extra)
            expected = naive_pool(x, op, (k, k), (s, s), (p,) * 4, ceil, True)
            assert y.shape[1:] == cnnspec.loads(spec).node("p").out_shape, spec
            assert y.shape == expected.shape, spec
            assert_close(y, expected, "float64")
            checked += 1
    assert checked > 150


# --- other layers ------------------------------------------------------------------------

def test_batchnorm_uses_eps_and_moving_statistics():
    spec = "input 3x4x3\nbn: batchnorm eps=0.5 -> relu\nflat: flatten\nbn2: batchnorm eps=0.001\n"
    net = cnnspec.loads(spec)
    rng = np.random.default_rng(3)
    params = random_params(net, rng)
    x = rng.standard_normal((2, 3, 4, 3))
    out = build(spec, params).forward_layers(x)

    def norm(v, layer, eps):
        p = {k.split(".")[1]: a for k, a in params.items() if k.startswith(layer + ".")}
        return p["gamma"] * (v - p["moving_mean"]) / np.sqrt(p["moving_variance"] + eps) + p["beta"]

    expected = np.maximum(norm(x, "bn", 0.5), 0)
    assert_close(out["bn"], expected, "float64")
    assert_close(out["bn2"], norm(expected.reshape(2, -1), "bn2", 0.001), "float64")
    assert not np.allclose(out["bn"], np.maximum(norm(x, "bn", 1e-3), 0), atol=1e-3)


def test_leaky_relu_slope_fused_and_as_layer():
    spec = ("input 3x3x2\nc: conv 2 1x1 -> leaky_relu alpha=0.2\na: leaky_relu alpha=0.3\n"
            "d: leaky_relu\n")
    net = cnnspec.loads(spec)
    rng = np.random.default_rng(4)
    params = random_params(net, rng)
    x = rng.standard_normal((3, 3, 3, 2))
    out = build(spec, params).forward_layers(x)
    z = naive_conv(x, params["c.kernel"], params["c.bias"], (1, 1), (0, 0, 0, 0))
    assert (z < 0).any() and (z > 0).any()
    c = np.where(z >= 0, z, 0.2 * z)
    assert_close(out["c"], c, "float64")
    assert_close(out["a"], np.where(c >= 0, c, 0.3 * c), "float64")
    d = np.where(c >= 0, c, 0.3 * c)
    assert_close(out["d"], np.where(d >= 0, d, 0.01 * d), "float64")  # PyTorch's default slope


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_are_stable_at_extremes(dtype):
    spec = ("input 2x2x3\nr: relu\nl: activation linear\ns: sigmoid\nt: tanh\n"
            "sm: softmax\n")
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 0.5, 1.0, 20.0, 80.0, 1000.0, -2.0, 3.0, 700.0])
    x = x.reshape(1, 2, 2, 3).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = build(spec, {}, dtype).forward_layers(x)
    r = np.maximum(x.astype(np.float64), 0)
    s = 0.5 * (1 + np.tanh(r / 2))
    t = np.tanh(s)
    sm = np.exp(t - np.logaddexp.reduce(t, axis=-1, keepdims=True))
    for name, expected in (("r", r), ("l", r), ("s", s), ("t", t), ("sm", sm)):
        assert_close(out[name], expected, dtype)
    assert np.allclose(out["sm"].sum(axis=-1), 1)
    raw = build("input 4\nsm: softmax\n", {}, dtype)(np.array([[1000.0, 999.0, -1000.0, 0.0]],
                                                              dtype=dtype))
    assert np.isfinite(raw).all() and abs(raw[0, 0] / raw[0, 1] - math.e) < 1e-5


def test_sigmoid_extremes_without_overflow():
    x = np.array([[-1000.0, 1000.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = build("input 3\ns: sigmoid\n", {})(x)
    assert y.tolist() == [[0.0, 1.0, 0.5]]


def test_flatten_is_nhwc_and_dense_uses_its_rows_in_that_order():
    spec = "input 2x3x4\nf: flatten\nd: dense 5 -> tanh\n"
    rng = np.random.default_rng(5)
    params = random_params(cnnspec.loads(spec), rng)
    x = rng.standard_normal((2, 2, 3, 4))
    out = build(spec, params).forward_layers(x)
    kernel, bias = params["d.kernel"], params["d.bias"]
    expected = np.zeros((2, 5))
    for h in range(2):
        for w in range(3):
            for c in range(4):
                assert out["f"][0, (h * 3 + w) * 4 + c] == x[0, h, w, c]
                expected += np.outer(x[:, h, w, c], kernel[(h * 3 + w) * 4 + c])
    assert_close(out["d"], np.tanh(expected + bias), "float64")


def test_dense_without_bias_softmax_and_dropout_identity():
    spec = "input 6\ndrop: dropout 0.5\nd: dense 3 bias=false -> softmax\n"
    rng = np.random.default_rng(6)
    params = random_params(cnnspec.loads(spec), rng)
    x = rng.standard_normal((4, 6))
    out = build(spec, params).forward_layers(x)
    assert_close(out["drop"], x, "float64")
    z = x @ params["d.kernel"]
    assert_close(out["d"], np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), "float64")


def test_global_pools_and_zeropad():
    spec = ("input 3x4x5\nz: zeropad (0, 1, 2, 0)\nm: globalmaxpool\n")
    x = -np.random.default_rng(7).uniform(1, 2, (2, 3, 4, 5))
    out = build(spec, {}).forward_layers(x)
    assert out["z"].shape == (2, 4, 6, 5)
    assert_close(out["z"][:, :3, 2:], x, "float64")
    assert not out["z"][:, 3].any() and not out["z"][:, :, :2].any()
    assert_close(out["m"], np.zeros((2, 5)), "float64")  # the zero padding is real data now
    avg = build("input 3x4x5\ng: globalavgpool\n", {})(x)
    assert_close(avg, x.sum(axis=(1, 2)) / 12, "float64")


# --- dtypes and input checks -------------------------------------------------------------

def test_float32_input_stays_float32_even_with_float64_params():
    net = cnnspec.load(ROOT / "specs" / "lenet5.cnn")
    model = cnnspec.build(net, "numpy", dtype="float64")
    x = np.random.default_rng(8).standard_normal((2, 28, 28, 1))
    out32 = model.forward_layers(x.astype(np.float32))
    out64 = model.forward_layers(x)
    for name, value in out32.items():
        assert value.dtype == np.float32, name
        assert out64[name].dtype == np.float64, name
        assert_close(value, out64[name].astype(np.float32), "float32")


def test_integer_input_runs_in_float32():
    y = build("input 2x2x1\np: avgpool 2x2\n", {})(np.array([[[[1], [2]], [[3], [5]]]]))
    assert y.dtype == np.float32 and y.tolist() == [[[[2.75]]]]


def test_wrong_input_shape_is_a_clear_error():
    model = build("input 4x4x2\np: maxpool 2x2\n", {})
    with pytest.raises(ValueError, match=r"\(batch, 4, 4, 2\)"):
        model(np.zeros((4, 4, 2)))


# --- every spec: shapes, generated code ---------------------------------------------------

ALL_FEATURES = """network Everything
input 12x11x4
c1: conv 8 3x3 stride=2 pad=same dilation=1 groups=2 -> leaky_relu alpha=0.2
c2: conv 8 3x3 groups=8 pad=1 bias=false -> relu
bn: batchnorm eps=1e-5 -> tanh
z: zeropad (0, 1, 1, 0)
mp: maxpool 3x3 stride=2 pad=1 round=ceil
ap: avgpool 2x2 stride=1 pad=1 count_include_pad=true round=floor
s: sigmoid
gp: globalavgpool
drop: dropout 0.25
d: dense 6 -> softmax
"""

def network_of(source: Path | str):
    """A shipped spec (a Path) or spec text (a str), each through its own entry point."""
    return cnnspec.load(source) if isinstance(source, Path) else cnnspec.loads(source)


SOURCES = [pytest.param(path, id=path.stem) for path in SPECS] + [
    pytest.param(ALL_FEATURES, id="all_features")]


def zero_params(net) -> dict:
    return {f"{n.name}.{w.name}": np.zeros(w.shape, np.float32) for n in net.nodes for w in n.weights}


@pytest.mark.parametrize("source", SOURCES)
def test_forward_layers_shapes_equal_checker_shapes(source):
    net = network_of(source)
    module = exec_module(generate(net), net.name)
    x = np.ones((1, *net.input_shape), np.float32)
    out = module.forward_layers(x, zero_params(net))
    assert list(out) == [node.name for node in net.layers]
    for node in net.layers:
        assert out[node.name].shape == (1, *node.out_shape), node.name
        assert out[node.name].dtype == np.float32, node.name
    if net.macs < 10**9:  # VGG-16 once is enough
        outputs = module.forward(x, zero_params(net))
        if len(net.output_nodes) > 1:  # several outputs: a tuple, in the spec's order
            assert [o.shape for o in outputs] == [(1, *n.out_shape) for n in net.output_nodes]
        else:
            assert outputs.shape == (1, *net.output.out_shape)


def test_generated_code_is_ruff_clean(tmp_path):
    for i, source in enumerate(list(SPECS) + [ALL_FEATURES]):
        (tmp_path / f"gen_{i}.py").write_text(generate(network_of(source)))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                             str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", SOURCES)
def test_generated_code_reads_well(source):
    net = network_of(source)
    code = generate(net)
    tree = ast.parse(code)
    imports = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    assert imports == {"numpy"}
    assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))
    assert f"generated by cnnspec from network {net.name}" in ast.get_docstring(tree)
    if net.description:
        assert net.description not in code
    chain = not net.instances and all(n.inputs == (b.name,) for b, n in zip(net.nodes, net.layers))
    for node in net.layers:
        if chain:
            assert f'yield "{node.name}", x' in code
            assert f"# {shape_text(node.out_shape)}" in code or f"; {shape_text(node.out_shape)}" in code
            if node.params:
                assert f"{node.params:,} params" in code
        else:  # a value may be named; a block's layers are yielded inside its function
            leaf = node.name.rsplit(".", 1)[-1]
            assert f'yield "{node.name}", ' in code or f'yield f"{{name}}.{leaf}", ' in code
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    kinds = {node.kind for node in net.layers}
    assert ("_conv2d" in functions) == ("conv" in kinds)
    assert ("_maxpool2d" in functions) == ("maxpool" in kinds)
    assert ("_avgpool2d" in functions) == ("avgpool" in kinds)
    assert ("_batchnorm" in functions) == ("batchnorm" in kinds)


def test_generation_is_deterministic_across_processes():
    script = ("import cnnspec, sys; from cnnspec.backends.numpy import generate; "
              "sys.stdout.write(generate(cnnspec.load(sys.argv[1])))")
    spec_file = ROOT / "specs" / "zoo" / "vgg16.cnn"
    runs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs.add(subprocess.run([sys.executable, "-c", script, str(spec_file)], env=env,
                                capture_output=True, text=True, check=True).stdout)
    runs.add(generate(cnnspec.load(spec_file)))
    assert len(runs) == 1


def test_importing_the_backend_imports_no_numpy_or_framework():
    script = ("import sys, cnnspec.backends.numpy; "
              "print(sorted(m for m in ('numpy', 'torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_float32_and_float64_agree_on_random_weights():
    net = cnnspec.loads(ALL_FEATURES)
    x = np.random.default_rng(9).standard_normal((3, *net.input_shape))
    out64 = cnnspec.build(net, "numpy", dtype="float64").forward_layers(x)
    out32 = cnnspec.build(net, "numpy", dtype="float32").forward_layers(x.astype(np.float32))
    for name in out64:
        assert_close(out32[name], out64[name].astype(np.float32), "float32")
