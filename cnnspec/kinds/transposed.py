"""Transposed convolution (the gradient of a convolution): each input pixel scatters a
kernel-sized patch into a larger output.

`convtranspose N KxK [stride=1] [pad=0] [output_padding=0] [dilation=1] [groups=1] [bias=true]`.
Input pixel i adds x[i] * kernel[k] to output row i*S + k*d - lo (no kernel flip; kernel
(kh, kw, N/groups, C), Keras's Conv2DTranspose layout). The whole output has (N-1)S + d(K-1) + 1
rows; an explicit pad= crops lo rows before and hi after it (PyTorch's meaning) and
output_padding adds rows at the end: out = (N-1)S - lo - hi + d(K-1) + output_padding + 1.
pad=valid and pad=same are Keras's rules (shapes.transposed_valid / transposed_same), resolved
here into the same (lo, hi, output_padding), so every backend sees explicit numbers.
"""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from ..shapes import shape_text
from ..windows import read_window
from .base import Kind, Resolved, need_image, read_activation

USAGE = "write e.g. 'convtranspose 32 3x3 stride=2' (32 output channels, a 3x3 kernel)"


class ConvTranspose(Kind):
    options = frozenset({"stride", "pad", "padding", "output_padding", "dilation", "groups", "bias"})
    fused_activation = True

    @staticmethod
    def stated_hint(attrs, in_shape, want, shape) -> tuple[str, str] | None:
        """(why, hint) of an E308 (an out= the layer does not give): see stated_hint below."""
        return stated_hint(attrs, in_shape, want, shape)

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        filters_v = r.take(("int",))
        kernel_v = r.take(("dims", "int"))
        if filters_v is None or kernel_v is None:
            r.error("E104", layer, "convtranspose needs a number of output channels and a "
                    "kernel size", USAGE)
            return None
        filters = r.int_of(filters_v, "number of output channels")
        if kernel_v.kind == "dims" and len(kernel_v.value) != 2:
            r.error("E103", kernel_v, f"a convtranspose kernel is KxK or KhxKw, not "
                    f"'{kernel_v.describe()}'", USAGE)
            return None
        win = read_window(r, kernel_v, False, unknown_ok=False)
        op_v = r.value("output_padding")
        output_padding = r.pair_of(op_v, "output_padding", 0) if op_v else (0, 0)
        groups = r.int_of(r.value("groups"), "groups") if r.value("groups") else 1
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        act = read_activation(r, layer.activation)
        if None in (filters, win, output_padding, groups, bias, act) or \
                not need_image(r, layer, in_shape):
            return None
        if not _check_groups(r, layer, in_shape[2], filters, groups):
            return None
        geometry = _geometry(r, layer, in_shape, win, output_padding, op_v)
        if geometry is None:
            return None
        return _resolved(in_shape, win, geometry, filters, groups, bias, act)


def _check_groups(r: ArgReader, layer, channels: int, filters: int, groups: int) -> bool:
    for count, what in ((channels, "input channels"), (filters, "output channels")):
        if count % groups:
            r.error("E302", layer, f"the {count} {what} are not divisible by groups={groups}",
                    "groups must divide both the input channels and the output channels")
            return False
    return True


def _geometry(r: ArgReader, layer, in_shape, win, output_padding, op_v):
    """(padding (t, b, l, r), output_padding (h, w), out (h, w), mode); None on error."""
    mode = win.padding if win.padding in ("same", "valid") else "explicit"
    if mode != "explicit" and op_v is not None:
        r.error("E103", op_v, f"output_padding cannot be combined with pad={mode}",
                f"pad={mode} fixes the output size (Keras's rule); give an explicit pad= "
                "(e.g. pad=1) to use output_padding")
        return None
    pads, ops, outs = [], [], []
    for axis, name in ((0, "height"), (1, "width")):
        n, f, s, d = in_shape[axis], win.kernel[axis], win.stride[axis], win.dilation[axis]
        if mode == "explicit":
            lo, hi, op = *win.padding[2 * axis: 2 * axis + 2], output_padding[axis]
            if op >= max(s, d):
                r.error("E106", op_v, f"output_padding {op} ({name}) must be smaller than the "
                        f"stride {s} or the dilation {d}", "output_padding only picks among the "
                        "output sizes a stride leaves ambiguous (PyTorch's rule)")
                return None
        else:
            rule = shapes.transposed_same if mode == "same" else shapes.transposed_valid
            lo, hi, op = rule(n, f, s, d)
        out = shapes.transposed_output(n, f, s, lo, hi, op, d)
        if out < 1:
            full = shapes.transposed_full(n, f, s, d)
            r.error("E106", win.where("padding", layer), f"the padding {lo} + {hi} crops the "
                    f"whole output {name} {full} ((N-1)S + d(K-1) + 1 = ({n}-1)*{s} + {d}*({f}-1) "
                    f"+ 1), leaving {out}", "use less padding")
            return None
        pads += [lo, hi]
        ops.append(op)
        outs.append(out)
    return tuple(pads), tuple(ops), tuple(outs), mode


def _resolved(in_shape, win, geometry, filters, groups, bias, act) -> Resolved:
    pads, ops, (oh, ow), mode = geometry
    (kh, kw), c = win.kernel, in_shape[2]
    weights = [Weight("kernel", (kh, kw, filters // groups, c))]
    weights += [Weight("bias", (filters,))] if bias else []
    attrs = {"kernel_size": win.kernel, "stride": win.stride, "padding": pads,
             "output_padding": ops, "dilation": win.dilation, "pad_mode": mode, "out": (oh, ow),
             "filters": filters, "groups": groups, "bias": bias,
             "activation": act[0], "alpha": act[1]}
    macs = shapes.transposed_macs(in_shape[0], in_shape[1], kh, kw, c, groups, filters)
    return Resolved(attrs, (oh, ow, filters), tuple(weights), macs)


KINDS: dict = {"convtranspose": ConvTranspose()}  # spec word -> kind object


def _axis_text(n: int, attrs, axis: int) -> str:
    """'(4-1)*2 - 0 - 0 + 1*(3-1) + 0 + 1 = 9': one axis's output size, with its numbers."""
    s, d, k = attrs["stride"][axis], attrs["dilation"][axis], attrs["kernel_size"][axis]
    lo, hi, op = attrs["padding"][2 * axis], attrs["padding"][2 * axis + 1], attrs["output_padding"][axis]
    out = shapes.transposed_output(n, k, s, lo, hi, op, d)
    return f"({n}-1)*{s} - {lo} - {hi} + {d}*({k}-1) + {op} + 1 = {out}"


def _padding_fix(n: int, attrs, axis: int, want: int) -> str | None:
    """The explicit pad (and output_padding) that gives `want` along one axis, or None."""
    s, d, k = attrs["stride"][axis], attrs["dilation"][axis], attrs["kernel_size"][axis]
    crop = shapes.transposed_full(n, k, s, d) - want  # p_lo + p_hi - output_padding
    if crop >= 0 and crop % 2 == 0:
        return f"pad={crop // 2}"
    if crop >= -1 and max(s, d) > 1:
        return f"pad={(crop + 1) // 2} output_padding=1"
    return None


def stated_hint(attrs, in_shape, want, shape) -> tuple[str, str] | None:
    """(why, hint) for an out= that a convtranspose does not give: the transposed output rule
    with the layer's numbers, and the padding that would give the stated size. For the
    checker's E308 (its conv arithmetic does not apply to a transposed convolution)."""
    rule = "out = (N-1)*S - p_lo - p_hi + d*(K-1) + output_padding + 1 per axis"
    axes = [a for a in (0, 1) if a < len(want) and want[a] != shape[a]]
    if len(want) < 2:  # out=5 for an image
        return "", f"out= states an image's shape, HxW or HxWxC: this layer gives {shape_text(shape)}"
    if not axes:
        return "", (f"the number of output channels sets them: {shape[2]}; write "
                    f"'convtranspose {want[2]} ...' for {want[2]}")
    name = ("height", "width")[axes[0]]
    why = f": {name} {_axis_text(in_shape[axes[0]], attrs, axes[0])}"
    fixes = [_padding_fix(in_shape[a], attrs, a, want[a]) for a in (0, 1) if a < len(want)]
    hints = [f"{fixes[0]} gives {want[0]}x{want[1]} ({rule})"] \
        if len(set(fixes)) == 1 and fixes[0] is not None else []
    if all(a < len(want) and want[a] == in_shape[a] * attrs["stride"][a] for a in (0, 1)):
        hints.insert(0, f"pad=same gives N*S = {want[0]}x{want[1]} (Keras's rule)")
    return why, ", or ".join(hints) or rule
