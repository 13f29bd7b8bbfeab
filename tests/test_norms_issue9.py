"""Normalisation kinds of issue 9 against Keras's own layers: batchnorm scale=/center=,
layernorm, normalize (fixed values or weights), rescale, layerscale.

- Counts: each spec line's params, trainable and non-trainable params and weight names and
  shapes equal those of the Keras layer it stands for (BatchNormalization(scale=False),
  LayerNormalization, Normalization with and without fixed values, Rescaling, ConvNeXt's
  LayerScale), built on the same input.
- Numbers: a chain of every variant, on images and (after a flatten) on flat vectors, through
  the NumPy, PyTorch and Keras backends, against the same chain of Keras's own layers given the
  same random non-trivial weights (float64 within 1e-10, float32 within 1e-5, of max(1, max|a|)).
- Portable weights round-trip through PyTorch and Keras (Normalization's count of shape ()),
  the generated models hold exactly the spec's trainable and non-trainable params, a Keras
  model with the custom layers saves and loads, and mistakes are located errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnspec
from cnnspec import runtime
from cnnspec.api import analyse
from cnnspec.source import SourceFile

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

C = 6
MEAN = (0.5, -1.0, 2.0, 0.25, 3.0, -0.75)
VAR = (4.0, 0.5, 2.0, 0.01, 1.5, 9.0)
SCALE = (0.5, -2.0, 3.0, 0.125, 1.0, 0.7)
OFFSET = (1.0, 0.0, -0.5, 2.0, 0.3, -0.1)


def tup(values) -> str:
    return "(" + ", ".join(map(repr, values)) + ")"


def keras_layer_scale(init, channels):
    from keras.src.applications.convnext import LayerScale
    return LayerScale(init, channels)


# spec line -> the Keras layer it stands for (over channels-last inputs)
LAYERS = {
    "batchnorm": lambda: keras.layers.BatchNormalization(),
    "batchnorm scale=false": lambda: keras.layers.BatchNormalization(scale=False),
    "batchnorm center=false": lambda: keras.layers.BatchNormalization(center=False),
    "batchnorm scale=false center=false": lambda: keras.layers.BatchNormalization(scale=False, center=False),
    "layernorm": lambda: keras.layers.LayerNormalization(),
    "layernorm eps=1e-6": lambda: keras.layers.LayerNormalization(epsilon=1e-6),
    "layernorm scale=false eps=0.1": lambda: keras.layers.LayerNormalization(scale=False, epsilon=0.1),
    "layernorm center=false": lambda: keras.layers.LayerNormalization(center=False),
    "layernorm scale=false center=false": lambda: keras.layers.LayerNormalization(scale=False, center=False),
    "normalize": lambda: keras.layers.Normalization(),
    f"normalize mean={tup(MEAN)} variance={tup(VAR)}":
        lambda: keras.layers.Normalization(mean=np.array(MEAN), variance=np.array(VAR)),
    "normalize mean=0.5 variance=2.25":
        lambda: keras.layers.Normalization(mean=np.float64(0.5), variance=np.float64(2.25)),
    f"rescale {tup(SCALE)} offset={tup(OFFSET)}":
        lambda: keras.layers.Rescaling(np.array(SCALE), offset=np.array(OFFSET)),
    "rescale 0.00392156862745098 offset=-1":
        lambda: keras.layers.Rescaling(np.float64(0.00392156862745098), offset=np.float64(-1.0)),
    "layerscale": lambda: keras_layer_scale(1e-6, C),
    "layerscale init=0.1": lambda: keras_layer_scale(0.1, C),
}


def node_of(line: str, shape=(4, 5, C)):
    return cnnspec.loads(f"network t\ninput {'x'.join(map(str, shape))}\nn: {line}\n").nodes[1]


def weight_name(variable) -> str:
    """A Keras variable's name; ConvNeXt's LayerScale leaves its one weight unnamed (gamma)."""
    return "gamma" if variable.name.startswith("variable") else variable.name


@pytest.mark.parametrize("line", sorted(LAYERS))
def test_params_and_weights_equal_keras_layers(line):
    node = node_of(line)
    layer = LAYERS[line]()
    layer.build((None, 4, 5, C))
    trainable = sum(w.size for w in node.weights if w.trainable)
    assert node.params == layer.count_params(), line
    assert trainable == sum(int(np.prod(v.shape)) for v in layer.trainable_weights), line
    assert node.params - trainable == sum(int(np.prod(v.shape)) for v in layer.non_trainable_weights)
    ours = sorted((w.name, w.shape, w.trainable) for w in node.weights)
    theirs = sorted((weight_name(v), tuple(v.shape), v.trainable) for v in layer.weights)
    assert ours == theirs, line
    assert node.macs == 0 and node.out_shape == node.in_shape


def test_efficientnet_and_inception_counts():
    """EfficientNet's Normalization: 2C+1 = 7 non-trainable; InceptionV3's batch norm after a
    conv of 32: 96 params, 64 of them non-trainable (no gamma)."""
    net = cnnspec.loads("network t\ninput 8x8x3\nnorm: normalize\nc: conv 32 3x3 bias=false\n"
                        "bn: batchnorm scale=false\n")
    norm, _, bn = net.layers
    assert (norm.params, sum(w.size for w in norm.weights if w.trainable)) == (7, 0)
    assert [w.name for w in bn.weights] == ["beta", "moving_mean", "moving_variance"]
    assert bn.params == 96 and net.total_params - net.trainable_params == 7 + 64


# --- numbers: every variant in a chain, against the same chain of Keras's own layers ---

IMAGE_CHAIN = [
    "rescale 0.00392156862745098 offset=-1",  # first: after it, channels differ by ~1e-2 only
    "normalize mean=0.5 variance=2.25",
    f"normalize mean={tup(MEAN)} variance={tup(VAR)}",
    f"rescale {tup(SCALE)} offset={tup(OFFSET)}",
    "normalize",
    "batchnorm scale=false",
    "batchnorm center=false",
    "layernorm eps=1e-6",
    "batchnorm scale=false center=false",
    "layernorm scale=false eps=0.1",
    "layerscale init=0.1",
    "layernorm center=false",
    "layernorm scale=false center=false",
    "layerscale",
]
# after a flatten of 2x2x3 (12 units, NCHW order in PyTorch): per-unit weights are permuted
FLAT_CHAIN = ["layernorm", "layerscale", "normalize", "batchnorm scale=false",
              "layernorm center=false"]


CHAIN = [(f"i{k}", line) for k, line in enumerate(IMAGE_CHAIN)]
CHAIN += [("c", "conv 3 3x3 stride=2"), ("f", "flatten")]
CHAIN += [(f"f{k}", line) for k, line in enumerate(FLAT_CHAIN)]


def name_of(line: str) -> str:
    return next(name for name, text in CHAIN if text == line)


def chain_network():
    lines = "".join(f"{name}: {line}\n" for name, line in CHAIN)
    return cnnspec.loads("network chain\ninput 4x5x6\n" + lines)


def random_params(net, dtype, seed=5):
    """Non-trivial weights: gammas of both signs around |1|, variances in [0.2, 3], means,
    betas and layer scales of order 1, a count."""
    rng = np.random.default_rng(seed)
    params = {}
    for node in net.layers:
        for w in node.weights:
            if w.name in ("moving_variance", "variance"):
                value = rng.uniform(0.2, 3.0, w.shape)
            elif w.name == "gamma":
                value = rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape)
            elif w.name == "count":
                value = np.array(1234.0)
            else:
                value = rng.standard_normal(w.shape)
            params[f"{node.name}.{w.name}"] = np.asarray(value, dtype=dtype)
    return params


def keras_layer(line: str, dtype: str):
    """The Keras layer of a chain line, in dtype (Conv2D and Flatten for the plumbing)."""
    if line.startswith("conv"):
        return keras.layers.Conv2D(3, 3, strides=2, dtype=dtype)
    if line == "flatten":
        return keras.layers.Flatten(dtype=dtype)
    if line.startswith("layerscale"):
        from keras.src.applications.convnext import LayerScale
        made = LAYERS[line]()
        return LayerScale(made.init_values, made.projection_dim, dtype=dtype)
    made = LAYERS[line]()
    return type(made).from_config({**made.get_config(), "dtype": dtype})


def keras_apply(name: str, line: str, params, y):
    """Keras's own layer for a chain line, given the portable weights by name (Normalization's
    as its adapt weights), applied to y."""
    dtype = str(y.dtype)
    layer = keras_layer(line, dtype)
    if line.startswith("normalize mean="):  # from_config would give Keras float32 lists
        made = LAYERS[line]()
        layer = keras.layers.Normalization(mean=made.input_mean, variance=made.input_variance,
                                           dtype=dtype)
    layer.build(y.shape)
    for v in layer.weights:
        v.assign(np.asarray(params[f"{name}.{weight_name(v)}"]).astype(v.dtype))
    if isinstance(layer, keras.layers.Normalization):
        layer.finalize_state()
    return np.asarray(layer(y))


def relative_error(got, ref) -> float:
    return float(np.max(np.abs(got - ref)) / max(1.0, np.max(np.abs(ref))))


def test_every_backend_equals_keras_own_layers_float64():
    """The whole chain in Keras's own layers vs each backend's every layer, within 1e-10."""
    net = chain_network()
    params = random_params(net, "float64")
    x = np.random.default_rng(1).standard_normal((3, 4, 5, 6)) * 3 + 1
    reference, y = {}, x
    for name, line in CHAIN:
        y = reference[name] = keras_apply(name, line, params, y)
    for target in ("numpy", "torch", "keras"):
        got = runtime.run_layers(runtime.build_model(net, target, params, dtype="float64"),
                                 target, net, x)
        for name, line in CHAIN:
            err = relative_error(got[name], reference[name])
            assert err <= 1e-10, f"{target}: {name} ({line}) is off by {err:.2e}"


def test_every_backend_equals_keras_own_layers_float32():
    """Float32, layer by layer: each backend's layer against Keras's layer applied to that
    backend's own input of it (so that rounding does not pile up along the chain), within 1e-5."""
    net = chain_network()
    params = random_params(net, "float32")
    x = (np.random.default_rng(2).standard_normal((3, 4, 5, 6)) * 3 + 1).astype("float32")
    for target in ("numpy", "torch", "keras"):
        got = runtime.run_layers(runtime.build_model(net, target, params, dtype="float32"),
                                 target, net, x)
        before = x
        for name, line in CHAIN:
            assert got[name].dtype == np.float32, (target, name)
            err = relative_error(got[name], keras_apply(name, line, params, before))
            assert err <= 1e-5, f"{target}: {name} ({line}) is off by {err:.2e}"
            before = got[name]


# --- portable weights, the generated models' own counts, saving ---

def test_the_generated_models_hold_exactly_the_spec_params():
    """PyTorch's parameters are exactly the trainable ones (the missing gamma or beta of a batch
    or layer norm is a buffer, never a parameter); Keras's counts equal the spec's."""
    net = chain_network()
    params = random_params(net, "float64")
    model = runtime.build_model(net, "torch", params, dtype="float64")
    assert sum(p.numel() for p in model.parameters()) == net.trainable_params
    no_gamma, no_beta = (getattr(model, name_of(f"batchnorm {flag}=false")) for flag in ("scale", "center"))
    assert "weight" not in dict(no_gamma.named_parameters()) and "bias" in no_gamma.state_dict()
    assert "bias" not in no_beta.state_dict() and "weight" in no_beta.state_dict()
    keras_model = runtime.build_model(net, "keras", params, dtype="float64")
    assert keras_model.count_params() == net.total_params
    assert sum(int(np.prod(v.shape)) for v in keras_model.trainable_weights) == net.trainable_params


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_portable_weights_round_trip(target):
    """to_portable(load_portable(p)) is p, key for key, shape for shape (count stays ())."""
    net = chain_network()
    params = random_params(net, "float64")
    model = runtime.build_model(net, target, params, dtype="float64")
    back = model.cnnspec_module.to_portable(model)
    assert sorted(back) == sorted(params)
    for key, value in params.items():
        assert back[key].shape == value.shape, (key, back[key].shape)
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_a_scalar_weight_and_a_variance_through_weight_files_and_init(tmp_path):
    """Normalization's count (shape ()) survives a safetensors file and validation; the random
    weights of `verify` give its variance the range of a variance, so the outputs are finite."""
    from cnnspec.weights import init_weights, load_file, save_file, validate
    net = cnnspec.loads("network t\ninput 3x3x4\nn: normalize\n")
    params = init_weights(net, seed=0)
    assert params["n.count"].shape == () and np.all(params["n.variance"] > 0)
    save_file(params, tmp_path / "w.safetensors")
    loaded = validate(net, load_file(tmp_path / "w.safetensors"))
    assert loaded["n.count"].shape == ()
    y = runtime.build_model(net, "numpy", loaded)(np.ones((1, 3, 3, 4), "float32"))
    assert np.all(np.isfinite(y))


def test_a_keras_model_with_the_custom_layers_saves_and_loads(tmp_path):
    net = cnnspec.loads("network t\ninput 3x3x4\nn: normalize\ns: layerscale\n"
                        "r: rescale (1, 2, 3, 4) offset=0.5\nl: layernorm eps=1e-6\n")
    params = random_params(net, "float32")
    model = runtime.build_model(net, "keras", params)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))
    assert {type(layer).__name__ for layer in again.layers} >= {"WeightedNormalization", "LayerScale"}


def test_the_torch_model_trains_only_what_the_spec_trains():
    """A training step moves gamma, beta and layer scale, never the constant gamma of
    batchnorm scale=false, Normalization's buffers or the fixed numbers."""
    net = cnnspec.loads("network t\ninput 3x3x4\nn: normalize\nb: batchnorm scale=false\n"
                        "s: layerscale\nl: layernorm center=false\n")
    model = runtime.build_model(net, "torch", random_params(net, "float32"))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 4, 3, 3)).square().sum().backward()
    optimizer.step()
    moved = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"b.bias", "s.gamma", "l.weight"} <= moved
    assert not moved & {"n.mean", "n.variance", "n.count"}
    assert torch.equal(model.b.weight, torch.ones(4))


# --- located errors ---

IN = "network t\ninput 4x4x3\n"
# the layer line (after "n: "), code, the text the error points at (its last occurrence;
# None: the whole line), message
ERRORS = [
    ("normalize mean=(1, 2) variance=(1, 2, 3)", "E103", "(1, 2)", "mean has 2 values, but the input has 3 channels"),
    ("normalize mean=(1, 2, 3) variance=(1, -2, 3)", "E106", "-2", "variance cannot be negative"),
    ("normalize mean=1", "E104", None, "needs both mean= and variance="),
    ("normalize mean=(1, 2, 3) variance=foo", "E103", "foo", "variance must be a number or a tuple"),
    ("rescale", "E104", None, "rescale needs a scale"),
    ("rescale (1, 2, 3, 4)", "E103", "(1, 2, 3, 4)", "scale has 4 values"),
    ("rescale 2 offset=(0, x, 1)", "E103", "x", "offset must be a number, not 'x'"),
    ("rescale 2 3", "E107", "3", "unexpected value '3'"),
    ("rescale 2 scale=3", "E105", "3", "the scale is given twice"),
    ("layernorm eps=2", "E106", "2", "eps must be in [0.0, 1.0]"),
    ("layernorm scale=no", "E103", "no", "scale must be true or false"),
    ("layerscale init=x", "E103", "x", "init must be a number"),
    ("batchnorm center=1", "E103", "1", "center must be true or false"),
    ("normalize -> relu", "E103", "->", "takes no '-> activation'"),
    ("layerscale gamma=2", "E102", "gamma", "unknown option 'gamma'"),
]


@pytest.mark.parametrize("line, code, at, message", ERRORS)
def test_mistakes_are_located_errors(line, code, at, message):
    text = "n: " + line
    _, diags = analyse(SourceFile("t.cnn", IN + text + "\n"))
    errors = [d for d in diags if d.severity == "error"]
    assert errors, line
    col = 1 if at is None else text.rindex(at) + 1  # its last occurrence
    first = errors[0]
    assert (first.code, first.span.line, first.span.col) == (code, 3, col), (line, first)
    assert message in first.message, first.message
