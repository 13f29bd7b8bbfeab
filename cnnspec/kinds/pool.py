"""Pooling: windowed max/average, and global pooling to one value per channel."""

from __future__ import annotations

from .. import syntax as S
from ..args import ArgReader
from ..windows import Window, inexact_warning, read_window, resolve_window, rounding
from .base import Kind, Resolved, need_image, stated_hw


class Pool(Kind):
    def __init__(self, op: str):
        self.op = op
        self.options = {"stride", "pad", "padding", "round"} | (
            {"count_include_pad"} if op == "avg" else set())

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        kernel_v = r.take(("dims", "int", "unknown"))
        if kernel_v is None:
            r.error("E104", layer, f"{layer.kind} needs a window size", f"write e.g. '{layer.kind} 2x2'")
            return None
        if kernel_v.kind == "dims" and len(kernel_v.value) != 2:
            r.error("E103", kernel_v, f"a pooling window is KxK or KhxKw, not '{kernel_v.describe()}'",
                    "pooling works on each channel alone: it has no depth")
            return None
        win = read_window(r, kernel_v, True, unknown_ok=True)
        explicit = rounding(r, ("floor", "ceil"))
        include = r.value("count_include_pad")
        include = r.bool_of(include, "count_include_pad") if include else False
        if None in (win, include) or not need_image(r, layer, in_shape):
            return None
        if r.value("round") is not None and explicit is None:
            return None
        win.ceil = explicit == "ceil"
        if not self._check_padding(r, layer, win):
            return None
        res = resolve_window(r, layer, in_shape, win, stated_hw(r))
        if res is None:
            return None
        inexact_warning(r, layer, res, in_shape, win, explicit)
        attrs = {**res, "op": self.op, "ceil": win.ceil, "count_include_pad": include}
        return Resolved(attrs, (*res["out"], in_shape[2]))

    def _check_padding(self, r, layer, win: Window) -> bool:
        if not isinstance(win.padding, tuple):
            return True
        kh, kw = win.kernel
        for side, k in zip(win.padding, (kh, kh, kw, kw)):
            if isinstance(k, int) and side * 2 > k:
                r.error("E106", layer, f"pooling padding {side} is more than half the window {k}",
                        "a pooling window must never lie wholly in the padding")
                return False
        return True


class GlobalPool(Kind):
    """One value per channel: C, or 1x1xC with keepdims=true (squeeze-excite's input)."""

    options = frozenset({"keepdims"})

    def __init__(self, op: str):
        self.op = op

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        keep_v = r.value("keepdims")
        keep = r.bool_of(keep_v, "keepdims") if keep_v else False
        if keep is None or not need_image(r, layer, in_shape):
            return None
        out = (1, 1, in_shape[2]) if keep else (in_shape[2],)
        return Resolved({"op": self.op, "keepdims": keep}, out)
