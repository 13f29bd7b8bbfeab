"""One handler per ONNX operator: a node -> spec layer(s), or Unsupported with the reason.

Padding: ONNX's `pads` are [top, left, bottom, right], the spec's (top, bottom, left, right);
`auto_pad=SAME_UPPER` is the spec's `pad=same` (TensorFlow's rule), SAME_LOWER is written as
explicit padding. Pools always state `stride=` (ONNX's default is 1, the spec's the window),
and `round=` where the division is not exact. The table of what maps to what is
docs/import.md.
"""

from __future__ import annotations

import math

import numpy as np

from . import onnx_weights as OW
from .onnx_graph import OnnxNode
from .onnx_layers import Translator, Unsupported, Value, weight_hint

# -- formatting -----------------------------------------------------------------------------------


def num(x: float) -> str:
    """A number as the spec writes it: float32 values in their shortest form (1e-05, 0.2)."""
    x = float(np.float32(x)) if abs(float(x)) < 3.4e38 else float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return str(np.float32(x))


def dims(values) -> str:
    return "x".join(str(int(v)) for v in values)


def pair(name: str, values, default: int) -> str:
    h, w = (int(v) for v in values)
    if h == w == default:
        return ""
    return f"{name}={h}" if h == w else f"{name}=({h}, {w})"


def pad_text(pads, key: str = "pad") -> str:
    """ONNX [t, l, b, r] -> `pad=...` ('' for none)."""
    t, left, b, r = (int(p) for p in pads)
    if t == b == left == r:
        return f"{key}={t}" if t else ""
    if t == b and left == r:
        return f"{key}=({t}, {left})"
    return f"{key}=({t}, {b}, {left}, {r})"


def spatial(node: OnnxNode, kernel) -> None:
    if len(kernel) != 2:
        raise Unsupported(f"a {len(kernel)}-D window; cnnspec layers are 2-D (images HxWxC)")


def window_pads(node: OnnxNode, in_hw, kernel, strides, dilations) -> tuple[list[int], bool]:
    """(pads [t, l, b, r], same_upper) from `pads` / `auto_pad`."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        pads = list(node.attrs.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
        if len(pads) != 4 or min(pads) < 0:
            raise Unsupported(f"pads {pads}: cnnspec takes four non-negative paddings")
        return pads, False
    totals = [max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
              for n, k, s, d in zip(in_hw, kernel, strides, dilations)]
    if auto == "SAME_UPPER":
        return [totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2,
                totals[1] - totals[1] // 2], True
    if auto == "SAME_LOWER":
        return [totals[0] - totals[0] // 2, totals[1] - totals[1] // 2, totals[0] // 2,
                totals[1] // 2], False
    raise Unsupported(f"auto_pad={auto}")


def inexact(in_hw, kernel, strides, dilations, pads) -> bool:
    t, left, b, r = pads
    return any((n + lo + hi - d * (k - 1) - 1) % s
               for n, k, s, d, lo, hi in zip(in_hw, kernel, strides, dilations, (t, left), (b, r)))


# -- convolutions -----------------------------------------------------------------------------


def conv(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    weight = tr.constant(node, 1, "weight")
    bias = tr.constant(node, 2, "bias", optional=True)
    kernel = weight.shape[2:]
    spatial(node, kernel)
    groups = int(node.attrs.get("group", 1))
    strides = node.attrs.get("strides", [1, 1])
    dilations = node.attrs.get("dilations", [1, 1])
    c, h, w = tr.shape(node.inputs[0])
    pads, same = window_pads(node, (h, w), kernel, strides, dilations)
    extra = tr.merged_pads.get(node.name)
    if extra is not None:
        pads, same = [p + e for p, e in zip(pads, extra)], False
    out = weight.shape[0]
    common = [pair("stride", strides, 1), "pad=same" if same else pad_text(pads),
              pair("dilation", dilations, 1)]
    if not same and inexact((h, w), kernel, strides, dilations, pads):
        common.append("round=floor")
    if bias is None:
        common.append("bias=false")
    hint = weight_hint(tr.graph, node)
    if groups == c and groups > 1:
        m = out // c
        weights = {"kernel": OW.depthwise_kernel(weight, c)}
        args = [dims(kernel), f"multiplier={m}" if m > 1 else "", *common]
        kind = "depthwise"
    else:
        weights = {"kernel": OW.conv_kernel(weight)}
        args = [str(out), dims(kernel), *common, f"groups={groups}" if groups > 1 else ""]
        kind = "conv"
    if bias is not None:
        weights["bias"] = OW.f32(bias)
    tr.emit(node, kind, args, [x.layer], True, weights, hint=hint)


def conv_transpose(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    weight = tr.constant(node, 1, "weight")
    bias = tr.constant(node, 2, "bias", optional=True)
    kernel = weight.shape[2:]
    spatial(node, kernel)
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or "output_shape" in node.attrs:
        raise Unsupported("auto_pad SAME or output_shape: give explicit pads (and output_padding)")
    groups = int(node.attrs.get("group", 1))
    pads = node.attrs.get("pads", [0, 0, 0, 0]) if node.attrs.get("auto_pad", "NOTSET") == "NOTSET" else [0] * 4
    args = [str(weight.shape[1] * groups), dims(kernel), pair("stride", node.attrs.get("strides", [1, 1]), 1),
            pad_text(pads), pair("output_padding", node.attrs.get("output_padding", [0, 0]), 0),
            pair("dilation", node.attrs.get("dilations", [1, 1]), 1),
            f"groups={groups}" if groups > 1 else "", "bias=false" if bias is None else ""]
    weights = {"kernel": OW.convtranspose_kernel(weight)}
    if bias is not None:
        weights["bias"] = OW.f32(bias)
    tr.emit(node, "convtranspose", args, [x.layer], True, weights, hint=weight_hint(tr.graph, node))


def image_value(tr: Translator, node: OnnxNode) -> Value:
    x = tr.value(node.inputs[0])
    if not x.image:
        raise Unsupported("its input is not an image (N, C, H, W)")
    return x


# -- pools ----------------------------------------------------------------------------------------


def pool(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Unsupported("its second output (the indices of the maxima) is used")
    kernel = node.attrs["kernel_shape"]
    spatial(node, kernel)
    strides = node.attrs.get("strides", [1, 1])
    dilations = node.attrs.get("dilations", [1, 1])
    if list(dilations) != [1, 1]:
        raise Unsupported(f"dilations {list(dilations)}: cnnspec pools are not dilated")
    _, h, w = tr.shape(node.inputs[0])
    pads, same = window_pads(node, (h, w), kernel, strides, dilations)
    ceil = bool(node.attrs.get("ceil_mode", 0))
    args = [dims(kernel), f"stride={strides[0]}" if strides[0] == strides[1] else
            f"stride=({strides[0]}, {strides[1]})", "pad=same" if same else pad_text(pads)]
    if not same and inexact((h, w), kernel, strides, dilations, pads):
        args.append("round=ceil" if ceil else "round=floor")
    kind = "maxpool" if node.op == "MaxPool" else "avgpool"
    if kind == "avgpool" and node.attrs.get("count_include_pad", 0) and any(pads):
        args.append("count_include_pad=true")
    tr.emit(node, kind, args, [x.layer], True)


def global_pool(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    kind = "globalavgpool" if node.op == "GlobalAveragePool" else "globalmaxpool"
    tr.emit(node, kind, ["keepdims=true"], [x.layer], True)


def reduce_mean(tr: Translator, node: OnnxNode) -> None:
    """ReduceMean / ReduceMax over H and W (x.mean((2, 3))) is global pooling."""
    x = image_value(tr, node)
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1:
        axes = tr.constant(node, 1, "axes").tolist()
    if sorted(a % 4 for a in (axes or [])) != [2, 3]:
        raise Unsupported(f"a reduction over axes {axes}; cnnspec pools over H and W only")
    kind = "globalavgpool" if node.op == "ReduceMean" else "globalmaxpool"
    keep = bool(node.attrs.get("keepdims", 1))
    tr.emit(node, kind, ["keepdims=true"] if keep else [], [x.layer], keep)


# -- dense ----------------------------------------------------------------------------------------


def flat_value(tr: Translator, node: OnnxNode) -> Value:
    x = tr.value(node.inputs[0])
    if x.image:
        raise Unsupported("its input is an image; a dense layer reads a flat vector (flatten first)")
    return x


def gemm(tr: Translator, node: OnnxNode) -> None:
    x = flat_value(tr, node)
    if node.attrs.get("transA", 0):
        raise Unsupported("transA=1: the input batch transposed")
    b = tr.constant(node, 1, "weight")
    kernel = OW.gemm_kernel(b, bool(node.attrs.get("transB", 0)), float(node.attrs.get("alpha", 1.0)))
    c = tr.constant(node, 2, "bias", optional=True)
    try:
        bias = OW.gemm_bias(c, kernel.shape[1], float(node.attrs.get("beta", 1.0)))
    except ValueError as err:
        raise Unsupported(str(err)) from None
    dense(tr, node, x, kernel, bias, weight_hint(tr.graph, node))


def dense(tr: Translator, node: OnnxNode, x: Value, kernel, bias, hint) -> None:
    weights = {"kernel": OW.f32(OW.nhwc_rows(kernel, x.chw))}
    if bias is not None:
        weights["bias"] = OW.f32(bias)
    tr.emit(node, "dense", [str(kernel.shape[1]), "bias=false" if bias is None else ""],
            [x.layer], False, weights, hint=hint)


def matmul(tr: Translator, node: OnnxNode) -> None:
    """MatMul by a constant (K, N), and the Add of a constant (N,) after it: a dense."""
    x = flat_value(tr, node)
    b = tr.constant(node, 1, "weight")
    if b.ndim != 2:
        raise Unsupported(f"a weight of shape {b.shape}; a dense kernel is (in, out)")
    name = tr.only_reader(node.outputs[0])
    bias, add = None, next((n for n in tr.graph.readers(node.outputs[0]) if n.name == name), None)
    if add is not None and add.op == "Add":
        other = [t for t in add.inputs if t != node.outputs[0]]
        c = tr.graph.constants.get(other[0]) if len(other) == 1 else None
        if c is not None and c.size == b.shape[1] and c.shape[-1:] == (b.shape[1],):
            bias = c.reshape(-1)
            tr.absorbed.add(add.name)
    layer = dense_layer(tr, node, x, b, bias)
    if bias is not None:
        tr.extend(layer, add)


def dense_layer(tr, node, x, kernel, bias):
    dense(tr, node, x, kernel, bias, weight_hint(tr.graph, node))
    return tr.layers[tr.values[node.outputs[0]].layer]


# -- normalisation --------------------------------------------------------------------------------


def batchnorm(tr: Translator, node: OnnxNode) -> None:
    x = tr.value(node.inputs[0])
    if node.attrs.get("training_mode", 0) or any(node.outputs[1:]):
        raise Unsupported("training mode (the batch statistics as outputs)")
    vectors = [tr.constant(node, i, what) for i, what in
               ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
    vectors = [OW.nhwc_rows(np.asarray(v).reshape(-1), x.chw) for v in vectors]
    bn = OW.batchnorm_weights(*vectors)
    eps = float(node.attrs.get("epsilon", 1e-5))
    if tr.fold_bn and fold(tr, node, bn, eps):
        return
    momentum = float(node.attrs.get("momentum", 0.9))
    args = [f"eps={num(eps)}", f"momentum={num(momentum)}" if abs(momentum - 0.99) > 1e-9 else ""]
    tr.emit(node, "batchnorm", args, [x.layer], x.image, bn, x.chw, hint=weight_hint(tr.graph, node))


def fold(tr: Translator, node: OnnxNode, bn: dict, eps: float) -> bool:
    """Fold the batch norm into the conv, depthwise or dense that alone feeds it."""
    layer = tr.fusable(node)
    if layer is None or layer.kind not in ("conv", "depthwise", "dense") or layer.activation:
        tr.notes.append(f"{node.label} kept as a batchnorm: no conv or dense alone feeds it")
        return False
    folding = OW.fold_depthwise if layer.kind == "depthwise" else OW.fold_batchnorm
    layer.weights["kernel"], layer.weights["bias"] = folding(
        layer.weights["kernel"], layer.weights.get("bias"), bn, eps)
    layer.args = [a for a in layer.args if a != "bias=false"]
    tr.extend(layer, node)
    return True


def layernorm(tr: Translator, node: OnnxNode) -> None:
    x = tr.value(node.inputs[0])
    axis = int(node.attrs.get("axis", -1))
    if x.image or axis not in (-1, 1) or x.chw is not None:
        raise Unsupported(f"a layer norm over axis {axis} of a {'image' if x.image else 'vector'}"
                          "; cnnspec's layernorm normalises the channels of an image (NHWC) or "
                          "the features of a vector")
    scale = tr.constant(node, 1, "scale")
    bias = tr.constant(node, 2, "bias", optional=True)
    weights = {"gamma": OW.f32(scale.reshape(-1))}
    if bias is not None:
        weights["beta"] = OW.f32(bias.reshape(-1))
    args = [f"eps={num(float(node.attrs.get('epsilon', 1e-5)))}", "center=false" if bias is None else ""]
    tr.emit(node, "layernorm", args, [x.layer], False, weights, hint=weight_hint(tr.graph, node))


# -- activations ----------------------------------------------------------------------------------


def activation_word(tr: Translator, node: OnnxNode) -> str:
    op, a = node.op, node.attrs
    simple = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
              "Swish": "swish", "HardSwishPattern": "hard_swish"}
    if op in simple:
        return simple[op]
    if op == "LeakyRelu":
        return f"leaky_relu alpha={num(a.get('alpha', 0.01))}"
    if op == "Elu":
        alpha = float(a.get("alpha", 1.0))
        return "elu" if alpha == 1.0 else f"elu alpha={num(alpha)}"
    if op == "HardSigmoid":
        return hard_sigmoid(a)
    if op == "Gelu":
        return "gelu_tanh" if a.get("approximate", "none") == "tanh" else "gelu"
    if op == "Clip":
        return clip(tr, node)
    return softmax(tr, node)


def hard_sigmoid(a: dict) -> str:
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise Unsupported(f"HardSigmoid alpha={num(alpha)} beta={num(beta)}: the spec's "
                          "hard_sigmoid is relu6(x + 3) / 6 (alpha 1/6, beta 0.5)")
    return "hard_sigmoid"


def clip(tr: Translator, node: OnnxNode) -> str:
    low = node.attrs.get("min")
    high = node.attrs.get("max")
    if len(node.inputs) > 1:
        low = tr.constant(node, 1, "minimum", optional=True)
        high = tr.constant(node, 2, "maximum", optional=True)
    low = None if low is None else float(np.asarray(low))
    high = None if high is None or not np.isfinite(high) else float(np.asarray(high))
    if low == 0.0 and high == 6.0:
        return "relu6"
    if low == 0.0 and high is None:
        return "relu"
    raise Unsupported(f"Clip to [{low}, {high}]: only [0, 6] (relu6) and [0, inf) (relu) are layers")


def softmax(tr: Translator, node: OnnxNode) -> str:
    x = tr.value(node.inputs[0])
    axis = int(node.attrs.get("axis", -1 if tr.graph.opset >= 13 else 1))
    rank = 4 if x.image else 2
    if axis % rank != 1:
        raise Unsupported(f"a softmax over axis {axis}; the spec's softmax is over the channels "
                          "(axis 1 of NCHW) or a vector's features")
    if x.image and tr.graph.opset < 13 and tr.shape(node.inputs[0])[1:] != (1, 1):
        raise Unsupported("a softmax of opset < 13 over C, H and W together")
    return "softmax"


def activation(tr: Translator, node: OnnxNode) -> None:
    word = activation_word(tr, node)
    x = tr.value(node.inputs[0])
    layer = tr.fusable(node)
    if layer is not None and layer.takes_activation:
        layer.activation = word
        tr.extend(layer, node)
        return
    name, *options = word.split()
    tr.emit(node, name, options, [x.layer], x.image, chw=x.chw)


# -- merges and plumbing --------------------------------------------------------------------------


def merge(tr: Translator, node: OnnxNode) -> None:
    """Add, Sum, Mul of network values (a constant operand is not a layer)."""
    values = [tr.value(t) for t in node.inputs]
    orders = {v.chw for v in values if not v.image}
    if len(orders) > 1 or (orders and any(v.image for v in values) and orders != {None}):
        raise Unsupported("its flat inputs are in different orders (C,H,W and H,W,C)")
    kind = "multiply" if node.op == "Mul" else "add"
    image = any(v.image for v in values)
    tr.emit(node, kind, [], [v.layer for v in values], image,
            chw=next(iter(orders)) if orders and not image else None)


def concat(tr: Translator, node: OnnxNode) -> None:
    values = [tr.value(t) for t in node.inputs]
    kinds = {v.image for v in values}
    axis = int(node.attrs.get("axis", 1))
    if len(kinds) > 1 or axis % (4 if values[0].image else 2) != 1:
        raise Unsupported(f"a concat along axis {axis}; cnnspec concatenates channels (axis 1)")
    if any(v.chw is not None for v in values):
        raise Unsupported("a concat of vectors flattened in ONNX's C,H,W order")
    tr.emit(node, "concat", [], [v.layer for v in values], values[0].image)


def passthrough(tr: Translator, node: OnnxNode) -> None:
    """Dropout (at inference) and Identity: the value itself."""
    if node.op == "Dropout" and len(node.inputs) > 2 and node.inputs[2] in tr.graph.constants \
            and bool(tr.graph.constants[node.inputs[2]]):
        raise Unsupported("a dropout in training mode")
    tr.alias(node, tr.value(node.inputs[0]))


def to_flat(tr: Translator, node: OnnxNode, x: Value) -> None:
    """The node flattens an image x: a `flatten`, or the global pool before it loses keepdims."""
    c, h, w = tr.shape(node.inputs[0])
    source = tr.layers.get(x.layer)
    if h == w == 1 and source is not None and source.kind.startswith("global") and \
            tr.fusable(node) is source:
        source.args.remove("keepdims=true")
        tr.extend(source, node, Value(source.id, False))
        return
    chw = (c, h, w) if c > 1 and h * w > 1 else None
    tr.emit(node, "flatten", [], [x.layer], False, chw=chw)


def flatten(tr: Translator, node: OnnxNode) -> None:
    x = tr.value(node.inputs[0])
    axis = int(node.attrs.get("axis", 1))
    if axis % (4 if x.image else 2) != 1:
        raise Unsupported(f"a flatten from axis {axis}; cnnspec keeps the batch axis (axis 1)")
    if x.image:
        to_flat(tr, node, x)
    else:
        tr.alias(node, x)


def reshape(tr: Translator, node: OnnxNode) -> None:
    x = tr.value(node.inputs[0])
    if node.op == "Reshape":
        target = [int(d) for d in tr.constant(node, 1, "shape").reshape(-1)]
        if node.attrs.get("allowzero", 0) and 0 in target:
            raise Unsupported("allowzero with a 0 in the shape")
    before = (1, *tr.shape(node.inputs[0]))
    after = (1, *tr.shape(node.outputs[0]))
    if node.op != "Reshape":
        target = list(after)
    if after[:1] != (1,) or (node.op == "Reshape" and target[:1] not in ([0], [-1], [1])):
        raise Unsupported(f"a reshape to {target} that moves the batch axis")
    if before == after:
        return tr.alias(node, x)
    if x.image and len(after) == 2:
        return to_flat(tr, node, x)
    if not x.image and len(after) == 4:
        return unflatten(tr, node, x, after[1:])
    raise Unsupported(f"a reshape of {before[1:]} to {after[1:]} (NCHW): cnnspec holds images "
                      "as NHWC and cannot prove that this reshape means the same there")


def unflatten(tr: Translator, node: OnnxNode, x: Value, chw) -> None:
    c, h, w = chw
    if x.chw == tuple(chw) or (x.chw is None and (h * w == 1 or c == 1)):
        tr.emit(node, "reshape", [dims((h, w, c))], [x.layer], True)
        return
    raise Unsupported(f"a reshape of a vector to the image {c}x{h}x{w} (C, H, W): the spec reads "
                      "a vector as H,W,C; this one is in another order")


def pad(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    tr.emit(node, "zeropad", [pad_text(zero_pads(tr, node), "pad")[len("pad="):] or "0"],
            [x.layer], True)


def zero_pads(tr: Translator, node: OnnxNode) -> list[int]:
    """[t, l, b, r] of a Pad that pads H and W with zeros; Unsupported otherwise."""
    mode = node.attrs.get("mode", "constant")
    if mode != "constant":
        raise Unsupported(f"mode {mode}: only zero padding is a layer (zeropad)")
    pads = node.attrs.get("pads")
    if pads is None:
        pads = tr.constant(node, 1, "pads").reshape(-1).tolist()
    value = node.attrs.get("value", 0.0)
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(np.asarray(tr.constant(node, 2, "constant value")).reshape(-1)[0])
    if len(node.inputs) > 3 and node.inputs[3]:
        raise Unsupported("padding of chosen axes (the axes input)")
    if value != 0.0 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        raise Unsupported(f"pads {pads} with value {value}: only non-negative zero padding of H "
                          "and W is a layer")
    return [pads[2], pads[3], pads[6], pads[7]]


def resize(tr: Translator, node: OnnxNode) -> None:
    x = image_value(tr, node)
    _, h, w = tr.shape(node.inputs[0])
    _, oh, ow = tr.shape(node.outputs[0])
    if oh % h or ow % w:
        raise Unsupported(f"a resize from {h}x{w} to {oh}x{ow}: upsample takes whole factors")
    mode = node.attrs.get("mode", "nearest")
    coords = node.attrs.get("coordinate_transformation_mode",
                            "asymmetric" if node.op == "Upsample" else "half_pixel")
    factor = dims((oh // h, ow // w)) if oh // h != ow // w else str(oh // h)
    if mode == "nearest":
        rounding = node.attrs.get("nearest_mode", "round_prefer_floor")
        if coords in ("half_pixel", "pytorch_half_pixel") or (coords == "asymmetric" and (
                rounding == "floor" or node.op == "Upsample")):
            return tr.emit(node, "upsample", [factor], [x.layer], True)
    if mode in ("linear", "bilinear"):
        if coords in ("half_pixel", "pytorch_half_pixel"):
            return tr.emit(node, "upsample", [factor, "mode=bilinear"], [x.layer], True)
        if coords == "align_corners":
            return tr.emit(node, "upsample", [factor, "mode=bilinear", "align_corners=true"],
                           [x.layer], True)
    raise Unsupported(f"mode {mode} with coordinate_transformation_mode {coords}: not a copy of "
                      "pixels nor bilinear interpolation as the spec defines them")


# -- patterns read before the walk ---------------------------------------------------------------


def patterns(tr: Translator) -> None:
    for node in tr.graph.nodes:
        if node.op == "Pad":
            merge_pad(tr, node)
        elif node.op == "Mul" and len(node.inputs) == 2:
            gated_activation(tr, node)


def merge_pad(tr: Translator, node: OnnxNode) -> None:
    name = tr.only_reader(node.outputs[0])
    reader = next((n for n in tr.graph.readers(node.outputs[0]) if n.name == name), None)
    if reader is None or reader.op != "Conv" or reader.attrs.get("auto_pad", "NOTSET") != "NOTSET":
        return
    try:
        pads = zero_pads(tr, node)
    except Unsupported:
        return
    tr.merged_pads[reader.name] = pads
    tr.absorbed.add(node.name)
    tr.aliases[node.outputs[0]] = node.inputs[0]


def gated_activation(tr: Translator, node: OnnxNode) -> None:
    """x * Sigmoid(x) -> swish; x * HardSigmoid(x) (alpha 1/6) -> hard_swish."""
    for gate_tensor, x in (node.inputs, node.inputs[::-1]):
        gate = tr.graph.producer_of(gate_tensor)
        if gate is None or gate.inputs[:1] != (x,) or tr.only_reader(gate_tensor) != node.name:
            continue
        if gate.op == "Sigmoid":
            tr.swaps[node.name] = "Swish"
        elif gate.op == "HardSigmoid" and abs(float(gate.attrs.get("alpha", 0.2)) - 1 / 6) < 1e-6 \
                and abs(float(gate.attrs.get("beta", 0.5)) - 0.5) < 1e-6:
            tr.swaps[node.name] = "HardSwishPattern"
        else:
            continue
        tr.absorbed.add(gate.name)
        tr.gate_inputs[node.name] = x
        return


HANDLERS = {
    "Conv": conv, "ConvTranspose": conv_transpose,
    "MaxPool": pool, "AveragePool": pool,
    "GlobalAveragePool": global_pool, "GlobalMaxPool": global_pool,
    "ReduceMean": reduce_mean, "ReduceMax": reduce_mean,
    "Gemm": gemm, "MatMul": matmul,
    "BatchNormalization": batchnorm, "LayerNormalization": layernorm,
    **{op: activation for op in ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "HardSigmoid",
                                 "HardSwish", "Gelu", "Softmax", "Clip", "Swish",
                                 "HardSwishPattern")},
    "Add": merge, "Sum": merge, "Mul": merge, "Concat": concat,
    "Dropout": passthrough, "Identity": passthrough,
    "Flatten": flatten, "Reshape": reshape, "Squeeze": reshape, "Unsqueeze": reshape,
    "Pad": pad, "Resize": resize, "Upsample": resize,
}
