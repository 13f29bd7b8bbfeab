"""Depthwise and separable convolutions: one kernel per input channel (times a depth
multiplier), then, for separable, a pointwise 1x1 convolution."""

from __future__ import annotations

KINDS: dict = {}  # spec word -> kind object
