"""The network as a graph: pure functions over `edges`, a mapping node -> its inputs.

`edges` lists the nodes in topological order (every input comes before the node that reads
it), as the checker builds them and as `Network.nodes` holds them. Every function here is
linear in nodes + edges and iterative (no recursion), so a 100,000-node graph is no problem.
Results come back in the topological order of `edges`, never in set order, so that everything
built from them is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Edges = Mapping[str, Sequence[str]]


def edges_of(nodes) -> dict[str, tuple[str, ...]]:
    """The edges of IR nodes (anything with .name and .inputs), in their order."""
    return {n.name: tuple(n.inputs) for n in nodes}


def consumers(edges: Edges) -> dict[str, list[str]]:
    """node -> the nodes that read it, in topological order."""
    readers: dict[str, list[str]] = {name: [] for name in edges}
    for name, inputs in edges.items():
        for source in dict.fromkeys(inputs):
            if source in readers:
                readers[source].append(name)
    return readers


def ancestors(edges: Edges, names: Iterable[str]) -> list[str]:
    """The given nodes and every node they depend on, in topological order."""
    return _in_order(edges, _reach(names, lambda n: edges.get(n, ())))


def descendants(edges: Edges, names: Iterable[str]) -> list[str]:
    """The given nodes and every node that depends on them, in topological order."""
    readers = consumers(edges)
    return _in_order(edges, _reach(names, lambda n: readers.get(n, ())))


def between(edges: Edges, first: str, last: str) -> list[str]:
    """The nodes on some path from `first` to `last`, both included; [] when `last` does not
    depend on `first`. For a chain this is the range first..last in spec order."""
    after = set(descendants(edges, [first]))
    if last not in after:
        return []
    before = set(ancestors(edges, [last]))
    return [name for name in edges if name in after and name in before]


def unreachable(edges: Edges, outputs: Iterable[str]) -> list[str]:
    """The nodes that no output depends on, in topological order."""
    used = set(ancestors(edges, outputs))
    return [name for name in edges if name not in used]


def sinks(edges: Edges) -> list[str]:
    """The nodes nothing reads, in topological order."""
    return [name for name, readers in consumers(edges).items() if not readers]


def _reach(start: Iterable[str], step) -> set[str]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _in_order(edges: Edges, names: set[str]) -> list[str]:
    return [name for name in edges if name in names]
