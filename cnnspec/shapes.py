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
    """The output size along one axis and how many input rows the rounding left unused."""

    out: int
    dropped: int
    exact: bool


def conv_output(n: int, f: int, s: int, lo: int, hi: int, d: int = 1) -> AxisResult:
    """Output size of a convolution (or floor-mode pool) along one axis."""
    span = n + lo + hi - effective_kernel(f, d)
    if span < 0:
        return AxisResult(span // s + 1, 0, False)
    return AxisResult(span // s + 1, span % s, span % s == 0)


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
    return AxisResult(out, 0 if out > floor.out else floor.dropped, out > floor.out)


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
