"""Shape arithmetic against brute force: window positions are enumerated, weights counted.

Every formula in cnnspec/shapes.py is checked against an independent computation: the
output size by listing the start positions of the sliding window over a padded axis, the
'same' padding by searching for the smallest padding that gives ceil(N/S) outputs, the
parameter counts by counting kernel taps per output channel, and the solvers by trying every
value in a small range. The seed's worked facts (NOTES.md) are checked through cnnspec.load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnspec
from cnnspec import shapes

SPECS = Path(__file__).resolve().parent.parent / "specs"

small = st.integers(1, 12)
pads = st.integers(0, 4)


# --- brute force -------------------------------------------------------------------------

def window_starts(n: int, f: int, s: int, lo: int, hi: int, d: int = 1) -> list[int]:
    """Start positions (in padded coordinates) of every window lying wholly in the padded axis."""
    length, extent = n + lo + hi, d * (f - 1) + 1
    return [p for p in range(0, length, s) if p + extent <= length]


def ceil_window_starts(n: int, f: int, s: int, lo: int, hi: int, d: int = 1) -> list[int]:
    """PyTorch ceil mode: keep sliding while the last padded cell is uncovered, but never
    start a window at or past n + lo (wholly in the right padding)."""
    length, extent = n + lo + hi, d * (f - 1) + 1
    starts = [0]
    while starts[-1] + extent < length and starts[-1] + s < n + lo:
        starts.append(starts[-1] + s)
    return starts


def covered(n: int, f: int, s: int, lo: int, hi: int, d: int, starts) -> np.ndarray:
    """A 0/1 mask of the padded axis: which cells some window tap touches."""
    mask = np.zeros(n + lo + hi + (f - 1) * d + s, dtype=int)
    for p in starts:
        mask[p: p + (f - 1) * d + 1: d] = 1
    return mask[: n + lo + hi]


def brute_conv_params(kh, kw, c_in, filters, groups, bias) -> int:
    """Count weights as connections: every output channel sees c_in/groups channels."""
    per_group = c_in // groups
    taps = sum(kh * kw * per_group for _ in range(filters))
    return taps + (filters if bias else 0)


# --- output size ---------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(n=small, f=st.integers(1, 6), s=st.integers(1, 5), lo=pads, hi=pads, d=st.integers(1, 3))
def test_conv_output_counts_window_positions(n, f, s, lo, hi, d):
    extent = d * (f - 1) + 1
    if extent > n + lo + hi:
        return
    starts = window_starts(n, f, s, lo, hi, d)
    res = shapes.conv_output(n, f, s, lo, hi, d)
    assert res.out == len(starts)
    # the real input rows (not padding) never reached by the last window, at the bottom/right
    uncovered = n + lo + hi - (starts[-1] + extent)
    assert res.dropped == max(0, n + lo - (starts[-1] + extent))
    assert res.exact == (uncovered == 0)


@settings(max_examples=300, deadline=None)
@given(n=small, f=st.integers(1, 6), s=st.integers(1, 5), lo=pads, hi=pads)
def test_pool_output_floor_mode_equals_conv(n, f, s, lo, hi):
    if f > n + lo + hi:
        return
    assert shapes.pool_output(n, f, s, lo, hi, False) == shapes.conv_output(n, f, s, lo, hi)


@settings(max_examples=400, deadline=None)
@given(n=small, f=st.integers(1, 6), s=st.integers(1, 5), lo=pads, hi=pads)
def test_pool_output_ceil_mode_follows_pytorch(n, f, s, lo, hi):
    if f > n + lo + hi or 2 * max(lo, hi) > f:  # pooling padding is at most half the window
        return
    starts = ceil_window_starts(n, f, s, lo, hi)
    res = shapes.pool_output(n, f, s, lo, hi, True)
    assert res.out == len(starts)
    assert starts[-1] < n + lo  # no window starts in the right padding
    assert res.out >= shapes.conv_output(n, f, s, lo, hi).out


def test_ceil_mode_drops_a_window_in_the_right_padding():
    # n=5, pool 2 stride 2, pad 1: floor gives 3; ceil would give 4 but the 4th window would
    # start at 6 = n + lo, wholly in the right padding: PyTorch keeps 3.
    assert shapes.pool_output(5, 2, 2, 1, 1, True).out == 3
    # n=5, pool 2 stride 2, no pad: floor 2, ceil 3 (the last window overhangs by one cell)
    assert shapes.pool_output(5, 2, 2, 0, 0, True).out == 3
    assert shapes.pool_output(5, 2, 2, 0, 0, False).out == 2


@pytest.fixture(scope="module")
def torch_f():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def test_pool_sizes_match_pytorch(torch_f):
    torch, F = torch_f
    for n in range(1, 10):
        x = torch.zeros(1, 1, n, n)
        for f in range(1, 5):
            for s in range(1, 4):
                for p in range(f // 2 + 1):
                    if f > n + 2 * p:
                        continue
                    for ceil in (False, True):
                        got = F.max_pool2d(x, f, s, p, ceil_mode=ceil).shape[-1]
                        assert shapes.pool_output(n, f, s, p, p, ceil).out == got, (n, f, s, p, ceil)


def test_conv_sizes_and_params_match_pytorch(torch_f):
    torch, _ = torch_f
    for n, f, s, p, d, c_in, filters, groups in [
        (28, 3, 1, 0, 1, 1, 6, 1), (28, 5, 1, 2, 1, 1, 6, 1), (13, 3, 2, 1, 2, 4, 8, 2),
        (9, 1, 3, 0, 1, 6, 3, 3), (7, 2, 2, 3, 3, 2, 4, 1), (10, 4, 3, 1, 1, 8, 8, 8),
    ]:
        conv = torch.nn.Conv2d(c_in, filters, f, s, p, d, groups)
        got = conv(torch.zeros(1, c_in, n, n)).shape[-1]
        assert shapes.conv_output(n, f, s, p, p, d).out == got
        numel = sum(t.numel() for t in conv.parameters())
        assert brute_conv_params(f, f, c_in, filters, groups, True) == numel
        spec = f"input {n}x{n}x{c_in}\nc: conv {filters} {f}x{f} stride={s} pad={p} " \
               f"dilation={d} groups={groups} round=floor\n"
        assert cnnspec.loads(spec).node("c").params == numel


# --- same padding (TensorFlow rule) -------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(n=small, f=st.integers(1, 7), s=st.integers(1, 5), d=st.integers(1, 3))
def test_same_padding_is_the_smallest_padding_giving_ceil_n_over_s(n, f, s, d):
    want = -(-n // s)
    extent = d * (f - 1) + 1
    total = next(t for t in range(extent + s + 1) if len(window_starts(n, f, s, 0, t, d)) == want)
    lo, hi = shapes.same_padding(n, f, s, d)
    assert (lo, hi) == (total // 2, total - total // 2)  # the extra pixel goes bottom/right
    assert shapes.conv_output(n, f, s, lo, hi, d).out == want


def test_same_padding_examples():
    assert shapes.same_padding(224, 3, 1) == (1, 1)
    assert shapes.same_padding(28, 5, 1) == (2, 2)
    assert shapes.same_padding(6, 3, 2) == (0, 1)  # TF: asymmetric, extra pixel after
    assert shapes.same_padding(5, 1, 2) == (0, 0)


# --- parameters and MACs ------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 5), c_mult=st.integers(1, 4), f_mult=st.integers(1, 4),
       groups=st.integers(1, 4), bias=st.booleans(), n=st.integers(5, 12))
def test_conv_params_and_macs_by_counting(k, c_mult, f_mult, groups, bias, n):
    c_in, filters = c_mult * groups, f_mult * groups
    spec = (f"input {n}x{n}x{c_in}\nc: conv {filters} {k}x{k} groups={groups} "
            f"bias={'true' if bias else 'false'}\n")
    node = cnnspec.loads(spec).node("c")
    assert node.params == brute_conv_params(k, k, c_in, filters, groups, bias)
    # the seed's W = K^2 * C * N, B = N (for groups=1)
    if groups == 1:
        assert node.params == k * k * c_in * filters + (filters if bias else 0)
    arrays = [np.empty((k, k, c_in // groups, filters))] + ([np.empty(filters)] if bias else [])
    assert node.params == sum(a.size for a in arrays)
    positions = len(window_starts(n, k, 1, 0, 0)) ** 2
    assert node.macs == positions * filters * k * k * (c_in // groups)


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 50), units=st.integers(1, 50), bias=st.booleans())
def test_dense_params_and_macs(n_in, units, bias):
    node = cnnspec.loads(f"input {n_in}\nd: dense {units} bias={'true' if bias else 'false'}\n").node("d")
    assert node.params == np.empty((n_in, units)).size + (units if bias else 0)
    assert node.macs == sum(n_in for _ in range(units))


def test_batchnorm_has_four_c_params_two_c_trainable():
    node = cnnspec.loads("input 4x4x7\nb: batchnorm\n").node("b")
    assert (node.params, node.trainable_params, node.non_trainable_params) == (28, 14, 14)


# --- solvers -------------------------------------------------------------------------------

def brute_exact(n, f, s, lo, hi, d, out) -> bool:
    if d * (f - 1) + 1 > n + lo + hi:
        return False
    res = shapes.conv_output(n, f, s, lo, hi, d)
    return res.exact and res.out == out


@settings(max_examples=300, deadline=None)
@given(n=small, out=small, s=st.integers(1, 4), lo=pads, hi=pads, d=st.integers(1, 3))
def test_solve_kernel_by_search(n, out, s, lo, hi, d):
    found = [f for f in range(1, n + lo + hi + 2) if brute_exact(n, f, s, lo, hi, d, out)]
    assert shapes.solve_kernel(n, out, s, lo, hi, d) == found


@settings(max_examples=300, deadline=None)
@given(n=small, out=small, f=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 2))
def test_solve_padding_by_search(n, out, f, s, d):
    found = [p for p in range(60) if brute_exact(n, f, s, p, p, d, out)]
    assert shapes.solve_padding(n, out, f, s, d) == found


@settings(max_examples=300, deadline=None)
@given(n=small, out=st.integers(1, 6), f=st.integers(1, 5), lo=pads, hi=pads)
def test_solve_stride_by_search(n, out, f, lo, hi):
    limit = n + lo + hi + 3
    found = [s for s in range(1, limit) if brute_exact(n, f, s, lo, hi, 1, out)]
    result = shapes.solve_stride(n, out, f, lo, hi)
    if len(found) == limit - 1:  # every stride tried works: ambiguous
        assert result is None
    else:
        assert result == found


@pytest.mark.parametrize("n, out, s, lo, expected", [
    (28, 26, 1, 0, [3]),    # the seed: F = N - S(out - 1) = 28 - 25 = 3
    (28, 28, 1, 2, [5]),
    (28, 30, 1, 0, []),     # growing without padding: none
])
def test_solve_kernel_cases(n, out, s, lo, expected):
    assert shapes.solve_kernel(n, out, s, lo, lo) == expected


def test_solver_outcomes_none_unique_ambiguous():
    assert shapes.solve_padding(28, 28, 5, 1) == [2]      # P = (F - 1)/2
    assert shapes.solve_padding(28, 28, 4, 1) == []       # odd total: no symmetric padding
    assert shapes.solve_stride(28, 13, 4, 0, 0) == [2]
    assert shapes.solve_stride(28, 5, 3, 0, 0) == []      # 25/4 is not whole
    assert shapes.solve_stride(3, 1, 3, 0, 0) is None     # one window: any stride


# --- the seed's facts (NOTES.md) ----------------------------------------------------------

def test_fact_28_with_3x3_gives_26x26x6():
    net = cnnspec.loads("input 28x28x1\nc: conv 6 3x3\n")
    assert net.output.out_shape == (26, 26, 6)
    assert (28 - 3 + 2 * 0) // 1 + 1 == 26


def test_fact_solving_the_kernel_and_the_padding():
    net = cnnspec.loads("input 28x28x1\nc: conv 6 ?x? out=26x26x6\nd: conv 6 5x5 pad=? out=26x26x6\n")
    assert net.node("c").attrs["kernel"] == (3, 3)               # F = N - S(out - 1) = 3
    assert net.node("d").attrs["padding"] == (2, 2, 2, 2)        # P = (F - 1)/2 = 2


@pytest.fixture(scope="module")
def specs():
    return {p.stem: cnnspec.load(p) for p in [*SPECS.glob("*.cnn"), SPECS / "zoo" / "vgg16.cnn"]}


def test_fact_mnist_tutorial(specs):
    net = specs["mnist_tutorial"]
    assert net.node("conv1").params == 320
    assert net.node("conv2").params == 18_496
    assert net.node("conv3").params == 36_928
    assert net.node("fc1").params == 36_928
    assert net.node("fc2").params == 650
    assert net.total_params == 93_322
    assert net.node("flat").out_shape == (576,)


def test_fact_lenet5(specs):
    net = specs["lenet5"]
    assert [n.params for n in net.layers if n.params] == [156, 2_416, 48_120, 10_164, 850]
    assert net.total_params == 61_706
    assert net.macs == 416_520


def test_fact_vgg16(specs):
    net = specs["vgg16"]
    assert net.total_params == 138_357_544
    assert net.node("block5_pool").out_shape == (7, 7, 512)


def test_fact_multichannel(specs):
    assert specs["multichannel"].output.out_shape == (2, 2, 1)
    assert specs["multichannel_stacked"].node("pair").weights[0].shape == (2, 2, 3, 2)
