"""The graph of a network's weighted layers, for comparing a spec's wiring with a framework
model's (the zoo tests): which kept nodes feed each kept node through nodes that are not kept
(adds, concats, multiplies, activations, pools, paddings)."""

from __future__ import annotations


def reach(inputs: dict[str, list[str]], kept):
    """name -> the kept nodes whose outputs reach it through nodes that are not kept."""
    memo: dict[str, frozenset[str]] = {}

    def above(name: str) -> frozenset[str]:
        if name in kept:
            return frozenset({name})
        if name not in memo:
            memo[name] = frozenset().union(*(above(i) for i in inputs[name]))
        return memo[name]

    return above


def feeders(inputs: dict[str, list[str]], kept) -> dict[str, frozenset[str]]:
    """For each kept node, the kept nodes that feed it through nodes that are not kept."""
    above = reach(inputs, kept)
    return {name: frozenset().union(*(above(i) for i in inputs[name])) for name in kept}
