"""Kinds without weights on one input: flatten, zeropad, dropout and activation layers."""

from __future__ import annotations

from .. import shapes
from ..args import ArgReader
from .base import ACTIVATIONS, ALPHA_DEFAULTS, Kind, Resolved, activation_name, alpha_of, need_image


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


DROPOUT_MODES = ("element", "channel", "sample")


class Dropout(Kind):
    """`dropout RATE [mode=element|channel|sample]`: the identity at inference, whatever the mode.

    In training, `element` zeroes single values, `channel` whole feature maps (spatial
    dropout; an HxWxC input only) and `sample` whole samples of the batch (stochastic depth,
    noise shape (N, 1, 1, 1)); the kept values are scaled by 1 / (1 - RATE).
    """

    options = frozenset({"rate", "mode"})
    flat_order = "keeps"

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        value = r.take(("float", "int")) or r.value("rate")
        if value is None:
            r.error("E104", layer, "dropout needs a rate", "write e.g. 'dropout 0.5'")
            return None
        rate = r.float_of(value, "dropout rate", 0.0, 1.0, high_open=True)
        mode_v = r.value("mode")
        mode = r.word_of(mode_v, "dropout mode", DROPOUT_MODES) if mode_v else "element"
        if rate is None or mode is None:
            return None
        if mode == "channel" and len(in_shape) != 3:
            r.error("E305", mode_v, "dropout mode=channel drops whole feature maps and needs an "
                    f"HxWxC input, but its input is the flat vector {shapes.shape_text(in_shape)}",
                    "use mode=element on a flat input, or put the dropout before the flatten")
            return None
        return Resolved({"rate": rate, "mode": mode}, in_shape)


class ActivationLayer(Kind):
    """`relu`, `swish`, ... as layers of their own, or `activation NAME`; an alias (`silu`)
    becomes its function's name (`swish`) in the IR."""

    flat_order = "keeps"

    def __init__(self, fn: str | None):
        self.fn = fn
        self.options = {"alpha"} if fn is None or activation_name(fn) in ALPHA_DEFAULTS else set()

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
        fn = activation_name(fn)
        if fn not in ALPHA_DEFAULTS and r.value("alpha") is not None:
            takers = " and ".join(ALPHA_DEFAULTS)
            r.error("E102", r.options["alpha"], f"unknown option 'alpha' for {fn}",
                    f"only {takers} take an alpha")
            return None
        alpha = alpha_of(r, fn)
        if fn in ALPHA_DEFAULTS and alpha is None:
            return None
        return Resolved({"activation": fn, "alpha": alpha}, in_shape)
