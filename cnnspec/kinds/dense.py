"""Dense (fully connected) layers over a flat input, or over every pixel of an image.

`dense N per_pixel=true` on an HxWxC input applies the same (C, N) kernel to each pixel's C
channels (Keras's Dense on a 4-D input, ConvNeXt's pointwise MLP): HxWxN, H*W*C*N MACs.
Without per_pixel an image input is an error (E305) whose hint names flatten, global pooling
and per_pixel=true.
"""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..ir import Weight
from ..shapes import shape_text
from .base import Kind, Resolved, read_activation


class Dense(Kind):
    options = frozenset({"bias", "units", "per_pixel"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        units_v = r.take(("int",)) or r.value("units")
        if units_v is None:
            r.error("E104", layer, "dense needs a number of units", "write e.g. 'dense 64'")
            return None
        units = r.int_of(units_v, "number of units")
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        pixel_v = r.value("per_pixel")
        per_pixel = r.bool_of(pixel_v, "per_pixel") if pixel_v else False
        act = read_activation(r, layer.activation)
        if None in (units, bias, act, per_pixel) or not self._fits(r, layer, in_shape, per_pixel, units):
            return None
        weights = [Weight("kernel", (in_shape[-1], units))] + ([Weight("bias", (units,))] if bias else [])
        attrs = {"units": units, "bias": bias, "per_pixel": per_pixel, "activation": act[0],
                 "alpha": act[1]}
        out = (*in_shape[:-1], units)
        return Resolved(attrs, out, tuple(weights), shapes.prod(in_shape) * units)

    def _fits(self, r: ArgReader, layer: S.Layer, in_shape, per_pixel: bool, units: int) -> bool:
        """A flat input, or (per_pixel=true) an HxWxC one."""
        if per_pixel and len(in_shape) != 3:
            r.error("E305", layer, f"dense per_pixel=true needs an HxWxC input, but its input is "
                    f"the flat vector {shape_text(in_shape)}",
                    "drop per_pixel=true: a dense layer on a flat input is fully connected already")
            return False
        if not per_pixel and len(in_shape) != 1:
            r.error("E305", layer, f"dense needs a flat input, but its input is {shape_text(in_shape)}",
                    f"add 'flatten' before it (it would give {shapes.prod(in_shape)} values) or a "
                    f"global pooling layer, or write 'dense {units} per_pixel=true' to "
                    f"apply it to each pixel's {in_shape[-1]} channels")
            return False
        return True

