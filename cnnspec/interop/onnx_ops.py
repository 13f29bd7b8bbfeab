"""One handler per ONNX operator: a node -> spec layer(s), or Unsupported with the reason.

Padding: ONNX's `pads` are [top, left, bottom, right], the spec's (top, bottom, left, right);
`auto_pad=SAME_UPPER` is the spec's `pad=same` (TensorFlow's rule), SAME_LOWER is written as
explicit padding. Pools always state `stride=` (ONNX's default is 1, the spec's the window),
and `round=` where the division is not exact. The table of what maps to what is
docs/import.md.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..shapes import same_padding, shape_text
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
    return shape_text(tuple(int(v) for v in values))


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
    (t, b), (left, r) = (same_padding(n, k, s, d)
                         for n, k, s, d in zip(in_hw, kernel, strides, dilations))
    if auto == "SAME_UPPER":  # TensorFlow's rule, the spec's pad=same: the extra pixel after
        return [t, left, b, r], True
    if auto == "SAME_LOWER":
        return [b, r, t, left], False
    raise Unsupported(f"auto_pad={auto}")


def inexact(in_hw, kernel, strides, dilations, pads) -> bool:
    t, left, b, r = pads
    return any((n + lo + hi - d * (k - 1) - 1) % s
               for n, k, s, d, lo, hi in zip(in_hw, kernel, strides, dilations, (t, left), (b, r)))


# -- convolutions -----------------------------------------------------------------------------


def conv_inputs(tr: Translator, node: OnnxNode):
    """A Conv's or ConvTranspose's image, weight, optional bias and (spatial) kernel size."""
    x = image_value(tr, node)
    weight = tr.constant(node, 1, "weight")
    bias = tr.constant(node, 2, "bias", optional=True)
    kernel = weight.shape[2:]
    spatial(node, kernel)
    return x, weight, bias, kernel


def conv(tr: Translator, node: OnnxNode) -> None:
    x, weight, bias, kernel = conv_inputs(tr, node)
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
    x, weight, bias, kernel = conv_inputs(tr, node)
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
    if not x.image or x.nhwc:
        raise Unsupported("its input is not an image (N, C, H, W)" + (
            f" but one that ONNX holds as (N, H, W, C); {node.op} reads NCHW" if x.nhwc else ""))
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
    """ReduceMean / ReduceMax over H and W (x.mean((2, 3)); axes 1, 2 of an image held NHWC)
    is global pooling."""
    x = tr.value(node.inputs[0])
    if not x.image:
        raise Unsupported("a reduction of a vector")
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1:
        axes = tr.constant(node, 1, "axes").tolist()
    if sorted(a % 4 for a in (axes or [])) != ([1, 2] if x.nhwc else [2, 3]):
        raise Unsupported(f"a reduction over axes {axes}; cnnspec pools over H and W only")
    kind = "globalavgpool" if node.op == "ReduceMean" else "globalmaxpool"
    keep = bool(node.attrs.get("keepdims", 1))
    tr.emit(node, kind, ["keepdims=true"] if keep else [], [x.layer], keep, nhwc=keep and x.nhwc)


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


def dense(tr: Translator, node: OnnxNode, x: Value, kernel, bias, hint):
    weights = {"kernel": OW.f32(OW.nhwc_rows(kernel, x.chw))}
    if bias is not None:
        weights["bias"] = OW.f32(bias)
    return tr.emit(node, "dense", [str(kernel.shape[1]), "bias=false" if bias is None else "",
                            "per_pixel=true" if x.image else ""],
            [x.layer], x.image, weights, hint=hint, nhwc=x.image)


def matmul(tr: Translator, node: OnnxNode) -> None:
    """MatMul by a constant (K, N), and the Add of a constant (N,) after it: a dense (of every
    pixel of an image that ONNX holds as NHWC: `dense per_pixel=true`)."""
    x = tr.value(node.inputs[0])
    if x.image and not x.nhwc:
        raise Unsupported("a MatMul over the W axis of an NCHW image")
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
    layer = dense(tr, node, x, b, bias, weight_hint(tr.graph, node))
    if bias is not None:
        tr.extend(layer, add)


# -- normalisation --------------------------------------------------------------------------------


def batchnorm(tr: Translator, node: OnnxNode) -> None:
    x = tr.value(node.inputs[0])
    if x.nhwc:
        raise Unsupported("its input is an image held as (N, H, W, C); BatchNormalization "
                          "normalises axis 1, which is H there")
    if node.attrs.get("training_mode", 0) or any(node.outputs[1:]):
        raise Unsupported("training mode (the batch statistics as outputs)")
    vectors = [tr.constant(node, i, what) for i, what in
               ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
    vectors = [OW.nhwc_rows(np.asarray(v).reshape(-1), x.chw) for v in vectors]
    bn = OW.batchnorm_weights(*vectors)
    eps = float(node.attrs.get("epsilon", 1e-5))
    if tr.fold_bn and fold(tr, node, dict(bn), eps):
        return
    momentum = float(node.attrs.get("momentum", 0.9))
    args = [f"eps={num(eps)}", f"momentum={num(momentum)}" if abs(momentum - 0.99) > 1e-9 else ""]
    for key, tensor, fixed, option in (("gamma", node.inputs[1], 1.0, "scale=false"),
                                       ("beta", node.inputs[2], 0.0, "center=false")):
        if synthesised(tensor, bn[key], fixed):
            del bn[key]
            args.append(option)
    tr.emit(node, "batchnorm", args, [x.layer], x.image, bn, x.chw, hint=weight_hint(tr.graph, node))


def synthesised(tensor: str, value: np.ndarray, fixed: float) -> bool:
    """A batch norm's scale of ones (offset of zeros) that is no framework weight: not named
    like one ('bn.gamma', 'bn1.weight'), as an exporter writes for Keras's scale=False."""
    return bool(np.all(value == fixed)) and not tensor.endswith(
        (".weight", ".gamma", ".bias", ".beta", ".scale"))


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
    last = axis in (-1, 3) if x.image else axis in (-1, 1)
    if (x.image and not x.nhwc) or not last or x.chw is not None:
        raise Unsupported(f"a layer norm over axis {axis} of a {'image' if x.image else 'vector'}"
                          "; cnnspec's layernorm normalises the channels of an image (NHWC) or "
                          "the features of a vector")
    scale = tr.constant(node, 1, "scale")
    bias = tr.constant(node, 2, "bias", optional=True)
    weights = {"gamma": OW.f32(scale.reshape(-1))}
    if bias is not None:
        weights["beta"] = OW.f32(bias.reshape(-1))
    args = [f"eps={num(float(node.attrs.get('epsilon', 1e-5)))}", "center=false" if bias is None else ""]
    tr.emit(node, "layernorm", args, [x.layer], x.image, weights, hint=weight_hint(tr.graph, node),
            nhwc=x.nhwc)


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
    if axis % rank != (3 if x.nhwc else 1):
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
    tr.emit(node, name, options, [x.layer], x.image, chw=x.chw, nhwc=x.nhwc)


# -- merges and plumbing --------------------------------------------------------------------------


def merge(tr: Translator, node: OnnxNode) -> None:
    """Add, Sum, Mul of network values; with one constant operand (and Sub, Div): rescale."""
    if any(t in tr.graph.constants for t in node.inputs) or node.op in ("Sub", "Div"):
        return affine(tr, node)
    values = [tr.value(t) for t in node.inputs]
    orders = {v.chw for v in values if not v.image}
    if len(orders) > 1 or (orders and any(v.image for v in values) and orders != {None}):
        raise Unsupported("its flat inputs are in different orders (C,H,W and H,W,C)")
    if len({v.nhwc for v in values if v.image}) > 1:
        raise Unsupported("it reads images held as NCHW and as NHWC")
    kind = "multiply" if node.op == "Mul" else "add"
    image = any(v.image for v in values)
    tr.emit(node, kind, [], [v.layer for v in values], image,
            chw=next(iter(orders)) if orders and not image else None,
            nhwc=any(v.nhwc for v in values))


def affine(tr: Translator, node: OnnxNode) -> None:
    """x * c, x + c, x - c, c - x, x / c with a constant c (a number, or one per channel) is
    `rescale scale offset=`; one after another are one rescale. A Mul by a per-channel weight
    named '...gamma' is a `layerscale`, its gamma a (trainable) weight."""
    if len(node.inputs) != 2 or sum(t in tr.graph.constants for t in node.inputs) != 1:
        raise Unsupported(f"{node.op} of two network values" if node.op in ("Sub", "Div") else
                          f"{node.op} of {len(node.inputs)} inputs with constants")
    first_constant = node.inputs[0] in tr.graph.constants
    x = tr.value(node.inputs[1 if first_constant else 0])
    constant = node.inputs[0 if first_constant else 1]
    c = per_channel(tr, x, tr.graph.constants[constant])
    if node.op == "Mul" and c.size > 1 and constant in tr.graph.initializers and \
            constant.endswith("gamma"):  # a framework weight: ConvNeXt's layer scale
        return tr.emit(node, "layerscale", [], [x.layer], x.image, {"gamma": OW.f32(c)}, x.chw,
                       weight_hint(tr.graph, node, 0 if first_constant else 1), x.nhwc)
    one, zero = np.ones_like(c), np.zeros_like(c)
    if node.op == "Div" and first_constant:
        raise Unsupported("a constant divided by a network value")
    scale, offset = {"Mul": (c, zero), "Add": (one, c), "Sum": (one, c), "Div": (1.0 / c, zero),
                     "Sub": (-one, c) if first_constant else (one, -c)}[node.op]
    layer = tr.fusable(value_first(tr, node))
    if layer is not None and layer.kind == "rescale":
        old_scale, old_offset = layer.affine
        layer.affine = (old_scale * scale, old_offset * scale + offset)
        layer.args = rescale_args(*layer.affine)
        return tr.extend(layer, node, x)
    made = tr.emit(node, "rescale", rescale_args(scale, offset), [x.layer], x.image, chw=x.chw,
                   nhwc=x.nhwc)
    made.affine = (scale, offset)


def value_first(tr: Translator, node: OnnxNode) -> OnnxNode:
    """The node reading its value input alone (what Translator.fusable looks at)."""
    return replace(node, inputs=tuple(t for t in node.inputs if t not in tr.graph.constants))


def per_channel(tr: Translator, x: Value, c: np.ndarray) -> np.ndarray:
    """A constant that broadcasts over a value as one number per channel (or feature) of it,
    as a float64 vector in the spec's channel order; a single number as a vector of one."""
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        return c.reshape(1)
    squeezed = [d for d in c.shape if d != 1]
    channel_axis = -1 if (x.nhwc or not x.image) else -3
    if len(squeezed) != 1 or c.ndim < -channel_axis or c.shape[channel_axis] != c.size:
        raise Unsupported(f"a constant of shape {c.shape}: rescale takes one number, or one per "
                          "channel")
    return OW.nhwc_rows(c.reshape(-1), x.chw)


def rescale_args(scale: np.ndarray, offset: np.ndarray) -> list[str]:
    def text(v):
        if np.all(v == v[0]):
            return num(v[0])
        return "(" + ", ".join(num(a) for a in v) + ")"
    size = max(scale.size, offset.size)
    scale, offset = np.broadcast_to(scale, (size,)), np.broadcast_to(offset, (size,))
    return [text(scale), "" if not offset.any() else f"offset={text(offset)}"]


def concat(tr: Translator, node: OnnxNode) -> None:
    values = [tr.value(t) for t in node.inputs]
    kinds = {v.image for v in values}
    axis = int(node.attrs.get("axis", 1))
    layouts = {v.nhwc for v in values}
    channel = 3 if values[0].nhwc else 1
    if len(kinds) > 1 or len(layouts) > 1 or axis % (4 if values[0].image else 2) != channel:
        raise Unsupported(f"a concat along axis {axis}; cnnspec concatenates channels")
    if any(v.chw is not None for v in values):
        raise Unsupported("a concat of vectors flattened in ONNX's C,H,W order")
    tr.emit(node, "concat", [], [v.layer for v in values], values[0].image, nhwc=values[0].nhwc)


def passthrough(tr: Translator, node: OnnxNode) -> None:
    """Dropout (at inference) and Identity: the value itself."""
    if node.op == "Dropout" and len(node.inputs) > 2 and node.inputs[2] in tr.graph.constants \
            and bool(tr.graph.constants[node.inputs[2]]):
        raise Unsupported("a dropout in training mode")
    tr.alias(node, tr.value(node.inputs[0]))


def to_flat(tr: Translator, node: OnnxNode, x: Value) -> None:
    """The node flattens an image x: a `flatten`, or the global pool before it loses keepdims."""
    c, h, w = tr.shape(node.inputs[0])
    if x.nhwc:  # (H, W, C) held as such: flattened in the spec's own order
        return tr.emit(node, "flatten", [], [x.layer], False)
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
    """Reshape, Squeeze, Unsqueeze: by the shapes ONNX infers (the batch fixed at 1), once the
    batch axis is seen to stay: a constant shape starts with 0, -1 or 1, a computed one comes
    from the input's own Shape (`shape_arithmetic`) and keeps the per-sample size."""
    x = tr.value(node.inputs[0])
    before, after = tr.shape(node.inputs[0]), tr.shape(node.outputs[0])
    if node.op == "Reshape" and node.inputs[1] not in tr.shape_tensors:
        target = [int(d) for d in tr.constant(node, 1, "shape").reshape(-1)]
        if node.attrs.get("allowzero", 0) and 0 in target:
            raise Unsupported("allowzero with a 0 in the shape")
        if target[:1] not in ([0], [-1], [1]):
            raise Unsupported(f"a reshape to {target}, which moves the batch axis")
    if math.prod(before) != math.prod(after):
        raise Unsupported(f"a reshape of {before} to {after} that mixes the batch axis in")
    if before == after:
        return tr.alias(node, x)
    if x.image and len(after) == 1:
        return to_flat(tr, node, x)
    if not x.image and len(after) == 3:
        return unflatten(tr, node, x, after)
    raise Unsupported(f"a reshape of {before} to {after} ({'NHWC' if x.nhwc else 'NCHW'}): "
                      "cnnspec holds images as NHWC and cannot prove that it means the same there")


SHAPE_OPS = ("Shape", "Gather", "Cast", "Slice", "Concat", "Unsqueeze", "Squeeze", "Mul", "Div",
             "Identity", "ReduceProd", "Constant")


def shape_arithmetic(tr: Translator, node: OnnxNode) -> None:
    """The nodes that compute a Reshape's shape from the input's own Shape (tf2onnx's
    Shape -> Gather/Slice -> Concat): taken, when nothing else feeds them."""
    if len(node.inputs) < 2 or node.inputs[1] in tr.graph.constants:
        return
    found, todo = {}, [node.inputs[1]]
    while todo:
        tensor = todo.pop()
        if tensor in tr.graph.constants or tensor == "":
            continue
        producer = tr.graph.producer_of(tensor)
        if producer is None or producer.op not in SHAPE_OPS:
            return
        found[producer.name] = producer
        if producer.op != "Shape":
            todo.extend(producer.inputs)
    if any(n.op == "Shape" for n in found.values()):
        tr.absorbed.update(found)
        tr.shape_tensors.add(node.inputs[1])


def unflatten(tr: Translator, node: OnnxNode, x: Value, shape) -> None:
    """A vector -> a 4-D tensor: the image (C, H, W) it was flattened from, an image of one
    pixel or one channel, or else (d1, d2, d3) read as an NHWC image (in the spec's order)."""
    c, h, w = shape
    if x.chw == tuple(shape) or (x.chw is None and (h * w == 1 or c == 1)):
        tr.emit(node, "reshape", [dims((h, w, c))], [x.layer], True)
    elif x.chw is None:
        tr.emit(node, "reshape", [dims(shape)], [x.layer], True, nhwc=True)
    else:
        raise Unsupported(f"a reshape of a vector flattened from {x.chw} (C, H, W) to {shape}")


def transpose(tr: Translator, node: OnnxNode) -> None:
    """NCHW <-> NHWC of an image: the same value, held the other way."""
    x = tr.value(node.inputs[0])
    perm = list(node.attrs.get("perm", []))
    wanted = [0, 3, 1, 2] if x.nhwc else [0, 2, 3, 1]
    if not x.image or perm != wanted:
        raise Unsupported(f"a transpose {perm} of a {'NHWC image' if x.nhwc else 'NCHW image' if x.image else 'vector'}; "
                          "only NCHW <-> NHWC of an image keeps its meaning in the spec")
    tr.alias(node, Value(x.layer, True, None, not x.nhwc))


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


def slice_crop(tr: Translator, node: OnnxNode) -> None:
    """Slice of an image's H and W with step 1 (x[:, :, a:b, c:d]) is a `crop`."""
    x = tr.value(node.inputs[0])
    if not x.image:
        raise Unsupported("a slice of a vector")
    ints = (lambda i, what: [int(v) for v in tr.constant(node, i, what).reshape(-1)])
    if len(node.inputs) > 1:
        starts, ends = ints(1, "starts"), ints(2, "ends")
        axes = ints(3, "axes") if len(node.inputs) > 3 and node.inputs[3] else list(range(len(starts)))
        steps = ints(4, "steps") if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    else:  # opset < 10: attributes
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    shape = tr.shape(node.inputs[0])
    spatial_axes = {1: shape[0], 2: shape[1]} if x.nhwc else {2: shape[1], 3: shape[2]}
    crop = {h_or_w: (0, 0) for h_or_w in spatial_axes}
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= 4
        if axis not in spatial_axes or step != 1:
            raise Unsupported(f"a slice of axis {axis} with step {step}; crop takes H and W, step 1")
        kept = range(spatial_axes[axis])[slice(start, end)]
        crop[axis] = (kept.start, spatial_axes[axis] - kept.stop)
    (t, b), (left, r) = crop.values()
    tr.emit(node, "crop", [pad_text([t, left, b, r], "crop")[len("crop="):] or "0"], [x.layer],
            True, nhwc=x.nhwc)


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
        elif node.op == "Reshape":
            shape_arithmetic(tr, node)


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
    "Add": merge, "Sum": merge, "Mul": merge, "Sub": merge, "Div": merge, "Concat": concat,
    "Dropout": passthrough, "Identity": passthrough,
    "Flatten": flatten, "Reshape": reshape, "Squeeze": reshape, "Unsqueeze": reshape,
    "Pad": pad, "Resize": resize, "Upsample": resize, "Transpose": transpose,
    "Slice": slice_crop,
}
