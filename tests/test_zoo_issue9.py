"""The model zoo of issue 9 against keras.applications itself.

For each of the 11 Keras application models of the issue, specs/zoo/<name>.cnn:

- checks clean, states the standard input (224x224x3; 299x299x3 for InceptionV3 and
  Xception), and carries `expect` lines for params, trainable_params and non_trainable_params
  with the issue's figures, plus shape expects; every expect line is live;
- has the totals of the issue's table and of keras.applications.<Name>(weights=None) built at
  the spec's input (count_params, trainable and non-trainable weights), and its output shape;
- has, for every Keras layer with weights (nested Sequential models opened, as ConvNeXt's
  stem), one spec node of the same family (a conv, depthwise or separable convolution, a
  dense, a normalisation, ...) with the same parameters, trainable parameters, output shape,
  MACs and kernel windows, found by a structural matcher (`match`: colour refinement of the
  graph of weighted layers, then a check that the pairing preserves every edge); for the
  specs with a documented correspondence (`RENAMES`, the header comments: Keras's names, and
  Keras's unnamed layers in the order it makes them) the structural pairing is that one;
- has Keras's MACs (the semantics.md formulas over Keras's Conv2D, DepthwiseConv2D,
  SeparableConv2D, Conv2DTranspose and Dense layers), and Keras's adds, concats and
  multiplies, each joining the paired layers (a concat's inputs in Keras's order).

Each Keras model is built once (functools.cache). A missing or unchecked spec fails: no skips.
That the numbers are Keras's, layer by layer, is tests/test_keras_apps_issue9.py's proof.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from weighted_graph import feeders, reach

from cnnspec.api import analyse
from cnnspec.ir import Network
from cnnspec.source import SourceFile

ZOO = Path(__file__).resolve().parent.parent / "specs" / "zoo"

# The issue's table: spec stem -> (Keras name, total params, non-trainable params).
TABLE = {
    "vgg16": ("VGG16", 138_357_544, 0),
    "vgg19": ("VGG19", 143_667_240, 0),
    "resnet50": ("ResNet50", 25_636_712, 53_120),
    "resnet50v2": ("ResNet50V2", 25_613_800, 45_440),
    "mobilenet": ("MobileNet", 4_253_864, 21_888),
    "mobilenetv2": ("MobileNetV2", 3_538_984, 34_112),
    "densenet121": ("DenseNet121", 8_062_504, 83_648),
    "inceptionv3": ("InceptionV3", 23_851_784, 34_432),
    "xception": ("Xception", 22_910_480, 54_528),
    "efficientnetb0": ("EfficientNetB0", 5_330_571, 42_023),
    "convnexttiny": ("ConvNeXtTiny", 28_589_128, 0),
}
STANDARD_INPUT = {stem: (299, 299, 3) if stem in ("inceptionv3", "xception") else (224, 224, 3)
                  for stem in TABLE}

# Keras layer class -> the spec's kind family (a grouped Conv2D may be a spec depthwise).
FAMILY = {"Conv2D": "conv", "DepthwiseConv2D": "conv", "SeparableConv2D": "separable",
          "Conv2DTranspose": "convtranspose", "Dense": "dense",
          "BatchNormalization": "batchnorm", "LayerNormalization": "layernorm",
          "Normalization": "normalize", "LayerScale": "layerscale"}
SPEC_FAMILY = {"depthwise": "conv"}
MERGES = {"Add": "add", "Concatenate": "concat", "Multiply": "multiply"}


def _sub(*rules):
    """A Keras name -> spec name function from (pattern, replacement) rules, first match wins;
    None for a name no rule claims (an unnamed Keras layer: matched by structure only)."""
    def rename(name: str) -> str | None:
        for pattern, replacement in rules:
            if re.fullmatch(pattern, name):
                return re.sub(pattern, replacement, name)
        return None
    return rename


def _xception(name: str) -> str | None:
    """`block4_sepconv2_bn` -> `block4.sepconv2_bn`, `block{5+i}_X` -> `middle.{i}.X`."""
    m = re.fullmatch(r"block(\d+)_(sepconv\d(?:_bn)?)", name)
    if m and 5 <= int(m[1]) <= 12:
        return f"middle.{int(m[1]) - 5}.{m[2]}"
    return f"block{m[1]}.{m[2]}" if m else _sub((r"block1_conv\d(_bn)?|predictions", r"\g<0>"))(name)


# The correspondences stated in the header comments of the specs (Keras name -> spec node).
RENAMES = {
    "vgg16": _sub((r"block\d_conv\d|fc\d|predictions", r"\g<0>")),
    "vgg19": _sub((r"(block\d)_(conv\d)", r"\1.\2"), (r"fc\d|predictions", r"\g<0>")),
    "resnet50": _sub((r"(conv\d)_block(\d+)_(\d)_(conv|bn)",
                      lambda m: f"{m[1]}.{int(m[2]) - 1}.{m[4]}{m[3]}"),
                     (r"conv1_(conv|bn)|predictions", r"\g<0>")),
    "resnet50v2": _sub((r"(conv\d_block\d+)_(\d)_(conv|bn)", r"\1.\3\2"),
                       (r"(conv\d_block\d+)_preact_bn", r"\1.preact_bn"),
                       (r"conv1_conv|post_bn|predictions", r"\g<0>")),
    "densenet121": _sub((r"(conv\d)_block(\d+)_(\d)_(conv|bn)",
                         lambda m: f"{m[1]}.{int(m[2]) - 1}.{m[4]}{m[3]}"),
                        (r"(pool\d)_(conv|bn)", r"\1.\2"), (r"conv1_(conv|bn)|bn|predictions", r"\g<0>")),
    "inceptionv3": _sub((r"predictions", r"\g<0>")),
    "xception": _xception,
    "mobilenet": _sub((r"conv_(dw|pw)_(\d+)(_bn)?", r"block\2.conv_\1\3"),
                      (r"conv1(_bn)?|conv_preds", r"\g<0>")),
    "mobilenetv2": _sub((r"(block_\d+|expanded_conv)_(\w+)", r"\1.\2"),
                        (r"Conv1|bn_Conv1|Conv_1(_bn)?|predictions", r"\g<0>")),
    "efficientnetb0": _sub((r"(block\d[a-z])_(\w+)", r"\1.\2"),
                           (r"(stem|top)_(conv|bn)|predictions", r"\g<0>")),
    "convnexttiny": _sub((r"convnext_tiny_stage_(\d)_block_(\d+)_(\w+)", r"stage_\1.\2.\3"),
                         (r"convnext_tiny_(\w+)", r"\1")),
}


# Keras class -> spec kind, for the layers Keras leaves unnamed (`conv2d_17`).
KIND = {"Conv2D": "conv", "DepthwiseConv2D": "depthwise", "SeparableConv2D": "separable",
        "Dense": "dense", "BatchNormalization": "batchnorm", "Normalization": "normalize"}


def creation(name: str) -> int:
    """Keras's automatic names count up per class as layers are made: `conv2d`, `conv2d_1`, ..."""
    m = re.search(r"_(\d+)$", name)
    return int(m[1]) if m else 0


@functools.cache
def documented(stem: str) -> dict[str, str]:
    """Keras weighted layer -> spec node as the spec's header comment states it: RENAMES where
    Keras names the layer; otherwise the K-th unnamed Keras layer of a class (in the order
    Keras made them) is the K-th node of that kind, in spec order, that no rename claims."""
    network, (layers, _, _) = checked(stem), keras_graph(stem)
    pairs = {k: RENAMES[stem](k) for k in layers if RENAMES[stem](k) is not None}
    rest: dict[str, list[str]] = {}
    for node in network.nodes:
        if node.params and node.name not in pairs.values():
            rest.setdefault(node.kind, []).append(node.name)
    unnamed: dict[str, list[str]] = {}
    for k in sorted(set(layers) - set(pairs), key=creation):
        unnamed.setdefault(KIND.get(type(layers[k]).__name__, "?"), []).append(k)
    for kind, names in unnamed.items():
        assert len(names) == len(rest.get(kind, ())), (stem, kind, names[:3], rest.get(kind, [])[:3])
        pairs |= dict(zip(names, rest[kind]))
    return pairs


@functools.cache
def checked(stem: str) -> Network:
    """specs/zoo/<stem>.cnn; it must exist and check without any diagnostic."""
    path = ZOO / f"{stem}.cnn"
    assert path.is_file(), f"specs/zoo/{stem}.cnn is missing"
    network, diags = analyse(SourceFile.read(path))
    shown = [f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in diags[:5]]
    assert network is not None and not diags, f"specs/zoo/{stem}.cnn does not check clean: {shown}"
    return network


@functools.cache
def keras_model(stem: str):
    """keras.applications.<Name>(weights=None) built at the spec's input."""
    import keras
    return getattr(keras.applications, TABLE[stem][0])(weights=None,
                                                      input_shape=checked(stem).input_shape)


def _sources(op, out_of: dict[str, str]) -> list[str]:
    return [out_of.get(name, name) for node in op._inbound_nodes
            for name in (t._keras_history[0].name for t in node.input_tensors)]


@functools.cache
def keras_graph(stem: str) -> tuple[dict[str, object], dict[str, list[str]], dict[str, str]]:
    """(weighted layers by name, every operation's inputs, the merges' spec kinds by name),
    with each nested Sequential opened into the chain of its layers."""
    import keras
    layers, inputs, out_of, merges = {}, {}, {}, {}
    for op in keras_model(stem).operations:
        sources = _sources(op, out_of)
        for sub in op.layers if isinstance(op, keras.Sequential) else [op]:
            inputs[sub.name], sources = sources, [sub.name]
            if size(getattr(sub, "weights", [])):
                layers[sub.name] = sub
            if type(sub).__name__ in MERGES:
                merges[sub.name] = MERGES[type(sub).__name__]
        out_of[op.name] = sources[0]
    return layers, inputs, merges


def keras_row(layer) -> tuple:
    """(family, params, trainable params, output shape, MACs, kernel windows) of a Keras
    layer with weights."""
    kind = type(layer).__name__
    out = tuple(layer.output.shape[1:])
    return (FAMILY.get(kind, kind), size(layer.weights), size(layer.trainable_weights), out,
            keras_macs(layer, kind, out), windows(layer.weights))


def windows(weights) -> tuple:
    """The (kh, kw) of each 4-D kernel, sorted: a 1x7 conv is not a 7x1 one of equal size."""
    return tuple(sorted(tuple(w.shape[:2]) for w in weights if len(w.shape) == 4))


def size(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def keras_macs(layer, kind: str, out: tuple) -> int:
    """The semantics.md MACs of a Keras layer (0 for a layer without a formula)."""
    if kind in ("Conv2D", "DepthwiseConv2D"):
        return math.prod(out[:2]) * math.prod(layer.kernel.shape)
    if kind == "SeparableConv2D":
        return math.prod(out[:2]) * (math.prod(layer.depthwise_kernel.shape)
                                     + math.prod(layer.pointwise_kernel.shape))
    if kind == "Conv2DTranspose":
        return math.prod(layer.input.shape[1:3]) * math.prod(layer.kernel.shape)
    return math.prod(out[:-1]) * math.prod(layer.kernel.shape) if kind == "Dense" else 0


def spec_row(node) -> tuple:
    return (SPEC_FAMILY.get(node.kind, node.kind), node.params, node.trainable_params,
            tuple(node.out_shape), node.macs, windows(node.weights))






def refine(labels: dict, preds: dict) -> dict:
    """Colour refinement: a node's colour becomes (its colour, its feeders' colours, its
    consumers' colours) until the partition stops splitting."""
    succs: dict = {n: [] for n in labels}
    for n, ps in preds.items():
        for p in ps:
            succs[p].append(n)
    colour = labels
    while True:
        table: dict = {}
        new = {n: table.setdefault((colour[n], tuple(sorted(colour[p] for p in preds[n])),
                                    tuple(sorted(colour[s] for s in succs[n]))), len(table))
               for n in labels}
        if len(set(new.values())) == len(set(colour.values())):
            return new
        colour = new


@functools.cache
def match(stem: str) -> dict[str, str]:
    """Keras weighted layer name -> spec node name, by structure alone: the two graphs of
    weighted layers are coloured together (first by keras_row / spec_row), equal colours
    paired in each one's own order, and the pairing must map every edge onto an edge."""
    network = checked(stem)
    layers, inputs, _ = keras_graph(stem)
    nodes = {n.name: n for n in network.nodes if n.params}
    theirs = feeders(inputs, set(layers))
    ours = feeders({n.name: list(n.inputs) for n in network.nodes}, set(nodes))
    labels = {("k", k): keras_row(layer) for k, layer in layers.items()}
    labels |= {("s", s): spec_row(node) for s, node in nodes.items()}
    preds = {("k", k): [("k", f) for f in fs] for k, fs in theirs.items()}
    preds |= {("s", s): [("s", f) for f in fs] for s, fs in ours.items()}
    colour, classes = refine({n: repr(v) for n, v in labels.items()}, preds), {}
    for (side, name), c in colour.items():
        classes.setdefault(c, {"k": [], "s": []})[side].append(name)
    unmatched = [(members["k"][:3], members["s"][:3]) for members in classes.values()
                 if len(members["k"]) != len(members["s"])]
    assert not unmatched, f"{stem}: Keras layers and spec nodes that do not correspond: {unmatched[:4]}"
    pairs = {k: s for members in classes.values() for k, s in zip(members["k"], members["s"])}
    for k, fed_by in theirs.items():
        assert ours[pairs[k]] == {pairs[f] for f in fed_by}, (stem, k, pairs[k])
    return pairs


def expect_lines(stem: str) -> list[tuple[int, str]]:
    """(line, text) of the spec's expect statements, comments cut."""
    lines = (ZOO / f"{stem}.cnn").read_text().splitlines()
    return [(i, line.split("#", 1)[0].strip()) for i, line in enumerate(lines, 1)
            if line.startswith("expect ")]


# -- the tests ----------------------------------------------------------------------------------

def test_the_table_is_the_issues():
    assert len(TABLE) == 11 and sum(total for _, total, _ in TABLE.values()) == 429_812_611


@pytest.mark.parametrize("stem", TABLE)
def test_spec_states_the_standard_input_and_the_issues_totals(stem):
    network, (keras_name, total, frozen) = checked(stem), TABLE[stem]
    assert network.input_shape == STANDARD_INPUT[stem]
    assert network.name == keras_name
    assert (network.total_params, network.trainable_params, network.total_params - network.trainable_params) == \
        (total, total - frozen, frozen)
    stated = {text for _, text in expect_lines(stem)}
    assert {f"expect params == {total}", f"expect trainable_params == {total - frozen}",
            f"expect non_trainable_params == {frozen}"} <= stated
    assert sum(".shape ==" in text for text in stated) >= 3


@pytest.mark.parametrize("stem", TABLE)
def test_every_expectation_is_live(stem):
    """Each expect line off by one in its last number gives E401 at that line, and only there."""
    checked(stem)
    path = ZOO / f"{stem}.cnn"
    lines = path.read_text().splitlines()
    expects = expect_lines(stem)
    for i, text in expects:
        lines[i - 1] = re.sub(r"(\d+)$", lambda m: str(int(m[1]) + 1), text)
    _, diags = analyse(SourceFile(str(path), "\n".join(lines) + "\n"))
    assert sorted((d.code, d.span.line) for d in diags) == [("E401", i) for i, _ in expects]


@pytest.mark.parametrize("stem", TABLE)
def test_totals_equal_keras(stem):
    network, model = checked(stem), keras_model(stem)
    trainable, frozen = size(model.trainable_weights), size(model.non_trainable_weights)
    assert (model.count_params(), trainable, frozen) == \
        (network.total_params, network.trainable_params, network.total_params - network.trainable_params)
    assert tuple(model.input_shape[1:]) == network.input_shape == STANDARD_INPUT[stem]
    assert tuple(network.output.out_shape) == tuple(model.output.shape[1:])


@pytest.mark.parametrize("stem", TABLE)
def test_macs_equal_keras(stem):
    network, (layers, _, _) = checked(stem), keras_graph(stem)
    assert network.macs == sum(keras_row(layer)[4] for layer in layers.values())


@pytest.mark.parametrize("stem", TABLE)
def test_every_weighted_keras_layer_is_a_spec_node(stem):
    """The structural pairing covers both sides; each pair agrees in family, params,
    trainable params, output shape, MACs and kernel windows (they are the first colours)."""
    network, (layers, _, _) = checked(stem), keras_graph(stem)
    pairs = match(stem)
    assert sorted(pairs) == sorted(layers)
    assert sorted(pairs.values()) == sorted(n.name for n in network.nodes if n.params)
    for k, s in pairs.items():
        assert spec_row(network.node(s)) == keras_row(layers[k]), (k, s)


@pytest.mark.parametrize("stem", [s for s in TABLE if s in RENAMES])
def test_the_structural_match_is_the_documented_correspondence(stem):
    """The pairing found from structure alone is the one the spec's header comment states."""
    assert match(stem) == documented(stem)


def merge_signatures(inputs, merges: dict[str, str], kept, name_of) -> Counter:
    """Each merge as (kind, the weighted layers that reach each of its inputs, renamed by
    name_of): in order for a concat (it decides the channel order), as a multiset otherwise."""
    above, signatures = reach(inputs, kept), Counter()
    for merge, kind in merges.items():
        parts = [frozenset(map(name_of, above(i))) for i in inputs[merge]]
        signatures[kind, tuple(parts if kind == "concat" else sorted(parts, key=sorted))] += 1
    return signatures


@pytest.mark.parametrize("stem", TABLE)
def test_merges_equal_keras(stem):
    """Keras's adds, concats (their inputs in order) and multiplies are the spec's, joining
    the layers that the structural match pairs."""
    network, (layers, inputs, merges) = checked(stem), keras_graph(stem)
    pairs, kept = match(stem), {n.name for n in network.nodes if n.params}
    ours = merge_signatures({n.name: list(n.inputs) for n in network.nodes},
                            {n.name: n.kind for n in network.nodes if n.kind in MERGES.values()},
                            kept, str)
    assert ours == merge_signatures(inputs, merges, set(layers), pairs.get)


def test_renames_of_the_header_comments():
    assert RENAMES["vgg19"]("block3_conv4") == "block3.conv4"
    assert RENAMES["resnet50v2"]("conv3_block2_2_conv") == "conv3_block2.conv2"
    assert RENAMES["resnet50v2"]("conv3_block1_preact_bn") == "conv3_block1.preact_bn"
    assert RENAMES["resnet50"]("conv4_block6_0_bn") == "conv4.5.bn0"
    assert RENAMES["densenet121"]("pool3_conv") == "pool3.conv"
    assert RENAMES["xception"]("block12_sepconv3_bn") == "middle.7.sepconv3_bn"
    assert RENAMES["xception"]("block13_sepconv1") == "block13.sepconv1"
    assert RENAMES["xception"]("block1_conv2_bn") == "block1_conv2_bn"
    assert RENAMES["inceptionv3"]("conv2d_17") is None  # unnamed in Keras: creation order
    assert RENAMES["mobilenet"]("conv_pw_5_bn") == "block5.conv_pw_bn"
    assert RENAMES["mobilenetv2"]("expanded_conv_depthwise_BN") == "expanded_conv.depthwise_BN"
    assert RENAMES["efficientnetb0"]("block4b_se_reduce") == "block4b.se_reduce"
    assert RENAMES["convnexttiny"]("convnext_tiny_stage_2_block_4_pointwise_conv_1") == \
        "stage_2.4.pointwise_conv_1"
    assert RENAMES["convnexttiny"]("convnext_tiny_head_dense") == "head_dense"
