"""The torch emitters of depthwise, separable and transposed convolutions: a mixin of the torch emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

Depthwise is ``nn.Conv2d(C, C*m, groups=C)`` (its weight (C*m, 1, kh, kw) is the portable
(kh, kw, C, m) in the same channel order c*m + j); separable is ``SeparableConv2d``, an
``nn.Sequential`` of that conv without bias and a 1x1 conv, written into the module (a flat
constructor, so that block classes take it as a parameter line); asymmetric padding goes
through ``F.pad`` as for conv. Transposed convolution is ``nn.ConvTranspose2d`` (weight (C, N/groups, kh, kw) = the
portable (kh, kw, N/groups, C) transposed): a symmetric crop is its own padding= and
output_padding=; an asymmetric one runs it with padding = the smaller crop per axis and
output_padding = what the end still lacks, then slices off the rest (never more than PyTorch
itself computes, so rows added at the end hold the bias, as in the spec).
"""

from __future__ import annotations

from ..ir import Node
from .torch_parts import Emitted, activation, optional, pair, uses_f

SEPARABLE = '''
class SeparableConv2d(nn.Sequential):
    """Keras's SeparableConv2D: [0] a depthwise conv (groups = in_channels, depth_multiplier
    kernels per channel, no bias), then [1] a pointwise 1x1 conv to out_channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, depth_multiplier: int = 1, bias: bool = True) -> None:
        depth = in_channels * depth_multiplier
        super().__init__(nn.Conv2d(in_channels, depth, kernel_size, stride, padding, dilation,
                                   groups=in_channels, bias=False),
                         nn.Conv2d(depth, out_channels, 1, bias=bias))
'''


def _copies(attr: str, key: str, pairs) -> tuple[list[str], list[str]]:
    """load_portable lines and to_portable entries for (torch tensor path after the module,
    portable name, to torch, to portable) conversions."""
    loads = [f'_copy(model.{attr}{t}, params["{key}.{name}"]{to}, "{key}.{name}")'
             for t, name, to, _ in pairs]
    saves = [f'"{key}.{name}": _numpy(model.{attr}{t}){back}' for t, name, _, back in pairs]
    return loads, saves


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the torch emitter)."""

    def depthwise_options(self, node: Node) -> tuple[list[str], str]:
        """The window options of a depthwise conv and its input expression (F.pad'ed when
        the padding is asymmetric)."""
        a = node.attrs
        t, b, left, right = a["padding"]
        symmetric = t == b and left == right
        options = [f"kernel_size={pair(a['kernel'])}"] + optional("stride", a["stride"], (1, 1))
        options += optional("padding", (t, left), (0, 0)) if symmetric else []
        options += optional("dilation", a["dilation"], (1, 1))
        x = self.src(node) if symmetric else f"F.pad({self.src(node)}, {(left, right, t, b)})"
        return options, x

    def depthwise_layer(self, node: Node) -> Emitted:
        a, attr = node.attrs, self.attrs[node.name]
        (kh, kw), c, m = a["kernel"], node.in_shape[2], a["multiplier"]
        options, x = self.depthwise_options(node)
        options += [f"groups={c}"] + ([] if a["bias"] else ["bias=False"])
        module = f"nn.Conv2d({c}, {c * m}, {', '.join(options)})"
        pairs = [(".weight", "kernel", f".reshape({kh}, {kw}, 1, {c * m}).transpose(3, 2, 0, 1)",
                  f".transpose(2, 3, 1, 0).reshape({kh}, {kw}, {c}, {m})")]
        pairs += [(".bias", "bias", "", "")] if a["bias"] else []
        loads, saves = _copies(attr, node.name, pairs)
        return Emitted(activation(f"self.{attr}({x})", a), module, loads, saves,
                       uses_f=x != self.src(node) or uses_f(a))

    def separable_layer(self, node: Node) -> Emitted:
        a, attr = node.attrs, self.attrs[node.name]
        (kh, kw), c, m = a["kernel"], node.in_shape[2], a["multiplier"]
        options, x = self.depthwise_options(node)
        options += [f"depth_multiplier={m}"] if m != 1 else []
        options += [] if a["bias"] else ["bias=False"]
        module = f"SeparableConv2d({c}, {a['filters']}, {', '.join(options)})"
        pairs = [("[0].weight", "depthwise_kernel",
                  f".reshape({kh}, {kw}, 1, {c * m}).transpose(3, 2, 0, 1)",
                  f".transpose(2, 3, 1, 0).reshape({kh}, {kw}, {c}, {m})"),
                 ("[1].weight", "pointwise_kernel", ".transpose(3, 2, 0, 1)", ".transpose(2, 3, 1, 0)")]
        pairs += [("[1].bias", "bias", "", "")] if a["bias"] else []
        loads, saves = _copies(attr, node.name, pairs)
        return Emitted(activation(f"self.{attr}({x})", a), module, loads, saves,
                       uses_f=x != self.src(node) or uses_f(a), helpers=(SEPARABLE,))

    def convtranspose_layer(self, node: Node) -> Emitted:
        a, attr = node.attrs, self.attrs[node.name]
        native, crops = transposed_padding(node)
        options = [f"kernel_size={pair(a['kernel_size'])}"] + optional("stride", a["stride"], (1, 1))
        options += optional("padding", native[0], (0, 0))
        options += optional("output_padding", native[1], (0, 0))
        options += [f"groups={a['groups']}"] if a["groups"] != 1 else []
        options += [] if a["bias"] else ["bias=False"]
        options += optional("dilation", a["dilation"], (1, 1))
        module = f"nn.ConvTranspose2d({node.in_shape[2]}, {a['filters']}, {', '.join(options)})"
        pairs = [(".weight", "kernel", ".transpose(3, 2, 0, 1)", ".transpose(2, 3, 1, 0)")]
        pairs += [(".bias", "bias", "", "")] if a["bias"] else []
        loads, saves = _copies(attr, node.name, pairs)
        call = f"self.{attr}({self.src(node)})"
        if crops is not None:
            (top, left), (oh, ow) = crops, a["out"]
            call += f"[:, :, {top}:{top + oh}, {left}:{left + ow}]"
        return Emitted(activation(call, a), module, loads, saves, uses_f=uses_f(a))


def transposed_padding(node: Node):
    """((padding, output_padding) for nn.ConvTranspose2d, (top, left) still to slice off or
    None): the module crops min(lo, hi) per axis, output_padding = output_padding - (hi - min)
    when that is positive (smaller than the spec's, so PyTorch accepts it), and the rest is
    sliced off."""
    a = node.attrs
    pads, ops, natives, sliced = a["padding"], a["output_padding"], [], False
    for axis in (0, 1):
        lo, hi = pads[2 * axis], pads[2 * axis + 1]
        p = min(lo, hi)
        natives.append((p, max(0, ops[axis] - (hi - p))))
        sliced = sliced or lo != hi
    native = (tuple(n[0] for n in natives), tuple(n[1] for n in natives))
    if not sliced:
        return native, None
    return native, tuple(pads[2 * axis] - natives[axis][0] for axis in (0, 1))
