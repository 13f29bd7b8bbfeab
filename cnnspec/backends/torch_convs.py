"""The torch emitters of depthwise, separable and transposed convolutions: a mixin of the torch emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the torch emitter)."""
