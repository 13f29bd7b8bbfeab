"""A "did you mean" search with a budget: each one compares the word with every name.

A spec with N unknown names among N layers would otherwise cost N x N comparisons. One
Suggester serves one analysis: searches stop once MAX_SUGGESTION_WORK names have been
compared, and the callers fall back to their generic hints, so the first unknown names of a
spec still get a suggestion and the total stays bounded.
"""

from __future__ import annotations

from collections.abc import Collection

from .args import did_you_mean
from .limits import MAX_SUGGESTION_WORK


class Suggester:
    def __init__(self, budget: int = MAX_SUGGESTION_WORK):
        self.left = budget
        self.refused = 0  # searches not made because the budget was spent

    def __call__(self, word: str, names: Collection[str]) -> str | None:
        if len(names) > self.left:
            self.refused += 1
            return None
        self.left -= len(names)
        return did_you_mean(word, names)
