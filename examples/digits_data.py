"""scikit-learn's 8x8 handwritten digits (shipped with the package: nothing is downloaded),
split for transfer learning: the base learns digits 0-4, the transfer task is digits 5-9."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray  # (n, 8, 8, 1) NHWC, scaled to [0, 1]
    y_train: np.ndarray  # class indices 0..4
    x_test: np.ndarray
    y_test: np.ndarray


def digits_split(digits: range, seed: int = 0, test_fraction: float = 0.3,
                 dtype: str = "float32") -> Split:
    """The images of the given digits, labels renumbered from 0, shuffled and split."""
    from sklearn.datasets import load_digits
    data = load_digits()
    keep = np.isin(data.target, list(digits))
    x = (data.images[keep] / 16.0).astype(dtype)[..., None]
    y = (data.target[keep] - digits.start).astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    cut = int(len(y) * (1 - test_fraction))
    return Split(x[:cut], y[:cut], x[cut:], y[cut:])


def base_task(seed: int = 0) -> Split:
    return digits_split(range(5), seed)


def transfer_task(seed: int = 0) -> Split:
    return digits_split(range(5, 10), seed)
