"""Batch normalisation over the last axis (channels, or the units of a flat input)."""

from __future__ import annotations

from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from .base import Kind, Resolved, read_activation


class BatchNorm(Kind):
    options = frozenset({"eps", "epsilon", "momentum"})
    fused_activation = True
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        eps_v = r.value("eps") or r.value("epsilon")
        eps = r.float_of(eps_v, "eps", 0.0, 1.0) if eps_v else 1e-3
        mom_v = r.value("momentum")
        momentum = r.float_of(mom_v, "momentum", 0.0, 1.0) if mom_v else 0.99
        act = read_activation(r, layer.activation)
        if None in (eps, momentum, act):
            return None
        c = in_shape[-1]
        weights = (Weight("gamma", (c,)), Weight("beta", (c,)),
                   Weight("moving_mean", (c,), False), Weight("moving_variance", (c,), False))
        attrs = {"eps": eps, "momentum": momentum, "activation": act[0], "alpha": act[1]}
        return Resolved(attrs, in_shape, weights)
