"""Backend cases and framework references for batch norm options, layer norm, Normalization, Rescaling and layer scale (issue 9).

CASES: node kind -> a function making a small Network that uses it (see backend_cases.graph).
REFERENCES: node kind -> reference(node, params, xs) -> the node's NHWC value, computed with
the frameworks' own ops (torch.nn.functional, keras.layers), never with generated code.
backend_cases merges both into its tables.

The cases also run a flatten into layer norm and layer scale (PyTorch's flat NCHW order: their
per-unit weights are permuted) and batch norms without gamma and without either affine weight.
Normalization's weighted form (mean, variance, count) is tested in test_norms_issue9.py with
positive variances: the shared table runs on cnnspec.weights.init_weights, whose random
"variance" may be negative.
"""

from __future__ import annotations


def _single(text, shape=(6, 6, 3), extra=()):
    from backend_cases import _single as single  # backend_cases imports this module
    return single(text, shape, extra)


CASES: dict = {
    "layernorm": lambda: _single("layernorm eps=1e-6 -> relu", extra=[
        ("t", "layernorm scale=false eps=0.01", None),
        ("bn", "batchnorm scale=false", None),
        ("bn0", "batchnorm scale=false center=false -> tanh", None),
        ("f", "flatten", None),
        ("u", "layernorm center=false", None)])(),
    "normalize": lambda: _single("normalize mean=(0.5, -1, 2, 0.25) variance=(4, 0.5, 2, 0)", extra=[
        ("s", "normalize mean=0.1 variance=0.09", None)])(),
    "rescale": lambda: _single("rescale (0.5, -2, 3, 0.125) offset=(1, 0, -0.5, 2)", extra=[
        ("t", "rescale 0.00392156862745098 offset=-1", None)])(),
    "layerscale": lambda: _single("layerscale init=0.5", extra=[
        ("f", "flatten", None),
        ("u", "layerscale", None)])(),
}


def _weight(p, node, name):
    """The portable tensor node.name.name, or None when the node has no such weight."""
    return p.get(f"{node.name}.{name}") if any(w.name == name for w in node.weights) else None


def _layernorm(node, p, xs):
    """torch.nn.functional.layer_norm over the last axis (channels of NHWC, or the units)."""
    import torch
    import torch.nn.functional as F
    from backend_cases import _activation
    x = torch.as_tensor(xs[0])
    gamma, beta = (_weight(p, node, n) for n in ("gamma", "beta"))
    y = F.layer_norm(x, (x.shape[-1],), None if gamma is None else torch.as_tensor(gamma),
                     None if beta is None else torch.as_tensor(beta), eps=node.attrs["eps"])
    return _activation(y.numpy(), node.attrs)


def keras_normalization(node, p, x):
    """keras.layers.Normalization itself: with the spec's fixed values (as float64 arrays, so
    that Keras does not round them through float32), or built and given the portable mean,
    variance and count as its adapt weights."""
    import keras
    import numpy as np
    a, dtype = node.attrs, str(x.dtype)
    if a["mean"] is not None:
        layer = keras.layers.Normalization(mean=np.asarray(a["mean"], dtype="float64"),
                                           variance=np.asarray(a["variance"], dtype="float64"),
                                           dtype=dtype)
        return np.asarray(layer(x))
    layer = keras.layers.Normalization(axis=-1, dtype=dtype)
    layer.build(x.shape)
    layer.adapt_mean.assign(p[f"{node.name}.mean"])
    layer.adapt_variance.assign(p[f"{node.name}.variance"])
    layer.count.assign(int(p[f"{node.name}.count"]))
    layer.finalize_state()
    return np.asarray(layer(x))


def _rescale(node, p, xs):
    import keras
    import numpy as np
    a, x = node.attrs, xs[0]
    layer = keras.layers.Rescaling(np.asarray(a["scale"], dtype="float64"),
                                   offset=np.asarray(a["offset"], dtype="float64"), dtype=str(x.dtype))
    return np.asarray(layer(x))


def keras_layer_scale(node, p, x):
    """keras.applications' ConvNeXt LayerScale itself, its gamma set to the portable one."""
    import numpy as np
    from keras.src.applications.convnext import LayerScale
    layer = LayerScale(node.attrs["init"], node.in_shape[-1], dtype=str(x.dtype))
    layer.build(x.shape)
    layer.gamma.assign(p[f"{node.name}.gamma"])
    return np.asarray(layer(x))


REFERENCES: dict = {
    "layernorm": _layernorm,
    "normalize": lambda node, p, xs: keras_normalization(node, p, xs[0]),
    "rescale": _rescale,
    "layerscale": lambda node, p, xs: keras_layer_scale(node, p, xs[0]),
}
