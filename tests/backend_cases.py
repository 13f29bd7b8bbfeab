"""The one table of backend cases (node kind -> a small network that uses it), and a builder of
hand-made graph IRs, shared by the backend tests.

`graph(input, [(name, text, inputs), ...], outputs)` builds a Network node by node: a layer
written as spec text (`"conv 4 3x3 pad=1"`) is resolved by the real checker on the shape of its
first input (so its attrs and weights are exactly what the checker makes), then renamed (names
may be hierarchical, `layer2.0.conv1`) and wired to `inputs`; a merge (`"add"`, `"concat"`,
`"concat flat"`, `"multiply"`, with an optional `-> relu`) is built here with its output shape.
Until the frontend parses `from=` and merges, this is how graph IRs reach the backends.
"""

from __future__ import annotations

import dataclasses

import cnnspec
from cnnspec.ir import Instance, Network, Node, freeze_attrs


def resolve_layer(text: str, in_shape: tuple[int, ...]) -> Node:
    """One layer of spec text, checked on an input of in_shape."""
    dims = "x".join(map(str, in_shape))
    net = cnnspec.loads(f"network t\ninput {dims}\nthe_layer: {text}\n")
    return net.nodes[1]


def merge_node(name: str, text: str, inputs, shapes, span) -> Node:
    kind, _, act = text.partition("->")
    kind, *rest = kind.split()
    act = act.split() or ["linear"]
    attrs = {"activation": act[0], "alpha": float(act[1]) if len(act) > 1 else None}
    if kind == "concat":
        attrs["axis"] = "flat" if rest == ["flat"] else "channels"
        last = sum(s[-1] for s in shapes)
        out = (last,) if attrs["axis"] == "flat" else (*shapes[0][:2], last)
    else:
        out = max(shapes, key=len)  # add: equal shapes; multiply: the image a gate scales
    return Node(name, kind, freeze_attrs(attrs), tuple(inputs), tuple(shapes[0]), tuple(out),
                (), 0, span)


def graph(input_shape, lines, outputs=(), name="g") -> Network:
    """A Network from (name, text, inputs) lines; inputs None = the line above."""
    base = cnnspec.loads(f"network {name}\ninput {'x'.join(map(str, input_shape))}\n")
    nodes = [base.nodes[0]]
    by_name = {"input": nodes[0]}
    for node_name, text, inputs in lines:
        inputs = tuple(inputs) if inputs else (nodes[-1].name,)
        shapes = [by_name[i].out_shape for i in inputs]
        if text.split()[0] in ("add", "concat", "multiply"):
            node = merge_node(node_name, text, inputs, shapes, nodes[0].span)
        else:
            node = dataclasses.replace(resolve_layer(text, shapes[0]), name=node_name, inputs=inputs)
        nodes.append(node)
        by_name[node_name] = node
    return dataclasses.replace(base, nodes=tuple(nodes), outputs=tuple(outputs))


# --- the table: every node kind -> a small graph that uses it (in a branch where it can) ---

def _single(text, shape=(6, 6, 3), extra=()):
    return lambda: graph(shape, [("pre", "conv 4 3x3 pad=1", None), ("n", text, None),
                                 *extra])


CASES = {
    "conv": _single("conv 5 3x3 stride=2 pad=same -> leaky_relu alpha=0.1"),
    "maxpool": _single("maxpool 3x3 stride=2 pad=1"),
    "avgpool": _single("avgpool 3x3 stride=2 pad=same"),
    "globalavgpool": _single("globalavgpool"),
    "globalmaxpool": _single("globalmaxpool"),
    "flatten": _single("flatten", extra=[("fc", "dense 3", None)]),
    "zeropad": _single("zeropad 1"),
    "dense": lambda: graph((3, 4, 5), [("f", "flatten", None), ("n", "dense 4 -> tanh", None)]),
    "batchnorm": _single("batchnorm -> relu"),
    "dropout": _single("dropout 0.5"),
    "activation": _single("sigmoid"),
    # merges, on branches
    "add": lambda: graph((6, 6, 3), [
        ("stem", "conv 4 3x3 pad=1 -> relu", None),
        ("a", "conv 4 3x3 pad=1", ["stem"]),
        ("b", "conv 4 1x1", ["stem"]),
        ("n", "add -> relu", ["a", "b", "stem"])]),
    "concat": lambda: graph((6, 6, 3), [
        ("a", "conv 4 3x3 pad=1", ["input"]),
        ("b", "conv 2 1x1", ["input"]),
        ("n", "concat", ["a", "b", "input"])]),
    "multiply": lambda: graph((5, 5, 4), [
        ("feat", "conv 6 3x3 pad=1", None),
        ("squeeze", "globalavgpool", ["feat"]),
        ("gate", "dense 6 -> sigmoid", None),
        ("n", "multiply", ["feat", "gate"])]),
}


# --- an independent reference: the frameworks' own ops, node by node, following node.inputs ---

def framework_reference(net: Network, params: dict, x) -> dict:
    """Every node's value (NHWC, flat values in NHWC order) computed with torch.nn.functional
    for the layers and keras.layers for the merges and average pooling, straight from the IR
    (no generated code involved)."""
    values = {net.nodes[0].name: x}
    for node in net.layers:
        values[node.name] = _reference_node(net, node, params, [values[i] for i in node.inputs])
    return values


def _activation(y, attrs):
    """The activation attrs name applied to y (NHWC, or flat) by PyTorch's own functions."""
    import torch
    import torch.nn.functional as F
    name, alpha = attrs.get("activation", "linear"), attrs.get("alpha")
    funcs = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda v: v,
             "softmax": lambda v: F.softmax(v, dim=-1),
             "leaky_relu": lambda v: F.leaky_relu(v, negative_slope=alpha),
             "relu6": F.relu6, "swish": F.silu, "hard_sigmoid": F.hardsigmoid,
             "hard_swish": F.hardswish, "gelu": lambda v: F.gelu(v, approximate="none"),
             "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
             "elu": lambda v: F.elu(v, alpha=alpha)}
    return funcs[name](torch.tensor(y)).numpy()


def _nchw(x):
    import torch
    return torch.tensor(x).permute(0, 3, 1, 2)


def _nhwc(t):
    return t.permute(0, 2, 3, 1).numpy()


def _reference_node(net, node, p, xs):
    if node.kind in REFERENCES:
        return REFERENCES[node.kind](node, p, xs)
    import keras
    import numpy as np
    import torch
    import torch.nn.functional as F
    a, key, x = node.attrs, node.name, xs[0]
    if node.kind == "conv":
        t, b, left, right = a["padding"]
        w = torch.as_tensor(p[f"{key}.kernel"]).permute(3, 2, 0, 1)
        bias = torch.as_tensor(p[f"{key}.bias"]) if a["bias"] else None
        y = F.conv2d(F.pad(_nchw(x), (left, right, t, b)), w, bias, a["stride"], 0,
                     a["dilation"], a["groups"])
        return _activation(_nhwc(y), a)
    if node.kind == "dense":  # F.linear maps the last axis: a flat vector, or (per_pixel) each pixel
        assert a.get("per_pixel", False) == (x.ndim == 4), "reference: per_pixel exactly for images"
        bias = torch.as_tensor(p[f"{key}.bias"]) if a["bias"] else None
        y = F.linear(torch.tensor(x), torch.as_tensor(p[f"{key}.kernel"]).T, bias)
        return _activation(y.numpy(), a)
    if node.kind in ("globalavgpool", "globalmaxpool"):
        pool = F.adaptive_avg_pool2d if node.kind == "globalavgpool" else F.adaptive_max_pool2d
        y = pool(_nchw(x), 1)  # (batch, C, 1, 1)
        return _nhwc(y) if a.get("keepdims") else y.flatten(1).numpy()
    if node.kind == "batchnorm":
        t = torch.as_tensor(x)
        t = _nchw(x) if t.ndim == 4 else t
        present = {w.name for w in node.weights}  # scale=false: no gamma; center=false: no beta
        y = F.batch_norm(t, *(torch.as_tensor(p[f"{key}.{n}"]) if n in present else None for n in
                              ("moving_mean", "moving_variance", "gamma", "beta")),
                         training=False, eps=a["eps"])
        return _activation(_nhwc(y) if y.ndim == 4 else y.numpy(), a)
    if node.kind == "maxpool":
        t, b, left, right = a["padding"]
        assert t == b and left == right and not a["ceil"], "reference: symmetric max pools only"
        return _nhwc(F.max_pool2d(_nchw(x), a["kernel"], a["stride"], (t, left)))
    if node.kind == "avgpool":
        assert not a["count_include_pad"] and not a["ceil"], "reference: Keras-style avg pools"
        pad = "same" if any(a["padding"]) else "valid"
        return np.asarray(keras.layers.AveragePooling2D(a["kernel"], a["stride"], pad, dtype=str(x.dtype))(x))
    if node.kind == "zeropad":
        t, b, left, right = a["padding"]
        return _nhwc(F.pad(_nchw(x), (left, right, t, b)))
    if node.kind in ("add", "multiply", "concat"):
        dtype = str(x.dtype)
        layer = {"add": keras.layers.Add(dtype=dtype), "multiply": keras.layers.Multiply(dtype=dtype),
                 "concat": keras.layers.Concatenate(axis=-1, dtype=dtype)}[node.kind]
        return _activation(np.asarray(layer(list(xs))), a)
    simple = {"flatten": lambda v: v.reshape(len(v), -1), "dropout": lambda v: v,
              "activation": lambda v: _activation(v, a)}
    return simple[node.kind](x)


# --- block instances (Network.instances), as the frontend's expansion will produce them ---

def residual(prefix: str, filters: int, source: str, project: bool, stride: int = 1):
    """The lines of one instance of a residual block `res` (a projection when asked)."""
    lines = [(f"{prefix}.conv1", f"conv {filters} 3x3 stride={stride} pad=1 -> relu", [source]),
             (f"{prefix}.conv2", f"conv {filters} 3x3 pad=1", None)]
    if project:
        lines.append((f"{prefix}.proj", f"conv {filters} 1x1 stride={stride}", [source]))
    lines.append((f"{prefix}.out", "add -> relu",
                  [f"{prefix}.conv2", f"{prefix}.proj" if project else source]))
    return lines


def block_network() -> Network:
    """stem, layer1: repeat 2 res 8, layer2: repeat 2 res 16 first(stride=2), b3: res 16, head."""
    lines = [("stem", "conv 8 3x3 pad=1 -> relu", None)]
    lines += residual("layer1.0", 8, "stem", False) + residual("layer1.1", 8, "layer1.0.out", False)
    lines += residual("layer2.0", 16, "layer1.1.out", True, 2)
    lines += residual("layer2.1", 16, "layer2.0.out", False)
    lines += residual("b3", 16, "layer2.1.out", False)
    lines += [("gap", "globalavgpool", None), ("fc", "dense 10 -> softmax", None)]
    net = graph((8, 8, 3), lines, name="resnetish")
    span = net.nodes[0].span
    instances = []
    for name, parent, repeat in (("layer1", None, 2), ("layer1.0", "layer1", None),
                                 ("layer1.1", "layer1", None), ("layer2", None, 2),
                                 ("layer2.0", "layer2", None), ("layer2.1", "layer2", None),
                                 ("b3", None, None)):
        instances.append(Instance(name, "res", span, span, repeat, parent))
    return dataclasses.replace(net, instances=tuple(instances))


# --- the families of issue 9, one module each (they import graph and _single from here) ---

from cases_activations import CASES as _ACTIVATION_CASES
from cases_activations import REFERENCES as _ACTIVATION_REFERENCES
from cases_convs import CASES as _CONV_CASES
from cases_convs import REFERENCES as _CONV_REFERENCES
from cases_norms import CASES as _NORM_CASES
from cases_norms import REFERENCES as _NORM_REFERENCES
from cases_reshapes import CASES as _SHAPE_CASES
from cases_reshapes import REFERENCES as _SHAPE_REFERENCES

CASES.update({**_ACTIVATION_CASES, **_CONV_CASES, **_NORM_CASES, **_SHAPE_CASES})
REFERENCES = {**_ACTIVATION_REFERENCES, **_CONV_REFERENCES, **_NORM_REFERENCES, **_SHAPE_REFERENCES}
