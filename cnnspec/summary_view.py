"""Which rows a summary shows: every layer, or block instances collapsed to one row each.

Works on the summary dict (`Network.summary()`), so the table, Markdown and any other view
agree. `depth` counts block levels, as torchinfo's `depth` counts module levels: a layer held
by fewer than `depth` instances is a row of its own; the others are folded into the row of
the instance that holds them at level `depth` (1: the top-level uses, `layer2`; 2: the
instances inside those, `layer2.0`; ...). `depth=None` shows every layer.

A network is a *plain chain* when it has no block instances, every layer reads the one
before it (the first reads the input) and its one output is the last layer: exactly the
networks a spec could describe before graphs. Only other networks get the "Connected to"
column and the outputs line, so that a chain's summary stays what it always was.
"""

from __future__ import annotations

from dataclasses import dataclass

from .instances import holders


@dataclass(frozen=True)
class Row:
    """One row of a view: a layer's summary object, or an instance's (`is_instance`)."""

    item: dict
    is_instance: bool
    connected: tuple[str, ...]  # the names of what it reads, as the view shows them


def is_chain(summary: dict) -> bool:
    layers = summary["layers"]
    if summary.get("instances"):
        return False
    previous = "input"
    for layer in layers:
        if list(layer.get("inputs", [previous])) != [previous]:
            return False
        previous = layer["name"]
    outputs = [o["name"] for o in summary.get("outputs", [])]
    return not layers or outputs in ([], [previous])


def rows(summary: dict, depth: int | None = 1) -> list[Row]:
    """The rows of the view, in the order of the network's (topological) node order."""
    picked = _pick(summary, depth)
    shown_as = {item["output"]: item["name"] for item, is_instance in picked if is_instance}
    return [Row(item, is_instance, tuple(shown_as.get(n, n) for n in item.get("inputs", ())))
            for item, is_instance in picked]


def _pick(summary: dict, depth: int | None) -> list[tuple[dict, bool]]:
    instances = {i["name"]: i for i in summary.get("instances", [])}
    picked, folded = [], set()
    for layer in summary["layers"]:
        held = holders(layer["name"], instances) if instances else []
        if depth is None or len(held) < depth:
            picked.append((layer, False))
        elif held[depth - 1] not in folded:
            folded.add(held[depth - 1])
            picked.append((instances[held[depth - 1]], True))
    return picked


def instance_kind(instance: dict) -> str:
    """`bottleneck x4` for a repeat, `bottleneck` for one use."""
    return f"{instance['block']} x{instance['repeat']}" if instance.get("repeat") else instance["block"]
