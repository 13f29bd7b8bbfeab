"""The keras emitters of depthwise, separable and transposed convolutions: a mixin of the keras emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

CUSTOM_LAYERS: dict[str, str] = {}  # constructor -> source


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the keras emitter)."""
