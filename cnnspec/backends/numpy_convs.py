"""The numpy emitters of depthwise, separable and transposed convolutions: a mixin of the numpy emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the numpy emitter)."""
