"""Transposed convolution (the gradient of a convolution): each input pixel scatters a
kernel-sized patch into a larger output."""

from __future__ import annotations

KINDS: dict = {}  # spec word -> kind object
