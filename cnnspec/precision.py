"""Floating-point dtypes: which backend builds in which, how a build holds its weights, and
verify's tolerance per dtype (docs/semantics.md, "Half precision"). Pure: imports no framework.

float16 and bfloat16 builds take the portable weights in float32 (portable weight files are
float32 or float64) and round them once, on load, to the model's dtype. NumPy has float16 but
no bfloat16; in a half-precision `verify` NumPy is the float32 reference, run on the weights
and input already rounded to the half dtype, so that the comparison measures the backend's
arithmetic and not the rounding of its inputs.
"""

from __future__ import annotations

import math

HALF = ("float16", "bfloat16")
DTYPES = ("float64", "float32", *HALF)

# the dtypes each backend builds in (a backend not listed here: float64 and float32 only)
BACKEND_DTYPES = {"numpy": ("float64", "float32", "float16"), "torch": DTYPES, "keras": DTYPES,
                  "onnx": ("float32",)}  # onnxruntime's CPU Conv has no double kernel
FULL_PRECISION = ("float64", "float32")

# Every layer kind runs in both half dtypes on PyTorch (CPU) and Keras (TensorFlow CPU):
# tests/test_half_issue11.py checks each kind of tests/backend_cases.py against the reference.

# unit roundoff u = 2^-p of each dtype (p significant bits): the relative error of one rounding
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "float16": 2.0 ** -11,
                 "bfloat16": 2.0 ** -8}


def check_dtype(target: str, dtype: str) -> None:
    """ValueError naming the backend, the dtype and what it supports, where it cannot build."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    supported = BACKEND_DTYPES.get(target, FULL_PRECISION)
    if dtype not in supported:
        why = " (NumPy has no bfloat16 type)" if (target, dtype) == ("numpy", "bfloat16") else ""
        raise ValueError(f"the {target} backend cannot build in {dtype}{why}; it supports "
                         f"{', '.join(supported)}")


def weight_dtype(dtype: str) -> str:
    """The dtype of the portable weights a build of `dtype` loads (float32 for half dtypes)."""
    return "float32" if dtype in HALF else dtype


def depths(network) -> dict[str, int]:
    """Each node's depth: the most layers on a path from the input to it (the input is 0)."""
    depth: dict[str, int] = {}
    for node in network.nodes:
        depth[node.name] = 1 + max((depth[i] for i in node.inputs), default=-1)
    return depth


def half_rtol(dtype: str, depth: int) -> float:
    """verify's relative tolerance for a layer at `depth` in a half dtype: 5 u sqrt(depth), u the
    unit roundoff (docs/semantics.md, "Half precision"): each layer rounds its output once or a
    few times (conv + fused activation, a hard_swish's three ops), relative error about u of
    the output's scale; the roundings of successive layers are independent, so they add up as
    a random walk, sqrt(depth). Measured worst, over every kind of tests/backend_cases.py and
    the zoo (ResNet-18/50, MobileNetV2, ConvNeXt-Tiny, EfficientNet-B0, DenseNet-121 at small
    inputs): 2.6 u sqrt(depth); 5 leaves a margin of about 2."""
    return 5.0 * UNIT_ROUNDOFF[dtype] * math.sqrt(max(depth, 1))


def round_to(array, dtype: str):
    """float32 values rounded (to nearest, ties to even) to a half dtype and back to float32:
    what a half-precision build holds, in a type NumPy computes with (it has no bfloat16)."""
    import numpy as np
    a = np.asarray(array, dtype=np.float32)
    a = np.ascontiguousarray(a).reshape(a.shape)  # (a scalar stays a scalar)
    if dtype == "float16":
        return a.astype(np.float16).astype(np.float32)
    bits = a.view(np.uint32).astype(np.uint64)  # bfloat16: the top 16 bits of a float32
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).reshape(a.shape)
