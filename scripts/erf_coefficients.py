"""Derive the polynomial coefficients of the NumPy backend's erf (cnnspec/backends/numpy_acts.py).

NumPy has no erf, so generated NumPy code carries its own, in two pieces:

- |x| <= 1: erf(x) = x * P(x^2), P a polynomial in t = x^2 on [0, 1];
- x > 1: erfc(x) = exp(-x^2) * G(s) / x with s = (x - 4) / (x + 2), which maps [1, inf) onto
  [-1, 1); G(s) = x erfc(x) exp(x^2) tends to 1/sqrt(pi) as x -> inf, and is smooth there.

Each function is interpolated at 80 Chebyshev nodes with 50-digit mpmath arithmetic, the
Chebyshev series is cut where its terms fall below 1e-19 of the largest, and converted to the
power basis (P in t, G in s) for Horner's rule: the power coefficients stay below 1.2 in
magnitude, so Horner loses nothing (measured: both pieces within 2.3e-16 relative of their
function on a dense grid). For float32 inputs the same series are cut at 1e-9 (8 and 12
terms instead of 14 and 26) and evaluated in float32. Run `python
scripts/erf_coefficients.py` to print the four tuples.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 50
NODES = 80
CUT = mp.mpf("1e-19")  # float64's pieces; float32's are cut at 1e-9 (CUT_SINGLE)
CUT_SINGLE = mp.mpf("1e-9")


def chebyshev(f, n: int = NODES) -> list:
    """Chebyshev coefficients of f on [-1, 1] by interpolation at n Chebyshev nodes."""
    angles = [mp.pi * (k + mp.mpf(1) / 2) / n for k in range(n)]
    values = [f(mp.cos(a)) for a in angles]
    coefficients = [2 * mp.fsum(v * mp.cos(j * a) for v, a in zip(values, angles)) / n
                    for j in range(n)]
    coefficients[0] /= 2
    return coefficients


def cut(coefficients: list, at=CUT) -> list:
    largest = max(abs(c) for c in coefficients)
    keep = len(coefficients)
    while keep > 1 and abs(coefficients[keep - 1]) < at * largest:
        keep -= 1
    return coefficients[:keep]


def power_basis(coefficients: list) -> list:
    """sum c_k T_k(s) as sum m_i s^i."""
    rows = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    while len(rows) < len(coefficients):
        twice = [mp.mpf(0)] + [2 * c for c in rows[-1]]
        before = rows[-2] + [mp.mpf(0)] * (len(twice) - len(rows[-2]))
        rows.append([a - b for a, b in zip(twice, before)])
    out = [mp.mpf(0)] * len(coefficients)
    for c, row in zip(coefficients, rows):
        for i, m in enumerate(row):
            out[i] += c * m
    return out


def shifted(coefficients: list) -> list:
    """Power coefficients in s = 2t - 1 as power coefficients in t."""
    out = [mp.mpf(0)] * len(coefficients)
    for i, m in enumerate(coefficients):
        for j in range(i + 1):
            out[j] += m * mp.binomial(i, j) * 2 ** j * (-1) ** (i - j)
    return out


def small(s):
    """erf(x) / x at t = x^2 = (s + 1) / 2."""
    x = mp.sqrt((s + 1) / 2)
    return mp.erf(x) / x if x else 2 / mp.sqrt(mp.pi)


def large(s):
    """x erfc(x) exp(x^2) at x = (4 + 2s) / (1 - s), the inverse of s = (x - 4) / (x + 2)."""
    if s >= 1:
        return 1 / mp.sqrt(mp.pi)
    x = (4 + 2 * s) / (1 - s)
    return x * mp.erfc(x) * mp.exp(x * x)


def main() -> None:
    p, g = chebyshev(small), chebyshev(large)
    for suffix, at in (("", CUT), ("_32", CUT_SINGLE)):
        print(f"_ERF_SMALL{suffix} =", tuple(float(c) for c in shifted(power_basis(cut(p, at)))))
        print(f"_ERFC_LARGE{suffix} =", tuple(float(c) for c in power_basis(cut(g, at))))


if __name__ == "__main__":
    main()
