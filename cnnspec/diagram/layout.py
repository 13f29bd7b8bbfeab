"""A layered layout for the HTML page, in pure Python (no Graphviz).

The page is a tree of containers: the network itself (`None`) and every block instance. A
container's items are the layers directly in it and the instances directly in it. `plan`
ranks the items of each container by longest path over the connections between them (a
connection counts in the innermost container that holds both of its ends, between the two
items there that hold them) and orders each rank by the mean slot of the items it reads from
(one downward sweep, ties in network order). Ranks and slots never change; what changes when
an instance is folded or opened is only its size, and `pack` turns sizes into positions:
each rank one row, rows stacked top to bottom, each row centred in its container.

The page's script repeats `pack` and `edge_path` (the same integer arithmetic, in
page.js) when a click folds or opens an instance; the browser test checks that both
give the same positions. Everything is linear in layers + connections x nesting depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

GAP_X, GAP_Y, PAD, HEADER, MARGIN = 16, 26, 10, 20, 12  # pixels


@dataclass(frozen=True)
class Plan:
    rows: dict[str | None, list[list[str]]]  # container -> its items, rank by rank, in slot order
    parent: dict[str, str | None]            # item -> the container that holds it

    def chain(self, item: str) -> list[str]:
        """The instances holding `item`, outermost first, and the item itself."""
        found = [item]
        while (item := self.parent[item]) is not None:
            found.append(item)
        return found[::-1]

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {item: r for rows in self.rows.values() for r, row in enumerate(rows) for item in row}

    def detour(self, a: str, b: str) -> tuple[bool, str | None]:
        """Whether the edge from item a to item b would pass other boxes if drawn straight
        (it skips a row of the container where the two meet, or enters b's blocks below
        their first row, or leaves a's above their last), and that container (None: the
        network), along whose right side it then runs."""
        ca, cb = self.chain(a), self.chain(b)
        i = next((k for k, (x, y) in enumerate(zip(ca, cb)) if x != y), None)
        if i is None:
            return False, None
        row = self.row_of
        straight = (row[cb[i]] - row[ca[i]] == 1 and all(row[x] == 0 for x in cb[i + 1:])
                    and all(row[x] == len(self.rows[self.parent[x]]) - 1 for x in ca[i + 1:]))
        return not straight, self.parent[ca[i]]


def plan(layers: list[tuple[str, str | None]], instances: list[tuple[str, str | None]],
         edges) -> Plan:
    """`layers`: (name, innermost instance) in network order; `instances`: (name, parent);
    `edges`: (from layer, to layer) pairs."""
    parent = dict(instances) | dict(layers)
    order = _first_use(layers, parent)
    preds: dict[str, list[str]] = {item: [] for item in parent}
    skeleton = Plan({}, parent)
    for source, target in edges:
        a, b = _meeting(skeleton.chain(source), skeleton.chain(target))
        if a is not None and order[a] < order[b]:
            preds[b].append(a)
    members: dict[str | None, list[str]] = {}
    for item in sorted(parent, key=order.__getitem__):
        members.setdefault(parent[item], []).append(item)
    return Plan({c: _rows(items, preds) for c, items in members.items()}, parent)


def _first_use(layers, parent) -> dict[str, int]:
    """Every item's place in network order: an instance's is that of its first layer."""
    order: dict[str, int] = {}
    for name, _ in layers:
        chain, item = [name], parent[name]
        while item is not None and item not in order:
            chain.append(item)
            item = parent[item]
        for item in reversed(chain):
            order[item] = len(order)
    return order


def _meeting(a: list[str], b: list[str]) -> tuple[str | None, str | None]:
    """The items of the innermost common container on the two chains (None, None: the same
    item, or one inside the other)."""
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    if i == len(a) or i == len(b):
        return None, None
    return a[i], b[i]


def _rows(items: list[str], preds: dict[str, list[str]]) -> list[list[str]]:
    """Longest-path ranks, then slots by the mean slot of the inputs (ties: network order)."""
    rank: dict[str, int] = {}
    for item in items:  # network order: every input's rank is known before its readers'
        rank[item] = max((rank[p] + 1 for p in preds[item]), default=0)
    rows: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for item in items:
        rows[rank[item]].append(item)
    slot: dict[str, float] = {}
    for row in rows:
        keys = {item: _mean([slot[p] for p in preds[item]], i) for i, item in enumerate(row)}
        row.sort(key=lambda item: keys[item])  # stable: ties stay in network order
        slot.update((item, i) for i, item in enumerate(row))
    return rows


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def pack(plan_: Plan, sizes: dict[str, tuple[int, int]], folded_sizes: dict[str, tuple[int, int]],
         folded: set[str]) -> dict[str, tuple[int, int, int, int]]:
    """(x, y, width, height) of every item shown, x and y from its container's corner; the
    key None holds the whole picture's size (at 0, 0)."""
    placed: dict[str, tuple[int, int, int, int]] = {}

    def size(item: str) -> tuple[int, int]:
        if item in sizes:
            return sizes[item]
        if item in folded:
            return folded_sizes[item]
        return container(item, HEADER)

    def container(name, top: int) -> tuple[int, int]:
        rows = [[(item, size(item)) for item in row] for row in plan_.rows.get(name, [])]
        width = max((_row_width(row) for row in rows), default=0)
        y = top + PAD
        for row in rows:
            height = max(h for _, (_, h) in row)
            x = PAD + (width - _row_width(row)) // 2
            for item, (w, h) in row:
                placed[item] = (x, y + (height - h) // 2, w, h)
                x += w + GAP_X
            y += height + GAP_Y
        return width + 2 * PAD, y - (GAP_Y if rows else 0) + PAD

    w, h = container(None, 0)
    placed[None] = (0, 0, w, h)
    return placed


def _row_width(row) -> int:
    return sum(w for _, (w, _) in row) + GAP_X * (len(row) - 1)


def absolute(plan_: Plan, placed, item: str) -> tuple[int, int, int, int]:
    """An item's box in the picture's coordinates (its containers' corners added)."""
    x = y = MARGIN
    for holder in plan_.chain(item):
        hx, hy, w, h = placed[holder]
        x, y = x + hx, y + hy
    return x, y, w, h


def edge_path(a: tuple[int, int, int, int], b: tuple[int, int, int, int],
              side: int | None = None) -> str:
    """An SVG path from the bottom middle of box a to the top middle of box b: a curve, or
    with `side` (an x) one that detours: down into the gap below a, along it to x = side,
    down that line to the gap above b, along it and down into b."""
    x1, y1 = a[0] + a[2] // 2, a[1] + a[3]
    x2, y2 = b[0] + b[2] // 2, b[1]
    if side is not None:
        return f"M{x1},{y1} V{y1 + GAP_Y // 2} H{side} V{y2 - GAP_Y // 2} H{x2} V{y2}"
    bend = max(GAP_Y // 2, (y2 - y1) // 2)
    return f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}"


def side_of(plan_: Plan, placed, container: str | None) -> int:
    """The x of the line along the right side of a container, inside its padding."""
    x, w = (MARGIN, placed[None][2]) if container is None else (
        absolute(plan_, placed, container)[0], placed[container][2])
    return x + w - PAD // 2


def path_between(plan_: Plan, placed, a: str, b: str) -> str:
    """The drawn path of the edge from item a to item b."""
    detour, meet = plan_.detour(a, b)
    side = side_of(plan_, placed, meet) if detour else None
    return edge_path(absolute(plan_, placed, a), absolute(plan_, placed, b), side)


def shown_edges(plan_: Plan, edges, folded: set[str]) -> list[tuple[str, str]]:
    """The connections between the boxes shown: each end moved to the outermost folded
    instance holding it; each pair once, none inside one box."""
    seen: dict[tuple[str, str], None] = {}
    for source, target in edges:
        pair = (_shown(plan_, source, folded), _shown(plan_, target, folded))
        if pair[0] != pair[1]:
            seen[pair] = None
    return list(seen)


def _shown(plan_: Plan, name: str, folded: set[str]) -> str:
    return next((item for item in plan_.chain(name) if item in folded), name)
