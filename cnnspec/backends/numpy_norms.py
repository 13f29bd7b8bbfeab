"""The NumPy emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the
NumPy emitter, one `<kind>_layer` method per node kind (see backends/base.py).

Every one works over the last axis (the channels of an NHWC batch, or the units of a flat
one) by broadcasting: no loop over pixels or channels. Numbers the spec gives (Normalization's
fixed mean and variance, Rescaling's scale and offset) are written as literals and cast to the
input's dtype, as the params are.
"""

from __future__ import annotations

from ..ir import Node
from .numpy_parts import tensor

_LAYERNORM = '''
def _layernorm(x, gamma, beta, eps):
    """Layer normalisation over the last axis (Keras's LayerNormalization(axis=-1)): each
    pixel's channels minus their mean, over sqrt(their biased variance + eps), then * gamma
    (None: scale=false) + beta (None: center=false)."""
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = np.square(centred).mean(axis=-1, keepdims=True)
    y = centred / np.sqrt(variance + eps)
    if gamma is not None:
        y *= gamma
    return y if beta is None else y + beta
'''

_NORMALIZE = '''
def _normalize(x, mean, variance, eps):
    """Keras's Normalization at inference, over the last axis: (x - mean) / max(sqrt(variance),
    eps), eps being Keras's backend epsilon (1e-7); mean and variance one number or one per
    channel."""
    mean, variance = np.asarray(mean, dtype=x.dtype), np.asarray(variance, dtype=x.dtype)
    return (x - mean) / np.maximum(np.sqrt(variance), eps)
'''

_RESCALE = '''
def _rescale(x, scale, offset):
    """Keras's Rescaling over the last axis: x * scale + offset (each one number or one per
    channel)."""
    return x * np.asarray(scale, dtype=x.dtype) + np.asarray(offset, dtype=x.dtype)
'''

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "layernorm": (_LAYERNORM, ()),
    "normalize": (_NORMALIZE, ()),
    "rescale": (_RESCALE, ()),
}


def literal(value) -> str:
    """A spec number (float) or per-channel tuple of floats as Python source."""
    return repr(float(value)) if isinstance(value, (int, float)) else repr(tuple(map(float, value)))


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the numpy emitter)."""

    def layernorm_layer(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add("layernorm")
        gamma = tensor(node, "gamma") if a["scale"] else "None"
        beta = tensor(node, "beta") if a["center"] else "None"
        return self.assign(node, f"_layernorm({self.src(node)}, {gamma}, {beta}, "
                                 f"eps={float(a['eps'])!r})")

    def normalize_layer(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add("normalize")
        if a["mean"] is None:
            mean, variance = tensor(node, "mean"), tensor(node, "variance")
        else:
            mean, variance = literal(a["mean"]), literal(a["variance"])
        return self.assign(node, f"_normalize({self.src(node)}, {mean}, {variance}, "
                                 f"eps={float(a['eps'])!r})")

    def rescale_layer(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add("rescale")
        return self.assign(node, f"_rescale({self.src(node)}, {literal(a['scale'])}, "
                                 f"{literal(a['offset'])})")

    def layerscale_layer(self, node: Node) -> list[str]:
        return self.assign(node, f"{self.src(node)} * {tensor(node, 'gamma')}")
