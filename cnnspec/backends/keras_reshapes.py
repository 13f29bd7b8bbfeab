"""The keras emitters of reshape, cropping and upsampling: a mixin of the keras emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

CUSTOM_LAYERS: dict[str, str] = {}  # constructor -> source


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the keras emitter)."""
