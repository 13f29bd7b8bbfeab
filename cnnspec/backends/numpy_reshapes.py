"""The numpy emitters of reshape, cropping and upsampling: a mixin of the numpy emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the numpy emitter)."""
