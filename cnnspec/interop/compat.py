"""Which Keras classes a spec kind can stand for, and what must agree between the two.

`KINDS_OF[cls]` is the set of spec node kinds a Keras class may be matched to (the team
contract's table). `activation_of(op)` reads the function a Keras op applies (an `Activation`,
a `ReLU(max_value=6)`, a conv's own `activation=`) in the spec's words. `differences(node, op,
in_shape)` lists, in words, every setting on which a spec node and a Keras op disagree:
output shape, activation, kernel, strides, padding (Keras's `same` worked out with
TensorFlow's rule), dilation, bias, epsilon, merge axis, constants. The matcher ranks
candidates by these and reports them when the best candidate still has any.
"""

from __future__ import annotations

import math

from ..shapes import same_padding
from .keras_graph import KerasOp

ACTIVATION_CLASSES = ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax")
IDENTITY_CLASSES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                    "GaussianDropout", "GaussianNoise", "AlphaDropout", "Identity",
                    "StochasticDepth")

KINDS_OF = {
    "InputLayer": {"input"},
    "Conv2D": {"conv", "depthwise"},  # a Conv2D with groups == its input channels is depthwise
    "DepthwiseConv2D": {"depthwise"},
    "SeparableConv2D": {"separable"},
    "Conv2DTranspose": {"convtranspose"},
    "Dense": {"dense"},
    "BatchNormalization": {"batchnorm"},
    "LayerNormalization": {"layernorm"},
    "Normalization": {"normalize"},
    "Rescaling": {"rescale"},
    "LayerScale": {"layerscale"},
    "ZeroPadding2D": {"zeropad"},
    "Cropping2D": {"crop"},
    "UpSampling2D": {"upsample"},
    "Reshape": {"reshape"},
    "MaxPooling2D": {"maxpool"},
    "AveragePooling2D": {"avgpool"},
    "GlobalAveragePooling2D": {"globalavgpool"},
    "GlobalMaxPooling2D": {"globalmaxpool"},
    "Flatten": {"flatten"},
    "Add": {"add"},
    "Concatenate": {"concat"},
    "Multiply": {"multiply"},
    **{cls: {"activation"} for cls in ACTIVATION_CLASSES},
    **{cls: {"dropout"} for cls in IDENTITY_CLASSES},
}

# Keras's activation names -> the spec's
KERAS_ACTIVATIONS = {"silu": "swish", "hard_silu": "hard_swish", "hard_swish": "hard_swish",
                     "swish": "swish", "gelu": "gelu", "relu6": "relu6"}


def compatible(kind: str, op: KerasOp) -> bool:
    return kind in KINDS_OF.get(op.cls, ())


def is_identity(op: KerasOp) -> bool:
    """Ops that are the identity at inference: dropouts, Identity, Activation('linear')."""
    return op.cls in IDENTITY_CLASSES or (op.cls == "Activation" and activation_of(op) == ("linear", None))


def activation_of(op: KerasOp) -> tuple[str, float | None] | None:
    """(spec activation name, alpha) of what the op applies; None for one it cannot say."""
    c = op.config
    if op.cls == "ReLU":
        return _relu(c.get("max_value"), c.get("negative_slope") or 0.0, c.get("threshold") or 0.0)
    if op.cls == "LeakyReLU":
        return "leaky_relu", float(c.get("negative_slope", c.get("alpha", 0.3)))
    if op.cls == "ELU":
        return "elu", float(c.get("alpha", 1.0))
    if op.cls == "Softmax":
        return ("softmax", None) if c.get("axis", -1) in (-1, [-1], (-1,)) else None
    name = c.get("activation", "linear")
    if not isinstance(name, str):
        return None
    if name == "leaky_relu":
        return "leaky_relu", 0.2  # keras.activations.leaky_relu's default negative_slope
    if name == "elu":
        return "elu", 1.0
    return KERAS_ACTIVATIONS.get(name, name), None


def _relu(max_value, slope: float, threshold: float):
    if threshold:
        return None
    if max_value is None:
        return ("leaky_relu", float(slope)) if slope else ("relu", None)
    return ("relu6", None) if float(max_value) == 6.0 and not slope else None


def spec_activation(node) -> tuple[str, float | None]:
    act = node.attrs.get("activation") or "linear"
    alpha = node.attrs.get("alpha")
    return act, (None if alpha is None else float(alpha))


def differences(node, op: KerasOp, in_shape: tuple) -> list[str]:
    """Every setting on which the spec node and the Keras op disagree, in words."""
    found = []
    if not shape_fits(op.out_shape, node.out_shape):
        found.append(f"output shape {_hwc(op.out_shape)} vs the spec's {_hwc(node.out_shape)}")
    check = _CHECKS.get(node.kind)
    if check:
        found += check(node.attrs, op.config, in_shape)
    return found


def shape_fits(keras_shape, spec_shape) -> bool:
    """Keras's shape is the spec's, where a size Keras leaves open (None) fits any."""
    if keras_shape is None:
        return True
    return len(keras_shape) == len(spec_shape) and \
        all(k is None or k == s for k, s in zip(keras_shape, spec_shape))


def _hwc(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) if shape else "()"


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _cmp(attrs, key: str, theirs, what: str) -> list[str]:
    """A difference when the spec node has `key` and its value differs from Keras's."""
    if key not in attrs or theirs is None:
        return []
    ours = attrs[key]
    ours = tuple(ours) if isinstance(ours, list) else ours
    theirs = tuple(theirs) if isinstance(theirs, list) else theirs
    return [] if _same(ours, theirs) else [f"{what} {theirs} vs the spec's {key} {ours}"]


def keras_padding(config: dict, in_shape: tuple) -> tuple | None:
    """(top, bottom, left, right) of a Keras conv or pool: `valid` is none, `same` follows
    TensorFlow's rule (shapes.same_padding, the one cnnspec's `pad=same` uses)."""
    mode = config.get("padding")
    if mode == "valid":
        return (0, 0, 0, 0)
    if mode != "same" or len(in_shape) != 3:
        return None
    k = _pair(config.get("kernel_size") or config.get("pool_size"))
    s = _pair(config.get("strides") or k)
    d = _pair(config.get("dilation_rate") or 1)
    return tuple(side for n, ki, si, di in zip(in_shape[:2], k, s, d)
                 for side in same_padding(n, ki, si, di))


def _conv(attrs, c, in_shape) -> list[str]:
    found = _cmp(attrs, "kernel", _pair(c.get("kernel_size")), "kernel_size")
    found += _cmp(attrs, "stride", _pair(c.get("strides", 1)), "strides")
    found += _cmp(attrs, "dilation", _pair(c.get("dilation_rate", 1)), "dilation_rate")
    found += _cmp(attrs, "bias", c.get("use_bias"), "use_bias")
    found += _cmp(attrs, "multiplier", c.get("depth_multiplier"), "depth_multiplier")
    found += _cmp(attrs, "groups", c.get("groups"), "groups")
    if "filters" in c and "filters" in attrs:
        found += _cmp(attrs, "filters", c["filters"], "filters")
    if c.get("data_format", "channels_last") != "channels_last":
        found.append(f"data_format {c['data_format']} (cnnspec reads channels_last)")
    if isinstance(attrs.get("padding"), tuple) and len(attrs["padding"]) == 4:
        found += _cmp(attrs, "padding", keras_padding(c, in_shape), "padding")
    return found


def _convtranspose(attrs, c, in_shape) -> list[str]:
    """Keras's `valid` is the spec's pad=valid or pad=0, its `same` the spec's pad=same."""
    found = _cmp(attrs, "kernel_size", _pair(c.get("kernel_size")), "kernel_size")
    found += _cmp(attrs, "stride", _pair(c.get("strides", 1)), "strides")
    found += _cmp(attrs, "dilation", _pair(c.get("dilation_rate", 1)), "dilation_rate")
    found += _cmp(attrs, "bias", c.get("use_bias"), "use_bias")
    found += _cmp(attrs, "filters", c.get("filters"), "filters")
    mode = attrs.get("pad_mode")
    if mode == "explicit" and not any(attrs.get("padding") or ()):
        mode = "valid"
    if mode is not None and c.get("padding") != mode:
        found.append(f"padding {c.get('padding')} vs the spec's {mode} padding")
    if c.get("output_padding") is not None:
        found += _cmp(attrs, "output_padding", _pair(c["output_padding"]), "output_padding")
    return found


def _pool(attrs, c, in_shape) -> list[str]:
    found = _cmp(attrs, "kernel", _pair(c.get("pool_size")), "pool_size")
    found += _cmp(attrs, "stride", _pair(c.get("strides") or c.get("pool_size")), "strides")
    if isinstance(attrs.get("padding"), tuple):
        found += _cmp(attrs, "padding", keras_padding(c, in_shape), "padding")
        if attrs.get("count_include_pad") and any(attrs["padding"]):
            found.append("Keras averages over the window's pixels inside the input only "
                         "(the spec's count_include_pad=true counts the padding)")
    return found


def _norm(attrs, c, in_shape) -> list[str]:
    axis = c.get("axis", -1)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    found = [] if axis in ((-1,), (len(in_shape),)) else [f"axis {axis} (cnnspec normalises channels)"]
    return found + _cmp(attrs, "eps", c.get("epsilon"), "epsilon")


def _zeropad(attrs, c, in_shape) -> list[str]:
    pads = c.get("padding") or c.get("cropping")
    if isinstance(pads, int):
        pads = ((pads, pads), (pads, pads))
    if pads is None:
        return []
    (t, b), (left, r) = (_pair(p) for p in pads)
    key = "padding" if "padding" in attrs else "crop"
    return _cmp(attrs, key, (t, b, left, r), "padding" if "padding" in c else "cropping")


def _merge(attrs, c, in_shape) -> list[str]:
    axis = c.get("axis", -1)
    return [] if axis in (-1, len(in_shape)) else [f"axis {axis} (cnnspec concatenates channels)"]


def _rescale(attrs, c, in_shape) -> list[str]:
    return _cmp(attrs, "scale", c.get("scale"), "scale") + _cmp(attrs, "offset", c.get("offset"), "offset")


def _normalize(attrs, c, in_shape) -> list[str]:
    return _cmp(attrs, "mean", c.get("mean"), "mean") + _cmp(attrs, "variance", c.get("variance"), "variance")


def _upsample(attrs, c, in_shape) -> list[str]:
    found = _cmp(attrs, "factor", _pair(c.get("size")), "size")
    found += _cmp(attrs, "mode", c.get("interpolation"), "interpolation")
    if attrs.get("align_corners"):
        found.append("Keras's UpSampling2D has no align_corners (the spec's align_corners=true)")
    return found


_CHECKS = {
    "conv": _conv, "depthwise": _conv, "separable": _conv, "convtranspose": _convtranspose,
    "maxpool": _pool, "avgpool": _pool, "batchnorm": _norm, "layernorm": _norm,
    "zeropad": _zeropad, "crop": _zeropad, "concat": _merge, "rescale": _rescale,
    "normalize": _normalize, "upsample": _upsample,
    "dense": lambda attrs, c, s: _cmp(attrs, "units", c.get("units"), "units")
    + _cmp(attrs, "bias", c.get("use_bias"), "use_bias"),
}
