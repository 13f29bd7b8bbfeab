"""Fixed per-channel affine maps and layer norm: Rescaling, Normalization, layer scale,
layer normalisation over channels."""

from __future__ import annotations

KINDS: dict = {}  # spec word -> kind object
