"""The torch emitters of reshape, cropping and upsampling: a mixin of the torch emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the torch emitter)."""
