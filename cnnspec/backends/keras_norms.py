"""The keras emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the keras emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

CUSTOM_LAYERS: dict[str, str] = {}  # constructor -> source


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the keras emitter)."""
