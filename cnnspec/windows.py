"""Sliding windows shared by conv and pooling: kernel, stride, padding, dilation, solving.

Shape arithmetic itself lives in shapes.py; this module reads the arguments, solves one
unknown from a stated output, resolves 'same'/'valid' padding and reports problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import shapes
from . import syntax as S
from .args import UNKNOWN, ArgReader
from .shapes import shape_text

# --- sliding windows: conv and pooling share kernel/stride/padding/solving ---

@dataclass
class Window:
    kernel: tuple
    stride: tuple
    padding: object  # 'same' | 'valid' | UNKNOWN | (t, b, l, r)
    dilation: tuple = (1, 1)
    ceil: bool = False
    is_pool: bool = False  # pooling padding is at most half the window
    sources: dict = field(default_factory=dict)  # kernel/stride/padding -> the node written

    def where(self, name: str, layer: S.Layer):
        """What to underline for one of kernel, stride or padding (the layer if unwritten)."""
        return self.sources.get(name) or layer


def resolve_window(r: ArgReader, layer: S.Layer, in_shape, win: Window, stated) -> dict | None:
    """Solve any unknown, resolve padding, and compute (out_h, out_w); None on error."""
    unknowns = [n for n, v in (("kernel", win.kernel), ("stride", win.stride),
                               ("padding", (win.padding,))) if UNKNOWN in v]
    if unknowns and not _solve(r, layer, in_shape, win, unknowns, stated):
        return None
    pads = _padding(in_shape, win)
    result = {"kernel": win.kernel, "stride": win.stride, "padding": pads, "dilation": win.dilation,
              "solved": unknowns[0] if unknowns else None}
    outs = []
    for axis, name in ((0, "height"), (1, "width")):
        n, f, s, d = in_shape[axis], win.kernel[axis], win.stride[axis], win.dilation[axis]
        lo, hi = pads[2 * axis], pads[2 * axis + 1]
        eff = shapes.effective_kernel(f, d)
        if eff > n + lo + hi:
            what = "dilated kernel" if d > 1 else "kernel"
            r.error("E303", layer, f"{what} {name} {eff} is larger than its padded input {name} "
                    f"{n + lo + hi} ({n} + padding {lo + hi})",
                    "use a smaller kernel or more padding, or remove a pooling layer before it")
            return None
        res = shapes.pool_output(n, f, s, lo, hi, win.ceil, d)
        outs.append(res)
    result["out"] = (outs[0].out, outs[1].out)
    result["dropped"] = (outs[0].dropped, outs[1].dropped)
    return result


def _padding(in_shape, win: Window) -> tuple[int, int, int, int]:
    if win.padding == "valid":
        return (0, 0, 0, 0)
    if win.padding == "same":
        top = shapes.same_padding(in_shape[0], win.kernel[0], win.stride[0], win.dilation[0])
        left = shapes.same_padding(in_shape[1], win.kernel[1], win.stride[1], win.dilation[1])
        return top + left
    return win.padding


def _solve(r: ArgReader, layer, in_shape, win: Window, unknowns, stated) -> bool:
    unknown = unknowns[0]
    at = win.where(unknown, layer)
    if win.padding == "same":
        r.error("E306", at, f"cannot solve the {unknown} when padding is 'same'",
                f"give the padding as a number, or state the {unknown}")
        return False
    if len(unknowns) > 1:
        r.error("E306", win.where(unknowns[1], layer), "only one unknown can be solved per layer, "
                f"found {' and '.join(unknowns)}", "give all but one of kernel, stride and padding")
        return False
    if stated is None:
        r.error("E306", at, f"the {unknown} is unknown but no output shape is stated",
                "state the output with out=HxW (or HxWxC) so the unknown can be solved")
        return False
    solved = []
    for axis, name in ((0, "height"), (1, "width")):
        given = {"kernel": win.kernel, "stride": win.stride}.get(unknown, (UNKNOWN,) * 2)[axis]
        if given is not UNKNOWN:  # e.g. 5x?: keep the 5; the stated output is checked later
            solved.append(given)
            continue
        value = _solve_axis(unknown, in_shape[axis], stated[axis], win, axis)
        if value is None:
            r.error("E307", at, f"the {unknown} is ambiguous: every value gives output "
                    f"{name} {stated[axis]}", f"give the {unknown} explicitly")
            return False
        if not value:
            r.error("E306", at, f"no integer {unknown} gives output {name} {stated[axis]} "
                    f"from input {name} {in_shape[axis]}",
                    _solve_hint(unknown, in_shape, stated, win, axis))
            return False
        solved.append(value[0])
    _apply_solution(win, unknown, solved)
    return True


def _solve_axis(unknown: str, n: int, out: int, win: Window, axis: int):
    f, s, d = win.kernel[axis], win.stride[axis], win.dilation[axis]
    if unknown == "padding":
        return shapes.solve_padding(n, out, f, s, d)
    lo, hi = (0, 0) if win.padding == "valid" else win.padding[2 * axis: 2 * axis + 2]
    if unknown == "kernel":
        return shapes.solve_kernel(n, out, s, lo, hi, d)
    return shapes.solve_stride(n, out, f, lo, hi, d)


def _solve_hint(unknown: str, in_shape, stated, win: Window, axis: int) -> str:
    """The formula with this axis's numbers, its (non-integer) value, and what would work."""
    n, o, s, d = in_shape[axis], stated[axis], win.stride[axis], win.dilation[axis]
    if unknown == "padding":
        f = shapes.effective_kernel(win.kernel[axis], d)
        text = f"P = (S(out - 1) + F - N)/2 = ({s}*({o} - 1) + {f} - {n})/2 = {_number((s * (o - 1) + f - n) / 2)}"
        axes = [(in_shape[a], stated[a], win.kernel[a], win.stride[a], win.dilation[a]) for a in (0, 1)]
        if s * (o - 1) + f < n:
            return f"{text}: even with no padding the output is larger; use a larger kernel or stride"
        fix = _padding_hint(axes, stated, not win.is_pool)
        return f"{text}, not a whole number; {fix}" if fix else text
    lo, hi = (0, 0) if win.padding == "valid" else win.padding[2 * axis: 2 * axis + 2]
    if unknown == "kernel":
        eff = n + lo + hi - s * (o - 1)
        text = f"F = N + P - S(out - 1) = {n} + {lo + hi} - {s}*({o} - 1) = {eff}"
        return text + (f", which no kernel with dilation {d} spans" if eff >= 1 else
                       "; it must be at least 1: the stated output is too large")
    f = shapes.effective_kernel(win.kernel[axis], d)
    if o == 1:
        return f"out = 1 needs the kernel to reach past the input's end; F = {f}, N + P = {n + lo + hi}"
    return (f"S = (N + P - F)/(out - 1) = ({n} + {lo + hi} - {f})/({o} - 1) = "
            f"{_number((n + lo + hi - f) / (o - 1))}; it must be a whole number >= 1")


def _number(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _apply_solution(win: Window, unknown: str, solved) -> None:
    if unknown == "kernel":
        win.kernel = tuple(solved)
    elif unknown == "stride":
        win.stride = tuple(solved)
    else:
        win.padding = (solved[0], solved[0], solved[1], solved[1])


def read_window(r: ArgReader, kernel_value, default_stride_is_kernel: bool, unknown_ok: bool):
    """Read kernel, stride, padding and dilation into a Window (None on error)."""
    if kernel_value is None:
        return None
    if kernel_value.kind == "dims" and len(kernel_value.value) == 3:  # KxKxDepth: the caller checks depth
        kernel_value = S.Value("dims", kernel_value.value[:2], kernel_value.span)
    kernel = r.pair_of(kernel_value, "kernel size", 1, unknown_ok)
    stride_v = r.value("stride")
    stride = r.pair_of(stride_v, "stride", 1, unknown_ok) if stride_v else None
    pad_v = r.value("pad") or r.value("padding")
    padding = r.padding_of(pad_v) if pad_v else (0, 0, 0, 0)
    dil_v = r.value("dilation")
    dilation = r.pair_of(dil_v, "dilation") if dil_v else (1, 1)
    if kernel is None or (stride_v and stride is None) or padding is None or dilation is None:
        return None
    if stride is None:
        stride = kernel if default_stride_is_kernel else (1, 1)
    if padding == UNKNOWN and not unknown_ok:
        r.error("E103", pad_v, "padding cannot be '?' here")
        return None
    sources = {"kernel": kernel_value, "stride": r.options.get("stride"),
               "padding": r.options.get("pad") or r.options.get("padding")}
    return Window(kernel, stride, padding, dilation, is_pool=default_stride_is_kernel,
                  sources={k: v for k, v in sources.items() if v is not None})


def rounding(r: ArgReader, allowed: tuple[str, ...]):
    value = r.value("round")
    return None if value is None else r.word_of(value, "round", allowed)


def inexact_warning(r: ArgReader, layer: S.Layer, res: dict, in_shape, win: Window, explicit) -> None:
    """W301 when real input rows or columns (not padding) lie past the last window."""
    if explicit is not None or not any(res["dropped"]):
        return
    dh, dw = res["dropped"]
    parts = [f"{d} {w}" for d, w in ((dh, "row" if dh == 1 else "rows"),
                                     (dw, "column" if dw == 1 else "columns")) if d]
    axis = 0 if dh else 1
    verb = "is" if dh + dw == 1 else "are"
    r.diags.warning("W301", layer.span,
                    f"the output size is not exact: {axis_arithmetic(in_shape[axis], res, axis)}; "
                    f"{' and '.join(parts)} of the {shape_text(in_shape[:2])} input {verb} never "
                    "covered", _inexact_hint(res, in_shape, win))


def _inexact_hint(res: dict, in_shape, win: Window) -> str:
    """The asymmetric padding that makes the division exact, or the rounding to accept it."""
    pads = list(res["padding"])
    for axis in (0, 1):
        if res["dropped"][axis]:
            pads[2 * axis + 1] += shapes.exact_padding(
                in_shape[axis], res["kernel"][axis], res["stride"][axis], pads[2 * axis],
                pads[2 * axis + 1], res["dilation"][axis])
    outs = [shapes.conv_output(in_shape[a], res["kernel"][a], res["stride"][a], pads[2 * a],
                               pads[2 * a + 1], res["dilation"][a]).out for a in (0, 1)]
    sides = (res["kernel"][0],) * 2 + (res["kernel"][1],) * 2
    fits = not win.is_pool or all(2 * p <= k for p, k in zip(pads, sides))
    fixes = [f"pad=({', '.join(map(str, pads))}) to make it exact ({outs[0]}x{outs[1]})"] if fits else []
    if win.is_pool:
        fixes.append("round=ceil to add a last window")
    return "write " + ", or ".join([*fixes, "round=floor to accept dropping them"])


# --- explaining a stated out= that the layer does not give ---

def axis_arithmetic(n: int, attrs, axis: int = 0) -> str:
    """One axis's output-size arithmetic for a resolved conv or pool (see shapes.size_arithmetic)."""
    pads = attrs["padding"]
    return shapes.size_arithmetic(n, attrs["kernel"][axis], attrs["stride"][axis], pads[2 * axis],
                                  pads[2 * axis + 1], bool(attrs.get("ceil")), attrs["dilation"][axis])


def stated_out_hint(attrs, in_shape, want) -> str:
    """What would give the stated output: the padding (or kernel) solved for it."""
    generic = "out = (N - F + 2P)/S + 1 per axis; check kernel, padding and stride"
    if "kernel" not in attrs or len(want) < 2:
        return generic
    if tuple(want[:2]) == tuple(attrs["out"]):
        if "filters" in attrs:
            return (f"the number of kernels sets the output channels: {attrs['filters']} kernels "
                    f"give {attrs['filters']}; write 'conv {want[2]} ...' for {want[2]}")
        return f"pooling keeps the {in_shape[2]} input channels"
    axes = [(in_shape[a], want[a], attrs["kernel"][a], attrs["stride"][a], attrs["dilation"][a])
            for a in (0, 1)]
    return _padding_hint(axes, want, "filters" in attrs) or _kernel_hint(axes, attrs, want) or generic


def _padding_hint(axes, want, is_conv: bool) -> str | None:
    totals = [s * (o - 1) + shapes.effective_kernel(f, d) - n for n, o, f, s, d in axes]
    if min(totals) < 0 or (not is_conv and any(t > f for t, (_, _, f, _, _) in zip(totals, axes))):
        return None  # shrinking needs no padding; pools may pad at most half the window
    if totals[0] % 2 or totals[1] % 2:
        sides = tuple(x for t in totals for x in (t // 2, t - t // 2))
        return f"pad={sides} gives {want[0]}x{want[1]} (top, bottom, left, right)"
    p = totals[0] // 2 if totals[0] == totals[1] else f"({totals[0] // 2}, {totals[1] // 2})"
    n, o, f, s, _ = axes[0]
    return (f"pad={p} gives {want[0]}x{want[1]}: P = (S(out - 1) + F - N)/2 = "
            f"({s}*({o} - 1) + {f} - {n})/2 = {totals[0] // 2}")


def _kernel_hint(axes, attrs, want) -> str | None:
    pad = attrs["padding"]
    kernels = [shapes.solve_kernel(n, o, s, pad[2 * a], pad[2 * a + 1], d)
               for a, (n, o, _f, s, d) in enumerate(axes)]
    if not all(kernels):
        return None
    stride = "" if "filters" in attrs else f" with stride={axes[0][3]}"
    return (f"a {kernels[0][0]}x{kernels[1][0]} kernel{stride} gives {want[0]}x{want[1]}: "
            "F = N + 2P - S(out - 1)")
