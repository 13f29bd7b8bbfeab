"""Shape plumbing without weights: reshape and cropping."""

from __future__ import annotations

KINDS: dict = {}  # spec word -> kind object
