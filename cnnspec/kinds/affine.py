"""Per-channel maps over the last axis: layer normalisation, Keras's Normalization (fixed
values or weights), Rescaling and ConvNeXt's layer scale.

All four keep the shape, work on HxWxC images (over C) and on flat vectors (over the units),
and cost no MACs (the contract counts only multiply-accumulates of convolutions and dense).
Numbers given per channel are tuples whose length must be the channel count; one number
stands for every channel.
"""

from __future__ import annotations

from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from .base import Kind, Resolved, read_activation
from .norm import read_eps, read_flag

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Normalization divides by max(sqrt(var), this)
LARGEST = 1e300  # a per-channel number must be finite


def number_of(r: ArgReader, value: S.Value, what: str, nonnegative: bool = False):
    """A finite number (a float); with nonnegative, at least 0. None after reporting."""
    if value.kind not in ("int", "float"):
        r.error("E103", value, f"{what} must be a number, not '{value.describe()}'")
        return None
    x = r.float_of(value, what, -LARGEST, LARGEST)
    if x is not None and nonnegative and x < 0:
        r.error("E106", value, f"{what} cannot be negative, not {value.describe()}",
                "a variance is the square of a standard deviation (std 0.229 is variance "
                "0.052441)")
        return None
    return x


def numbers_of(r: ArgReader, value: S.Value, what: str, channels: int, nonnegative=False):
    """One number (a float) or a tuple of `channels` numbers (a tuple of floats), each finite
    (and at least 0 with nonnegative); None after reporting a problem."""
    if value.kind in ("int", "float"):
        return number_of(r, value, what, nonnegative)
    if value.kind != "tuple":
        r.error("E103", value, f"{what} must be a number or a tuple of one number per channel, "
                f"not '{value.describe()}'", f"write e.g. {what}=0.5 or {what}=(0.5, 0.25, 2)")
        return None
    if len(value.value) != channels:
        r.error("E103", value, f"{what} has {len(value.value)} values, but the input has "
                f"{channels} channels", f"give one number per channel ({channels}), or one number "
                "for all of them")
        return None
    items = [number_of(r, item, what, nonnegative) for item in value.value]
    return None if None in items else tuple(items)


class LayerNorm(Kind):
    """`layernorm [eps=0.001] [scale=true] [center=true]`: Keras's LayerNormalization(axis=-1)."""

    options = frozenset({"eps", "epsilon", "scale", "center"})
    fused_activation = True
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        eps = read_eps(r, 1e-3)
        scale, center = read_flag(r, "scale"), read_flag(r, "center")
        act = read_activation(r, layer.activation)
        if None in (eps, scale, center, act):
            return None
        c = in_shape[-1]
        weights = [Weight("gamma", (c,))] if scale else []
        weights += [Weight("beta", (c,))] if center else []
        attrs = {"eps": eps, "scale": scale, "center": center, "activation": act[0],
                 "alpha": act[1]}
        return Resolved(attrs, in_shape, tuple(weights))


class Normalize(Kind):
    """`normalize [mean=M variance=V]`: Keras's Normalization(axis=-1), (x - mean) /
    max(sqrt(variance), 1e-7). With both values given they are constants (no weights);
    with neither, mean (C,), variance (C,) and count () are non-trainable weights."""

    options = frozenset({"mean", "variance"})
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        mean_v, var_v = r.value("mean"), r.value("variance")
        c = in_shape[-1]
        attrs = {"mean": None, "variance": None, "eps": KERAS_EPSILON}
        if mean_v is None and var_v is None:
            weights = (Weight("mean", (c,), False), Weight("variance", (c,), False),
                       Weight("count", (), False))
            return Resolved(attrs, in_shape, weights)
        if mean_v is None or var_v is None:
            missing = "mean" if mean_v is None else "variance"
            r.error("E104", layer, f"normalize with fixed values needs both mean= and variance=, "
                    f"{missing}= is missing", "give both (constants, no weights), or neither "
                    "(mean, variance and count become non-trainable weights)")
            return None
        mean = numbers_of(r, mean_v, "mean", c)
        variance = numbers_of(r, var_v, "variance", c, nonnegative=True)
        if mean is None or variance is None:
            return None
        return Resolved({**attrs, "mean": mean, "variance": variance}, in_shape)


class Rescale(Kind):
    """`rescale SCALE [offset=0]`: Keras's Rescaling, x * scale + offset."""

    options = frozenset({"scale", "offset"})
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        scale_v, option = r.take(("int", "float", "tuple")), r.value("scale")
        if scale_v is not None and option is not None:
            r.error("E105", option, "the scale is given twice, as a value and as scale=",
                    "keep one of them")
            return None
        scale_v = scale_v or option
        if scale_v is None:
            r.error("E104", layer, "rescale needs a scale",
                    "write e.g. 'rescale 0.00392156862745098' (1/255) or 'rescale 2 offset=-1'")
            return None
        c = in_shape[-1]
        scale = numbers_of(r, scale_v, "scale", c)
        offset_v = r.value("offset")
        offset = numbers_of(r, offset_v, "offset", c) if offset_v else 0.0
        if scale is None or offset is None:
            return None
        return Resolved({"scale": scale, "offset": offset}, in_shape)


class LayerScale(Kind):
    """`layerscale [init=1e-6]`: ConvNeXt's LayerScale, x * gamma with gamma (C,) trainable,
    initialised to `init` by a framework that trains it from scratch."""

    options = frozenset({"init"})
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        init_v = r.value("init")
        init = r.float_of(init_v, "init", -1e6, 1e6) if init_v else 1e-6
        if init is None:
            return None
        return Resolved({"init": init}, in_shape, (Weight("gamma", (in_shape[-1],)),))


KINDS: dict = {"layernorm": LayerNorm(), "normalize": Normalize(), "rescale": Rescale(),
               "layerscale": LayerScale()}
