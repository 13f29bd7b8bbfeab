"""The numpy emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the numpy emitter, one
`<kind>_layer` method per node kind (see backends/base.py)."""

from __future__ import annotations

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the numpy emitter)."""
