"""The look every format shares: fill colours for what a box is, and the legend's words."""

from __future__ import annotations

LAYER, INPUT, FOLDED, FROZEN = "#ffffff", "#e8f5e9", "#fff3e0", "#dbe4f0"
BORDER, OUTPUT_BORDER, FROZEN_BORDER = "#555555", "#c62828", "#1f4e8c"
CLUSTER_FILL, CLUSTER_BORDER = "#f7f7f7", "#9e9e9e"


def fill(box) -> str:
    if box.is_input:
        return INPUT
    if box.frozen:
        return FROZEN
    return FOLDED if box.folded else LAYER


def border(box) -> str:
    if box.output:
        return OUTPUT_BORDER
    return FROZEN_BORDER if box.frozen else BORDER


def legend(boxes) -> list[tuple[str, str, str]]:
    """(words, fill, border) for each mark the boxes carry, the output's always."""
    entries = [("output", LAYER, OUTPUT_BORDER)]
    if any(box.frozen for box in boxes):
        entries.append(("frozen: not trained", FROZEN, FROZEN_BORDER))
    if any(box.folded for box in boxes):
        entries.append(("block instance, folded", FOLDED, BORDER))
    return entries
