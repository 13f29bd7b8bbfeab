"""The torch emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the torch emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the torch emitter)."""
