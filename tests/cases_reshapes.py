"""Backend cases and framework references for reshape, cropping, upsampling, keepdims global pooling, per-pixel dense (issue 9).

CASES: node kind -> a function making a small Network that uses it (see backend_cases.graph).
REFERENCES: node kind -> reference(node, params, xs) -> the node's NHWC value, computed with
the frameworks' own ops (torch.nn.functional, keras.layers), never with generated code.
backend_cases merges both into its tables.

The cases also carry the kinds of this family that are options of older kinds: keepdims
global pooling (a squeeze-excite gate) and per-pixel dense (referenced in backend_cases).
"""

from __future__ import annotations

CASES: dict = {}
REFERENCES: dict = {}


def _graph(*args, **kwargs):
    from backend_cases import graph  # backend_cases imports this module while it loads
    return graph(*args, **kwargs)


def upsample_case():
    """Nearest, bilinear half-pixel and bilinear align_corners, square and non-square factors."""
    return _graph((4, 3, 2), [
        ("pre", "conv 3 3x3 pad=1", None),
        ("n", "upsample 2x3 mode=bilinear", None),
        ("near", "upsample 3x2", ["pre"]),
        ("corners", "upsample 2 mode=bilinear align_corners=true", ["pre"]),
        ("pp", "dense 4 per_pixel=true -> relu", None)], outputs=("n", "near", "pp"))


def reshape_case():
    """The flatten-order trap and squeeze-excite: a flatten read back as an image, an image
    reshaped to another, a 1x1xC gate made by globalavgpool -> reshape and by keepdims."""
    return _graph((4, 3, 2), [
        ("c", "conv 3 3x3 pad=1", None),
        ("f", "flatten", None),
        ("n", "reshape 4x3x3", None),
        ("img", "reshape 2x6x3", None),
        ("squeeze", "globalavgpool", None),
        ("gate_in", "reshape 1x1x3", None),
        ("gate", "conv 3 1x1 -> sigmoid", None),
        ("scaled", "multiply", ["img", "gate"]),
        ("keep", "globalmaxpool keepdims=true", ["scaled"]),
        ("vec", "reshape 3", None),
        ("flat", "reshape 36", ["scaled"]),
        ("fc", "dense 4", None),
        ("back", "reshape 2x1x2", None)], outputs=("vec", "back"))


def crop_case():
    return _graph((6, 7, 2), [
        ("pre", "conv 3 3x3 pad=1", None),
        ("n", "crop (1, 0, 2, 1)", None),
        ("even", "crop 1", None),
        ("pair", "crop (1, 0)", None)])


CASES.update({"upsample": upsample_case, "reshape": reshape_case, "crop": crop_case})


def _nchw(x):
    import torch
    return torch.tensor(x).permute(0, 3, 1, 2)


def upsample_reference(node, p, xs):
    """torch.nn.functional.interpolate with the spec's factor, mode and align_corners."""
    import torch.nn.functional as F
    a = node.attrs
    corners = a["align_corners"] if a["mode"] == "bilinear" else None
    y = F.interpolate(_nchw(xs[0]), scale_factor=tuple(float(f) for f in a["factor"]),
                      mode=a["mode"], align_corners=corners)
    return y.permute(0, 2, 3, 1).numpy()


def reshape_reference(node, p, xs):
    import keras
    import numpy as np
    x = xs[0]
    return np.asarray(keras.layers.Reshape(tuple(node.attrs["shape"]), dtype=str(x.dtype))(x))


def crop_reference(node, p, xs):
    import keras
    import numpy as np
    t, b, left, right = node.attrs["cropping"]
    x = xs[0]
    return np.asarray(keras.layers.Cropping2D(((t, b), (left, right)), dtype=str(x.dtype))(x))


REFERENCES.update({"upsample": upsample_reference, "reshape": reshape_reference,
                   "crop": crop_reference})
