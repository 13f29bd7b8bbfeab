"""Shape plumbing (issue 9): upsample, reshape, crop, keepdims global pooling, per-pixel dense.

Checked against outside oracles: shapes and parameter counts against keras.layers built on the
same input; upsampling in all three backends against torch.nn.functional.interpolate (nearest,
bilinear half-pixel and align_corners, square and non-square factors) and
keras.layers.UpSampling2D; reshapes against the NumPy model and Keras's Reshape, including the
PyTorch flatten-order trap (a flatten read back as an image, a dense's NHWC-order output read
as an image), which a naive NCHW reshape fails; the squeeze-excite pattern both ways;
per-pixel dense against keras.layers.Dense on a 4-D input with load/save of the (C, N)
kernel; located errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_checker_errors import diagnostics

import cnnspec
from cnnspec import layout, runtime
from cnnspec.backends import torch_reshapes
from cnnspec.weights import init_weights

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
F = torch.nn.functional

TARGETS = ("numpy", "torch", "keras")
TOL64 = 1e-10
TOL32 = 1e-5


def worst(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


def layers_of(net, params, x, dtype="float64") -> dict:
    """Every layer's NHWC value in each backend, for the same portable weights."""
    out = {}
    for target in TARGETS:
        model = runtime.build_model(net, target, params, dtype=dtype)
        out[target] = runtime.run_layers(model, target, net, x.astype(dtype))
    return out


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# --- shapes, params and MACs against keras.layers ---

KERAS_LAYERS = [  # (spec line, input shape, the Keras layer it maps to)
    ("upsample 2", (5, 4, 3), lambda: keras.layers.UpSampling2D(2)),
    ("upsample 2x3 mode=bilinear", (5, 4, 3), lambda: keras.layers.UpSampling2D((2, 3), interpolation="bilinear")),
    ("crop (1, 2, 0, 3)", (7, 6, 2), lambda: keras.layers.Cropping2D(((1, 2), (0, 3)))),
    ("crop (2, 1)", (7, 6, 2), lambda: keras.layers.Cropping2D((2, 1))),
    ("crop 1", (7, 6, 2), lambda: keras.layers.Cropping2D(1)),
    ("reshape 1x1x60", (5, 4, 3), lambda: keras.layers.Reshape((1, 1, 60))),
    ("reshape 60", (5, 4, 3), lambda: keras.layers.Reshape((60,))),
    ("reshape 2x5x6", (5, 4, 3), lambda: keras.layers.Reshape((2, 5, 6))),
    ("globalavgpool keepdims=true", (5, 4, 3), lambda: keras.layers.GlobalAveragePooling2D(keepdims=True)),
    ("globalmaxpool keepdims=true", (5, 4, 3), lambda: keras.layers.GlobalMaxPooling2D(keepdims=True)),
    ("globalavgpool", (5, 4, 3), lambda: keras.layers.GlobalAveragePooling2D()),
    ("dense 7 per_pixel=true", (5, 4, 3), lambda: keras.layers.Dense(7)),
    ("dense 7 per_pixel=true bias=false", (5, 4, 3), lambda: keras.layers.Dense(7, use_bias=False)),
]


@pytest.mark.parametrize("line, shape, make", KERAS_LAYERS, ids=[k[0] for k in KERAS_LAYERS])
def test_shapes_and_params_match_keras_layers(line, shape, make):
    node = cnnspec.loads(f"network t\ninput {'x'.join(map(str, shape))}\nn: {line}\n").node("n")
    layer = make()
    out = layer(keras.Input(shape))
    assert node.out_shape == tuple(out.shape[1:])
    assert node.params == layer.count_params()
    for w in node.weights:  # the portable layout is Keras's own
        assert tuple(w.shape) == tuple(getattr(layer, w.name).shape)


def test_per_pixel_dense_counts_every_pixel():
    net = cnnspec.loads("network t\ninput 14x14x96\nn: dense 384 per_pixel=true\n")
    node = net.node("n")
    assert [(w.name, w.shape) for w in node.weights] == [("kernel", (96, 384)), ("bias", (384,))]
    assert node.macs == 14 * 14 * 96 * 384 and node.out_shape == (14, 14, 384)


# --- upsampling: every backend against F.interpolate and UpSampling2D ---

UPSAMPLES = {  # name -> (spec options, F.interpolate scale, mode, align_corners)
    "near2": ("2", (2, 2), "nearest", None),
    "near23": ("2x3", (2, 3), "nearest", None),
    "half2": ("2 mode=bilinear", (2, 2), "bilinear", False),
    "half31": ("3x1 mode=bilinear", (3, 1), "bilinear", False),
    "half45": ("4x5 mode=bilinear align_corners=false", (4, 5), "bilinear", False),
    "corner2": ("2 mode=bilinear align_corners=true", (2, 2), "bilinear", True),
    "corner32": ("3x2 mode=bilinear align_corners=true", (3, 2), "bilinear", True),
}


def upsample_net():
    lines = [f"{name}: upsample {spec} from=input" for name, (spec, *_) in UPSAMPLES.items()]
    return cnnspec.loads("network up\ninput 5x4x3\n" + "\n".join(lines) +
                         f"\noutput {', '.join(UPSAMPLES)}\n")


@pytest.mark.parametrize("dtype, tol", [("float64", TOL64), ("float32", TOL32)])
def test_upsampling_matches_torch_interpolate_in_every_backend(dtype, tol):
    net = upsample_net()
    x = np.random.default_rng(1).standard_normal((2, 5, 4, 3)).astype(dtype)
    got = layers_of(net, {}, x, dtype)
    for name, (_, scale, mode, corners) in UPSAMPLES.items():
        ref = F.interpolate(nchw(x), scale_factor=tuple(map(float, scale)), mode=mode,
                            align_corners=corners).permute(0, 2, 3, 1).numpy()
        for target in TARGETS:
            assert worst(got[target][name], ref) <= tol, (target, name)


def test_bilinear_upsampling_of_a_one_pixel_axis_copies_it_in_both_modes():
    net = cnnspec.loads("network t\ninput 1x2x2\nh: upsample 3x2 mode=bilinear\n"
                        "c: upsample 3x2 mode=bilinear align_corners=true from=input\noutput h, c\n")
    x = np.random.default_rng(5).standard_normal((2, 1, 2, 2))
    got = layers_of(net, {}, x)
    for name, corners in (("h", False), ("c", True)):
        ref = F.interpolate(nchw(x), scale_factor=(3.0, 2.0), mode="bilinear",
                            align_corners=corners).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(ref[:, 0], ref[:, 2], rtol=0, atol=1e-15)  # the one row, copied
        for target in TARGETS:
            assert worst(got[target][name], ref) <= TOL64, (target, name)


def test_upsampling_matches_keras_upsampling2d_where_keras_has_the_mode():
    net = upsample_net()
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 3))
    got = layers_of(net, {}, x)
    for name, (_, scale, mode, corners) in UPSAMPLES.items():
        if corners:
            continue  # Keras has no align_corners
        dtype = "float64" if mode == "nearest" else "float32"  # TF resizes in float32
        ref = np.asarray(keras.layers.UpSampling2D(scale, interpolation=mode, dtype=dtype)(x.astype(dtype)))
        for target in TARGETS:
            assert worst(got[target][name], ref) <= (0.0 if mode == "nearest" else TOL32), (target, name)


def test_bilinear_modes_differ_and_corners_are_kept_with_align_corners():
    net = upsample_net()
    x = np.random.default_rng(3).standard_normal((1, 5, 4, 3))
    got = layers_of(net, {}, x)["numpy"]
    assert worst(got["half2"], got["corner2"]) > 1e-2  # the trap: the two modes are not close
    corner = got["corner32"]
    for i, j in ((0, 0), (-1, -1), (0, -1), (-1, 0)):
        np.testing.assert_array_equal(corner[0, i, j], x[0, i, j])


def test_nearest_is_exact_where_f_interpolate_is_one_pixel_off():
    """PyTorch's nearest computes floor(dst * (1/41)) in float: off by one at some pixels."""
    net = cnnspec.loads("network t\ninput 1x3x1\nn: upsample 1x41\n")
    x = np.arange(3, dtype=np.float32).reshape(1, 1, 3, 1)
    want = np.repeat(x, 41, axis=2)
    own = F.interpolate(nchw(x), scale_factor=(1.0, 41.0), mode="nearest").permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(own, want)
    np.testing.assert_array_equal(np.asarray(keras.layers.UpSampling2D((1, 41))(x)), want)
    for target, value in layers_of(net, {}, x, "float32").items():
        np.testing.assert_array_equal(value["n"], want, err_msg=target)


# --- reshape: the flatten-order trap in PyTorch ---

TRAP = """network trap
input 4x3x2
c: conv 3 3x3 pad=1
f: flatten
img: reshape 4x3x3
c2: conv 2 1x1
fc: dense 24 from=f
back: reshape 2x4x3
c3: conv 3 1x1
flat: reshape 24
fc2: dense 5
output c2, fc2
"""


def keras_reference(net, params, x):
    """The trap network written by hand with keras.layers (NHWC: Keras is the oracle here)."""
    def layer(cls, *args, **kwargs):
        return cls(*args, dtype="float64", **kwargs)
    inp = keras.Input((4, 3, 2), dtype="float64")
    c = layer(keras.layers.Conv2D, 3, 3, padding="same", name="c")(inp)
    f = layer(keras.layers.Flatten)(c)
    c2 = layer(keras.layers.Conv2D, 2, 1, name="c2")(layer(keras.layers.Reshape, (4, 3, 3))(f))
    back = layer(keras.layers.Reshape, (2, 4, 3))(layer(keras.layers.Dense, 24, name="fc")(f))
    c3 = layer(keras.layers.Conv2D, 3, 1, name="c3")(back)
    fc2 = layer(keras.layers.Dense, 5, name="fc2")(layer(keras.layers.Reshape, (24,))(c3))
    model = keras.Model(inp, [c2, fc2])
    for name in ("c", "c2", "fc", "c3", "fc2"):
        model.get_layer(name).set_weights([params[f"{name}.kernel"], params[f"{name}.bias"]])
    return [np.asarray(v) for v in model(x)]


def test_reshape_round_trips_through_flatten_and_dense_in_every_backend():
    net = cnnspec.loads(TRAP)
    params = init_weights(net, seed=4, dtype="float64")
    x = np.random.default_rng(4).standard_normal((3, 4, 3, 2))
    c2, fc2 = keras_reference(net, params, x)
    got = layers_of(net, params, x)
    for target in TARGETS:
        assert worst(got[target]["c2"], c2) <= TOL64, target
        assert worst(got[target]["fc2"], fc2) <= TOL64, target
        assert worst(got[target]["img"], got["numpy"]["f"].reshape(3, 4, 3, 3)) <= TOL64


def test_a_naive_nchw_reshape_in_pytorch_is_caught(monkeypatch):
    """The converter bug: reshape the PyTorch vector straight to (C, H, W). It reads a
    flatten's NCHW-order vector right by luck, but a dense's NHWC-order output wrong."""
    net = cnnspec.loads(TRAP)
    params = init_weights(net, seed=4, dtype="float64")
    x = np.random.default_rng(4).standard_normal((3, 4, 3, 2))
    _, fc2 = keras_reference(net, params, x)

    def naive(self, node):
        h, w, c = node.attrs["shape"] if len(node.attrs["shape"]) == 3 else (0, 0, 0)
        src = self.src(node)
        if len(node.out_shape) == 1:
            return torch_reshapes.Emitted(f"torch.flatten({src}, 1)")
        return torch_reshapes.Emitted(f"{src}.reshape(-1, {c}, {h}, {w})")
    monkeypatch.setattr(torch_reshapes.ShapeKinds, "reshape_layer", naive)
    model = runtime.build_model(net, "torch", params, dtype="float64")
    assert worst(runtime.run_layers(model, "torch", net, x)["fc2"], fc2) > 1e-3


def test_layout_orders_of_reshapes():
    """A reshape to N makes a piece as a flatten does; N -> N keeps it; N -> image reads it."""
    net = cnnspec.loads(TRAP)
    orders = layout.flat_orders(net)
    assert orders == {"f": ((36, (4, 3, 3)),), "flat": ((24, (2, 4, 3)),)}  # fc's output: NHWC
    assert layout.image_source_order(net.node("img"), orders) == ((36, (4, 3, 3)),)
    assert layout.image_source_order(net.node("back"), orders) is None
    keep = cnnspec.loads("network k\ninput 2x2x3\nf: flatten\nr: reshape 12\nd: dense 2\n")
    assert layout.flat_orders(keep) == {"f": ((12, (2, 2, 3)),), "r": ((12, (2, 2, 3)),)}


def test_torch_code_reads_flat_values_in_nhwc_order():
    code = cnnspec.compile(cnnspec.loads(TRAP), "torch")
    assert "f = torch.flatten(x, 1)  # 36 (NCHW order)" in code
    assert "x = torch.flatten(x, 1)  # 24" in code  # reshape 24: NCHW order, fc2's rows permuted
    assert 'params["fc2.kernel"][_nchw_rows(2, 4, 3)].T' in code
    assert ".unflatten(1, (3, 4, 3))  # 4x3x3" in code  # a flatten's vector: its own image back
    assert ".unflatten(1, (2, 4, 3)).permute(0, 3, 1, 2)  # 2x4x3" in code  # a dense's NHWC vector


# --- squeeze-excite: keepdims pooling, or pooling then reshape to 1x1xC ---

SE = """network se
input 6x5x4
feat: conv 8 3x3 pad=1
sq1: globalavgpool keepdims=true
ex1: conv 8 1x1 -> sigmoid
se1: multiply feat ex1
sq2: globalavgpool from=feat
r: reshape 1x1x8
ex2: conv 8 1x1 -> sigmoid
se2: multiply feat ex2
output se1, se2
"""


def test_squeeze_excite_both_ways_agree_with_keras():
    net = cnnspec.loads(SE)
    params = init_weights(net, seed=6, dtype="float64")
    for t in ("kernel", "bias"):
        params[f"ex2.{t}"] = params[f"ex1.{t}"]
    x = np.random.default_rng(6).standard_normal((2, 6, 5, 4))
    inp = keras.Input((6, 5, 4), dtype="float64")
    feat = keras.layers.Conv2D(8, 3, padding="same", dtype="float64")
    pool = keras.layers.GlobalAveragePooling2D(keepdims=True, dtype="float64")
    excite = keras.layers.Conv2D(8, 1, activation="sigmoid", dtype="float64")
    f = feat(inp)
    model = keras.Model(inp, keras.layers.Multiply(dtype="float64")([f, excite(pool(f))]))
    feat.set_weights([params["feat.kernel"], params["feat.bias"]])
    excite.set_weights([params["ex1.kernel"], params["ex1.bias"]])
    want = np.asarray(model(x))
    for target, values in layers_of(net, params, x).items():
        assert values["sq1"].shape == (2, 1, 1, 8) and values["r"].shape == (2, 1, 1, 8)
        assert worst(values["se1"], want) <= TOL64, target
        assert worst(values["se2"], want) <= TOL64, target


BLOCK_SE = """network blockse
input 6x6x3
stem: conv 8 3x3 pad=1

block se(reduce)
  sq: globalavgpool
  r: reshape 1x1x?
  red: conv reduce 1x1 -> relu
  ex: conv in.channels 1x1 -> sigmoid
  g: multiply in ex
end

a: se 2
wide: conv 12 1x1
b: se 4
"""


def test_a_block_reshapes_to_1x1xc_with_a_solved_channel_count():
    """`reshape 1x1x?` solves C per instance (8, then 12), as Keras's Reshape((1, 1, -1))."""
    net = cnnspec.loads(BLOCK_SE)
    assert net.node("a.r").out_shape == (1, 1, 8) and net.node("b.r").out_shape == (1, 1, 12)
    params = init_weights(net, seed=9, dtype="float64")
    x = np.random.default_rng(9).standard_normal((2, 6, 6, 3))
    got = layers_of(net, params, x)
    inp = keras.Input((6, 6, 3), dtype="float64")
    y = keras.layers.Conv2D(8, 3, padding="same", dtype="float64", name="stem")(inp)
    for name, reduce, wide in (("a", 2, "wide"), ("b", 4, None)):
        pool = keras.layers.GlobalAveragePooling2D(dtype="float64")(y)
        gate = keras.layers.Reshape((1, 1, -1), dtype="float64")(pool)
        gate = keras.layers.Conv2D(reduce, 1, activation="relu", dtype="float64", name=f"{name}.red")(gate)
        gate = keras.layers.Conv2D(y.shape[-1], 1, activation="sigmoid", dtype="float64",
                                   name=f"{name}.ex")(gate)
        y = keras.layers.Multiply(dtype="float64")([y, gate])
        if wide:
            y = keras.layers.Conv2D(12, 1, dtype="float64", name=wide)(y)
    model = keras.Model(inp, y)
    for name in ("stem", "a.red", "a.ex", "wide", "b.red", "b.ex"):
        model.get_layer(name).set_weights([params[f"{name}.kernel"], params[f"{name}.bias"]])
    want = np.asarray(model(x))
    for target in TARGETS:
        assert worst(got[target]["b.g"], want) <= TOL64, target


# --- per-pixel dense: Keras's Dense on a 4-D input, nn.Linear in PyTorch ---

def test_per_pixel_dense_matches_keras_dense_and_its_kernel_loads_and_saves():
    net = cnnspec.loads("network pp\ninput 3x4x5\nn: dense 6 per_pixel=true -> relu\n")
    params = init_weights(net, seed=8, dtype="float64")
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5))
    dense = keras.layers.Dense(6, activation="relu", dtype="float64")
    dense.build((None, 3, 4, 5))
    dense.set_weights([params["n.kernel"], params["n.bias"]])
    want = np.asarray(dense(x))
    for target, values in layers_of(net, params, x).items():
        assert worst(values["n"], want) <= TOL64, target
    model = runtime.build_model(net, "torch", params, dtype="float64")
    assert isinstance(model.n, torch.nn.Linear) and tuple(model.n.weight.shape) == (6, 5)
    saved = model.cnnspec_module.to_portable(model)
    for key, value in params.items():
        np.testing.assert_array_equal(saved[key], value)
    kmodel = runtime.build_model(net, "keras", params, dtype="float64")
    ksaved = kmodel.cnnspec_module.to_portable(kmodel)
    for key, value in params.items():
        np.testing.assert_array_equal(ksaved[key], value)


# --- errors, located ---

IN = "network t\ninput 8x8x3\n"
ERRORS = [  # (spec, code, line, col, fragment of the message or the hint)
    (IN + "d: dense 10\n", "E305", 3, 1, "per_pixel=true"),
    (IN + "f: flatten\nd: dense 10 per_pixel=true\n", "E305", 4, 1, "needs an HxWxC input"),
    (IN + "f: flatten\nu: upsample 2\n", "E305", 4, 1, "needs an HxWxC input"),
    (IN + "u: upsample\n", "E104", 3, 1, "needs a factor"),
    (IN + "u: upsample 0\n", "E106", 3, 13, "must be positive"),
    (IN + "u: upsample 2 mode=cubic\n", "E103", 3, 20, "nearest, bilinear"),
    (IN + "u: upsample 2 align_corners=true\n", "E103", 3, 29, "mode=bilinear only"),
    (IN + "r: reshape 100\n", "E305", 3, 1, "has 192"),
    (IN + "r: reshape 8x24\n", "E103", 3, 12, "HxWxC or a flat length"),
    (IN + "r: reshape\n", "E104", 3, 1, "dimensions"),
    (IN + "r: reshape 5x?x?\n", "E306", 3, 12, "more than one '?'"),
    (IN + "r: reshape 5x?x1\n", "E306", 3, 12, "does not divide 192"),
    (IN + "c: crop (4, 4, 0, 0)\n", "E106", 3, 9, "removes all"),
    (IN + "c: crop same\n", "E103", 3, 9, "explicit sizes"),
    (IN + "f: flatten\nc: crop 1\n", "E305", 4, 1, "needs an HxWxC input"),
    (IN + "g: globalavgpool keepdims=yes\n", "E103", 3, 27, "true or false"),
]


@pytest.mark.parametrize("spec, code, line, col, fragment", ERRORS, ids=[e[0].split("\n")[-2] for e in ERRORS])
def test_errors_are_located(spec, code, line, col, fragment):
    found = [d for d in diagnostics(spec) if d.code == code]
    assert found, code
    d = found[0]
    assert (d.span.line, d.span.col) == (line, col)
    assert fragment in d.message + " " + (d.hint or "")
