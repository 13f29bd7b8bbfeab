"""Hand-built IR graphs for the freeze and expect tests of issue 8 (no parser, no checker)."""

from __future__ import annotations

from cnnspec import syntax as S
from cnnspec.ir import Instance, Node, Weight, freeze_attrs
from cnnspec.source import Span

FILE = "g.cnn"


def span(line: int, col: int = 1, width: int = 1) -> Span:
    return Span.point(FILE, line, col, width)


def node(name: str, inputs=(), channels: int = 4, line: int = 2, weights=True, hw=(8, 8)):
    """A 1x1 conv-like node (c_in 4 -> `channels`) or, without weights, a merge-like one."""
    tensors = (Weight("kernel", (1, 1, 4, channels)), Weight("bias", (channels,))) if weights else ()
    kind = "conv" if weights else "add"
    macs = hw[0] * hw[1] * 4 * channels if weights else 0
    attrs = {"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1),
             "filters": channels, "groups": 1, "bias": True, "activation": "linear", "alpha": None} \
        if weights else {"activation": "linear", "alpha": None}
    return Node(name, kind, freeze_attrs(attrs), tuple(inputs), (*hw, 4), (*hw, channels), tensors,
                macs, span(line))


def input_node():
    return Node("input", "input", freeze_attrs({}), (), (), (8, 8, 4), (), 0, span(1))


def network(*specs):
    """Nodes from (name, inputs) pairs (or (name, inputs, weights)), the input first, lines 2..."""
    nodes = [input_node()]
    for line, (name, inputs, *rest) in enumerate(specs, start=2):
        nodes.append(node(name, inputs, line=line, weights=rest[0] if rest else True))
    return nodes


def instance(name: str, parent=None, repeat=None) -> Instance:
    return Instance(name, "bottleneck", span(20), span(30), repeat, parent)


def sel(first: str, last: str | None = None, line: int = 40, col: int = 8) -> S.Selection:
    text = first if last is None else f"{first}..{last}"
    return S.Selection(first, last, span(line, col, len(text)))


def freeze(*selections, line: int = 40) -> S.FreezeRule:
    return S.FreezeRule(True, tuple(selections), (), span(line))


def unfreeze(*selections, line: int = 41) -> S.FreezeRule:
    return S.FreezeRule(False, tuple(selections), (), span(line))


def expect(target: str, op: str, value, line: int = 50) -> S.Expect:
    layer, _, attr = target.rpartition(".")
    if isinstance(value, tuple):
        v = S.Value("dims", value, span(line, 20)) if len(value) > 1 else \
            S.Value("int", value[0], span(line, 20))
    else:
        v = S.Value("int", value, span(line, 20))
    return S.Expect(layer or None, attr, span(line, 8, len(target)), op, v, span(line))
