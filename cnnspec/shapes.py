"""Pure shape arithmetic shared by the checker and every backend.

All sizes are per spatial axis. Padding is (lo, hi): top/bottom or left/right.
Output size: floor((N + lo + hi - d*(F-1) - 1) / S) + 1, as in design.md section 3.
"""

from __future__ import annotations

from dataclasses import dataclass


def effective_kernel(f: int, d: int = 1) -> int:
    """The extent a dilated kernel covers: d*(F-1) + 1."""
    return d * (f - 1) + 1


@dataclass(frozen=True)
class AxisResult:
    """The output size along one axis and how many real input rows no window covers.

    `exact` says the windows tile the padded axis exactly; `dropped` counts only real input
    rows (not padding) past the last window: padding left over is harmless.
    """

    out: int
    dropped: int
    exact: bool


def windows_end(out: int, f: int, s: int, d: int = 1) -> int:
    """One past the last row that `out` windows read, counted from the start of the padding."""
    return (out - 1) * s + effective_kernel(f, d)


def window_count(n: int, f: int, s: int, lo: int, hi: int, ceil: bool, d: int = 1) -> int:
    """The plain formula's count, floor or ceil (as ONNX's pools count: in ceil mode without
    pool_output's drop of a window that starts in the right padding)."""
    span = n + lo + hi - effective_kernel(f, d)
    return (-(-span // s) if ceil else span // s) + 1


def _axis_result(n: int, f: int, s: int, lo: int, out: int, exact: bool, d: int) -> AxisResult:
    last_end = windows_end(out, f, s, d)  # one past the last window's last row
    return AxisResult(out, max(0, n + lo - last_end) if out >= 1 else 0, exact)


def conv_output(n: int, f: int, s: int, lo: int, hi: int, d: int = 1) -> AxisResult:
    """Output size of a convolution (or floor-mode pool) along one axis."""
    span = n + lo + hi - effective_kernel(f, d)
    if span < 0:
        return AxisResult(span // s + 1, 0, False)
    return _axis_result(n, f, s, lo, span // s + 1, span % s == 0, d)


def pool_output(n: int, f: int, s: int, lo: int, hi: int, ceil: bool, d: int = 1) -> AxisResult:
    """Output size of a pooling window; ceil mode follows PyTorch.

    In ceil mode the last window may hang over the bottom/right edge, but a window that
    would start entirely in the right padding (at or past n + lo) is dropped.
    """
    floor = conv_output(n, f, s, lo, hi, d)
    if not ceil or floor.exact or floor.out < 1:
        return floor
    out = floor.out + 1
    if (out - 1) * s >= n + lo:
        out -= 1
    return _axis_result(n, f, s, lo, out, out > floor.out, d)


def exact_padding(n: int, f: int, s: int, lo: int, hi: int, d: int = 1) -> int:
    """The padding to add after (bottom/right) so that the windows tile the axis exactly."""
    span = n + lo + hi - effective_kernel(f, d)
    return (-span) % s if span >= 0 else -span


def size_arithmetic(n: int, f: int, s: int, lo: int, hi: int, ceil: bool = False, d: int = 1) -> str:
    """'(28 - 3 + 0)/2 + 1 = 13.5, so 13': the output-size formula with one axis's numbers.

    Computed with pool_output, the function that sizes every layer, so the two cannot disagree.
    """
    eff, res = effective_kernel(f, d), pool_output(n, f, s, lo, hi, ceil, d)
    text = f"({n} - {eff} + {lo + hi})/{s} + 1"
    quotient = (n - eff + lo + hi) / s + 1
    shown = f"{quotient:.2f}".rstrip("0").rstrip(".")
    if quotient == res.out:
        text += f" = {res.out}"
    elif res.out > quotient:
        text += f" = {shown}, rounded up to {res.out}"
    else:
        text += f" = {shown}, so {res.out}"
        if ceil:
            text += " (round=ceil adds no window that would start in the padding)"
    if d > 1:
        text += f" (dilation {d} spreads the {f}-wide kernel over {d}*({f} - 1) + 1 = {eff})"
    return text


def same_padding(n: int, f: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' rule: the extra pixel goes after (bottom/right)."""
    out = -(-n // s)
    total = max((out - 1) * s + effective_kernel(f, d) - n, 0)
    return total // 2, total - total // 2


def conv_macs(out_h: int, out_w: int, kh: int, kw: int, c_in: int, groups: int, filters: int) -> int:
    return out_h * out_w * kh * kw * (c_in // groups) * filters


def shape_text(shape) -> str:
    """28x28x1 for (28, 28, 1); 576 for (576,)."""
    return "x".join(str(d) for d in shape)


def prod(shape) -> int:
    result = 1
    for dim in shape:
        result *= dim
    return result


# --- solving one unknown from a stated output size (the seed's F = N - S(out - 1)) ---

def solve_kernel(n: int, out: int, s: int, lo: int, hi: int, d: int = 1) -> list[int]:
    """Kernel sizes F >= 1 giving exactly `out` with no rows dropped."""
    eff = n + lo + hi - s * (out - 1)
    if eff < 1 or (eff - 1) % d:
        return []
    return [(eff - 1) // d + 1]


def solve_padding(n: int, out: int, f: int, s: int, d: int = 1) -> list[int]:
    """Symmetric paddings P >= 0 giving exactly `out` with no rows dropped."""
    twice = s * (out - 1) + effective_kernel(f, d) - n
    if twice < 0 or twice % 2:
        return []
    return [twice // 2]


def solve_stride(n: int, out: int, f: int, lo: int, hi: int, d: int = 1) -> list[int] | None:
    """Strides S >= 1 giving exactly `out`; None means every stride does (ambiguous)."""
    span = n + lo + hi - effective_kernel(f, d)
    if span < 0:
        return []
    if out == 1:
        return None if span == 0 else []
    if span % (out - 1):
        return []
    return [span // (out - 1)] if span // (out - 1) >= 1 else []


# --- depthwise, separable and transposed convolutions (issue 9) ---

def depthwise_macs(out_h: int, out_w: int, kh: int, kw: int, channels: int, multiplier: int) -> int:
    """One kh*kw window per output channel c*m + j: H'W' kh kw C m."""
    return out_h * out_w * kh * kw * channels * multiplier


def separable_macs(out_h: int, out_w: int, kh: int, kw: int, channels: int, multiplier: int,
                   filters: int) -> int:
    """The depthwise part plus the pointwise 1x1 conv: H'W' (kh kw C m + C m N)."""
    return out_h * out_w * channels * multiplier * (kh * kw + filters)


def transposed_full(n: int, f: int, s: int, d: int = 1) -> int:
    """Length of a transposed convolution's whole output before cropping: (N-1)S + d(F-1) + 1."""
    return (n - 1) * s + effective_kernel(f, d)


def transposed_output(n: int, f: int, s: int, lo: int, hi: int, output_padding: int = 0,
                      d: int = 1) -> int:
    """Explicit padding crops lo and hi from the whole output (PyTorch's meaning), then
    output_padding rows are added at the end: (N-1)S - lo - hi + d(F-1) + output_padding + 1."""
    return transposed_full(n, f, s, d) - lo - hi + output_padding


def transposed_same(n: int, f: int, s: int, d: int = 1) -> tuple[int, int, int]:
    """Keras's (TensorFlow's) 'same' as (lo, hi, output_padding): out = N*S. The whole output
    is cropped by d(F-1)+1-S, the extra row after (bottom/right); when the kernel spans less
    than the stride, nothing is cropped and S - d(F-1) - 1 zero rows are added at the end."""
    total = effective_kernel(f, d) - s
    if total < 0:
        return 0, 0, -total
    return total // 2, total - total // 2, 0


def transposed_valid(n: int, f: int, s: int, d: int = 1) -> tuple[int, int, int]:
    """Keras's 'valid' as (lo, hi, output_padding): nothing cropped, and when the kernel spans
    less than the stride, zero rows up to N*S: out = N*S + max(d(F-1)+1 - S, 0)."""
    return 0, 0, max(s - effective_kernel(f, d), 0)


def transposed_macs(in_h: int, in_w: int, kh: int, kw: int, c_in: int, groups: int,
                    filters: int) -> int:
    """Every input pixel scatters a kh*kw patch for its group's outputs: H W kh kw C (N/groups)."""
    return in_h * in_w * kh * kw * c_in * (filters // groups)


def keras_transposed(n: int, f: int, s: int, padding: str, output_padding: int | None = None,
                     d: int = 1) -> tuple[int, int, int]:
    """A Keras Conv2DTranspose axis (padding "same"/"valid", output_padding None or an int)
    as cnnspec's (lo, hi, output_padding), for bringing Keras models over. Keras's length:
    without output_padding N*S (same) or N*S + max(d(F-1)+1 - S, 0) (valid); with it
    (N-1)S + d(F-1)+1 - 2*pad + output_padding, pad = (d(F-1)+1)//2 for same, else 0.
    TensorFlow then crops floor(max(0, whole - length) / 2) before for same, nothing for valid."""
    eff, whole = effective_kernel(f, d), transposed_full(n, f, s, d)
    if output_padding is None:
        length = n * s if padding == "same" else n * s + max(eff - s, 0)
    else:
        length = whole - 2 * (eff // 2 if padding == "same" else 0) + output_padding
    lo = max(0, whole - length) // 2 if padding == "same" else 0
    return lo, max(0, whole - lo - length), max(0, lo + length - whole)
