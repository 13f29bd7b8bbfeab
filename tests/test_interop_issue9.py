"""cnnspec.interop.keras: a Keras model -> a spec's network and portable weights, by structure.

- The zoo specs that check today (VGG16, ResNet50, DenseNet121) against keras.applications
  built here: the structural matching finds, for every Keras layer, the spec node that the
  name mapping of issue 8 (tests/test_zoo_issue8.py, written independently) gives it; the
  portable weights are Keras's own tensors under the spec's names; the spec at another input
  keeps only the expect lines that hold there.
- Small functional models written here: two equal branches on one input go where their
  consumers say even when the names say otherwise; concat order; fused activations (a
  conv's own, a following Activation/ReLU, an `x + y` op followed by relu); dropout skipped
  or matched; Keras's `same` padding against the spec's explicit sides; and every mismatch
  (an unmatched Keras layer, an unmatched spec node, a wrong setting) is an error naming it.
  Each matched model is run: NumPy, PyTorch and Keras built by cnnspec give Keras's outputs.
- `cnnspec keras` end to end on a saved .keras model, then `cnnspec verify` and
  `cnnspec.build(..., "torch", weights=W)` on what it wrote; its errors exit 2.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec.cli import main
from cnnspec.interop import keras as ik
from cnnspec.interop.matching import MatchError
from cnnspec.weights import expected_shapes

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
layers = keras.layers

ROOT = Path(__file__).resolve().parent.parent


def zoo_path(stem: str) -> Path:
    """specs/zoo/STEM.cnn once the zoo has it, else the older specs/STEM.cnn."""
    zoo = ROOT / "specs" / "zoo" / f"{stem}.cnn"
    return zoo if zoo.is_file() else ROOT / "specs" / f"{stem}.cnn"


@functools.cache
def application(name: str):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3))
    ik.randomise(model, 0)
    return model


@functools.cache
def mapped(name: str) -> ik.Mapping:
    return ik.from_keras(application(name), zoo_path(name.lower()))


def keras_to_spec(name: str) -> str:
    """Issue 8's name mapping (tests/test_zoo_issue8.py), an independent oracle here:
    `conv3_block2_1_conv` -> `conv3.1.conv1`, `pool2_conv` -> `pool2.conv`, the rest as is."""
    if m := re.fullmatch(r"(conv\d)_block(\d+)_(\d)_(conv|bn)", name):
        return f"{m[1]}.{int(m[2]) - 1}.{m[4]}{m[3]}"
    if m := re.fullmatch(r"(pool[2-9])_(conv|bn)", name):
        return f"{m[1]}.{m[2]}"
    return name


@pytest.mark.parametrize("name", ["VGG16", "ResNet50", "DenseNet121"])
def test_structure_finds_the_layers_names_give(name):
    """Every Keras layer with weights is the node the name mapping names, and each of its
    Keras activations is folded into the node before it."""
    mapping, model = mapped(name), application(name)
    main_op = {node: m.op for node, m in mapping.matches.items()}
    for layer in model.layers:
        if layer.weights:
            assert main_op[keras_to_spec(layer.name)] == layer.name
    fused = sum(type(layer).__name__ == "Activation" for layer in model.layers)
    assert mapping.fused == fused and not mapping.skipped
    assert len(mapping.table) == len(mapping.network.nodes)


@pytest.mark.parametrize("name", ["VGG16", "ResNet50", "DenseNet121"])
def test_portable_weights_are_keras_tensors(name):
    mapping, model = mapped(name), application(name)
    assert {k: v.shape for k, v in mapping.weights.items()} == expected_shapes(mapping.network)
    for layer in model.layers:
        for w in layer.weights:
            key = f"{keras_to_spec(layer.name)}.{w.name}"
            assert np.array_equal(mapping.weights[key], np.asarray(w.numpy())), key


def test_spec_at_another_input_keeps_the_expects_that_hold():
    text = zoo_path("resnet50").read_text()
    moved = ik.spec_text_at(text, (32, 32, 3))
    dropped = [line for line in text.splitlines() if line not in moved.splitlines()]
    assert "input 32x32x3" in moved.splitlines()
    assert all(line.startswith("expect ") for line in dropped if line != "input 224x224x3")
    assert "expect params == 25636712" in moved and "expect macs == 3857973248" not in moved
    network = cnnspec.loads(moved)
    assert network.total_params == 25_636_712 and network.input_shape == (32, 32, 3)


def test_application_spec_is_the_zoos():
    assert ik.application_spec("ResNet50").name == "resnet50.cnn"
    assert ik.application_spec("InceptionV3").name == "inceptionv3.cnn"
    with pytest.raises(FileNotFoundError, match="no nosuchnet.cnn"):
        ik.application_spec("NoSuchNet")


# -- small hand-written models ---------------------------------------------------------------

def run_all(model, mapping, shape=(8, 8, 3)):
    """Every cnnspec backend gives the Keras model's outputs at every matched layer."""
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
    result = ik.compare(model, mapping, x)
    for target, c in result.items():
        assert c.ok, (target, c.worst, c.layers[c.worst])
        assert len(c.layers) >= len(mapping.network.layers) - 1, target
    return result


def branches():
    """Two equal 1x1 convs on the input: `left` feeds a 3x3 conv, `right` goes straight to
    the concat, which takes the 3x3 branch first."""
    x = keras.Input((8, 8, 3))
    left = layers.Conv2D(4, 1, name="left")(x)
    right = layers.Conv2D(4, 1, name="right")(x)
    deep = layers.Conv2D(5, 3, padding="same", name="deep")(left)
    y = layers.Concatenate(name="cat")([deep, right])
    return seeded(keras.Model(x, y))


def seeded(model):
    ik.randomise(model, 0)
    return model


# the names say the opposite of the structure: `left` here is Keras's `right`
BRANCHES = """network Branches "two equal 1x1 convs on one input"
input 8x8x3
left: conv 4 1x1
right: conv 4 1x1 from=input
deep: conv 5 3x3 pad=same from=right
cat: concat deep left
"""


def test_equal_branches_go_where_their_consumers_say():
    model = branches()
    mapping = ik.from_keras(model, cnnspec.loads(BRANCHES))
    assert mapping.table == {"input": model.layers[0].name, "left": "right", "right": "left",
                             "deep": "deep", "cat": "cat"}
    assert np.array_equal(mapping.weights["left.kernel"], model.get_layer("right").kernel.numpy())
    run_all(model, mapping)


def test_concat_order_is_part_of_the_structure():
    x = keras.Input((8, 8, 3))
    a, b = layers.Conv2D(4, 1, name="a")(x), layers.Conv2D(5, 1, name="b")(x)
    model = seeded(keras.Model(x, layers.Concatenate(name="cat")([a, b])))
    text = 'network Cat "concat"\ninput 8x8x3\na: conv 4 1x1\nb: conv 5 1x1 from=input\n'
    mapping = ik.from_keras(model, cnnspec.loads(text + "cat: concat a b\n"))
    run_all(model, mapping)
    with pytest.raises(MatchError, match=r"spec node 'cat' \(concat, line 5\) has no Keras "
                       r"counterpart: it needs an unmatched Concatenate reading 'b' and 'a'"):
        ik.from_keras(model, cnnspec.loads(text + "cat: concat b a\n"))


def fused_model():
    """A conv with its own relu, a BN followed by ReLU(), an `x + y` op followed by an
    Activation, dropout before the classifier."""
    x = keras.Input((8, 8, 3))
    a = layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(x)
    b = layers.Conv2D(6, 3, strides=2, padding="same", name="c2")(a)
    b = layers.BatchNormalization(name="bn")(b)
    b = layers.ReLU(name="bn_relu")(b)
    s = layers.Conv2D(6, 1, strides=2, name="short")(a)
    y = layers.Activation("relu", name="out_relu")(b + s)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    y = layers.Dropout(0.5, name="drop")(y)
    return seeded(keras.Model(x, layers.Dense(3, activation="softmax", name="fc")(y)))


FUSED = """network Fused "fused activations"
input 8x8x3
c1: conv 6 3x3 pad=same -> relu
c2: conv 6 3x3 stride=2 pad=(0, 1, 0, 1)
bn: batchnorm -> relu
short: conv 6 1x1 stride=2 from=c1
out: add bn short -> relu
gap: globalavgpool
fc: dense 3 -> softmax
"""


def test_fused_activations_absorb_the_keras_activation_layers():
    model = fused_model()
    mapping = ik.from_keras(model, cnnspec.loads(FUSED))
    by_op = {m.op: m for m in mapping.matches.values()}
    assert by_op["bn"].absorbed == ("bn_relu",) and by_op["c1"].absorbed == ()
    add = next(op for op in mapping.graph.ops.values() if op.cls == "Add")
    assert by_op[add.name].absorbed == ("out_relu",) and mapping.table["out"] == "out_relu"
    assert mapping.skipped == ["drop"] and mapping.fused == 2
    run_all(model, mapping)


def test_a_spec_dropout_matches_keras_dropout():
    text = FUSED.replace("fc: dense", "drop: dropout 0.5\nfc: dense")
    mapping = ik.from_keras(fused_model(), cnnspec.loads(text))
    assert mapping.matches["drop"].op == "drop" and mapping.skipped == []


def test_a_spec_dropout_without_keras_dropout_is_its_input():
    text = FUSED.replace("c2: conv 6 3x3 stride=2 pad=(0, 1, 0, 1)",
                         "d0: dropout 0.3\nc2: conv 6 3x3 stride=2 pad=(0, 1, 0, 1)")
    model = fused_model()
    mapping = ik.from_keras(model, cnnspec.loads(text))
    assert mapping.table["d0"] == "c1" and mapping.matches["c2"].op == "c2"
    run_all(model, mapping)


def test_keras_same_padding_is_compared_side_by_side():
    """At stride 2 on an even input TensorFlow pads (0, 1); the spec's (1, 0) is refused."""
    text = FUSED.replace("pad=(0, 1, 0, 1)", "pad=(1, 0, 1, 0)")
    with pytest.raises(MatchError, match=r"spec node 'c2' \(conv, line 4\) does not fit Keras "
                       r"layer 'c2' \(Conv2D\): padding \(0, 1, 0, 1\) vs the spec's padding \(1, 0, 1, 0\)"):
        ik.from_keras(fused_model(), cnnspec.loads(text))


def test_a_wrong_activation_names_both_sides():
    text = FUSED.replace("bn: batchnorm -> relu", "bn: batchnorm -> sigmoid")
    with pytest.raises(MatchError, match=r"'bn' \(batchnorm, line 5\) does not fit Keras layer "
                       r"'bn' \(BatchNormalization\): the spec applies sigmoid after it, but Keras "
                       r"applies linear and then feeds 'bn_relu' \(ReLU\)"):
        ik.from_keras(fused_model(), cnnspec.loads(text))


def test_an_unmatched_keras_layer_is_named():
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(x)
    y = layers.Conv2D(6, 1, name="extra")(y)
    model = keras.Model(x, y)
    with pytest.raises(MatchError, match=r"Keras layer\(s\) 'extra' \(Conv2D, reading c1\) have "
                       "no node in the spec"):
        ik.from_keras(model, cnnspec.loads('network One "one conv"\ninput 8x8x3\n'
                                           "c1: conv 6 3x3 pad=same -> relu\n"))


def test_an_unmatched_spec_node_is_named():
    text = FUSED.replace("gap: globalavgpool", "gap: globalavgpool\nhidden: batchnorm")
    with pytest.raises(MatchError, match=r"spec node 'hidden' \(batchnorm, line 9\) has no Keras "
                       r"counterpart: it needs an unmatched BatchNormalization reading 'gap', but "
                       r"Keras feeds "
                       r"'gap' only to 'drop' \(Dropout\), 'fc' \(Dense\)"):
        ik.from_keras(fused_model(), cnnspec.loads(text))


def test_a_spec_is_checked_at_the_models_input():
    mapping = ik.from_keras(fused_model(), cnnspec.loads(FUSED.replace("8x8x3", "16x16x3")))
    assert mapping.network.input_shape == (8, 8, 3)
    assert mapping.network.source.text.splitlines()[1:3] == [
        "# at 8x8x3 here (the spec says 16x16x3): expect lines failing at this size left out",
        "input 8x8x3"]


def test_graph_records_include_operations():
    """`x + y` is an operation of model.operations, not a layer: the graph reads it."""
    from cnnspec.interop.keras_graph import read_graph
    graph = read_graph(fused_model())
    add = next(op for op in graph.ops.values() if op.cls == "Add")
    assert add.inputs == ("bn_relu", "short") and add.out_shape == (4, 4, 6)
    assert [name for name, _ in graph.ops["bn"].weights] == \
        ["gamma", "beta", "moving_mean", "moving_variance"]
    assert graph.outputs == ("fc",)


def modern_model():
    """The kinds of issue 9 in one small network, each as Keras writes it."""
    x = keras.Input((16, 16, 3))
    y = layers.Rescaling(0.5, offset=-1.0, name="scale")(x)
    y = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(y)
    y = layers.BatchNormalization(scale=False, name="bn")(y)
    y = layers.ReLU(6.0, name="bn_relu6")(y)
    a = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="swish",
                               name="dw")(y)
    b = layers.Conv2D(8, 3, groups=8, padding="same", name="grouped")(y)
    b = layers.SeparableConv2D(16, 3, padding="same", name="sep")(b)
    y = layers.LayerNormalization(epsilon=1e-6, name="ln")(layers.Add(name="sum")([a, b]))
    y = layers.Conv2DTranspose(8, 2, strides=2, name="up")(y)
    y = layers.Activation("gelu", name="up_gelu")(y)
    y = layers.UpSampling2D(2, interpolation="bilinear", name="big")(y)
    y = layers.Cropping2D(1, name="cut")(y)
    y = layers.GlobalAveragePooling2D(keepdims=True, name="pool")(y)
    y = layers.Reshape((8,), name="flat")(y)
    return seeded(keras.Model(x, layers.Dense(4, activation="softmax", name="out")(y)))


MODERN = """network Modern "the new kinds in one small network"
input 16x16x3
scale: rescale 0.5 offset=-1
stem: conv 8 3x3 stride=2 pad=same bias=false
bn: batchnorm scale=false -> relu6
dw: depthwise 3x3 multiplier=2 pad=same -> swish
grouped: depthwise 3x3 pad=same from=bn
sep: separable 16 3x3 pad=same
sum: add dw sep
ln: layernorm eps=1e-6
up: convtranspose 8 2x2 stride=2 -> gelu
big: upsample 2 mode=bilinear
cut: crop 1
pool: globalavgpool keepdims=true
flat: reshape 8
out: dense 4 -> softmax
"""


def test_the_new_kinds_map_and_compute_as_keras():
    """Conv2D(groups=C) is a depthwise (its kernel reshaped), ReLU(6) is relu6, swish and
    gelu fuse; every backend computes the Keras model's outputs."""
    model = modern_model()
    mapping = ik.from_keras(model, cnnspec.loads(MODERN))
    assert mapping.matches["grouped"].op == "grouped"
    kernel = model.get_layer("grouped").kernel.numpy()  # (3, 3, 1, 8)
    assert np.array_equal(mapping.weights["grouped.kernel"], kernel.reshape(3, 3, 8, 1))
    assert "bn.gamma" not in mapping.weights and mapping.fused == 2
    run_all(model, mapping, (16, 16, 3))


def test_a_wrong_epsilon_is_named():
    with pytest.raises(MatchError, match=r"spec node 'ln' \(layernorm, line 10\) does not fit "
                       r"Keras layer 'ln' \(LayerNormalization\): epsilon 1e-06 vs the spec's eps 0.001"):
        ik.from_keras(modern_model(), cnnspec.loads(MODERN.replace(" eps=1e-6", "")))


def test_hard_sigmoid_written_with_ops_is_fused():
    """MobileNetV3's hard_sigmoid, ReLU(6.)(x + 3.) * (1. / 6.): three ops, one activation."""
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 1, name="c")(x)
    model = seeded(keras.Model(x, layers.ReLU(6.0, name="r6")(y + 3.0) * (1.0 / 6.0)))
    spec = 'network HS "hard sigmoid"\ninput 8x8x3\nc: conv 4 1x1 -> hard_sigmoid\n'
    mapping = ik.from_keras(model, cnnspec.loads(spec))
    assert [mapping.graph.ops[n].cls for n in mapping.matches["c"].absorbed] == ["Add", "ReLU", "Multiply"]
    run_all(model, mapping)
    with pytest.raises(MatchError, match="the spec applies hard_sigmoid after it"):
        other = keras.Model(x, layers.ReLU(6.0)(y + 2.0) * (1.0 / 6.0))
        ik.from_keras(other, cnnspec.loads(spec))


def test_a_sequential_model_is_read():
    model = seeded(keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, name="c"),
                                     layers.Flatten(name="f"), layers.Dense(2, name="d")]))
    spec = 'network Seq "sequential"\ninput 8x8x3\nc: conv 4 3x3\nf: flatten\nd: dense 2\n'
    mapping = ik.from_keras(model, cnnspec.loads(spec))
    assert mapping.table == {"input": mapping.graph.input, "c": "c", "f": "f", "d": "d"}
    run_all(model, mapping)


def test_sizes_keras_leaves_open_fit_the_spec():
    """A model over (None, None, 3) (MobileNetV3Small's default) matches the spec's size."""
    x = keras.Input((None, None, 3))
    y = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(4, 3, name="c")(x))
    model = seeded(keras.Model(x, y))
    spec = 'network Open "open sizes"\ninput 8x8x3\nc: conv 4 3x3\ngap: globalavgpool\n'
    mapping = ik.from_keras(model, cnnspec.loads(spec))
    assert mapping.network.input_shape == (8, 8, 3) and mapping.graph.ops["c"].out_shape == (None, None, 4)
    run_all(model, mapping)


def test_the_comparison_finds_a_wrong_tensor():
    """Swapping two batch-norm tensors of the mapped weights shows at that layer first."""
    model = fused_model()
    mapping = ik.from_keras(model, cnnspec.loads(FUSED))
    assert np.abs(mapping.weights["bn.moving_mean"]).min() > 0  # randomise reached it
    wrong = dict(mapping.weights)
    wrong["bn.beta"], wrong["bn.moving_mean"] = wrong["bn.moving_mean"], wrong["bn.beta"]
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    c = ik.compare(model, replace(mapping, weights=wrong), x, ("numpy",))["numpy"]
    order = [n.name for n in mapping.network.layers]
    first = next(name for name in order if c.layers[name] > ik.TOLERANCE)
    assert not c.ok and first == "bn" and c.layers["c2"] <= ik.TOLERANCE


# -- the command ---------------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path) -> tuple[Path, Path]:
    model = fused_model()
    path = tmp_path / "fused.keras"
    model.save(path)
    spec = tmp_path / "fused.cnn"
    spec.write_text(FUSED)
    return path, spec


def test_command_end_to_end(saved, tmp_path, capsys):
    path, spec = saved
    out, weights = tmp_path / "out.cnn", tmp_path / "w.safetensors"
    code = main(["keras", str(path), "--spec", str(spec), "-o", str(out),
                 "--weights-out", str(weights), "--compare"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0, printed
    assert printed[0] == f"matched {keras.saving.load_model(path).name} (11 Keras layers) to " \
        "fused.cnn (8 nodes) at 8x8x3"
    assert printed[1:4] == [("  2 Keras activations fused into the layer before them, 1 identity "
                            "layers left out"), f"wrote {out}",
                            f"wrote {weights} (12 tensors, 585 params)"]
    assert printed[-1] == "numpy, torch, keras: every layer within 0.0001 of Keras, same argmax"
    assert out.read_text() == FUSED
    assert main(["verify", str(out), "--weights", str(weights), "--dtype", "float32"]) == 0
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 3)).astype(np.float32)
    torch = pytest.importorskip("torch")
    model = cnnspec.build(cnnspec.load(out), "torch", weights=str(weights))
    with torch.no_grad():
        ours = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    theirs = np.asarray(keras.saving.load_model(path)(x))
    assert np.abs(ours - theirs).max() <= 1e-5


def test_command_exits_1_over_the_tolerance(saved, tmp_path, capsys, monkeypatch):
    path, spec = saved
    monkeypatch.setattr(ik, "TOLERANCE", -1.0)  # no difference is small enough
    code = main(["keras", str(path), "--spec", str(spec), "--weights-out",
                 str(tmp_path / "w.safetensors"), "--compare"])
    captured = capsys.readouterr()
    assert code == 1 and "OVER THE TOLERANCE" in captured.out
    assert "differs from Keras by more than -1" in captured.err


def test_command_takes_keras_weights(saved, tmp_path, capsys):
    """--keras-weights replaces the saved model's weights: the portable file holds those."""
    path, spec = saved
    other = fused_model()
    ik.randomise(other, seed=7)
    other.save_weights(tmp_path / "other.weights.h5")
    weights = tmp_path / "w.safetensors"
    assert main(["keras", str(path), "--spec", str(spec), "--keras-weights",
                 str(tmp_path / "other.weights.h5"), "--weights-out", str(weights)]) == 0
    stored = cnnspec.weights.load_file(weights)
    assert np.array_equal(stored["bn.moving_mean"], other.get_layer("bn").moving_mean.numpy())
    assert not np.array_equal(stored["bn.moving_mean"],
                              keras.saving.load_model(path).get_layer("bn").moving_mean.numpy())


@pytest.mark.parametrize("argv, message", [
    (["ResNet5O"], "keras.applications has no model 'ResNet5O' (did you mean 'ResNet50'?)"),
    (["{model}"], "give the spec of {model} with --spec FILE"),
    (["{model}", "--input", "8x8"], "--input must be HxWxC with positive sizes, e.g. 32x32x3, not '8x8'"),
    (["{model}", "--spec", "{bad}"], ("spec node 'out' (add, line 7) has no Keras counterpart: it "
     "needs an unmatched Add reading 'bn' and 'short', but Keras feeds 'bn' and 'short' only to "
     "'bn_relu' (ReLU)")),
    (["{model}", "--spec", "{missing}"], "cannot read"),
    (["{nofile}", "--spec", "{bad}"], "cannot load {nofile}:"),
    (["{model}", "--spec", "{spec}", "--keras-weights", "{missing}"], "cannot load the Keras weights"),
])
def test_command_errors_exit_2(saved, tmp_path, capsys, argv, message):
    path, _spec = saved
    bad = tmp_path / "bad.cnn"
    bad.write_text(FUSED.replace("bn: batchnorm -> relu", "bn: batchnorm"))
    names = {"model": path, "bad": bad, "missing": tmp_path / "none.cnn", "spec": _spec,
             "nofile": tmp_path / "none.keras"}
    argv = [a.format(**names) for a in argv]
    code = main(["keras", *argv, "--weights-out", str(tmp_path / "w.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and message.format(**names) in err and "Traceback" not in err
    assert not (tmp_path / "w.safetensors").exists()
