"""Freeze and unfreeze rules: which layers train, and at what learning-rate scale.

Rules apply in order; a later rule overrides an earlier one for the layers it names (the
fine-tuning idiom: freeze the base, then unfreeze its last block with a small lr scale).
"""

from __future__ import annotations

from dataclasses import replace

from . import syntax as S
from .args import ArgReader, did_you_mean
from .diagnostics import Diagnostics
from .ir import Node


def select(sel: S.Selection, order: dict[str, int], nodes: list[Node], groups: dict,
           diags: Diagnostics):
    """The names a selection picks, in spec order; None after reporting an error."""
    if sel.last is None and sel.first in groups and sel.first not in order:
        return list(groups[sel.first])
    for name in (sel.first, sel.last):
        if name is not None and name not in order:
            hint = did_you_mean(name, order) or "freeze rules name layers, or first..last ranges"
            if name in groups:
                hint = f"'{name}' is an imported base, not a layer: write '{name}' alone for all its layers"
            diags.error("E202", sel.span, f"no layer named '{name}'", hint)
            return None
    if sel.last is None:
        return [sel.first]
    lo, hi = order[sel.first], order[sel.last]
    if lo > hi:
        diags.error("E502", sel.span, f"the range {sel.first}..{sel.last} runs backwards",
                    f"write {sel.last}..{sel.first}")
        return None
    return [n.name for n in nodes[lo: hi + 1]]


def _lr_scale(rule: S.FreezeRule, diags: Diagnostics):
    r = ArgReader(diags, "unfreeze", (), rule.options, {"lr", "lr_scale"})
    value = r.value("lr") or r.value("lr_scale")
    if value is None:
        return 1.0 if r.ok else None
    return r.float_of(value, "learning-rate scale", 1e-12, 1e3)


def apply_freeze_rules(rules: list[S.FreezeRule], nodes: list[Node], groups: dict,
                       diags: Diagnostics) -> list[Node]:
    """Nodes with the rules applied on top of the flags they already carry."""
    order = {n.name: i for i, n in enumerate(nodes) if i > 0}
    state = {n.name: (n.frozen, n.lr_scale) for n in nodes if n.frozen or n.lr_scale != 1.0}
    for rule in rules:
        scale = 1.0 if rule.freeze else _lr_scale(rule, diags)
        picked = _picked(rule, order, nodes, groups, diags)
        if picked is None or scale is None:
            continue
        _check_rule(rule, picked, state, nodes, order, diags)
        for name in picked:
            state[name] = (rule.freeze, scale)
    return [replace(n, frozen=state[n.name][0], lr_scale=state[n.name][1]) if n.name in state else n
            for n in nodes]


def _picked(rule: S.FreezeRule, order, nodes, groups, diags) -> list[str] | None:
    picked: list[str] = []
    for sel in rule.selections:
        names = select(sel, order, nodes, groups, diags)
        if names is None:
            return None
        twice = [n for n in names if n in picked]
        if twice:
            diags.error("E502", sel.span, f"'{twice[0]}' is selected twice in one rule",
                        "the selections of a rule must not overlap")
            return None
        picked.extend(names)
    return picked


def _check_rule(rule, picked, state, nodes, order, diags: Diagnostics) -> None:
    verb = "freeze" if rule.freeze else "unfreeze"
    if not any(nodes[order[n]].weights for n in picked):
        diags.warning("W501", rule.span, f"this {verb} rule selects only layers without parameters",
                      "it has no effect; name layers with weights (conv, dense, batchnorm)")
        return
    same = [n for n in picked if state.get(n, (False, 1.0))[0] == rule.freeze and n in state]
    if rule.freeze and same:
        diags.warning("W502", rule.span, f"'{same[0]}' is already frozen by an earlier rule",
                      "remove the overlap")
    if not rule.freeze and not rule.options and not any(state.get(n, (False,))[0] for n in picked):
        diags.warning("W503", rule.span, "unfreeze of layers that no earlier rule froze",
                      "it has no effect; freeze them first, or give lr= to scale their learning rate")
