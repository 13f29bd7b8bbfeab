"""Shape plumbing without weights: reshape and cropping.

`reshape DIMS` (`1x1x960`, `960`; one dimension may be `?`, solved from the element count as
Keras's -1 is, so that a block can write `reshape 1x1x?`) keeps the element count and the NHWC row-major element
order, ``(h*W + w)*C + c``: a reshape to a flat vector is a flatten (flat order "makes", so the
PyTorch backend tracks its NCHW order as it does a flatten's, cnnspec/layout.py), a reshape of
a flat vector to an image reads the vector in NHWC order. `crop P` (as zeropad: an int, a
(v, h) pair, or (top, bottom, left, right)) removes rows and columns, Keras's Cropping2D.
"""

from __future__ import annotations

from .. import shapes
from .. import syntax as S
from ..args import ArgReader
from ..shapes import shape_text
from .base import Kind, Resolved, need_image


class Reshape(Kind):
    options = frozenset({"shape"})
    flat_order = "makes"

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        value = r.take(("dims", "int", "unknown")) or r.value("shape")
        if value is None:
            r.error("E104", layer, "reshape needs the output's dimensions",
                    "write e.g. 'reshape 1x1x960' (an image) or 'reshape 960' (a flat vector)")
            return None
        dims = self._dims(r, value)
        if dims is None:
            return None
        total = shapes.prod(in_shape)
        if None in dims:  # one '?': whatever keeps the element count (Keras's -1)
            known = shapes.prod(d for d in dims if d is not None)
            if total % known:
                r.error("E306", value, f"no '?' makes reshape {value.describe()} hold the "
                        f"{total:,} values of its input {shape_text(in_shape)}",
                        f"the other dimensions multiply to {known:,}, which does not divide {total:,}")
                return None
            dims = tuple(total // known if d is None else d for d in dims)
        if shapes.prod(dims) != total:
            r.error("E305", layer, f"reshape to {shape_text(dims)} needs {shapes.prod(dims):,} "
                    f"values, but its input {shape_text(in_shape)} has {total:,}",
                    f"a reshape keeps every value: give dimensions whose product is {total:,} "
                    "(a '?' for one of them is solved)")
            return None
        return Resolved({"shape": dims}, dims)

    def _dims(self, r: ArgReader, value: S.Value):
        """HxWxC or N, at most one of them '?' (None)."""
        if value.kind == "unknown":
            return (None,)
        if value.kind == "int":
            n = r.int_of(value, "reshape size")
            return None if n is None else (n,)
        if value.kind != "dims" or len(value.value) != 3:
            r.error("E103", value, f"reshape gives HxWxC or a flat length N, not "
                    f"'{value.describe()}'", "write e.g. 'reshape 1x1x960' or 'reshape 960'")
            return None
        if list(value.value).count(None) > 1:
            r.error("E306", value, f"reshape {value.describe()} has more than one '?'",
                    "give every dimension but one: e.g. 'reshape 1x1x?'")
            return None
        dims = tuple(d if d is None else r.in_range(value, d, "reshape size", 1) for d in value.value)
        return None if any(d is None for d, v in zip(dims, value.value) if v is not None) else dims


class Crop(Kind):
    options = frozenset({"crop", "cropping"})

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        value = r.take(("int", "tuple", "dims", "word", "unknown")) or r.value("crop") \
            or r.value("cropping")
        if value is None:
            r.error("E104", layer, "crop needs the rows and columns to remove",
                    "write e.g. 'crop 1' or 'crop (0, 1, 0, 1)' (top, bottom, left, right)")
            return None
        sides = r.padding_of(value)
        if sides is None or not need_image(r, layer, in_shape):
            return None
        if not isinstance(sides, tuple):
            r.error("E103", value, "crop needs explicit sizes: an int, (v, h) or "
                    "(top, bottom, left, right)")
            return None
        t, b, left, right = sides
        h, w = in_shape[0] - t - b, in_shape[1] - left - right
        if h < 1 or w < 1:
            r.error("E106", value, f"crop {sides} removes all of the {shape_text(in_shape)} input",
                    f"at most {in_shape[0] - 1} rows and {in_shape[1] - 1} columns in all can go")
            return None
        return Resolved({"cropping": sides}, (h, w, in_shape[2]))


KINDS: dict = {"reshape": Reshape(), "crop": Crop()}  # spec word -> kind object
