"""Kinds without weights on one input: flatten, zeropad, dropout and activation layers."""

from __future__ import annotations

from .. import shapes
from ..args import ArgReader
from .base import ACTIVATIONS, Kind, Resolved, alpha_of, need_image


class Flatten(Kind):
    flat_order = "makes"

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        return Resolved({}, (shapes.prod(in_shape),))


class ZeroPad(Kind):
    options = frozenset({"pad", "padding"})

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        value = r.take(("int", "tuple", "dims", "word", "unknown")) or r.value("pad") \
            or r.value("padding")
        if value is None:
            r.error("E104", layer, "zeropad needs a padding", "write e.g. 'zeropad 1' or 'zeropad (0, 1, 0, 1)'")
            return None
        pads = r.padding_of(value)
        if pads is None or not need_image(r, layer, in_shape):
            return None
        if not isinstance(pads, tuple):
            r.error("E103", value, "zeropad needs explicit sizes, not 'same', 'valid' or '?'")
            return None
        t, b, left, right = pads
        return Resolved({"padding": pads}, (in_shape[0] + t + b, in_shape[1] + left + right, in_shape[2]))


class Dropout(Kind):
    options = frozenset({"rate"})
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        value = r.take(("float", "int")) or r.value("rate")
        if value is None:
            r.error("E104", layer, "dropout needs a rate", "write e.g. 'dropout 0.5'")
            return None
        rate = r.float_of(value, "dropout rate", 0.0, 1.0, high_open=True)
        return None if rate is None else Resolved({"rate": rate}, in_shape)


class ActivationLayer(Kind):
    """`relu`, `sigmoid`, ... as layers of their own, or `activation NAME`."""

    flat_order = "keeps"

    def __init__(self, fn: str | None):
        self.fn = fn
        self.options = {"alpha"} if fn in ("leaky_relu", None) else set()

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        fn = self.fn
        if fn is None:
            value = r.take(("word",))
            if value is None:
                r.error("E104", layer, "activation needs a function", "write e.g. 'activation relu'")
                return None
            fn = r.word_of(value, "activation", ACTIVATIONS)
            if fn is None:
                return None
        alpha = alpha_of(r, fn)
        if fn == "leaky_relu" and alpha is None:
            return None
        return Resolved({"activation": fn, "alpha": alpha}, in_shape)
