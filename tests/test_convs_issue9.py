"""Depthwise, separable and transposed convolutions (issue 9): shapes, parameters and MACs
against Keras's and PyTorch's own layers over many option combinations; the three backends
against each other and against the frameworks' own layers on random inputs; located errors.

The oracles are never cnnspec code: keras.layers.DepthwiseConv2D / SeparableConv2D /
Conv2DTranspose (output shapes, count_params(), outputs with the portable weights set),
torch.nn.Conv2d(groups=C) / nn.ConvTranspose2d (output sizes, parameter counts, outputs).
"""

from __future__ import annotations

import backend_cases  # noqa: F401  (first: it imports cases_convs, which imports it back)
import numpy as np
import pytest
from cases_convs import REFERENCES

import cnnspec
from cnnspec import runtime, shapes
from cnnspec.api import analyse
from cnnspec.backends.keras_convs import keras_transpose_padding
from cnnspec.source import SourceFile
from cnnspec.weights import init_weights

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TARGETS = ("numpy", "torch", "keras")
TOL64 = 1e-10


def layer(text: str, shape=(9, 7, 4)):
    dims = "x".join(map(str, shape))
    return cnnspec.loads(f"network t\ninput {dims}\nn: {text}\n").nodes[1]


def rel(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


# --- shapes, params and MACs against Keras's and PyTorch's own layers ---

DEPTHWISE = [  # (spec options, Keras layer kwargs): padding Keras can say
    ("3x3", {}), ("3x3 pad=same", {"padding": "same"}),
    ("3x3 multiplier=3 stride=2 pad=same", {"padding": "same", "strides": 2, "depth_multiplier": 3}),
    ("5x3 multiplier=2 dilation=2 pad=same", {"padding": "same", "dilation_rate": 2, "depth_multiplier": 2}),
    ("2x2 stride=2 bias=false", {"strides": 2, "use_bias": False}),
    ("1x1 multiplier=4", {"depth_multiplier": 4}),
]


@pytest.mark.parametrize("options, kwargs", DEPTHWISE)
def test_depthwise_and_separable_shapes_and_params_equal_keras(options, kwargs):
    kernel = tuple(int(k) for k in options.split()[0].split("x"))
    d = layer(f"depthwise {options}")
    k = keras.layers.DepthwiseConv2D(kernel, **kwargs)
    assert k.compute_output_shape((None, 9, 7, 4))[1:] == d.out_shape
    k.build((None, 9, 7, 4))
    assert k.count_params() == d.params
    assert tuple(tuple(w.shape) for w in k.weights) == tuple(w.shape for w in d.weights)
    s = layer(f"separable 6 {options}")
    ks = keras.layers.SeparableConv2D(6, kernel, **kwargs)
    assert ks.compute_output_shape((None, 9, 7, 4))[1:] == s.out_shape
    ks.build((None, 9, 7, 4))
    assert ks.count_params() == s.params
    assert [(v.name, tuple(v.shape)) for v in ks.weights] == [(w.name, w.shape) for w in s.weights]
    (oh, ow), c, m = d.out_shape[:2], 4, kwargs.get("depth_multiplier", 1)
    assert d.macs == oh * ow * kernel[0] * kernel[1] * c * m
    assert s.macs == oh * ow * (kernel[0] * kernel[1] * c * m + c * m * 6)


def test_depthwise_explicit_padding_matches_torch_groups_conv():
    for options, pad in (("3x3 pad=1", 1), ("3x5 stride=2 pad=(1, 2)", (1, 2)),
                         ("3x3 dilation=2 pad=2 multiplier=2", 2)):
        d = layer(f"depthwise {options}")
        m = d.attrs["multiplier"]
        conv = torch.nn.Conv2d(4, 4 * m, d.attrs["kernel"], d.attrs["stride"], pad,
                               d.attrs["dilation"], groups=4)
        out = conv(torch.zeros(1, 4, 9, 7)).shape
        assert (out[2], out[3], out[1]) == d.out_shape
        assert sum(p.numel() for p in conv.parameters()) == d.params


TRANSPOSED = [  # convtranspose options, all with symmetric explicit padding (PyTorch's own)
    "6 3x3", "6 3x3 stride=2", "6 3x3 stride=2 pad=1", "6 3x3 stride=2 pad=1 output_padding=1",
    "6 4x4 stride=2 pad=1", "6 2x3 stride=(2, 3) pad=(0, 1) output_padding=(1, 2)",
    "6 3x3 dilation=2 pad=2", "6 3x3 stride=2 dilation=3 pad=1 output_padding=2",
    "8 3x3 stride=2 groups=2 pad=1", "4 5x5 stride=3 groups=4 pad=2 output_padding=2 bias=false",
    "6 1x1 stride=4 output_padding=3", "6 3x3 stride=1 dilation=2 output_padding=1",
]


@pytest.mark.parametrize("options", TRANSPOSED)
def test_convtranspose_sizes_and_params_equal_pytorch(options):
    n = layer(f"convtranspose {options}", (5, 4, 4))
    a = n.attrs
    t, _, left, _ = a["padding"]
    ct = torch.nn.ConvTranspose2d(4, a["filters"], a["kernel_size"], a["stride"], (t, left),
                                  a["output_padding"], a["groups"], a["bias"], a["dilation"])
    out = ct(torch.zeros(1, 4, 5, 4)).shape
    assert (out[2], out[3], out[1]) == n.out_shape
    assert sum(p.numel() for p in ct.parameters()) == n.params
    kh, kw = a["kernel_size"]
    assert n.macs == 5 * 4 * kh * kw * 4 * (a["filters"] // a["groups"])


KERAS_TRANSPOSED = [  # (convtranspose options, Conv2DTranspose kwargs): Keras's same and valid
    ("6 3x3 stride=2 pad=same", {"strides": 2, "padding": "same"}),
    ("6 4x4 stride=2 pad=same", {"strides": 2, "padding": "same"}),
    ("6 2x2 stride=2 pad=same", {"strides": 2, "padding": "same"}),
    ("6 1x1 stride=3 pad=same", {"strides": 3, "padding": "same"}),
    ("6 3x3 stride=2 pad=valid", {"strides": 2, "padding": "valid"}),
    ("6 2x2 stride=3 pad=valid", {"strides": 3, "padding": "valid"}),
    ("6 5x3 stride=(2, 1) pad=same", {"strides": (2, 1), "padding": "same"}),
    ("6 3x3 dilation=2 pad=same", {"dilation_rate": 2, "padding": "same"}),
    ("6 3x3 dilation=2 pad=valid bias=false", {"dilation_rate": 2, "padding": "valid", "use_bias": False}),
]


@pytest.mark.parametrize("options, kwargs", KERAS_TRANSPOSED)
def test_convtranspose_same_and_valid_equal_keras(options, kwargs):
    n = layer(f"convtranspose {options}", (5, 4, 4))
    kernel = tuple(int(k) for k in options.split()[1].split("x"))
    k = keras.layers.Conv2DTranspose(6, kernel, **kwargs)
    assert tuple(k.compute_output_shape((None, 5, 4, 4))[1:]) == n.out_shape
    k.build((None, 5, 4, 4))
    assert k.count_params() == n.params
    assert [(v.name, tuple(v.shape)) for v in k.weights] == [(w.name, w.shape) for w in n.weights]
    # one Keras layer where TensorFlow can run it (its CPU kernel has no dilation)
    assert (keras_transpose_padding(n) is None) == ("dilation" in options)


def test_the_transposed_output_rules():
    assert shapes.transposed_output(5, 3, 2, 1, 1, 1) == 10  # (5-1)*2 - 2 + 2 + 1 + 1
    assert shapes.transposed_same(5, 3, 2) == (0, 1, 0)  # out = 10: crop 1, after
    assert shapes.transposed_same(5, 1, 3) == (0, 0, 2)  # out = 15: 2 zero rows added
    assert shapes.transposed_valid(5, 2, 3) == (0, 0, 1)  # Keras: N*S + max(K - S, 0)
    assert layer("convtranspose 2 3x3 stride=2 pad=same", (5, 4, 1)).out_shape == (10, 8, 2)


# --- the three backends against each other and the frameworks' own layers ---

SPEC = """network convs
input 7x6x4
d1: depthwise 3x3 -> relu
d2: depthwise 3x3 multiplier=3 stride=2 pad=same
d3: depthwise 2x3 multiplier=2 stride=(1, 2) pad=(0, 1, 2, 0) dilation=2x1 bias=false
s1: separable 6 3x3 multiplier=2 pad=same -> relu
s2: separable 5 3x3 stride=2 dilation=2 pad=same
t1: convtranspose 6 3x3 stride=2 pad=same
t2: convtranspose 4 4x4 stride=2 pad=1 -> tanh
t3: convtranspose 4 3x2 stride=2x1 pad=(1, 0, 0, 1) output_padding=1x0 groups=2
t4: convtranspose 6 3x3 stride=2 dilation=2 pad=1 output_padding=1 groups=2
t5: convtranspose 4 1x1 stride=3 pad=same
t6: convtranspose 3 2x2 stride=3 pad=valid bias=false
s3: separable 3 3x3 stride=3 pad=valid
t7: convtranspose 2 3x3 dilation=2 pad=same
"""


@pytest.fixture(scope="module")
def run():
    net = cnnspec.loads(SPEC)
    params = init_weights(net, seed=5, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, *net.input_shape))
    models = {t: runtime.build_model(net, t, params, dtype="float64") for t in TARGETS}
    layers = {t: runtime.run_layers(models[t], t, net, x) for t in TARGETS}
    return net, params, x, models, layers


def test_backends_agree_with_each_other_and_torch_functional_float64(run):
    net, params, x, _, layers = run
    inputs = {"input": x, **layers["numpy"]}
    for node in net.layers:
        ref = REFERENCES[node.kind](node, params, [inputs[node.inputs[0]]])
        for target in TARGETS:
            assert layers[target][node.name].shape == (2, *node.out_shape)
            assert rel(layers[target][node.name], ref) <= TOL64, (target, node.name)


def _keras_layer(node, params):
    """Keras's own layer for a node (same/valid padding as Keras says it), weights set."""
    a = node.attrs
    if node.kind == "convtranspose":
        mode = keras_transpose_padding(node)
        k = keras.layers.Conv2DTranspose(a["filters"], a["kernel_size"], a["stride"], mode,
                                         dilation_rate=a["dilation"], use_bias=a["bias"], dtype="float64")
    else:
        mode = "same" if any(a["padding"]) else "valid"
        kwargs = {"strides": a["stride"], "padding": mode, "depth_multiplier": a["multiplier"],
                  "dilation_rate": a["dilation"], "use_bias": a["bias"], "dtype": "float64"}
        k = (keras.layers.DepthwiseConv2D(a["kernel"], **kwargs) if node.kind == "depthwise" else
             keras.layers.SeparableConv2D(a["filters"], a["kernel"], **kwargs))
    k.build((None, *node.in_shape))
    k.set_weights([params[f"{node.name}.{w.name}"] for w in node.weights])
    return k


KERAS_OWN = ("d1", "d2", "s1", "t1", "t5", "t6", "s3")  # Keras can express these in one layer
TORCH_OWN = ("d1", "d3", "t2", "t4", "t7")


def test_outputs_equal_keras_own_layers(run):
    net, params, x, _, layers = run
    inputs = {"input": x, **layers["numpy"]}
    for name in KERAS_OWN:
        node = net.node(name)
        want = np.asarray(_keras_layer(node, params)(inputs[node.inputs[0]]))
        if node.attrs["activation"] == "relu":
            want = np.maximum(want, 0)
        for target in TARGETS:
            assert rel(layers[target][name], want) <= TOL64, (target, name)


def _torch_layer(node, params):
    a, key = node.attrs, node.name
    t, b, left, right = a["padding"]
    if node.kind == "convtranspose":
        m = torch.nn.ConvTranspose2d(node.in_shape[2], a["filters"], a["kernel_size"], a["stride"],
                                     (t, left), a["output_padding"], a["groups"], a["bias"],
                                     a["dilation"])
        weight = params[f"{key}.kernel"].transpose(3, 2, 0, 1)
    else:
        c, mult = node.in_shape[2], a["multiplier"]
        m = torch.nn.Conv2d(c, c * mult, a["kernel"], a["stride"], 0, a["dilation"], c, a["bias"])
        weight = params[f"{key}.kernel"].reshape(*a["kernel"], 1, c * mult).transpose(3, 2, 0, 1)
    m = m.double()
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(weight))
        if a["bias"]:
            m.bias.copy_(torch.as_tensor(params[f"{key}.bias"]))
    pad = (0, 0, 0, 0) if node.kind == "convtranspose" else (left, right, t, b)
    return lambda v: m(torch.nn.functional.pad(v, pad))


def test_outputs_equal_pytorch_own_layers(run):
    net, params, x, _, layers = run
    inputs = {"input": x, **layers["numpy"]}
    acts = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda v: v}
    for name in TORCH_OWN:
        node = net.node(name)
        value = torch.as_tensor(inputs[node.inputs[0]]).permute(0, 3, 1, 2)
        with torch.no_grad():
            want = acts[node.attrs["activation"]](_torch_layer(node, params)(value))
        want = want.permute(0, 2, 3, 1).numpy()
        for target in TARGETS:
            assert rel(layers[target][name], want) <= TOL64, (target, name)


def test_weights_round_trip_through_torch_and_keras(run):
    _net, params, _, models, _ = run
    for target in ("torch", "keras"):
        back = models[target].cnnspec_module.to_portable(models[target])
        assert set(back) == set(params)
        for key, value in params.items():
            assert back[key].shape == value.shape and np.array_equal(back[key], value), (target, key)


def test_float32_backends_agree(run):
    net, params, x, _, _ = run
    x32 = x.astype(np.float32)
    outs = {t: runtime.run_layers(runtime.build_model(net, t, params, dtype="float32"), t, net, x32)
            for t in TARGETS}
    for name in outs["numpy"]:
        for target in ("torch", "keras"):
            assert rel(outs[target][name], outs["numpy"][name]) <= 1e-5, (target, name)


def test_generated_code_is_framework_natural(run):
    code = {t: cnnspec.compile(cnnspec.loads(SPEC), t) for t in TARGETS}
    assert "nn.Conv2d(4, 12, kernel_size=3, stride=2, padding=1, groups=4)" not in code["torch"]  # same: asymmetric
    assert "self.d1 = nn.Conv2d(4, 4, kernel_size=3, groups=4)" in code["torch"]
    assert "self.s1 = SeparableConv2d(24, 6, kernel_size=3, padding=1, depth_multiplier=2)" in code["torch"]
    assert "self.t3 = nn.ConvTranspose2d(4, 4, kernel_size=(3, 2), stride=(2, 1), " \
           "output_padding=(1, 0), groups=2)" in code["torch"]
    assert "self.t2 = nn.ConvTranspose2d(6, 4, kernel_size=4, stride=2, padding=1)" in code["torch"]
    assert 'keras.layers.DepthwiseConv2D((3, 3), padding="same", strides=(2, 2), depth_multiplier=3' in code["keras"]
    assert 'keras.layers.Conv2DTranspose(6, (3, 3), padding="same", strides=(2, 2), name="t1"' in code["keras"]
    assert "ConvTranspose2D(4, (3, 2), (2, 1), padding=(1, 0, 0, 1), out=" in code["keras"]
    loops = [line.strip() for line in code["numpy"].split("\n") if line.strip().startswith("for ")]
    assert all(" in range(kh)" in line or " in range(kw)" in line or "zip(taps" in line
               or "_layers(" in line for line in loops), loops


def test_a_block_of_depthwise_and_separable_becomes_one_class():
    spec = """network blocks
input 8x8x4
block dws(n, s=1)
  dw: depthwise 3x3 stride=s pad=1 -> relu
  pw: separable n 3x3 pad=1
end
a: dws 8
b: dws 8 s=2
c: dws 8
up: convtranspose 4 2x2 stride=2
"""
    net = cnnspec.loads(spec)
    params = init_weights(net, seed=2, dtype="float64")
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 4))
    outs = {t: runtime.run_layers(runtime.build_model(net, t, params, dtype="float64"), t, net, x)
            for t in TARGETS}
    for target in ("torch", "keras"):
        for name, value in outs["numpy"].items():
            assert rel(outs[target][name], value) <= TOL64, (target, name)
    assert net.node("up").out_shape == (8, 8, 4)
    assert "class Dws(nn.Module)" in cnnspec.compile(net, "torch")


# --- located errors ---

IN = "network t\ninput 6x6x4\n"
ERRORS = [  # spec line, code, column, message fragment
    ("x: depthwise", "E104", 1, "depthwise needs a kernel size"),
    ("x: depthwise 3x3x4", "E103", 14, "KxK or KhxKw"),
    ("x: depthwise 3x3 multiplier=0", "E106", 29, "multiplier must be positive"),
    ("x: depthwise 3x3 groups=2", "E102", 18, "unknown option 'groups'"),
    ("x: depthwise 7x7", "E303", 1, "larger than its padded input"),
    ("x: separable 3x3", "E104", 1, "number of kernels and a kernel size"),
    ("x: separable 8", "E104", 1, "separable needs a kernel size"),
    ("x: convtranspose 8", "E104", 1, "number of output channels and a kernel size"),
    ("x: convtranspose 8 3x3 stride=2 pad=1 output_padding=2", "E106", 54, "smaller than the stride 2"),
    ("x: convtranspose 8 3x3 output_padding=1", "E106", 39, "smaller than the stride 1 or the dilation 1"),
    ("x: convtranspose 8 3x3 pad=same output_padding=1", "E103", 48, "cannot be combined with pad=same"),
    ("x: convtranspose 6 3x3 groups=4", "E302", 1, "6 output channels are not divisible by groups=4"),
    ("x: convtranspose 8 3x3 groups=3", "E302", 1, "4 input channels are not divisible"),
    ("x: convtranspose 8 3x3 pad=(4, 4, 0, 0)", "E106", 24, "crops the whole output height 8"),
    ("x: convtranspose 8 3x3x4", "E103", 20, "KxK or KhxKw"),
    ("x: convtranspose 8 3x3 pad=?", "E103", 28, "padding cannot be '?'"),
    ("flatten\nx: depthwise 3x3", "E305", 1, "needs an HxWxC input"),
]


@pytest.mark.parametrize("text, code, col, fragment", ERRORS)
def test_errors_are_located(text, code, col, fragment):
    _net, diags = analyse(SourceFile("t.cnn", IN + text + "\n"))
    found = [d for d in diags if d.code == code]
    assert found, [(d.code, d.message) for d in diags]
    line = 3 + text.count("\n")
    assert (found[0].span.line, found[0].span.col) == (line, col), found[0]
    assert fragment in found[0].message, found[0].message


def test_stated_output_hints_use_the_transposed_rule():
    """The kinds' own E308 explanations (kind.stated_hint, for the checker to use)."""
    from cnnspec.kinds import KINDS
    n = layer("convtranspose 8 3x3 stride=2", (4, 4, 4))
    why, hint = KINDS["convtranspose"].stated_hint(n.attrs, n.in_shape, (8, 8, 8), n.out_shape)
    assert why == ": height (4-1)*2 - 0 - 0 + 1*(3-1) + 0 + 1 = 9"
    assert "pad=same gives N*S = 8x8" in hint and "pad=1 output_padding=1 gives 8x8" in hint
    for fix in ("pad=same", "pad=1 output_padding=1"):
        assert layer(f"convtranspose 8 3x3 stride=2 {fix}", (4, 4, 4)).out_shape == (8, 8, 8)
    _, hint = KINDS["convtranspose"].stated_hint(n.attrs, n.in_shape, (7, 7), n.out_shape)
    assert hint.startswith("pad=1 gives 7x7")
    d = layer("depthwise 3x3 multiplier=2", (4, 4, 4))
    _, hint = KINDS["depthwise"].stated_hint(d.attrs, d.in_shape, (2, 2, 12), d.out_shape)
    assert "4*2 = 8 channels; write multiplier=3 for 12" in hint
    assert KINDS["depthwise"].stated_hint(d.attrs, d.in_shape, (3, 3, 8), d.out_shape) is None


KERAS_OUTPUT_PADDING = [  # Conv2DTranspose kwargs with Keras's own output_padding
    {"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
    {"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0},
    {"kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 2},
    {"kernel_size": 2, "strides": 3, "padding": "valid", "output_padding": 1},
    {"kernel_size": (3, 2), "strides": (2, 3), "padding": "valid", "output_padding": (1, 0)},
    {"kernel_size": 5, "strides": 2, "padding": "same"},
]


@pytest.mark.parametrize("kwargs", KERAS_OUTPUT_PADDING)
def test_any_keras_conv2dtranspose_is_a_convtranspose(kwargs):
    """shapes.keras_transposed maps Keras's padding and output_padding onto cnnspec's crop:
    the spec it gives computes Keras's own layer's outputs."""
    def per_axis(v):
        return (v, v) if isinstance(v, int) or v is None else v
    k, s, op = (per_axis(kwargs.get(n)) for n in ("kernel_size", "strides", "output_padding"))
    axes = [shapes.keras_transposed((5, 4)[a], k[a], s[a], kwargs["padding"], op[a]) for a in (0, 1)]
    text = (f"convtranspose 3 {k[0]}x{k[1]} stride=({s[0]}, {s[1]}) pad=({axes[0][0]}, {axes[0][1]}, "
            f"{axes[1][0]}, {axes[1][1]}) output_padding=({axes[0][2]}, {axes[1][2]})")
    net = cnnspec.loads(f"network t\ninput 5x4x2\nn: {text}\n")
    params = init_weights(net, seed=1, dtype="float64")
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 2))
    keras_layer = keras.layers.Conv2DTranspose(3, dtype="float64", **kwargs)
    keras_layer.build((None, 5, 4, 2))
    keras_layer.set_weights([params["n.kernel"], params["n.bias"]])
    want = np.asarray(keras_layer(x))
    assert want.shape[1:] == net.node("n").out_shape
    got = runtime.build_model(net, "numpy", params, dtype="float64")(x)
    assert rel(got, want) <= TOL64


def test_the_keras_custom_transposed_layer_saves_and_loads(tmp_path):
    net = cnnspec.loads("network t\ninput 4x3x4\n"
                        "n: convtranspose 4 3x2 stride=2 pad=(1, 0, 0, 1) output_padding=1 groups=2\n")
    model = runtime.build_model(net, "keras", dtype="float64")
    assert type(model.get_layer("n")).__name__ == "ConvTranspose2D"
    model.save(tmp_path / "t.keras")
    loaded = keras.models.load_model(tmp_path / "t.keras")
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 4))
    assert np.array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert loaded.get_layer("n").get_config()["padding"] == (1, 0, 0, 1)


def test_a_wrong_out_is_explained_by_the_kind_itself():
    """E308's hint for the new kinds is their own rule, not the conv's or pooling's."""
    from cnnspec.api import analyse
    from cnnspec.source import SourceFile
    cases = {"c: convtranspose 4 3x3 stride=2 out=13x13x4": "pad=2 gives 13x13",
             "c: depthwise 3x3 out=6x6x5": "C*multiplier = 3*1 = 3",
             "c: separable 8 3x3 out=6x6x5": "write 'separable 5 ...'",
             "c: convtranspose 4 3x3 stride=2 out=17": "HxW or HxWxC",  # found by fuzzing
             "c: convtranspose 4 3x3 stride=2 out=5": "HxW or HxWxC"}
    for line, hint in cases.items():
        _, diags = analyse(SourceFile("t.cnn", f"network t\ninput 8x8x3\n{line}\n"))
        assert [d.code for d in diags] == ["E308"] and hint in diags[0].hint, (line, diags)
