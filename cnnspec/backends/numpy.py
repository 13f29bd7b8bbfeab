"""NumPy backend: IR -> a standalone module computing the forward pass with NumPy alone.

The generated module defines ``forward(x, params)`` (the network's output) and
``forward_layers(x, params)`` (``{layer name: output}`` for every layer, in order) over NHWC
batches, keeping the input's floating dtype. It is cnnspec's reference implementation, so it
must be both obviously right and fast: every conv, pool and dense layer is BLAS-backed array
work. A convolution builds one im2col matrix from a ``sliding_window_view`` and does one GEMM
(the fastest here: about 80-150 GFLOP/s in float32 on 2 cores); when that matrix would pass
_IM2COL_LIMIT elements and the layer has 32+ channels per group it accumulates one GEMM per
kernel offset instead ("shifted GEMMs", 55-105 GFLOP/s, no kh*kw-times larger buffer).
Depthwise convolutions broadcast.
Python loops run over kernel offsets only, never over pixels, channels or groups.

Importing this module imports no NumPy: it only writes text. Only the helpers a network uses
are emitted.
"""

from __future__ import annotations

import re

from ..ir import Network, Node
from ..names import BUILTINS, KEYWORDS, unique
from ..shapes import shape_text
from . import torch_blocks as tb
from .base import Emitter, UnsupportedNode, fused_activation, python_name, value_names
from .numpy_acts import HELPERS as ACT_HELPERS
from .numpy_acts import WITH_ALPHA
from .numpy_convs import HELPERS as CONV_HELPERS
from .numpy_convs import ConvKinds
from .numpy_norms import HELPERS as NORM_HELPERS
from .numpy_norms import NormKinds
from .numpy_parts import tensor
from .numpy_reshapes import HELPERS as SHAPE_HELPERS
from .numpy_reshapes import ShapeKinds

TENSOR_KEY = re.compile(r'p\["([^"]+)"\]')

# --- helper functions emitted into generated modules (only those used) ---

_PAD = '''
def _pad(x, padding, value):
    """Pad the two spatial axes of an NHWC batch by (top, bottom, left, right) with value."""
    top, bottom, left, right = padding
    if not any(padding):
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w] = x
    return out
'''

_TAPS = '''
def _taps(x, kernel, stride, dilation):
    """One strided view per kernel offset (i, j): tap[:, a, b] = x[:, a*sh + i*dh, b*sw + j*dw]."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
    return [x[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
'''

_CONV = '''
_IM2COL_LIMIT = 1 << 25  # elements: a larger window matrix makes conv use shifted GEMMs


def _conv2d(x, kernel, bias, stride, padding, dilation=(1, 1), groups=1):
    """2-D convolution (cross-correlation) of an NHWC batch; kernel (kh, kw, c_in/groups, c_out)."""
    depth = kernel.shape[2]
    x = _pad(x, padding, 0.0)
    if depth == 1 and groups > 1:
        y = _conv_depthwise(x, kernel, stride, dilation, groups)
    elif depth < 32 or _window_matrix_size(x, kernel, stride, dilation) <= _IM2COL_LIMIT:
        y = _conv_im2col(x, kernel, stride, dilation, groups)
    else:
        y = _conv_shifted(x, kernel, stride, dilation, groups)
    if bias is not None:
        y += bias
    return y


def _window_matrix_size(x, kernel, stride, dilation):
    """Elements of the im2col matrix: one row per output pixel, kh*kw*c_in columns."""
    n, h, w, c_in = x.shape
    kh, kw = kernel.shape[:2]
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return n * oh * ow * kh * kw * c_in


def _conv_im2col(x, kernel, stride, dilation, groups):
    """Gather every window into one matrix (im2col), then one GEMM (batched over groups)."""
    kh, kw, depth, c_out = kernel.shape
    (sh, sw), (dh, dw) = stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = np.lib.stride_tricks.sliding_window_view(x, span, axis=(1, 2))
    win = win[:, ::sh, ::sw, :, ::dh, ::dw]  # (n, oh, ow, c_in, kh, kw)
    n, oh, ow = win.shape[:3]
    if groups == 1 and depth == 1:  # one input channel: gather offset-major, in long runs
        cols = win[:, :, :, 0].transpose(3, 4, 0, 1, 2).reshape(kh * kw, n * oh * ow)
        return (cols.T @ kernel.reshape(kh * kw, c_out)).reshape(n, oh, ow, c_out)
    win = win.reshape(n, oh, ow, groups, depth, kh, kw)
    cols = win.transpose(3, 0, 1, 2, 5, 6, 4).reshape(groups, n * oh * ow, kh * kw * depth)
    w = kernel.reshape(kh * kw * depth, groups, c_out // groups).transpose(1, 0, 2)
    y = np.matmul(cols, w)  # (groups, n*oh*ow, c_out/groups)
    return y.transpose(1, 0, 2).reshape(n, oh, ow, c_out)


def _conv_shifted(x, kernel, stride, dilation, groups):
    """Accumulate one GEMM per kernel offset over a strided slice of x: no kh*kw-times copy."""
    kh, kw, depth, c_out = kernel.shape
    taps = _taps(x, (kh, kw), stride, dilation)
    n, oh, ow, _ = taps[0].shape
    w = kernel.reshape(kh * kw, depth, groups, c_out // groups).transpose(0, 2, 1, 3)
    y = np.zeros((groups, n * oh * ow, c_out // groups), dtype=x.dtype)
    for tap, w_tap in zip(taps, w):
        cols = tap.reshape(n * oh * ow, groups, depth).transpose(1, 0, 2)
        y += np.matmul(cols, w_tap)
    return y.transpose(1, 0, 2).reshape(n, oh, ow, c_out)


def _conv_depthwise(x, kernel, stride, dilation, groups):
    """One input channel per group: broadcast multiply-accumulate, no loop over channels."""
    kh, kw, _, c_out = kernel.shape
    taps = _taps(x, (kh, kw), stride, dilation)
    w = kernel.reshape(kh * kw, groups, c_out // groups)
    y = np.zeros((*taps[0].shape, c_out // groups), dtype=x.dtype)
    for tap, w_tap in zip(taps, w):
        y += tap[..., None] * w_tap
    return y.reshape(*taps[0].shape[:3], c_out)
'''

_POOL = '''
def _pool_padding(shape, kernel, stride, padding, ceil):
    """The padding plus, in ceil mode, the overhang of a last partial window (bottom/right).

    Ceil mode follows PyTorch: a window that would start at or past the end of the input
    plus its top/left padding (wholly in the right padding) is dropped.
    """
    pads = list(padding)
    for axis in (0, 1):
        n, k, s = shape[1 + axis], kernel[axis], stride[axis]
        lo, hi = padding[2 * axis], padding[2 * axis + 1]
        out = (n + lo + hi - k + (s - 1 if ceil else 0)) // s + 1
        if ceil and (out - 1) * s >= n + lo:
            out -= 1
        pads[2 * axis + 1] += max(0, (out - 1) * s + k - (n + lo + hi))
    return tuple(pads)
'''

_MAXPOOL = '''
def _maxpool2d(x, kernel, stride, padding, ceil=False):
    """Max pooling over an NHWC batch; padded cells are -inf, so they never win."""
    padded = _pad(x, _pool_padding(x.shape, kernel, stride, padding, ceil), -np.inf)
    taps = _taps(padded, kernel, stride, (1, 1))
    y = taps[0].copy()
    for tap in taps[1:]:
        np.maximum(y, tap, out=y)
    return y
'''

_AVGPOOL = '''
def _avgpool2d(x, kernel, stride, padding, ceil=False, count_include_pad=False):
    """Average pooling over an NHWC batch.

    count_include_pad: divide by the window cells inside the padded input (PyTorch's rule);
    otherwise by the cells inside the real input (Keras 'same'). Ceil-mode overhang never counts.
    """
    padded = _pad(x, _pool_padding(x.shape, kernel, stride, padding, ceil), 0.0)
    taps = _taps(padded, kernel, stride, (1, 1))
    y = taps[0].copy()
    for tap in taps[1:]:
        y += tap
    rows = _window_counts(x.shape[1], y.shape[1], kernel[0], stride[0], padding[:2],
                          count_include_pad)
    cols = _window_counts(x.shape[2], y.shape[2], kernel[1], stride[1], padding[2:],
                          count_include_pad)
    return y / np.multiply.outer(rows, cols)[:, :, None].astype(y.dtype)


def _window_counts(n, out, k, s, padding, count_include_pad):
    """How many cells of each window along one axis count in the average."""
    lo, hi = padding
    start = np.arange(out) * s - lo
    first, end = (-lo, n + hi) if count_include_pad else (0, n)
    return np.minimum(start + k, end) - np.maximum(start, first)
'''

_BATCHNORM = '''
def _batchnorm(x, gamma, beta, mean, variance, eps):
    """Batch normalisation at inference over the last (channel) axis: (x - mean) * gamma /
    sqrt(variance + eps) + beta, gamma None for scale=false (1), beta None for center=false (0)."""
    factor = 1.0 / np.sqrt(variance + eps) if gamma is None else gamma / np.sqrt(variance + eps)
    y = x - mean  # the one new array; the rest in place (same arithmetic, less memory traffic)
    y *= factor
    if beta is not None:
        y += beta
    return y
'''

# name -> (source, helpers it calls); emitted in this order
HELPERS = {
    "conv": (_CONV, ("pad", "taps")),
    "maxpool": (_MAXPOOL, ("pool_padding", "pad", "taps")),
    "avgpool": (_AVGPOOL, ("pool_padding", "pad", "taps")),
    "pool_padding": (_POOL, ()),
    "pad": (_PAD, ()),
    "taps": (_TAPS, ()),
    "batchnorm": (_BATCHNORM, ()),
    **ACT_HELPERS,
    **CONV_HELPERS, **NORM_HELPERS, **SHAPE_HELPERS,
}

HEADER = '''"""{name}: NumPy forward pass generated by cnnspec from network {name}.

Arrays are NHWC, batch first: x has shape (batch, {dims}). ``params`` maps "<layer>.<tensor>"
to arrays in cnnspec's portable layout: conv kernels (kh, kw, c_in/groups, c_out), dense
kernels (in, out), biases and batch-norm vectors (channels,). The computation runs in the
input's floating dtype (float32 or float64); params are cast to it.
"""

import numpy as np

INPUT_SHAPE = {input_shape}


def forward(x, params):
    """The network's output for a batch x of shape (batch, {dims})."""
    x = y = _input(x)
    for _name, y in _layers(x, params):
        pass
    return y


def forward_layers(x, params):
    """Every layer's output, in order: {{layer name: array}}."""
    return dict(_layers(_input(x), params))


def _input(x):
    """x as a floating array (float32 unless it is one already) of shape (batch, {dims})."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"expected a batch of shape (batch, {dims}), got {{x.shape}}")
    return x


def _layers(x, params):
    """Yield (layer name, output) for each layer in turn, from an input batch checked by _input."""
'''


# what each dropout mode drops in training (the generated comment says it)
DROPPED = {"element": "single values", "channel": "whole channels",
           "sample": "whole samples (stochastic depth)"}

PARAMS = "    p = {key: np.asarray(value, dtype=x.dtype) for key, value in params.items()}"
NO_LAYERS = "    yield from ()  # the network has no layers: its output is its input"
# Module-level and local names that a value's variable must not take.
RESERVED = frozenset({"np", "p", "params", "INPUT_SHAPE", "OUTPUTS", "FROZEN_FEATURES", "forward",
                      "forward_layers", "features", "y", "name", "wanted"})

OUTPUTS_FORWARD = '''

OUTPUTS = {outputs}


def forward(x, params):
    """The network's outputs ({names}), as {what}, for a batch x of shape (batch, {dims})."""
    wanted = dict.fromkeys(OUTPUTS)
    for name, y in _layers(_input(x), params):
        if name in wanted:
            wanted[name] = y
    return {result}
'''


class UnsupportedLayer(ValueError):
    """A layer the NumPy backend cannot generate code for; the message names it and its line."""


def generate(network: Network) -> str:
    """The source text of a standalone NumPy module for `network`."""
    return NumpyEmitter(network).module()


class NumpyEmitter(ConvKinds, NormKinds, ShapeKinds, Emitter):
    """One method per node kind, each returning the statements that compute the node's value
    from its inputs' variables into its own (`x` along a chain)."""

    target = "NumPy"
    reserved = RESERVED

    def __init__(self, network: Network):
        super().__init__(network)
        self.used: set[str] = set()

    def module(self) -> str:
        network = self.net
        self.plan_blocks()
        owner, done, body = tb.owners(self.groups), set(), []
        for node in network.layers:
            group = owner.get(node.name)
            if group is None:
                body.append(self.node_source(node))
            elif id(group) not in done:
                done.add(id(group))
                body.append(self.group_source(group))
        if self.input_var != "x" and network.layers:
            body.insert(0, f"    {self.input_var} = x")
        if any(node.weights for node in network.layers) or self.groups:
            body.insert(0, PARAMS)
        if self.flat_notes:
            body.insert(0, "    # generated flat (not as block functions): " + ", ".join(self.flat_notes))
        dims = ", ".join(str(d) for d in network.input_shape)
        head = HEADER.format(name=network.name, dims=dims, input_shape=tuple(network.input_shape))
        head = head.replace("\n\n\ndef _layers(", features_source(network) + "\n\n\ndef _layers(", 1)
        head = self.outputs_forward(head, dims)
        functions = "".join("\n\n" + f for f in self.functions)
        return head + ("\n\n".join(body) or NO_LAYERS) + "\n" + functions + helper_source(self.used)

    # --- blocks: one generator function per definition (variant with the same code) ---

    def plan_blocks(self) -> None:
        self.groups, self.functions, self.flat_notes = [], [], []
        if not self.net.instances:
            return
        self.groups, self.flat_notes = tb.prepare(self.net)
        by_code: dict[str, list] = {}
        for group in self.groups:
            for use in group:
                by_code.setdefault(self.block_body(use), []).append(use)
        counters: dict[str, int] = {}
        taken = set(RESERVED) | KEYWORDS | BUILTINS
        for code, uses in by_code.items():
            block = uses[0].instance.block
            counters[block] = counters.get(block, 0) + 1
            name = unique(python_name(block) + (f"_{counters[block]}" if counters[block] > 1 else ""),
                          taken)
            for use in uses:
                use.cls = name
            self.functions.append(self.function_source(name, uses, code))
        self.var = value_names(self.net, self.reserved | {u[0].cls for u in by_code.values()},
                               self.input_name, tb.plain_values(self.net, self.groups))

    def block_body(self, use) -> str:
        """The statements of one instance, names inside the block: `p[f"{name}.conv1.kernel"]`."""
        sub = NumpyEmitter(tb.sub_network(self.net, use))
        lines = [] if sub.input_var == "x" else [f"{sub.input_var} = x"]
        for node in sub.net.layers:
            lines += sub.layer_lines(node) + [f'yield f"{{name}}.{node.name}", {sub.dest(node)}']
        self.used |= sub.used
        lines.append(f"return {sub.dest(sub.net.layers[-1])}")
        return "\n".join("    " + TENSOR_KEY.sub(r'p[f"{name}.\1"]', line) for line in lines)

    def function_source(self, name: str, uses, code: str) -> str:
        first = uses[0].instance
        return (f"def {name}(x, p, name):\n"
                f'    """Block {first.block} (line {first.definition.line}), used as '
                f"{', '.join(u.instance.name for u in uses)}:\n    yields (layer name, value) for "
                "each of its layers, named <name>.<layer>; returns its output."
                '"""\n' + code + "\n")

    def group_source(self, group) -> str:
        src, out = self.var[group[0].source], group[-1].nodes[-1]
        lines = []
        for i, use in enumerate(group):
            arg = src if i == 0 else self.dest(out)
            lines.append(f'    {self.dest(out)} = yield from {use.cls}({arg}, p, "{use.instance.name}")'
                         f"  # {shape_text(use.nodes[-1].out_shape)}")
        return "\n".join(lines)

    def outputs_forward(self, head: str, dims: str) -> str:
        """The header's forward, or one returning the listed outputs (a tuple when several)
        when the output is not just the last node."""
        outputs = [n.name for n in self.net.output_nodes]
        if outputs == [self.net.nodes[-1].name]:
            return head
        a = head.index("\n\ndef forward(x, params):")
        b = head.index("\n\ndef forward_layers(")
        several = len(outputs) > 1
        code = OUTPUTS_FORWARD.format(
            outputs="(" + ", ".join(f'"{n}"' for n in outputs) + ("," if not several else "") + ")",
            names=", ".join(outputs), dims=dims, what="a tuple" if several else "an array",
            result="tuple(wanted.values())" if several else f'wanted["{outputs[0]}"]')
        return head[:a].rstrip("\n") + code.rstrip("\n") + "\n" + head[b:]

    def node_source(self, node: Node) -> str:
        lines = self.layer_lines(node)
        note = lines[0].startswith("#") or "  # " in lines[0]
        lines[0] += f"; {comment(node)}" if note else f"  # {comment(node)}"
        return "\n".join(["    " + line for line in lines] + [f'    yield "{node.name}", {self.dest(node)}'])

    def layer_lines(self, node: Node) -> list[str]:
        """The statements computing one layer (the first carries the shape comment)."""
        try:
            lines = self.emit(node)
        except UnsupportedNode as err:
            raise UnsupportedLayer(str(err)) from None
        act, alpha = fused_activation(node)
        if node.kind != "activation":
            lines += self.activation_lines(node, act, alpha)
        if not lines:
            return [f"# {node.kind}: identity at inference"] if self.same(node) else \
                [f"{self.dest(node)} = {self.src(node)}  # {node.kind}: identity at inference"]
        if lines[0].startswith("#") and not self.same(node):
            lines[0] = f"{self.dest(node)} = {self.src(node)}  {lines[0]}"
        return lines

    def same(self, node: Node) -> bool:
        return self.dest(node) == self.src(node)

    def activation_lines(self, node: Node, name: str, alpha) -> list[str]:
        if name == "linear":
            return []
        self.used.add(name)
        out = self.dest(node)
        if name in WITH_ALPHA:
            return [f"{out} = _{name}({out}, {float(alpha)!r})"]
        return [f"{out} = _{name}({out})"]

    def assign(self, node: Node, expression: str) -> list[str]:
        return [f"{self.dest(node)} = {expression}"]

    # --- node kinds ---

    def conv_layer(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add("conv")
        bias = tensor(node, "bias") if a["bias"] else "None"
        args = [f"{self.src(node)}, {tensor(node, 'kernel')}, {bias}",
                f"stride={tuple(a['stride'])}", f"padding={tuple(a['padding'])}"]
        if tuple(a["dilation"]) != (1, 1):
            args.append(f"dilation={tuple(a['dilation'])}")
        if a["groups"] != 1:
            args.append(f"groups={a['groups']}")
        return self.assign(node, f"_conv2d({', '.join(args)})")

    def pool(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add(node.kind)
        args = [f"{self.src(node)}, {tuple(a['kernel'])}", f"stride={tuple(a['stride'])}",
                f"padding={tuple(a['padding'])}"]
        if a["ceil"]:
            args.append("ceil=True")
        if node.kind == "avgpool" and a["count_include_pad"]:
            args.append("count_include_pad=True")
        return self.assign(node, f"_{node.kind}2d({', '.join(args)})")

    maxpool_layer = avgpool_layer = pool

    def global_pool(self, node: Node) -> list[str]:
        op = "mean" if node.attrs["op"] == "avg" else "max"
        keep = ", keepdims=True" if node.attrs.get("keepdims") else ""
        return self.assign(node, f"{self.src(node)}.{op}(axis=(1, 2){keep})")

    globalavgpool_layer = globalmaxpool_layer = global_pool

    def flatten_layer(self, node: Node) -> list[str]:
        src = self.src(node)
        return self.assign(node, f"{src}.reshape({src}.shape[0], -1)")

    def zeropad_layer(self, node: Node) -> list[str]:
        self.used.add("pad")
        return self.assign(node, f"_pad({self.src(node)}, {tuple(node.attrs['padding'])}, 0.0)")

    def dense_layer(self, node: Node) -> list[str]:
        """x @ kernel; per pixel, the pixels as the rows of one GEMM: (n*h*w, c) @ (c, units)."""
        bias = f" + {tensor(node, 'bias')}" if node.attrs["bias"] else ""
        src = self.src(node)
        if not node.attrs.get("per_pixel"):
            return self.assign(node, f"{src} @ {tensor(node, 'kernel')}{bias}")
        (h, w, c), units = node.in_shape, node.attrs["units"]
        rows = f"{src}.reshape(-1, {c}) @ {tensor(node, 'kernel')}{bias}"
        return self.assign(node, f"({rows}).reshape({src}.shape[0], {h}, {w}, {units})")

    def batchnorm_layer(self, node: Node) -> list[str]:
        self.used.add("batchnorm")
        present = {w.name for w in node.weights}  # no gamma with scale=false, no beta with center=false
        names = ", ".join(tensor(node, t) if t in present else "None"
                          for t in ("gamma", "beta", "moving_mean", "moving_variance"))
        return self.assign(node, f"_batchnorm({self.src(node)}, {names}, eps={float(node.attrs['eps'])!r})")

    def dropout_layer(self, node: Node) -> list[str]:
        a = node.attrs
        mode = a.get("mode", "element")
        rate = float(a["rate"])
        note = f"zeroes {DROPPED[mode]} in training"
        return [f"# dropout {rate!r}, mode={mode} ({note}): identity at inference"]

    def activation_layer(self, node: Node) -> list[str]:
        lines = self.activation_lines(node, node.attrs["activation"], node.attrs["alpha"])
        if lines and not self.same(node):  # the first statement reads the input
            lines[0] = lines[0].replace(f"({self.dest(node)}", f"({self.src(node)}", 1)
        return lines

    def add_layer(self, node: Node) -> list[str]:
        return self.assign(node, " + ".join(self.merge_inputs(node)))

    def multiply_layer(self, node: Node) -> list[str]:
        return self.assign(node, " * ".join(self.merge_inputs(node)))

    def concat_layer(self, node: Node) -> list[str]:
        return self.assign(node, f"np.concatenate([{', '.join(self.srcs(node))}], axis=-1)")

    def merge_inputs(self, node: Node) -> list[str]:
        """The inputs of add/multiply; a (C,) gate of an image broadcast as (batch, 1, 1, C)."""
        terms = []
        for name, shape in zip(node.inputs, self.net.input_shapes(node)):
            flat_gate = len(shape) == 1 and len(node.out_shape) == 3
            terms.append(self.var[name] + ("[:, None, None, :]" if flat_gate else ""))
        return terms


def frozen_base_end(network: Network) -> str | None:
    """The last layer before the first layer that trains, when the network freezes a base."""
    if not any(node.frozen for node in network.layers):
        return None
    last = None
    for node in network.layers:
        if node.weights and not node.frozen:
            break
        last = node.name
    return last


FEATURES = '''

FROZEN_FEATURES = "{name}"  # the end of the frozen base


def features(x, params):
    """The output of layer '{name}', where the frozen base ends: compute it once with NumPy and
    train only the new head on it (feature extraction needs no framework). Only the base's
    tensors are read from params."""
    for name, y in _layers(_input(x), params):
        if name == FROZEN_FEATURES:
            return y
    raise AssertionError("unreachable: FROZEN_FEATURES is a layer of this network")
'''


def features_source(network: Network) -> str:
    end = frozen_base_end(network)
    return "" if end is None else FEATURES.format(name=end).rstrip("\n")


def comment(node: Node) -> str:
    """'28x28x6, 156 params' (params left out when there are none)."""
    text = shape_text(node.out_shape)
    flattens = len(node.in_shape) == 3 and len(node.out_shape) == 1
    if node.kind == "flatten" or (node.kind == "reshape" and flattens):
        return f"{text}, NHWC order: (h*W + w)*C + c"
    return f"{text}, {node.params:,} params" if node.params else text


def helper_source(used: set) -> str:
    """The source of every helper in `used` and of the helpers they call, in a fixed order."""
    needed = set()
    pending = list(used)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending.extend(HELPERS[name][1])
    return "".join("\n" + HELPERS[name][0] for name in HELPERS if name in needed)
