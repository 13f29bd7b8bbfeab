"""Upsampling by integer factors: nearest and bilinear interpolation.

`upsample F` (an int, or FhxFw) gives (H*Fh)x(W*Fw)xC. `mode=nearest` (the default) copies
each input pixel into an Fh x Fw patch; `mode=bilinear` interpolates, with `align_corners=false`
(the default: half-pixel centres, PyTorch's default and tf.image.resize's) or `true` (the corner
pixels of input and output coincide). The exact index formulas are in docs/semantics.md.
"""

from __future__ import annotations

from .. import syntax as S
from ..args import ArgReader
from .base import Kind, Resolved, need_image

MODES = ("nearest", "bilinear")


class Upsample(Kind):
    options = frozenset({"mode", "align_corners", "size"})

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        factor_v = r.take(("int", "dims", "tuple")) or r.value("size")
        if factor_v is None:
            r.error("E104", layer, "upsample needs a factor",
                    "write e.g. 'upsample 2' (both axes) or 'upsample 2x3' (height x width)")
            return None
        factor = r.pair_of(factor_v, "upsampling factor")
        mode_v = r.value("mode")
        mode = r.word_of(mode_v, "mode", MODES) if mode_v else "nearest"
        align_v = r.value("align_corners")
        align = r.bool_of(align_v, "align_corners") if align_v else False
        if None in (factor, mode, align) or not need_image(r, layer, in_shape):
            return None
        if align and mode != "bilinear":
            r.error("E103", align_v, "align_corners applies to mode=bilinear only",
                    "nearest upsampling copies pixels: drop align_corners, or write mode=bilinear")
            return None
        (h, w, c), (fh, fw) = in_shape, factor
        attrs = {"factor": (fh, fw), "mode": mode, "align_corners": align}
        return Resolved(attrs, (h * fh, w * fw, c))


KINDS: dict = {"upsample": Upsample()}  # spec word -> kind object
