"""Convolution: kernels sliding over an HxWxC input."""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from ..windows import inexact_warning, read_window, resolve_window, rounding
from .base import Kind, Resolved, need_image, read_activation, stated_hw


class Conv(Kind):
    options = frozenset({"stride", "pad", "padding", "dilation", "groups", "bias", "round"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        filters_v = r.take(("int",))
        kernel_v = r.take(("dims", "unknown", "int"))
        if filters_v is None or kernel_v is None:
            r.error("E104", layer, "conv needs a number of kernels and a kernel size",
                    "write e.g. 'conv 32 3x3' (32 kernels of 3x3)")
            return None
        filters = r.int_of(filters_v, "number of kernels")
        if kernel_v.kind == "dims" and len(kernel_v.value) not in (2, 3):
            r.error("E103", kernel_v, f"a kernel is KxK, KhxKw or KxKxDepth, not '{kernel_v.describe()}'")
            return None
        win = read_window(r, kernel_v, False, unknown_ok=True)
        groups = r.int_of(r.value("groups"), "groups") if r.value("groups") else 1
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        act = read_activation(r, layer.activation)
        explicit = rounding(r, ("floor",))
        if None in (filters, win, groups, bias, act) or not need_image(r, layer, in_shape):
            return None
        if not self._check_depth(r, layer, kernel_v, in_shape[2], filters, groups):
            return None
        res = resolve_window(r, layer, in_shape, win, stated_hw(r))
        if res is None:
            return None
        inexact_warning(r, layer, res, in_shape, win, explicit)
        return self._resolved(res, in_shape, filters, groups, bias, act)

    def _check_depth(self, r, layer, kernel_v, channels, filters, groups) -> bool:
        for count, what in ((channels, "input channels"), (filters, "kernels")):
            if count % groups:
                r.error("E302", layer, f"the {count} {what} are not divisible by groups={groups}",
                        "groups must divide both the input channels and the number of kernels")
                return False
        if kernel_v.kind == "dims" and len(kernel_v.value) == 3:
            depth, expected = kernel_v.value[2], channels // groups
            if depth != expected:
                per = f" per group ({channels} / groups={groups})" if groups > 1 else ""
                r.error("E301", kernel_v, f"kernel depth {depth} does not match the {expected} "
                        f"input channels{per}",
                        "a kernel's depth must equal the number of input channels; the number of "
                        "kernels sets the output channels")
        return True

    def _resolved(self, res, in_shape, filters, groups, bias, act) -> Resolved:
        (kh, kw), (oh, ow) = res["kernel"], res["out"]
        weights = [Weight("kernel", (kh, kw, in_shape[2] // groups, filters))]
        if bias:
            weights.append(Weight("bias", (filters,)))
        attrs = {**res, "filters": filters, "groups": groups, "bias": bias,
                 "activation": act[0], "alpha": act[1]}
        macs = shapes.conv_macs(oh, ow, kh, kw, in_shape[2], groups, filters)
        return Resolved(attrs, (oh, ow, filters), tuple(weights), macs)
