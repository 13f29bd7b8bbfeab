"""Depthwise and separable convolutions: one kernel per input channel (times a depth
multiplier), then, for separable, a pointwise 1x1 convolution.

`depthwise KxK [multiplier=1]` (Keras's DepthwiseConv2D) gives output channel c*m + j from
input channel c with the j-th of its m kernels; `separable N KxK [multiplier=1]` (Keras's
SeparableConv2D) follows it with a 1x1 conv to N channels, with one bias (N,) at the end.
Padding, stride, dilation and rounding are the conv's (cnnspec/windows.py).
"""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from ..windows import inexact_warning, read_window, resolve_window, rounding
from .base import Kind, Resolved, need_image, read_activation, stated_hw

WINDOW_OPTIONS = frozenset({"multiplier", "stride", "pad", "padding", "dilation", "bias", "round"})


def read_kernel(r: ArgReader, layer: S.Layer, usage: str):
    """The KxK (or K) kernel value, or None after an E104/E103 that shows `usage`."""
    kernel_v = r.take(("dims", "int"))
    if kernel_v is None:
        r.error("E104", layer, f"{layer.kind} needs a kernel size", f"write e.g. '{usage}'")
        return None
    if kernel_v.kind == "dims" and len(kernel_v.value) != 2:
        r.error("E103", kernel_v, f"a {layer.kind} kernel is KxK or KhxKw, not "
                f"'{kernel_v.describe()}'", "the depth is one channel: leave it out")
        return None
    return kernel_v


def read_depthwise(r: ArgReader, layer: S.Layer, in_shape, kernel_v):
    """(window result, multiplier, bias, activation) of a depthwise window; None on error."""
    win = read_window(r, kernel_v, False, unknown_ok=False)
    multiplier = r.int_of(r.value("multiplier"), "multiplier") if r.value("multiplier") else 1
    bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
    act = read_activation(r, layer.activation)
    explicit = rounding(r, ("floor",))
    if None in (win, multiplier, bias, act) or not need_image(r, layer, in_shape):
        return None
    res = resolve_window(r, layer, in_shape, win, stated_hw(r))
    if res is None:
        return None
    inexact_warning(r, layer, res, in_shape, win, explicit)
    return res, multiplier, bias, act


class _PerChannelWindow(Kind):
    """What depthwise and separable share: the conv's window options, a fused activation,
    and their own E308 explanation of the channels they give."""

    options = WINDOW_OPTIONS
    fused_activation = True

    @staticmethod
    def stated_hint(attrs, in_shape, want, shape) -> tuple[str, str] | None:
        """(why, hint) of an E308 about channels (see stated_hint below); None: the conv's."""
        return stated_hint(attrs, in_shape, want, shape)


class Depthwise(_PerChannelWindow):
    """`depthwise KxK [multiplier=1] ...`: kernel (kh, kw, C, m), bias (C*m,)."""

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        kernel_v = read_kernel(r, layer, "depthwise 3x3")
        read = read_depthwise(r, layer, in_shape, kernel_v) if kernel_v else None
        if read is None:
            return None
        res, m, bias, act = read
        (kh, kw), (oh, ow), c = res["kernel"], res["out"], in_shape[2]
        weights = [Weight("kernel", (kh, kw, c, m))] + ([Weight("bias", (c * m,))] if bias else [])
        attrs = {**res, "multiplier": m, "bias": bias, "activation": act[0], "alpha": act[1]}
        macs = shapes.depthwise_macs(oh, ow, kh, kw, c, m)
        return Resolved(attrs, (oh, ow, c * m), tuple(weights), macs)


class Separable(_PerChannelWindow):
    """`separable N KxK [multiplier=1] ...`: depthwise_kernel (kh, kw, C, m), pointwise_kernel
    (1, 1, C*m, N), bias (N,)."""

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        filters_v = r.take(("int",))
        kernel_v = read_kernel(r, layer, "separable 64 3x3") if filters_v else None
        if filters_v is None:
            r.error("E104", layer, "separable needs a number of kernels and a kernel size",
                    "write e.g. 'separable 64 3x3' (a 3x3 depthwise conv, then 64 1x1 kernels)")
            return None
        filters = r.int_of(filters_v, "number of kernels")
        read = read_depthwise(r, layer, in_shape, kernel_v) if kernel_v else None
        if read is None or filters is None:
            return None
        res, m, bias, act = read
        (kh, kw), (oh, ow), c = res["kernel"], res["out"], in_shape[2]
        weights = [Weight("depthwise_kernel", (kh, kw, c, m)),
                   Weight("pointwise_kernel", (1, 1, c * m, filters))]
        weights += [Weight("bias", (filters,))] if bias else []
        attrs = {**res, "filters": filters, "multiplier": m, "bias": bias,
                 "activation": act[0], "alpha": act[1]}
        macs = shapes.separable_macs(oh, ow, kh, kw, c, m, filters)
        return Resolved(attrs, (oh, ow, filters), tuple(weights), macs)


KINDS: dict = {"depthwise": Depthwise(), "separable": Separable()}  # spec word -> kind object


def stated_hint(attrs, in_shape, want, shape) -> tuple[str, str] | None:
    """(why, hint) for an out= whose channels a depthwise or separable layer does not give
    (C*multiplier, or N); None when only the height or width differ (the conv's hints fit)."""
    if tuple(want[:2]) != tuple(shape[:2]) or len(want) < 3:
        return None
    c, m = in_shape[2], attrs["multiplier"]
    if "filters" in attrs:
        return "", (f"the number of kernels sets the output channels: {attrs['filters']} give "
                    f"{shape[2]}; write 'separable {want[2]} ...' for {want[2]}")
    if want[2] % c:
        return "", (f"depthwise gives C*multiplier = {c}*{m} = {shape[2]} channels, a multiple "
                    f"of its {c} input channels; a conv ('conv {want[2]} ...') changes them freely")
    return "", (f"depthwise gives C*multiplier = {c}*{m} = {shape[2]} channels; write "
                f"multiplier={want[2] // c} for {want[2]}")
