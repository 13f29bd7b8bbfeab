"""`expect` lines: a spec's own checks of shapes, parameter counts and MACs."""

from __future__ import annotations

import operator

from . import syntax as S
from .args import did_you_mean
from .diagnostics import Diagnostics
from .ir import Node
from .selection import instance_runs, with_prefixes
from .shapes import shape_text
from .windows import axis_arithmetic

OPS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
       "<": operator.lt, ">": operator.gt}
LAYER_ATTRS = ("shape", "params", "trainable_params", "non_trainable_params", "macs")
GLOBAL_ATTRS = ("params", "total_params", "trainable_params", "non_trainable_params", "macs")


def layer_value(node: Node, attr: str):
    if attr == "shape":
        return node.out_shape
    return getattr(node, attr)


def global_value(nodes: list[Node], attr: str) -> int:
    if attr in ("params", "total_params"):
        return sum(n.params for n in nodes)
    return sum(getattr(n, attr) for n in nodes)


class _Targets:
    """One stage's layers and block instances by name, and its totals, each summed once."""

    def __init__(self, nodes: list[Node], suggest, layout=None, outputs=(), failed=frozenset()):
        self.nodes = nodes
        self.by_name = {n.name: n for n in nodes}
        self.suggest = suggest
        self.totals: dict[str, int] = {}
        self.instances = layout.instances if layout is not None else \
            instance_runs([n.name for n in nodes], ())
        self.failed = layout.failed if layout is not None else with_prefixes(failed)
        self.outputs = tuple(outputs)

    def total(self, attr: str) -> int:
        if attr not in self.totals:
            self.totals[attr] = global_value(self.nodes, attr)
        return self.totals[attr]

    def layer(self, name: str) -> Node | None:
        node = self.by_name.get(name)
        if node is None and name == "output" and self.nodes:
            return self.by_name.get(self.outputs[0]) if self.outputs else self.nodes[-1]
        return node

    def instance(self, name: str) -> list[Node] | None:
        """The nodes of a block instance, in topological order; None if no instance has the name."""
        runs = self.instances.get(name)
        if runs is None:
            return None
        return [self.nodes[p] for lo, hi in runs for p in range(lo, hi + 1)]

    def unknown_hint(self, name: str) -> str:
        shown = ", ".join(n.name for n in self.nodes[1:9])
        names = {**self.by_name, **self.instances} if self.instances else self.by_name
        return self.suggest(name, names) or "layer names: " + shown


def check_expectations(expects: list[S.Expect], nodes: list[Node], failed: set[str],
                       diags: Diagnostics, suggest=did_you_mean, layout=None, outputs=()) -> None:
    """`layout` (selection.Layout, shared with the freeze rules) knows the block instances;
    without it they are found from the dotted node names."""
    targets = _Targets(nodes, suggest, layout, outputs, failed)
    for exp in expects:
        if exp.layer is None:
            _check_global(exp, targets, failed, diags)
        elif exp.layer in targets.by_name or exp.layer == "output":
            _check_layer(exp, targets, failed, diags)
        else:
            _check_instance(exp, targets, failed, diags)


def _check_global(exp: S.Expect, targets: _Targets, failed, diags: Diagnostics) -> None:
    if exp.attribute not in GLOBAL_ATTRS:
        hint = did_you_mean(exp.attribute, GLOBAL_ATTRS) or \
            "write 'params', 'trainable_params', 'non_trainable_params', 'macs' or LAYER.shape"
        diags.error("E402", exp.target_span, f"unknown expectation target '{exp.attribute}'", hint)
        return
    if failed:
        return  # totals are meaningless while some layer has no shape
    _compare(exp, exp.attribute, targets.total(exp.attribute), diags)


def _check_layer(exp: S.Expect, targets: _Targets, failed, diags: Diagnostics) -> None:
    node = targets.layer(exp.layer)
    if node is None:
        if exp.layer not in failed:
            diags.error("E202", exp.target_span, f"no layer named '{exp.layer}'",
                        targets.unknown_hint(exp.layer))
        return
    if _known_attribute(exp, "a layer", diags):
        _compare(exp, f"{node.name}.{exp.attribute}", layer_value(node, exp.attribute), diags,
                 derivation(node) if exp.attribute == "shape" else None)


def _check_instance(exp: S.Expect, targets: _Targets, failed, diags: Diagnostics) -> None:
    """A block instance: its shape is its output's (its last layer's); counts are sums."""
    if exp.layer in targets.failed:
        return  # some layer of it has no shape: it has its own error already
    nodes = targets.instance(exp.layer)
    if nodes is None:
        what = "layer or block instance" if targets.instances else "layer"
        diags.error("E202", exp.target_span, f"no {what} named '{exp.layer}'",
                    targets.unknown_hint(exp.layer))
        return
    if not _known_attribute(exp, "a block instance", diags):
        return
    if not nodes:
        diags.error("E402", exp.target_span, f"the block instance '{exp.layer}' has no layers",
                    "every line of it was left out by its 'if' conditions")
        return
    last = nodes[-1]
    value = last.out_shape if exp.attribute == "shape" else global_value(nodes, exp.attribute)
    hint = f"the shape of {exp.layer} is that of its last layer, '{last.name}'" \
        if exp.attribute == "shape" else f"the sum over its {len(nodes)} layers"
    _compare(exp, f"{exp.layer}.{exp.attribute}", value, diags, hint)


def _known_attribute(exp: S.Expect, what: str, diags: Diagnostics) -> bool:
    if exp.attribute in LAYER_ATTRS:
        return True
    hint = did_you_mean(exp.attribute, LAYER_ATTRS) or f"{what} has: " + ", ".join(LAYER_ATTRS)
    diags.error("E402", exp.target_span, f"{what} has no '{exp.attribute}'", hint)
    return False


def _expected(exp: S.Expect, is_shape: bool, diags: Diagnostics):
    v = exp.value
    if is_shape and v.kind == "dims" and None not in v.value:
        return tuple(v.value)
    if v.kind == "int":
        return (v.value,) if is_shape else v.value
    what = "a shape such as 5x5x16 (or a flat size)" if is_shape else "an integer"
    diags.error("E402", v.span, f"expected {what}, not '{v.describe()}'")
    return None


def _compare(exp: S.Expect, label: str, actual, diags: Diagnostics, hint=None) -> None:
    is_shape = isinstance(actual, tuple)
    want = _expected(exp, is_shape, diags)
    if want is None:
        return
    if is_shape and exp.op not in ("==", "!="):
        diags.error("E402", exp.span, f"shapes can only be compared with == or !=, not {exp.op}")
        return
    if OPS[exp.op](actual, want):
        return
    shown = shape_text(actual) if is_shape else f"{actual:,}"
    wanted = shape_text(want) if is_shape else f"{want:,}"
    if is_shape and len(want) == 1 and len(actual) == 3:
        shown += f" ({actual[0] * actual[1] * actual[2]:,} values)"
    diags.error("E401", exp.span, f"expectation failed: {label} is {shown}, expected {exp.op} {wanted}",
                hint)


def derivation(node: Node) -> str | None:
    """A learner's explanation of where a layer's shape comes from."""
    a = node.attrs
    if node.kind in ("conv", "maxpool", "avgpool"):
        axes = [f"{name}: {axis_arithmetic(node.in_shape[axis], a, axis)}"
                for axis, name in ((0, "height"), (1, "width"))]
        if axes[1][len("width: "):] == axes[0][len("height: "):]:
            axes = [f"height and width: {axes[0][len('height: '):]}"]
        c = node.out_shape[2]
        channels = f"{c} channel" + ("s" if c != 1 else "")
        channels = (f"{node.kind} keeps the {channels}" if node.kind != "conv" else
                    f"{a['filters']} kernel{'s' if c != 1 else ''} give {channels}")
        return "; ".join([*axes, channels])
    if node.kind == "flatten" and len(node.in_shape) == 3:
        h, w, c = node.in_shape
        return f"flatten of {shape_text(node.in_shape)} gives {h} x {w} x {c} = {h * w * c:,} values"
    return None
