"""The activations of issue 9 (relu6, swish/silu, hard_sigmoid, hard_swish, gelu, gelu_tanh,
elu with alpha, and the older ones) and the dropout modes, in the checker and all three backends.

Oracles: torch.nn.functional and keras.activations applied directly in the test to the
activations' inputs (never generated code), math.erf / math.erfc for NumPy's own erf, and
torch's / Keras's own dropout layers in training mode. Tolerances are the contract's:
float64 1e-10 * max(1, max|a|), float32 1e-5 * max(1, max|a|).
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from backend_cases import graph
from cases_activations import WRITTEN, dropouts, every_activation

import cnnspec
from cnnspec import runtime
from cnnspec.api import analyse
from cnnspec.backends.numpy_acts import HELPERS
from cnnspec.kinds.base import ACTIVATION_FUNCTIONS, ALPHA_DEFAULTS
from cnnspec.source import SourceFile
from cnnspec.weights import init_weights

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
F = torch.nn.functional

TARGETS = ("numpy", "torch", "keras")
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
ACTS = [name for name in ACTIVATION_FUNCTIONS if name != "linear"]
ALPHA = {"leaky_relu": 0.2, "elu": 0.7}  # as cases_activations writes them


def torch_function(name: str, alpha=None):
    return {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softmax": lambda v: F.softmax(v, dim=-1),
            "leaky_relu": lambda v: F.leaky_relu(v, negative_slope=alpha), "relu6": F.relu6,
            "swish": F.silu, "hard_sigmoid": F.hardsigmoid, "hard_swish": F.hardswish,
            "gelu": lambda v: F.gelu(v, approximate="none"),
            "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
            "elu": lambda v: F.elu(v, alpha=alpha)}[name]


def keras_function(name: str, alpha=None):
    a = keras.activations
    return {"relu": a.relu, "sigmoid": a.sigmoid, "tanh": a.tanh,
            "softmax": lambda v: a.softmax(v, axis=-1),
            "leaky_relu": lambda v: a.leaky_relu(v, negative_slope=alpha), "relu6": a.relu6,
            "swish": a.silu, "hard_sigmoid": a.hard_sigmoid, "hard_swish": a.hard_silu,
            "gelu": lambda v: a.gelu(v, approximate=False),
            "gelu_tanh": lambda v: a.gelu(v, approximate=True),
            "elu": lambda v: a.elu(v, alpha=alpha)}[name]


def by_torch(name, value):
    return torch_function(name, ALPHA.get(name))(torch.from_numpy(np.ascontiguousarray(value))).numpy()


def by_keras(name, value):
    return np.asarray(keras_function(name, ALPHA.get(name))(value))


def relative(got, ref) -> float:
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, ref.shape, got.dtype)
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / max(1.0, float(np.max(np.abs(ref)))))


# --- every activation, fused (conv, dense) and as a layer, in every backend ---

def shared_weights(net, dtype):
    """Weights where every fused conv has pre's weights and every dense the same weights,
    so that each activation's input is pre's value (or one dense value); pre is scaled x3 so
    that the inputs reach relu6's clip, hard_sigmoid's saturation and elu's tail."""
    params = init_weights(net, seed=7, dtype="float64")
    params["pre.kernel"] = 3 * params["pre.kernel"]
    params["pre.bias"] = np.linspace(-2, 2, params["pre.bias"].size)
    for name in WRITTEN:
        params[f"fused_{name}.kernel"], params[f"fused_{name}.bias"] = params["pre.kernel"], params["pre.bias"]
        params[f"dense_{name}.kernel"] = params["dense_relu.kernel"]
        params[f"dense_{name}.bias"] = params["dense_relu.bias"]
    return {k: v.astype(dtype) for k, v in params.items()}


def activation_inputs(params, x):
    """pre's value (a 1x1 conv: one matmul) and the dense layers' value, computed here."""
    pre = x @ params["pre.kernel"][0, 0] + params["pre.bias"]
    dense = pre.reshape(len(x), -1) @ params["dense_relu.kernel"] + params["dense_relu.bias"]
    return pre, dense


@pytest.fixture(scope="module")
def activation_runs():
    """For each dtype: (layers of each target, pre's value, the dense value)."""
    net = every_activation()
    runs = {}
    for dtype in ("float64", "float32"):
        params = shared_weights(net, dtype)
        x = (2 * np.random.default_rng(1).standard_normal((4, *net.input_shape))).astype(dtype)
        layers = {t: runtime.run_layers(runtime.build_model(net, t, params, dtype=dtype), t, net, x)
                  for t in TARGETS}
        runs[dtype] = (layers, *activation_inputs(params, x))
    return runs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ACTS)
def test_every_activation_fused_and_as_a_layer_against_torch_and_keras(activation_runs, name, dtype):
    layers, pre, dense = activation_runs[dtype]
    assert np.max(np.abs(pre)) > 6 and np.min(pre) < -3  # the inputs reach every regime
    tol = TOLERANCE[dtype]
    for node, value in ((f"layer_{name}", pre), (f"fused_{name}", pre), (f"dense_{name}", dense)):
        ref_torch, ref_keras = by_torch(name, value), by_keras(name, value)
        # keras.activations with the TensorFlow backend is off in float64 for three of them:
        # TF's Gelu kernel by 5e-9 (exact) and 9e-10 (tanh), leaky_relu by |x| * 3e-9 (TF holds
        # the slope as a float32); the Keras backend writes those out, so it meets `tol`
        inexact = name in ("gelu", "gelu_tanh", "leaky_relu") and dtype == "float64"
        keras_tol = 1e-8 if inexact else tol
        assert relative(ref_keras, ref_torch) <= keras_tol, (node, "the two references differ")
        for target in TARGETS:
            got = layers[target][node]
            assert relative(got, ref_torch) <= tol, (target, node, relative(got, ref_torch))
            assert relative(got, ref_keras) <= keras_tol, (target, node, relative(got, ref_keras))


def test_the_activation_layers_are_the_frameworks_own_where_they_are_exact():
    net = every_activation()
    torch_code, keras_code = cnnspec.compile(net, "torch"), cnnspec.compile(net, "keras")
    for line in ("self.layer_relu6 = nn.ReLU6()", "self.layer_swish = nn.SiLU()",
                 "self.layer_hard_sigmoid = nn.Hardsigmoid()", "self.layer_hard_swish = nn.Hardswish()",
                 'self.layer_gelu = nn.GELU(approximate="none")',
                 'self.layer_gelu_tanh = nn.GELU(approximate="tanh")',
                 "self.layer_elu = nn.ELU(alpha=0.7)",
                 "fused_swish = F.silu(self.fused_swish(input_))",
                 "fused_elu = F.elu(self.fused_elu(input_), alpha=0.7)",
                 'fused_gelu = F.gelu(self.fused_gelu(input_), approximate="none")',
                 "dense_hard_swish = F.hardswish(self.dense_hard_swish(flat))"):
        assert line in torch_code, line
    for fragment in ('keras.layers.Conv2D(6, (1, 1), activation="silu", name="fused_swish"',
                     'keras.layers.Conv2D(6, (1, 1), activation="hard_silu", name="fused_hard_swish"',
                     'keras.layers.Conv2D(6, (1, 1), activation="hard_sigmoid", name="fused_hard_sigmoid"',
                     'keras.layers.Dense(5, activation="relu6", name="dense_relu6"',
                     'keras.layers.Activation("silu", name="layer_swish"',
                     'keras.layers.ELU(alpha=0.7, name="layer_elu"',
                     'keras.layers.ELU(alpha=0.7, name="fused_elu"',
                     'Gelu(name="layer_gelu"', 'GeluTanh(name="fused_gelu_tanh"'):
        assert fragment in keras_code, fragment
    assert keras_code.count("class Gelu(keras.layers.Layer):") == 1
    assert keras_code.count("class GeluTanh(keras.layers.Layer):") == 1


def test_elu_with_alpha_one_is_kerass_own_elu():
    net = graph((3, 3, 2), [("c", "conv 2 1x1 -> elu", None), ("e", "elu", None)])
    code = cnnspec.compile(net, "keras")
    assert 'Conv2D(2, (1, 1), activation="elu", name="c"' in code
    assert 'keras.layers.Activation("elu", name="e"' in code
    assert "F.elu(self.c(x), alpha=1.0)" in cnnspec.compile(net, "torch")
    assert "x = _elu(x, 1.0)" in cnnspec.compile(net, "numpy")


# --- NumPy's erf and helpers ---

def numpy_helpers() -> dict:
    """Every activation helper of the NumPy backend, executed from its generated source."""
    source = "import numpy as np\n" + "".join(source for source, _ in HELPERS.values())
    return vars(runtime.exec_module(source, "numpy_activation_helpers"))


ERF_GRID = np.concatenate([
    np.linspace(-7, 7, 2_000_001), np.geomspace(1e-300, 30, 20_001), -np.geomspace(1e-300, 30, 20_001),
    [0.0, 1.0, -1.0, np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), 5.9, 6.0, 26.5, 27.2, 28.0, 1e300]])


def test_numpy_erf_is_within_3e_16_of_math_erf_over_the_whole_line():
    erf = numpy_helpers()["_erf"]
    ours, ref = erf(ERF_GRID), np.array([math.erf(v) for v in ERF_GRID])
    nonzero = ref != 0
    rel = np.abs(ours - ref)[nonzero] / np.abs(ref[nonzero])
    assert rel.max() <= 4e-16, (rel.max(), ERF_GRID[nonzero][rel.argmax()])
    assert np.array_equal(ours[~nonzero], ref[~nonzero])
    specials = erf(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert specials[:2].tolist() == [1.0, -1.0] and np.isnan(specials[2])
    assert np.signbit(specials[4]) and not np.signbit(specials[3])


def test_numpy_erfc_keeps_its_relative_accuracy_in_the_tails():
    erfc = numpy_helpers()["_erfc"]
    ours, ref = erfc(ERF_GRID), np.array([math.erfc(v) for v in ERF_GRID])
    normal = ref > 1e-300  # past that, erfc is subnormal: relative accuracy ends
    rel = np.abs(ours - ref)[normal] / ref[normal]
    assert rel.max() <= 2e-15, (rel.max(), ERF_GRID[normal][rel.argmax()])
    assert np.all(np.abs(ours[~normal] - ref[~normal]) <= 1e-300)
    assert erfc(np.array([np.inf, -np.inf])).tolist() == [0.0, 2.0]


def test_numpy_erf_in_float32_is_within_a_few_float32_ulps():
    """float32 takes the shorter series in float32 arithmetic: within 3e-7 relative for erf
    (float32's own rounding is 6e-8), 2.5e-7 absolute for erfc, and more exact than torch's
    own float32 gelu."""
    helpers = numpy_helpers()
    x = np.concatenate([np.linspace(-12, 12, 400_001), np.geomspace(1e-38, 12, 5_001),
                        -np.geomspace(1e-38, 12, 5_001)]).astype(np.float32)
    wide = x.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        erf, erfc, gelu = helpers["_erf"](x), helpers["_erfc"](x), helpers["_gelu"](x)
    assert erf.dtype == erfc.dtype == gelu.dtype == np.float32
    ref = np.array([math.erf(v) for v in wide])
    nonzero = ref != 0
    assert np.max(np.abs(erf - ref)[nonzero] / np.abs(ref[nonzero])) <= 3e-7
    assert np.max(np.abs(erfc - np.array([math.erfc(v) for v in wide]))) <= 2.5e-7
    exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in wide])
    ours = np.max(np.abs(gelu - exact) / np.maximum(1, np.abs(exact)))
    theirs = np.max(np.abs(F.gelu(torch.from_numpy(x)).numpy() - exact) / np.maximum(1, np.abs(exact)))
    assert ours <= 3e-7 and ours <= theirs, (ours, theirs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_helpers_take_extreme_inputs_silently_and_match_torch(dtype):
    """No overflow warnings (exp, x**3 of huge inputs), and the frameworks' limits."""
    helpers = numpy_helpers()
    big = float(np.finfo(dtype).max) / 10
    x = np.array([-big, -1e30, -1e4, -89.0, -30.0, -3.0, -1e-30, 0.0, 1e-30, 3.0, 30.0, 89.0, 1e4,
                  1e30, big], dtype=dtype)
    for name in ACTS:
        if name == "softmax":
            continue
        alpha = (ALPHA[name],) if name in ALPHA_DEFAULTS else ()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = helpers[f"_{name}"](x, *alpha)
        ref = torch_function(name, ALPHA.get(name))(torch.from_numpy(x)).numpy()
        assert got.dtype == x.dtype, name
        finite = np.isfinite(ref)
        assert np.array_equal(np.isfinite(got), finite), (name, got, ref)
        err = np.abs(got[finite].astype(np.float64) - ref[finite]) / np.maximum(1.0, np.abs(ref[finite]))
        assert err.max() <= TOLERANCE[dtype], (name, got, ref)


# --- the checker ---

def check(text: str):
    return analyse(SourceFile("t.cnn", "network t\ninput 6x6x3\n" + text))


def test_silu_is_swish_in_the_ir_fused_and_as_a_layer():
    net, diags = check("a: conv 4 3x3 -> silu\nb: silu\nc: activation silu\nd: swish\n")
    assert not [d for d in diags if d.severity == "error"], diags
    assert [(n.attrs["activation"], n.kind) for n in net.layers] == \
        [("swish", "conv"), ("swish", "activation"), ("swish", "activation"), ("swish", "activation")]


def test_elu_alpha_defaults_to_one_and_is_carried():
    net, diags = check("a: conv 4 3x3 -> elu\nb: elu alpha=0.5\nc: activation elu 0.25\n"
                       "d: conv 4 1x1 -> elu 2\n")
    assert not [d for d in diags if d.severity == "error"], diags
    assert [n.attrs["alpha"] for n in net.layers] == [1.0, 0.5, 0.25, 2.0]
    net, _ = check("a: conv 4 3x3 -> gelu\nb: relu6\n")
    assert [n.attrs["alpha"] for n in net.layers] == [None, None]


def test_dropout_modes_in_the_ir():
    net, diags = check("a: dropout 0.2\nb: dropout 0.2 mode=channel\nc: dropout rate=0.1 mode=sample\n"
                       "flatten\nd: dropout 0.3 mode=sample\n")
    assert not [d for d in diags if d.severity == "error"], diags
    assert [n.attrs.get("mode") for n in net.layers if n.kind == "dropout"] == \
        ["element", "channel", "sample", "sample"]


@pytest.mark.parametrize("text, code, line, col, fragment, hint", [
    ("c: conv 4 3x3 -> swsh\n", "E101", 3, 15, "unknown activation 'swsh'", "did you mean 'swish'?"),
    ("c: conv 4 3x3 -> gelu_tan\n", "E101", 3, 15, "unknown activation 'gelu_tan'", "did you mean 'gelu_tanh'?"),
    ("a: activation hardswish\n", "E103", 3, 15, "activation must be one of", "did you mean 'hard_swish'?"),
    ("r: relu6 alpha=0.2\n", "E102", 3, 10, "unknown option 'alpha' for relu6", None),
    ("a: activation gelu alpha=0.2\n", "E102", 3, 20, "unknown option 'alpha' for gelu", "only leaky_relu and elu"),
    ("c: conv 4 3x3 -> swish alpha=1\n", "E102", 3, 24, "unknown option 'alpha' for swish", None),
    ("e: elu alpha=-1\n", "E106", 3, 14, "alpha must be in", None),
    ("c: conv 4 3x3 -> elu alpha=x\n", "E103", 3, 28, "alpha must be a number", None),
    ("d: dropout 0.2 mode=spatial\n", "E103", 3, 21, "dropout mode must be one of element, channel, sample", None),
    ("flatten\nd: dropout 0.2 mode=channel\n", "E305", 4, 21, "needs an HxWxC input", "mode=element"),
    ("d: dropout 1.0 mode=sample\n", "E106", 3, 12, "dropout rate must be in", None),
])
def test_errors_are_located(text, code, line, col, fragment, hint):
    _, diags = check(text)
    found = [d for d in diags if d.code == code]
    assert found, [(d.code, d.message) for d in diags]
    d = found[0]
    assert (d.span.line, d.span.col) == (line, col) and fragment in d.message, d
    if hint:
        assert hint in (d.hint or ""), d.hint


# --- dropout: the identity at inference, the framework's own layer in training ---

def test_dropout_layers_are_identities_at_inference_and_say_so():
    net = dropouts()
    params = init_weights(net, seed=2, dtype="float64")
    x = np.random.default_rng(3).standard_normal((5, *net.input_shape))
    for target in TARGETS:
        layers = runtime.run_layers(runtime.build_model(net, target, params, dtype="float64"), target, net, x)
        for name, src in (("element", "pre"), ("channel", "pre"), ("sample", "pre"), ("flat_sample", "flat")):
            assert np.array_equal(layers[name], layers[src]), (target, name)
    numpy_code = cnnspec.compile(net, "numpy")
    assert "# dropout 0.2, mode=channel (zeroes whole channels in training): identity at inference" in numpy_code
    assert "# dropout 0.1, mode=sample (zeroes whole samples (stochastic depth) in training)" in numpy_code
    torch_code = cnnspec.compile(net, "torch")
    for line in ("self.element = nn.Dropout(p=0.3)", "self.channel = nn.Dropout2d(p=0.2)",
                 "self.sample = SampleDropout(p=0.1)", "self.flat_sample = SampleDropout(p=0.5)",
                 "x = self.channel(x)  # 5x5x4, identity at inference (eval mode)"):
        assert line in torch_code, line
    assert torch_code.count("class SampleDropout(nn.Module):") == 1
    keras_code = cnnspec.compile(net, "keras")
    for fragment in ('keras.layers.Dropout(0.3, name="element"',
                     'keras.layers.SpatialDropout2D(0.2, name="channel"',
                     'keras.layers.Dropout(0.1, noise_shape=(None, 1, 1, 1), name="sample"',
                     'keras.layers.Dropout(0.5, noise_shape=(None, 1), name="flat_sample"',
                     "# 5x5x4, 0 params, identity at inference"):
        assert fragment in keras_code, fragment


def zero_pattern(y, x, rate):
    """Which (sample, channel) maps were dropped; asserts the kept values are x / (1 - rate)."""
    dropped = np.all(y == 0, axis=(1, 2))
    kept = ~dropped[:, None, None, :] & np.ones_like(y, dtype=bool)
    np.testing.assert_allclose(y[kept], (x / (1 - rate))[kept], rtol=1e-12)
    return dropped


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_dropout_modes_in_training_drop_what_they_say(target):
    net = graph((4, 4, 6), [("channel", "dropout 0.5 mode=channel", None),
                            ("sample", "dropout 0.5 mode=sample", ["input"])], outputs=("channel", "sample"))
    x = np.random.default_rng(0).uniform(1, 2, (32, 4, 4, 6))
    model = runtime.build_model(net, target, {}, dtype="float64")
    if target == "torch":
        torch.manual_seed(0)
        model.train()
        with torch.no_grad():
            outputs = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        channel, sample = (o.numpy().transpose(0, 2, 3, 1) for o in outputs)
    else:
        keras.utils.set_random_seed(0)
        channel, sample = (np.asarray(o) for o in model(x, training=True))
    by_channel, by_sample = zero_pattern(channel, x, 0.5), zero_pattern(sample, x, 0.5)
    assert 0 < by_channel.mean() < 1 and len({tuple(r) for r in by_channel}) > 1  # maps, not samples
    assert np.all(by_sample.all(axis=1) | ~by_sample.any(axis=1))  # whole samples
    assert 0 < by_sample[:, 0].mean() < 1


# --- generated code ---

def test_generated_code_is_ruff_clean_and_has_only_the_helpers_it_uses(tmp_path):
    for make in (every_activation, dropouts):
        for target in TARGETS:
            (tmp_path / f"{make.__name__}_{target}.py").write_text(cnnspec.compile(make(), target))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                             str(tmp_path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    plain = graph((3, 3, 2), [("c", "conv 2 1x1 -> relu6", None), ("s", "swish", None)])
    numpy_code = cnnspec.compile(plain, "numpy")
    assert "def _relu6(" in numpy_code and "def _swish(" in numpy_code and "def _sigmoid(" in numpy_code
    assert "_erf" not in numpy_code and "def _gelu" not in numpy_code
    assert "import torch.nn.functional as F" in cnnspec.compile(plain, "torch")  # F.relu6
    keras_code = cnnspec.compile(plain, "keras")
    assert "class " not in keras_code and 'activation="relu6"' in keras_code
    gelu = graph((3, 3, 2), [("g", "gelu", None)])
    assert "def _erfc(" in cnnspec.compile(gelu, "numpy")
    assert "import torch.nn.functional as F" not in cnnspec.compile(gelu, "torch")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own saving code, numpy 2
def test_keras_activation_and_dropout_layers_survive_save_and_load(tmp_path):
    net = graph((4, 4, 3), [("c", "conv 4 1x1 -> gelu", None), ("t", "gelu_tanh", None),
                            ("e", "elu alpha=0.4", None), ("d", "dropout 0.3 mode=channel", None),
                            ("s", "dropout 0.3 mode=sample", None)], name="Saved")
    model = runtime.build_model(net, "keras", dtype="float64")
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))
    assert [type(layer).__name__ for layer in again.layers[2:]] == \
        ["Gelu", "GeluTanh", "ELU", "SpatialDropout2D", "Dropout"]


@pytest.mark.parametrize("act", ["hard_swish", "gelu", "elu 0.5", "swish", "relu6"])
def test_fused_activations_of_merges_and_batchnorm(act):
    from backend_cases import framework_reference
    net = graph((4, 4, 3), [("a", "conv 4 1x1", ["input"]), ("b", "conv 4 3x3 pad=1", ["input"]),
                            ("sum", f"add -> {act}", ["a", "b"]), ("bn", f"batchnorm -> {act}", None),
                            ("prod", f"multiply -> {act}", ["bn", "a"])])
    params = init_weights(net, seed=1, dtype="float64")
    params = {k: 3 * v if k.endswith("kernel") else v for k, v in params.items()}
    x = np.random.default_rng(2).standard_normal((3, 4, 4, 3))
    reference = framework_reference(net, params, x)
    for target in TARGETS:
        layers = runtime.run_layers(runtime.build_model(net, target, params, dtype="float64"), target, net, x)
        for name in ("sum", "bn", "prod"):
            assert relative(layers[name], reference[name]) <= TOLERANCE["float64"], (target, name)


def test_numpy_erf_keeps_any_shape():
    helpers = numpy_helpers()
    x = np.random.default_rng(4).standard_normal((3, 4, 5, 6)).astype(np.float32)
    for name in ("_erf", "_erfc", "_gelu"):
        assert helpers[name](x).shape == x.shape and helpers[name](x).dtype == np.float32
        assert helpers[name](x[:0]).shape == (0, 4, 5, 6)
    assert float(helpers["_erf"](np.array(0.5))) == pytest.approx(math.erf(0.5), rel=1e-15)


def test_the_erf_coefficients_are_what_the_script_derives():
    """scripts/erf_coefficients.py (mpmath, 50 digits) prints the four tuples the module holds."""
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    printed = subprocess.run([sys.executable, str(root / "scripts" / "erf_coefficients.py")],
                             check=True, capture_output=True, text=True).stdout
    helpers = numpy_helpers()
    for line in printed.strip().splitlines():
        name, _, values = line.partition(" = ")
        assert tuple(helpers[name]) == tuple(float(v) for v in values.strip("()").split(", ")), name
