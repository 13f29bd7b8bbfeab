"""The PyTorch backend against an independent NumPy reference (NHWC, explicit window loops).

Every comparison uses portable weights on both sides, so the layout conversions (conv kernels,
dense rows in flatten order, batch-norm statistics) are under test as much as the layers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec.backends.torch import generate
from cnnspec.layout import flat_orders, portable_rows
from cnnspec.names import NN_MODULE_ATTRIBUTES as RESERVED
from cnnspec.runtime import exec_module
from cnnspec.weights import init_weights

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.cnn"))
RTOL = {"float64": 1e-10, "float32": 1e-5}

# name -> spec body (the network line is added by `spec`)
CASES = {
    "same_s2_even_kernel_odd_input": "input 7x7x2\nc: conv 3 4x4 stride=2 pad=same\n",
    "same_s2_even_kernel_even_input": "input 8x8x2\nc: conv 3 4x4 stride=2 pad=same\n",
    "same_s2_2x2_odd_input": "input 7x6x2\nc: conv 3 2x2 stride=2 pad=same -> relu\n",
    "same_s2_3x3_even_input": "input 8x8x3\nc: conv 4 3x3 stride=2 pad=same -> relu\n",
    "avg_pad_include": "input 5x5x2\np: avgpool 3x3 stride=2 pad=1 count_include_pad=true\n",
    "avg_pad_exclude": "input 5x5x2\np: avgpool 3x3 stride=2 pad=1 count_include_pad=false\n",
    "avg_same_asym_include": "input 8x8x2\np: avgpool 3x3 stride=2 pad=same count_include_pad=true\n",
    "avg_same_asym_exclude": "input 8x8x2\np: avgpool 3x3 stride=2 pad=same\n",
    "max_same_asym": "input 8x7x2\np: maxpool 3x3 stride=2 pad=same\n",
    "ceil_drop_max": "input 5x5x2\np: maxpool 2x2 stride=2 pad=1 round=ceil\n",
    "ceil_drop_avg": "input 5x5x2\np: avgpool 2x2 stride=2 pad=1 round=ceil count_include_pad=true\n",
    "ceil_overhang_avg_include": "input 6x6x2\np: avgpool 3x3 stride=2 pad=1 round=ceil "
                                 "count_include_pad=true\n",
    "ceil_overhang_avg_exclude": "input 6x6x2\np: avgpool 3x3 stride=2 pad=1 round=ceil\n",
    "ceil_asym_avg_include": "input 7x7x2\np: avgpool 3x3 stride=2 pad=(1, 0, 1, 0) round=ceil "
                             "count_include_pad=true\n",
    "ceil_asym_avg_exclude": "input 7x7x2\np: avgpool 3x3 stride=2 pad=(1, 0, 1, 0) round=ceil\n",
    "ceil_asym_max": "input 7x7x2\np: maxpool 3x3 stride=2 pad=(1, 0, 1, 0) round=ceil\n",
    "ceil_asym_mixed": "input 6x7x2\np: avgpool 2x2 stride=2 pad=(1, 0, 0, 1) round=ceil "
                       "count_include_pad=true\nq: maxpool 2x2 stride=2 pad=(0, 1, 1, 0) round=ceil\n",
    "dilation": "input 9x9x2\nc: conv 3 3x3 dilation=2 pad=same -> tanh\n"
                "d: conv 2 2x3 stride=2 dilation=(2, 1)\n",
    "grouped": "input 6x6x4\ng: conv 6 3x3 groups=2 -> sigmoid\n",
    "depthwise": "input 6x6x4\nd: conv 8 3x3 groups=4 pad=1 bias=false\ne: conv 8 1x1 groups=8\n",
    "non_square": "input 7x5x2\na: conv 3 3x1 stride=(2, 1) pad=same\nb: conv 2 1x3 stride=(1, 2)\n"
                  "c: maxpool 3x2 stride=(2, 1) round=floor\n",
    "one_by_one": "input 4x4x5\nc: conv 3 1x1 -> softmax\n",
    "batchnorm": "input 5x4x3\nb: batchnorm eps=0.1 momentum=0.9 -> leaky_relu alpha=0.3\n"
                 "flatten\nb2: batchnorm eps=0.01\nd: dense 4\n",
    "leaky": "input 5x5x2\nc: conv 3 3x3 -> leaky_relu alpha=0.3\nleaky_relu alpha=0.2\n"
             "globalmaxpool\nd: dense 3 -> leaky_relu alpha=0.05\n",
    "misc": "input 6x6x2\nz: zeropad (0, 1, 2, 0)\nc: conv 3 3x3\nrelu\nsigmoid\ntanh\n"
            "activation softmax\ndropout 0.5\nglobalavgpool\nsoftmax\n",
    "flatten_chain": "input 3x4x5\nflatten\ndropout 0.3\nrelu\nd: dense 6 bias=false -> tanh\n"
                     "e: dense 3 -> softmax\n",
    "flat_input": "input 12\nd: dense 5 -> relu\nbatchnorm\nflatten\ne: dense 2\n",
}


def spec(body: str, name: str = "Case") -> cnnspec.Network:
    return cnnspec.loads(f"network {name}\n{body}")


# --- an independent NumPy reference over NHWC arrays and portable weights ---

def act(x, attrs):
    name, alpha = attrs["activation"], attrs.get("alpha")
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x >= 0, x, alpha * x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return x


def ref_conv(x, kernel, bias, a):
    t, b, left, right = a["padding"]
    xp = np.pad(x, ((0, 0), (t, b), (left, right), (0, 0)))
    (kh, kw), (sh, sw), (dh, dw), groups = a["kernel"], a["stride"], a["dilation"], a["groups"]
    oh, ow = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1, (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    cg, og = kernel.shape[2], kernel.shape[3] // groups
    out = np.zeros((len(x), oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh + dh * np.arange(kh)][:, :, j * sw + dw * np.arange(kw)]
            for g in range(groups):
                out[:, i, j, g * og:(g + 1) * og] = np.tensordot(
                    patch[..., g * cg:(g + 1) * cg], kernel[..., g * og:(g + 1) * og], axes=3)
    return out if bias is None else out + bias


def pool_size(n, k, s, lo, hi, ceil):
    span = n + lo + hi - k
    out = (-(-span // s) if ceil else span // s) + 1
    return out - 1 if ceil and (out - 1) * s >= n + lo else out


def ref_pool(x, a):
    t, b, left, right = a["padding"]
    (kh, kw), (sh, sw) = a["kernel"], a["stride"]
    _, h, w, _ = x.shape
    oh, ow = pool_size(h, kh, sh, t, b, a["ceil"]), pool_size(w, kw, sw, left, right, a["ceil"])
    out = np.empty((len(x), oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - t, j * sw - left
            cells = x[:, max(r0, 0):min(r0 + kh, h), max(c0, 0):min(c0 + kw, w)]
            if a["op"] == "max":
                out[:, i, j] = cells.max(axis=(1, 2))
                continue
            count = cells.shape[1] * cells.shape[2]
            if a["count_include_pad"]:
                count = (min(r0 + kh, h + b) - r0) * (min(c0 + kw, w + right) - c0)
            out[:, i, j] = cells.sum(axis=(1, 2)) / count
    return out


def ref_layer(node, x, p):
    a, key = node.attrs, node.name
    if node.kind == "conv":
        return act(ref_conv(x, p[f"{key}.kernel"], p.get(f"{key}.bias"), a), a)
    if node.kind == "dense":
        y = x @ p[f"{key}.kernel"]
        return act(y + p[f"{key}.bias"] if a["bias"] else y, a)
    if node.kind == "batchnorm":
        y = (x - p[f"{key}.moving_mean"]) / np.sqrt(p[f"{key}.moving_variance"] + a["eps"])
        return act(p[f"{key}.gamma"] * y + p[f"{key}.beta"], a)
    if node.kind in ("maxpool", "avgpool"):
        return ref_pool(x, a)
    if node.kind == "zeropad":
        t, b, left, right = a["padding"]
        return np.pad(x, ((0, 0), (t, b), (left, right), (0, 0)))
    simple = {"globalavgpool": lambda v: v.mean(axis=(1, 2)), "globalmaxpool": lambda v: v.max(axis=(1, 2)),
              "flatten": lambda v: v.reshape(len(v), -1), "dropout": lambda v: v,
              "activation": lambda v: act(v, a)}
    return simple[node.kind](x)


def reference(net, params, x):
    outputs = {}
    for node in net.layers:
        x = outputs[node.name] = ref_layer(node, x, params)
    return outputs


# --- running the torch model on NHWC data ---

def to_nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x))


def torch_layers(model, net, x) -> dict[str, np.ndarray]:
    """forward_layers on x (NHWC), back in NHWC (flat outputs in NHWC flatten order)."""
    with torch.no_grad():
        outputs = model.forward_layers(to_nchw(x))
    orders, result = flat_orders(net), {}
    for name, value in outputs.items():
        y = value.numpy()
        if y.ndim == 4:
            y = y.transpose(0, 2, 3, 1)
        elif name in orders:
            y = y[:, portable_rows(orders[name], y.shape[1])]
        result[name] = y
    return result


def assert_close(a, b, dtype="float64", what=""):
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    tol = RTOL[dtype] * max(1.0, float(np.max(np.abs(a))))
    err = float(np.max(np.abs(a - b)))
    assert err <= tol, f"{what}: max|a-b| = {err:.3e} > {tol:.3e}"


def model_class(net):
    return getattr(exec_module(generate(net), f"{net.name}_torch_test"), net.name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_match_numpy_reference(case):
    net = spec(CASES[case])
    params = init_weights(net, seed=3, dtype="float64")
    model = cnnspec.build(net, "torch", weights=params, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, *net.input_shape))
    expected, actual = reference(net, params, x), torch_layers(model, net, x)
    assert list(actual) == [n.name for n in net.layers]
    for node in net.layers:
        assert actual[node.name].shape[1:] == node.out_shape, node.name
        assert_close(expected[node.name], actual[node.name], what=f"{case} layer {node.name}")
    with torch.no_grad():  # forward is the same computation as forward_layers' last entry
        assert torch.equal(model(to_nchw(x)), model.forward_layers(to_nchw(x))[net.output.name])


def test_float32_matches_reference():
    net = spec(CASES["batchnorm"])
    params = init_weights(net, seed=5, dtype="float32")
    model = cnnspec.build(net, "torch", weights=params, dtype="float32")
    x = np.random.default_rng(2).standard_normal((2, *net.input_shape)).astype(np.float32)
    expected = reference(net, {k: v.astype(np.float64) for k, v in params.items()}, x.astype(np.float64))
    actual = torch_layers(model, net, x)
    assert actual["d"].dtype == np.float32
    for name in expected:
        assert_close(expected[name], actual[name], "float32", name)


def test_seed_multichannel_example_is_exact():
    net = cnnspec.load(ROOT / "specs" / "multichannel.cnn")
    kernel = np.stack([[[0, 1], [2, 3]], [[1, 2], [3, 4]]], axis=-1)[..., None].astype(np.float64)
    model = cnnspec.build(net, "torch", weights={"single.kernel": kernel}, dtype="float64")
    x = torch.tensor([[[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]],
                     dtype=torch.float64)
    assert model.single.weight.shape == (1, 2, 2, 2)
    with torch.no_grad():
        y = model(x)
    assert y.tolist() == [[[[56.0, 72.0], [104.0, 120.0]]]]


# --- the flatten-order trap ---

def test_dense_after_flatten_matches_nhwc_computation():
    net = spec("input 3x4x5\nflat: flatten\nfc: dense 3\n")
    params = init_weights(net, seed=7, dtype="float64")
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    expected = x.reshape(2, -1) @ params["fc.kernel"] + params["fc.bias"]  # NHWC flatten order
    model = cnnspec.build(net, "torch", weights=params, dtype="float64")
    with torch.no_grad():
        assert_close(expected, model(to_nchw(x)).numpy(), what="dense after flatten")
        model.fc.weight.copy_(torch.from_numpy(params["fc.kernel"].T))  # the classic bug
        wrong = model(to_nchw(x)).numpy()
    assert np.max(np.abs(wrong - expected)) > 1e-3, "without the row permutation outputs must differ"


def test_flat_orders():
    lenet = cnnspec.load(ROOT / "specs" / "lenet5.cnn")
    assert flat_orders(lenet) == {"flatten_1": ((400, (5, 5, 16)),)}
    net = spec(CASES["flatten_chain"])
    assert flat_orders(net) == {n.name: ((60, (3, 4, 5)),) for n in net.layers[:3]}
    assert flat_orders(spec(CASES["flat_input"])) == {}
    bn = spec(CASES["batchnorm"])
    assert flat_orders(bn) == {"flatten_1": ((60, (5, 4, 3)),), "b2": ((60, (5, 4, 3)),)}


# --- weights ---

ROUND_TRIP = ("input 6x5x4\nc: conv 4 3x3 groups=2 pad=same\nd: conv 6 1x2 bias=false\nb: batchnorm\n"
              "flatten\nbn: batchnorm eps=0.001\nf: dense 7 bias=false\ng: dense 3\n")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_to_portable_inverts_load_portable_exactly(dtype):
    net = spec(ROUND_TRIP)
    params = init_weights(net, seed=11, dtype=dtype)
    model = cnnspec.build(net, "torch", weights=params, dtype=dtype)
    back = model.cnnspec_module.to_portable(model)
    assert sorted(back) == sorted(params)
    for key, value in params.items():
        assert back[key].dtype == value.dtype and back[key].flags.c_contiguous, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)
    back["g.bias"][:] = 0  # a copy, not a view of the live parameter
    assert float(model.g.bias.detach().abs().sum()) > 0


def test_load_portable_converts_layouts_and_dtype():
    net = spec(ROUND_TRIP)
    params = init_weights(net, seed=2, dtype="float64")
    module = exec_module(generate(net), "roundtrip")
    model = getattr(module, net.name)()  # float32 parameters: the copy follows the model's dtype
    module.load_portable(model, params)
    assert model.c.weight.dtype == torch.float32
    np.testing.assert_allclose(model.c.weight.detach().numpy(), params["c.kernel"].transpose(3, 2, 0, 1),
                               rtol=1e-6)
    np.testing.assert_array_equal(model.b.running_var.numpy(), params["b.moving_variance"].astype(np.float32))
    rows = np.arange(144).reshape(6, 4, 6).transpose(2, 0, 1).ravel()  # (H, W, C) = (6, 4, 6)
    np.testing.assert_array_equal(model.bn.running_mean.numpy(), params["bn.moving_mean"][rows].astype(np.float32))
    bad = dict(params, **{"g.bias": np.zeros(4)})
    with pytest.raises(ValueError, match="g.bias"):
        module.load_portable(model, bad)


def test_batchnorm_options_written_explicitly():
    code = generate(spec("input 4x4x3\nb: batchnorm eps=1e-5 momentum=0.99\nflatten\nc: batchnorm\n"))
    assert "nn.BatchNorm2d(3, eps=1e-05, momentum=0.01)" in code
    assert "nn.BatchNorm1d(48, eps=0.001, momentum=0.01)" in code
    code = generate(spec("input 4x4x3\nc: conv 2 3x3 -> leaky_relu alpha=0.2\nleaky_relu alpha=0.1\n"))
    assert "F.leaky_relu(self.c(x), negative_slope=0.2)" in code
    assert "nn.LeakyReLU(negative_slope=0.1)" in code


# --- every spec: parameter counts, shapes, generated code ---

def running_stats(model) -> int:
    """Batch-norm moving statistics: PyTorch buffers, non-trainable parameters in the spec."""
    return sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_params_and_shapes(path):
    net = cnnspec.load(path)
    with torch.device("meta"):  # shapes and counts without allocating VGG's weights
        model = model_class(net)()
        outputs = model.forward_layers(torch.empty(2, *to_nchw(np.empty((1, *net.input_shape))).shape[1:]))
    assert sum(p.numel() for p in model.parameters()) + running_stats(model) == net.total_params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == net.trainable_params
    for node in net.layers:
        shape = tuple(outputs[node.name].shape[1:])
        nhwc = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
        assert nhwc == node.out_shape, node.name


def test_batchnorm_statistics_and_frozen_layers_count():
    net = spec("input 5x5x3\nc1: conv 4 3x3\nb: batchnorm\nc2: conv 2 3x3\nfreeze c1\n")
    model = model_class(net)()
    assert running_stats(model) == 8
    assert sum(p.numel() for p in model.parameters()) + running_stats(model) == net.total_params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == net.trainable_params
    assert not model.c1.weight.requires_grad and model.c2.weight.requires_grad


def test_generated_code_is_ruff_clean(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    nets = [cnnspec.load(p) for p in SPECS] + [spec(body, f"Case{i}") for i, body in enumerate(CASES.values())]
    for i, net in enumerate(nets):
        (tmp_path / f"model_{i}.py").write_text(generate(net))
    result = subprocess.run([ruff, "check", "--isolated", "--no-cache", str(tmp_path)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_deterministic_and_standalone():
    script = ("import cnnspec, sys\nfrom cnnspec.backends.torch import generate\n"
              "sys.stdout.write(''.join(generate(cnnspec.load(p)) for p in sys.argv[1:]))\n")
    paths = [str(p) for p in SPECS]
    env = dict(os.environ, PYTHONHASHSEED="123")
    other = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True,
                           env=env, check=True).stdout
    assert other == "".join(generate(cnnspec.load(p)) for p in paths)
    net = cnnspec.load(ROOT / "specs" / "lenet5.cnn")
    code = generate(net)
    assert net.description not in code and str(ROOT) not in code
    assert "generated by cnnspec" in code and "network LeNet5" in code
    assert "# 28x28x6, 156 params" in code and "import torch.nn.functional" not in code
    imports = {line.split()[1] for line in code.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"numpy", "torch"}


def test_importing_backend_does_not_import_torch():
    script = ("import sys, cnnspec, cnnspec.backends.torch as t\n"
              "t.generate(cnnspec.load(sys.argv[1]))\nassert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", script, str(ROOT / "specs" / "lenet5.cnn")], check=True)


# --- layer names that would shadow torch ---

def test_reserved_covers_nn_module_attributes():
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")}
    public |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert public <= RESERVED


def test_layer_names_that_shadow_torch_attributes():
    net = spec("input 4x4x2\nforward: conv 3 3x3\nforward_: conv 2 1x1\ntrain: relu\nflatten\n"
               "to: dense 2\n")
    params = init_weights(net, dtype="float64")
    model = cnnspec.build(net, "torch", weights=params, dtype="float64")
    assert isinstance(model.forward__, torch.nn.Conv2d) and isinstance(model.forward_, torch.nn.Conv2d)
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2))
    outputs = torch_layers(model, net, x)
    assert list(outputs) == ["forward", "forward_", "train", "flatten_1", "to"]
    assert_close(reference(net, params, x)["to"], outputs["to"], what="renamed layers")
    assert sorted(model.cnnspec_module.to_portable(model)) == sorted(params)


def test_keyword_and_underscore_layer_names():
    net = spec("input 4x4x2\nclass: conv 2 3x3\n_hidden: relu\n")  # valid spec names
    model = model_class(net)()
    assert isinstance(model.class_, torch.nn.Conv2d) and isinstance(model.layer_hidden, torch.nn.ReLU)
    assert list(model.forward_layers(torch.zeros(1, 2, 4, 4))) == ["class", "_hidden"]


@pytest.mark.parametrize("name", ["load_portable", "to_portable", "set_stage", "STAGES"])
def test_network_name_that_would_shadow_the_module_gets_a_model_suffix(name):
    # (the checker itself refuses imports such as torch and np: E204)
    net = spec("input 4x4x2\nc: conv 2 3x3\n", name)
    code = generate(net)
    assert f"class {name}Model(nn.Module):" in code
    model = cnnspec.build(net, "torch")
    assert type(model).__name__ == f"{name}Model"
    assert callable(model.cnnspec_module.load_portable)
