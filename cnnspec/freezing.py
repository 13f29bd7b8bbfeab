"""Freeze and unfreeze rules: which layers train, and at what learning-rate scale.

Rules apply in order; a later rule overrides an earlier one for the layers it names (the
fine-tuning idiom: freeze the base, then unfreeze its last block with a small lr scale).

A selection (cnnspec/selection.py: a layer, a block instance, a base, a range a..b on the
graph) is a list of runs of positions in topological order, never expanded into its names: the
layers frozen so far are kept as disjoint ranges (Spans), and the final flags are set by one
sweep from the last rule back, which visits each layer once. N rules over a chain of N layers
cost about N log N, not N x N.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from . import syntax as S
from .args import ArgReader
from .diagnostics import Diagnostics
from .ir import Node
from .selection import Layout, position_runs, select

__all__ = ["Layout", "Spans", "apply_freeze_rules", "select"]


class Spans:
    """A set of positions as disjoint, sorted, inclusive ranges."""

    def __init__(self, runs=()):
        self.starts = [lo for lo, _ in runs]
        self.ends = [hi for _, hi in runs]

    def first_in(self, lo: int, hi: int) -> int | None:
        """The smallest position of the set in lo..hi, None if there is none."""
        i = bisect_left(self.ends, lo)  # the first range that ends at or after lo
        if i < len(self.starts) and self.starts[i] <= hi:
            return max(self.starts[i], lo)
        return None

    def assign(self, lo: int, hi: int, member: bool) -> None:
        """Add lo..hi to the set (member) or take it out."""
        a, b = bisect_left(self.ends, lo), bisect_right(self.starts, hi)
        keep_lo = [(self.starts[a], lo - 1)] if a < b and self.starts[a] < lo else []
        keep_hi = [(hi + 1, self.ends[b - 1])] if a < b and self.ends[b - 1] > hi else []
        if member:
            new = [(keep_lo[0][0] if keep_lo else lo, keep_hi[0][1] if keep_hi else hi)]
        else:
            new = keep_lo + keep_hi
        self.starts[a:b] = [s for s, _ in new]
        self.ends[a:b] = [e for _, e in new]


def _lr_scale(rule: S.FreezeRule, diags: Diagnostics):
    r = ArgReader(diags, "unfreeze", (), rule.options, {"lr", "lr_scale"})
    value = r.value("lr") or r.value("lr_scale")
    if value is None:
        return 1.0 if r.ok else None
    return r.float_of(value, "learning-rate scale", 1e-12, 1e3)


def apply_freeze_rules(rules: list[S.FreezeRule], nodes: list[Node], layout: Layout,
                       diags: Diagnostics) -> list[Node]:
    """Nodes with the rules applied on top of the flags they already carry."""
    frozen = Spans(position_runs([i for i, n in enumerate(nodes) if n.frozen]))
    applied = []  # (ranges, freeze, scale) of each rule that applies, in order
    for rule in rules:
        scale = 1.0 if rule.freeze else _lr_scale(rule, diags)
        picked = _picked(rule, layout, diags)
        if picked is None or scale is None:
            continue
        _check_rule(rule, picked, frozen, layout, diags)
        for lo, hi in picked:
            frozen.assign(lo, hi, rule.freeze)
        applied.append((picked, rule.freeze, scale))
    return _with_flags(nodes, applied, layout)


def _with_flags(nodes: list[Node], applied: list, layout: Layout) -> list[Node]:
    """Each layer with the flags of the last rule naming it: one backward sweep."""
    out = list(nodes)
    after = list(range(len(nodes) + 1))  # after[p]: the first position >= p no later rule set
    for ranges, freeze, scale in reversed(applied):
        for lo, hi in ranges:
            p = _next_unset(after, lo)
            while p <= hi:
                out[p] = layout.with_flags(nodes[p], p, freeze, scale)
                after[p] = p + 1
                p = _next_unset(after, p + 1)
    return out


def _next_unset(after: list[int], p: int) -> int:
    while after[p] != p:
        after[p] = after[after[p]]  # path halving keeps later look-ups short
        p = after[p]
    return p


def _picked(rule: S.FreezeRule, layout: Layout, diags: Diagnostics) -> list | None:
    taken = Spans()
    picked: list[tuple[int, int]] = []
    for sel in rule.selections:
        ranges = select(sel, layout, diags)
        if ranges is None:
            return None
        twice = next((p for p in (taken.first_in(lo, hi) for lo, hi in ranges) if p is not None), None)
        if twice is not None:
            diags.error("E502", sel.span, f"'{layout.names[twice]}' is selected twice in one rule",
                        "the selections of a rule must not overlap")
            return None
        for lo, hi in ranges:
            taken.assign(lo, hi, True)
        picked.extend(ranges)
    return picked


def _check_rule(rule, picked, frozen: Spans, layout: Layout, diags: Diagnostics) -> None:
    verb = "freeze" if rule.freeze else "unfreeze"
    if not any(layout.has_weights(lo, hi) for lo, hi in picked):
        diags.warning("W501", rule.span, f"this {verb} rule selects only layers without parameters",
                      "it has no effect; name layers with weights (conv, dense, batchnorm)")
        return
    first = next((p for p in (frozen.first_in(lo, hi) for lo, hi in picked) if p is not None), None)
    if rule.freeze and first is not None:
        diags.warning("W502", rule.span, f"'{layout.names[first]}' is already frozen by an earlier rule",
                      "remove the overlap")
    if not rule.freeze and not rule.options and first is None:
        diags.warning("W503", rule.span, "unfreeze of layers that no earlier rule froze",
                      "it has no effect; freeze them first, or give lr= to scale their learning rate")
