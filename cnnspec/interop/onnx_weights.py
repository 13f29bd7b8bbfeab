"""ONNX tensors -> cnnspec's portable layouts (docs/semantics.md), pure NumPy.

- Conv weight (O, I/groups, kh, kw) -> kernel (kh, kw, I/groups, O).
- Conv with groups == its input channels C and O = C*m -> depthwise kernel (kh, kw, C, m):
  ONNX's output channel c*m + j is the depthwise kernel's [.., c, j].
- ConvTranspose weight (C, O/groups, kh, kw) -> kernel (kh, kw, O/groups, C).
- Gemm B (K, N), or (N, K) with transB, times alpha -> dense kernel (K, N); beta * C -> bias.
  A dense fed by ONNX's Flatten of an (C, H, W) image reads its rows in C,H,W order; the
  spec's flatten gives H,W,C order, so the rows are permuted (`nhwc_rows`, the inverse of
  PyTorch's order in cnnspec/layout.py).
- Batch-norm folding (`fold_batchnorm`): s = gamma / sqrt(var + eps) per output channel,
  kernel' = kernel * s, bias' = (bias - mean) * s + beta, computed in float64 and stored in
  float32, so the folded layer differs from conv-then-batchnorm by float32 rounding only.
"""

from __future__ import annotations

import numpy as np

from ..layout import portable_rows


def f32(value) -> np.ndarray:
    value = np.asarray(value)
    dtype = np.float64 if value.dtype == np.float64 else np.float32
    return np.ascontiguousarray(value, dtype=dtype)


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    return f32(np.transpose(weight, (2, 3, 1, 0)))


def depthwise_kernel(weight: np.ndarray, channels: int) -> np.ndarray:
    out, _, kh, kw = weight.shape
    return f32(np.transpose(weight[:, 0], (1, 2, 0)).reshape(kh, kw, channels, out // channels))


def convtranspose_kernel(weight: np.ndarray) -> np.ndarray:
    return f32(np.transpose(weight, (2, 3, 1, 0)))


def nhwc_rows(rows: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Rows (or a vector) indexed in C,H,W flatten order of an image (C, H, W) -> indexed in
    H,W,C order; `chw` None: already in that order."""
    if chw is None:
        return rows
    c, h, w = chw
    return rows[portable_rows(((c * h * w, (h, w, c)),), c * h * w)]


def gemm_kernel(b: np.ndarray, trans_b: bool, alpha: float) -> np.ndarray:
    kernel = b.T if trans_b else b
    return np.asarray(kernel, dtype=np.float64) * alpha if alpha != 1.0 else kernel


def gemm_bias(c: np.ndarray | None, units: int, beta: float) -> np.ndarray | None:
    """beta * C as a (units,) vector; None when C is absent; ValueError when it is per sample."""
    if c is None:
        return None
    c = np.asarray(c, dtype=np.float64) * beta if beta != 1.0 else np.asarray(c)
    if c.size == 1:
        return np.full((units,), c.reshape(()), dtype=c.dtype)
    if c.shape in ((units,), (1, units)):
        return c.reshape(units)
    raise ValueError(f"a bias of shape {c.shape} (per sample) is no dense bias of {units} units")


def batchnorm_weights(scale, bias, mean, var) -> dict[str, np.ndarray]:
    return {"gamma": f32(scale), "beta": f32(bias), "moving_mean": f32(mean),
            "moving_variance": f32(var)}


def fold_batchnorm(kernel: np.ndarray, bias: np.ndarray | None, bn: dict[str, np.ndarray],
                   eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of a layer whose last kernel axis is its output channel, with the batch
    norm after it folded in (see the module docstring)."""
    s = np.asarray(bn["gamma"], np.float64) / np.sqrt(np.asarray(bn["moving_variance"], np.float64) + eps)
    b = np.zeros(kernel.shape[-1]) if bias is None else np.asarray(bias, np.float64)
    new_bias = (b - np.asarray(bn["moving_mean"], np.float64)) * s + np.asarray(bn["beta"], np.float64)
    return f32(np.asarray(kernel, np.float64) * s), f32(new_bias)


def fold_depthwise(kernel: np.ndarray, bias: np.ndarray | None, bn: dict, eps: float):
    """fold_batchnorm for a depthwise kernel (kh, kw, C, m): output channel c*m + j."""
    kh, kw, c, m = kernel.shape
    folded, new_bias = fold_batchnorm(kernel.reshape(kh, kw, 1, c * m), bias, bn, eps)
    return folded.reshape(kh, kw, c, m), new_bias
