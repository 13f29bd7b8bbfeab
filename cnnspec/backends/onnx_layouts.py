"""Portable weight layouts -> ONNX's, in one place (docs/semantics.md, "portable weights").

Portable kernels are HWIO-like, ``(kh, kw, c_in/groups, c_out)``; ONNX's Conv takes
``(c_out, c_in/groups, kh, kw)`` (OIHW) and ConvTranspose ``(c_in, c_out/groups, kh, kw)``.
Per-channel vectors stay ``(C,)``, except those an elementwise operator broadcasts over an NCHW
image, which become ``(C, 1, 1)``. Dense kernels ``(in, out)`` are Gemm's B as they are; a
per-pixel dense is a 1x1 Conv with the kernel transposed. Every function here is pure NumPy.
"""

from __future__ import annotations

from ..ir import Node


def hwio_to_oihw(kernel):
    """(kh, kw, i, o) -> (o, i, kh, kw): Conv's weight; for ConvTranspose's portable
    (kh, kw, N/g, C) it gives (C, N/g, kh, kw), which is ConvTranspose's weight."""
    return kernel.transpose(3, 2, 0, 1)


def depthwise_to_oihw(kernel):
    """(kh, kw, C, m) -> (C*m, 1, kh, kw): the grouped Conv (group=C) of a depthwise layer;
    output channel c*m + j is input channel c's j-th kernel, as the spec orders them."""
    kh, kw, c, m = kernel.shape
    return hwio_to_oihw(kernel.reshape(kh, kw, 1, c * m))


def dense_to_1x1(kernel):
    """(C, units) -> (units, C, 1, 1): a per-pixel dense as a 1x1 Conv."""
    return kernel.T.reshape(*kernel.T.shape, 1, 1)


def per_channel(node: Node, vector):
    """A (C,) vector broadcast over the node's output: (C, 1, 1) when that is an NCHW image."""
    return vector.reshape(-1, 1, 1) if len(node.out_shape) == 3 and vector.ndim == 1 else vector


def onnx_tensor(node: Node, tensor: str, array):
    """The portable tensor `<node>.<tensor>` as the ONNX operator of node's kind takes it
    (float32, C-contiguous)."""
    import numpy as np
    kind = node.kind
    if tensor in ("kernel", "pointwise_kernel") and kind in ("conv", "separable", "convtranspose"):
        array = hwio_to_oihw(array)
    elif tensor in ("kernel", "depthwise_kernel") and kind in ("depthwise", "separable"):
        array = depthwise_to_oihw(array)
    elif kind == "dense" and tensor == "kernel" and node.attrs.get("per_pixel"):
        array = dense_to_1x1(array)
    elif kind in ("layerscale", "normalize"):
        array = per_channel(node, array)
    return np.ascontiguousarray(array, dtype=np.float32)
