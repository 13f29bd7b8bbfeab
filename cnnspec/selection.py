"""What a freeze rule's selection names, on a graph: positions in topological order.

A selection is a layer, a block instance (`layer1`, `layer2.0`: every node named
`<instance>.<...>`), an imported base (its alias), or a range `a..b`: every node on a path
from a to b, both included (cnnspec.graph.between); an instance at either end stands for all
of its nodes, so `layer1..layer2` takes both instances whole, side branches inside them too.
Results are sorted, disjoint (first, last) runs of positions, never lists of names.

A range along a chain costs O(1) (one run of single-input nodes); elsewhere it walks only the
nodes between its two ends in topological order, and all such walks of one analysis together
visit at most MAX_RANGE_WORK layers (past that, a range is an E004 error at the selection), so
that N ranges over a graph of N layers cannot cost N x N.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import accumulate

from . import syntax as S
from .diagnostics import Diagnostics
from .ir import Node
from .suggestions import Suggester

MAX_RANGE_WORK = 5_000_000  # layers the a..b walks of one analysis may visit (about 2 s)


class Layout:
    """The graph as freeze rules see it, built once for every stage: names to positions."""

    def __init__(self, nodes: list[Node], groups: dict, suggest: Suggester, instances=(),
                 failed=frozenset(), range_work: int | None = None):
        self.names = [n.name for n in nodes]
        self.order = {name: i for i, name in enumerate(self.names) if i > 0}
        self.weighted = [0, *accumulate(1 if n.weights else 0 for n in nodes)]
        self.groups = {alias: position_runs(sorted(self.order[m] for m in members))
                       for alias, members in groups.items()}
        self.instances = instance_runs(self.names, instances)
        at = {name: i for i, name in enumerate(self.names)}
        self.inputs = [tuple(at[i] for i in n.inputs if i in at) for n in nodes]
        self.chain_start = _chain_starts(self.inputs)
        self.failed = with_prefixes(failed)
        self.suggest = suggest
        self.variants: dict[tuple[int, bool, float], Node] = {}
        self._known: list[str] | None = None
        self._readers: list[list[int]] | None = None
        # what the walks of a..b ranges may still visit
        self.range_work = MAX_RANGE_WORK if range_work is None else range_work

    def has_weights(self, lo: int, hi: int) -> bool:
        return self.weighted[hi + 1] > self.weighted[lo]

    def with_flags(self, node: Node, position: int, frozen: bool, scale: float) -> Node:
        """The node with these flags; one copy per layer and flags, shared by the stages."""
        if (node.frozen, node.lr_scale) == (frozen, scale):
            return node
        key = (position, frozen, scale)
        if key not in self.variants:
            self.variants[key] = replace(node, frozen=frozen, lr_scale=scale)
        return self.variants[key]

    def runs_of(self, name: str) -> list[tuple[int, int]] | None:
        """A layer's or an instance's positions; None for an unknown name."""
        if name in self.order:
            p = self.order[name]
            return [(p, p)]
        return self.instances.get(name)

    def known(self) -> list[str]:
        """Every name a selection may use (for "did you mean"), built once."""
        if self._known is None:
            self._known = [*self.order, *self.instances]
        return self._known

    def between(self, first: list, last: list) -> list[tuple[int, int]] | None:
        """The runs of nodes on a path from a node of `first` to a node of `last` (runs of
        positions both); None when the walk would pass the analysis's budget."""
        lo, hi = first[0][0], last[-1][1]
        if self.chain_start[hi] <= lo:
            return [(lo, hi)]
        if hi - lo + 1 > self.range_work:
            return None
        self.range_work -= hi - lo + 1
        after = _reach(_positions(first), self.readers_of, lambda p: p <= hi)
        before = _reach(_positions(last), lambda p: self.inputs[p], lambda p: p >= lo)
        return position_runs(sorted(after & before))

    def readers_of(self, p: int) -> list[int]:
        """The positions that read position p (built on the first range that needs them)."""
        if self._readers is None:
            self._readers = [[] for _ in self.names]
            for q, ins in enumerate(self.inputs):
                for i in dict.fromkeys(ins):
                    self._readers[i].append(q)
        return self._readers[p]


def instance_runs(names: list[str], instances) -> dict[str, list[tuple[int, int]]]:
    """Instance name -> runs of its nodes' positions: the given instances (some may have no
    node left) and every dotted prefix of a node's name."""
    positions: dict[str, list[int]] = {getattr(i, "name", i): [] for i in instances}
    for p, name in enumerate(names):
        cut = name.find(".")
        while cut > 0:
            positions.setdefault(name[:cut], []).append(p)
            cut = name.find(".", cut + 1)
    return {name: position_runs(ps) for name, ps in positions.items()}


def _chain_starts(inputs: list[tuple[int, ...]]) -> list[int]:
    """chain_start[p]: the first position of the run of single-input nodes, each reading the
    one before it, that ends at p."""
    starts = []
    for p, ins in enumerate(inputs):
        starts.append(starts[p - 1] if p and ins == (p - 1,) else p)
    return starts


def with_prefixes(failed) -> set[str]:
    """The failed layers' names and every instance they lie in."""
    out = set(failed)
    for name in failed:
        cut = name.find(".")
        while cut > 0:
            out.add(name[:cut])
            cut = name.find(".", cut + 1)
    return out


def _reach(start: list[int], step, inside) -> set[int]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen and inside(nxt):
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _positions(runs) -> list[int]:
    return [p for lo, hi in runs for p in range(lo, hi + 1)]


def position_runs(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions as (first, last) ranges of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p - 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs


def select(sel: S.Selection, layout: Layout, diags: Diagnostics) -> list[tuple[int, int]] | None:
    """The runs of positions a selection picks, in spec order; None after reporting an error
    (or, silently, when it names a layer that failed: that layer already has its error)."""
    if sel.last is None and sel.first in layout.groups and sel.first not in layout.order:
        return layout.groups[sel.first]
    ends = [_end(name, layout, sel, diags) for name in (sel.first, sel.last) if name is not None]
    if None in ends:
        return None
    if sel.last is None:
        return ends[0]
    return _range(sel, ends[0], ends[1], layout, diags)


def _end(name: str, layout: Layout, sel: S.Selection, diags: Diagnostics):
    """The runs of one name ([] for an instance whose every line was dropped by `if`)."""
    runs = layout.runs_of(name)
    if not runs and name in layout.failed:
        return None  # a layer that failed (or an instance all of whose layers did): said already
    if runs is not None:
        return runs
    what = "layer or block instance" if layout.instances else "layer"
    if name in layout.groups:
        hint = f"'{name}' is an imported base, not a layer: write '{name}' alone for all its layers"
    else:
        hint = layout.suggest(name, layout.known()) or (
            "freeze rules name layers, block instances, or first..last ranges" if layout.instances
            else "freeze rules name layers, or first..last ranges")
    diags.error("E202", sel.span, f"no {what} named '{name}'", hint)
    return None


def _range(sel: S.Selection, first: list, last: list, layout: Layout, diags: Diagnostics):
    if not first or not last:
        return []  # an end with no layers: the range selects nothing (W501 says so)
    if first[0][0] > last[-1][1]:
        diags.error("E502", sel.span, f"the range {sel.first}..{sel.last} runs backwards",
                    f"write {sel.last}..{sel.first}")
        return None
    picked = layout.between(first, last)
    if picked is None:
        diags.error("E004", sel.span, f"the freeze ranges of this spec walk more than "
                    f"{MAX_RANGE_WORK:,} layers", "name block instances instead of ranges "
                    "across branches; this range and the later ones are not applied")
        return None
    if not picked:
        diags.error("E502", sel.span, f"the range {sel.first}..{sel.last} selects nothing: "
                    f"'{sel.last}' does not depend on '{sel.first}' (they are on separate branches)",
                    f"a range follows the paths from its first layer to its last; name separate "
                    f"branches one by one: '{sel.first}, {sel.last}'")
        return None
    return picked
