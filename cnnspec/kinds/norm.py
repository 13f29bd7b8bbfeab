"""Batch normalisation over the last axis (channels, or the units of a flat input).

`scale=false` drops gamma and `center=false` drops beta, as Keras's BatchNormalization(scale=,
center=) does (InceptionV3 uses scale=False): the missing one acts as 1 or 0 and has no weight.
"""

from __future__ import annotations

from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from .base import Kind, Resolved, read_activation


def read_eps(r: ArgReader, default: float):
    """eps= (or epsilon=), in [0, 1]; `default` when absent."""
    eps_v = r.value("eps") or r.value("epsilon")
    return r.float_of(eps_v, "eps", 0.0, 1.0) if eps_v else default


def read_flag(r: ArgReader, key: str, default: bool = True):
    value = r.value(key)
    return r.bool_of(value, key) if value else default


class BatchNorm(Kind):
    options = frozenset({"eps", "epsilon", "momentum", "scale", "center"})
    fused_activation = True
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        eps = read_eps(r, 1e-3)
        mom_v = r.value("momentum")
        momentum = r.float_of(mom_v, "momentum", 0.0, 1.0) if mom_v else 0.99
        scale, center = read_flag(r, "scale"), read_flag(r, "center")
        act = read_activation(r, layer.activation)
        if None in (eps, momentum, scale, center, act):
            return None
        c = in_shape[-1]
        weights = [Weight("gamma", (c,))] if scale else []
        weights += [Weight("beta", (c,))] if center else []
        weights += [Weight("moving_mean", (c,), False), Weight("moving_variance", (c,), False)]
        attrs = {"eps": eps, "momentum": momentum, "scale": scale, "center": center,
                 "activation": act[0], "alpha": act[1]}
        return Resolved(attrs, in_shape, tuple(weights))
