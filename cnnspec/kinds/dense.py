"""Dense (fully connected) layers over a flat input."""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from ..shapes import shape_text
from .base import Kind, Resolved, read_activation


class Dense(Kind):
    options = frozenset({"bias", "units"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        units_v = r.take(("int",)) or r.value("units")
        if units_v is None:
            r.error("E104", layer, "dense needs a number of units", "write e.g. 'dense 64'")
            return None
        units = r.int_of(units_v, "number of units")
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        act = read_activation(r, layer.activation)
        if None in (units, bias, act):
            return None
        if len(in_shape) != 1:
            r.error("E305", layer, f"dense needs a flat input, but its input is {shape_text(in_shape)}",
                    f"add 'flatten' before it (it would give {shapes.prod(in_shape)} values) or a "
                    "global pooling layer")
            return None
        weights = [Weight("kernel", (in_shape[0], units))] + ([Weight("bias", (units,))] if bias else [])
        attrs = {"units": units, "bias": bias, "activation": act[0], "alpha": act[1]}
        return Resolved(attrs, (units,), tuple(weights), in_shape[0] * units)
