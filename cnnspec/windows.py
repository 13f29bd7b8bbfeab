"""Sliding windows shared by conv and pooling: kernel, stride, padding, dilation, solving.

Shape arithmetic itself lives in shapes.py; this module reads the arguments, solves one
unknown from a stated output, resolves 'same'/'valid' padding and reports problems.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    if win.padding == "same":
        r.error("E306", layer, f"cannot solve the {unknowns[0]} when padding is 'same'",
                "give the padding as a number, or state the {unknowns[0]}")
        return False
    if len(unknowns) > 1:
        r.error("E306", layer, f"only one unknown can be solved per layer, found {' and '.join(unknowns)}",
                "give all but one of kernel, stride and padding")
        return False
    if stated is None:
        r.error("E306", layer, f"the {unknowns[0]} is unknown but no output shape is stated",
                "state the output with out=HxW (or HxWxC) so the unknown can be solved")
        return False
    solved = []
    for axis, name in ((0, "height"), (1, "width")):
        given = {"kernel": win.kernel, "stride": win.stride}.get(unknowns[0], (UNKNOWN,) * 2)[axis]
        if given is not UNKNOWN:  # e.g. 5x?: keep the 5; the stated output is checked later
            solved.append(given)
            continue
        value = _solve_axis(unknowns[0], in_shape[axis], stated[axis], win, axis)
        if value is None:
            r.error("E307", layer, f"the {unknowns[0]} is ambiguous: every value gives output "
                    f"{name} {stated[axis]}", f"give the {unknowns[0]} explicitly")
            return False
        if not value:
            r.error("E306", layer, f"no integer {unknowns[0]} gives output {name} {stated[axis]} "
                    f"from input {name} {in_shape[axis]}", _solve_hint(unknowns[0]))
            return False
        solved.append(value[0])
    _apply_solution(win, unknowns[0], solved)
    return True


def _solve_axis(unknown: str, n: int, out: int, win: Window, axis: int):
    f, s, d = win.kernel[axis], win.stride[axis], win.dilation[axis]
    if unknown == "padding":
        return shapes.solve_padding(n, out, f, s, d)
    lo, hi = (0, 0) if win.padding == "valid" else win.padding[2 * axis: 2 * axis + 2]
    if unknown == "kernel":
        return shapes.solve_kernel(n, out, s, lo, hi, d)
    return shapes.solve_stride(n, out, f, lo, hi, d)


def _solve_hint(unknown: str) -> str:
    return {
        "kernel": "F = N + 2P - S(out - 1) must be a positive integer",
        "padding": "P = (S(out - 1) + F - N) / 2 must be a whole number >= 0; use asymmetric padding",
        "stride": "S = (N + 2P - F) / (out - 1) must be a positive integer",
    }[unknown]


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
    return Window(kernel, stride, padding, dilation)


def rounding(r: ArgReader, allowed: tuple[str, ...]):
    value = r.value("round")
    return None if value is None else r.word_of(value, "round", allowed)


def inexact_warning(r: ArgReader, layer: S.Layer, res: dict, in_shape, explicit) -> None:
    if explicit is not None or not any(res["dropped"]):
        return
    dh, dw = res["dropped"]
    parts = [f"{d} {w}" for d, w in ((dh, "row" if dh == 1 else "rows"),
                                     (dw, "column" if dw == 1 else "columns")) if d]
    r.diags.warning("W301", layer.span,
                    f"the output size is not exact: (N - F + 2P)/S + 1 is not an integer, so "
                    f"{' and '.join(parts)} of the {shape_text(in_shape[:2])} input are never covered",
                    "adjust padding or stride, or write round=floor to accept this")


# --- explaining a stated out= that the layer does not give ---

def size_arithmetic(n: int, attrs, axis: int = 0) -> str:
    """'(28 - 3 + 2)/1 + 1 = 28': the output-size formula with one axis's numbers."""
    f = shapes.effective_kernel(attrs["kernel"][axis], attrs["dilation"][axis])
    p = attrs["padding"][2 * axis] + attrs["padding"][2 * axis + 1]
    rounding = "ceil" if attrs.get("ceil") else "floor"
    return f"{rounding}(({n} - {f} + {p})/{attrs['stride'][axis]}) + 1 = {attrs['out'][axis]}"


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
