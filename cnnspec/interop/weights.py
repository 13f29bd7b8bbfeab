"""Matched Keras weights -> cnnspec's portable weights, keyed `<spec node>.<tensor>`.

Most portable layouts are Keras's own (docs/semantics.md): conv kernels (kh, kw, C/groups,
N), dense kernels (in, out) with rows in NHWC flatten order (what Keras's Flatten gives),
DepthwiseConv2D kernels (kh, kw, C, m), SeparableConv2D's depthwise and pointwise kernels,
Conv2DTranspose kernels (kh, kw, N, C), batch-norm and layer-norm vectors, Normalization's
mean, variance and count. Two need work: a Conv2D with groups == its input channels matched
to a `depthwise` node has the kernel (kh, kw, 1, C*m), whose output channel c*m + j is the
depthwise kernel's [.., c, j]: a reshape; and a Keras weight without a telling name (ConvNeXt's
LayerScale calls its gamma `variable`) is taken by its position. Every tensor's shape is
checked against the spec's, and every Keras weight must be used.
"""

from __future__ import annotations

import numpy as np

from ..ir import Network, Node
from .keras_graph import KerasGraph, KerasOp
from .matching import Match, MatchError, where

ALIASES = {"kernel": ("kernel", "depthwise_kernel")}  # older Keras called a depthwise kernel so


def portable_weights(network: Network, graph: KerasGraph, matches: dict[str, Match]) -> dict:
    """Every spec weight from its matched Keras op, in the portable layout."""
    out: dict[str, np.ndarray] = {}
    for node in network.nodes:
        if node.weights:
            out.update(node_weights(node, graph.ops[matches[node.name].op]))
    return out


def node_weights(node: Node, op: KerasOp) -> dict[str, np.ndarray]:
    """The node's tensors `<node>.<tensor>` from the op's weights (see the module docstring)."""
    taken = _by_name(node, op)
    rest = [(name, value) for name, value in op.weights if not any(value is v for v in taken.values())]
    missing = [w.name for w in node.weights if w.name not in taken]
    if len(missing) != len(rest):
        have = ", ".join(f"{name} {tuple(v.shape)}" for name, v in op.weights) or "none"
        raise MatchError(f"{where(node)} needs the tensors "
                         f"{', '.join(f'{w.name} {w.shape}' for w in node.weights)}, but "
                         f"{op.label} has {have}")
    taken.update(zip(missing, (value for _, value in rest)))
    out = {}
    for w in node.weights:
        value = convert(node, op, w.name, taken[w.name])
        if w.shape == () and value.shape == (1,):  # Normalization's count, once set_weights ran
            value = value.reshape(())
        if tuple(value.shape) != tuple(w.shape):
            raise MatchError(f"{where(node)} needs {w.name} of shape {w.shape}, but the "
                             f"{op.label} tensor is {tuple(value.shape)}")
        out[f"{node.name}.{w.name}"] = value
    return out


def _by_name(node: Node, op: KerasOp) -> dict[str, np.ndarray]:
    taken = {}
    for w in node.weights:
        for alias in ALIASES.get(w.name, (w.name,)):
            value = op.weight(alias)
            if value is not None:
                taken[w.name] = value
                break
    return taken


def convert(node: Node, op: KerasOp, name: str, value: np.ndarray) -> np.ndarray:
    """One Keras tensor in the portable layout, float32 (float64 stays float64)."""
    value = np.asarray(value)
    if node.kind == "depthwise" and op.cls == "Conv2D" and name == "kernel" and value.ndim == 4:
        kh, kw, _, cm = value.shape
        channels = node.in_shape[-1]
        value = value.reshape(kh, kw, channels, cm // channels)
    dtype = np.float64 if value.dtype == np.float64 else np.float32
    return np.ascontiguousarray(value, dtype=dtype)
