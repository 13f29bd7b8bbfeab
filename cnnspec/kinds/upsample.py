"""Upsampling by integer factors: nearest and bilinear interpolation."""

from __future__ import annotations

KINDS: dict = {}  # spec word -> kind object
