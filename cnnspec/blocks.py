"""Block definitions, checked once before any expansion: names, parameters, cycles, sizes.

A definition's line names are fixed by its text (explicit names, automatic `conv_1`...), the
same in every instance. Cycles (a block using itself, directly or not) are E213, found by one
iterative depth-first walk over the definitions; the walk's post-order also gives every
block's size (its layer count with every `if` true), which the expansion multiplies by repeat
counts to refuse a use that would pass the node limit before making any of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import syntax as S
from .diagnostics import Diagnostics
from .limits import MAX_LAYERS
from .names import BLOCK_RESERVED_NAMES, RESERVED_LAYER_NAMES, automatic_names


@dataclass
class Definition:
    block: S.Block
    names: list[str]  # of the body's lines
    order: dict[str, int]
    params: dict[str, S.Param]
    uses: list = field(default_factory=list)  # (block name, layer, static count)
    size: int = 1
    cyclic: bool = False

    @property
    def name(self) -> str:
        return self.block.name

    def signature(self) -> str:
        params = ", ".join(p.name + (f"={p.default.describe()}" if p.default else "")
                           for p in self.block.params)
        return f"block {self.name}({params}) is defined at line {self.block.span.line}"


def line_kind(layer: S.Layer, blocks, node_kind: Callable[[str], str]) -> str:
    """What an unnamed line's automatic name counts: its node kind, block, or repeated block."""
    if layer.kind in blocks:
        return layer.kind
    if layer.kind == "repeat" and len(layer.args) > 1 and layer.args[1].kind == "word":
        return layer.args[1].value
    return node_kind(layer.kind)


def name_lines(items: list, kinds: list[str], diags: Diagnostics, forbidden: dict[str, str]) -> list[str]:
    """Every line's name (items: (layer, explicit name or None)): duplicates are E201,
    reserved names E204 (`forbidden`: name -> what it is); the rest get automatic names."""
    seen: dict[str, S.Layer] = {}
    for layer, name in items:
        span = layer.name_span or layer.span
        if name is None:
            continue
        if name in forbidden:
            diags.error("E204", span, f"'{name}' is {forbidden[name]}", "choose another name")
        elif name in seen:
            first = seen[name].span
            where = f"line {first.line}" if first.file == span.file else f"{first.file}:{first.line}"
            diags.error("E201", span, f"duplicate layer name '{name}'",
                        f"'{name}' is already the name of the layer at {where}")
        else:
            seen[name] = layer
    return automatic_names([name for _layer, name in items], kinds, set(seen) | set(forbidden))


def definitions(blocks: list[S.Block], diags: Diagnostics, kinds, node_kind) -> dict[str, Definition]:
    """The spec's blocks by name, each checked; cycles marked; sizes computed."""
    chosen: dict[str, S.Block] = {}
    for block in blocks:
        if _acceptable(block, chosen, kinds, diags):
            chosen[block.name] = block
    defs = {name: _definition(block, chosen, diags, node_kind) for name, block in chosen.items()}
    for name in _post_order(defs, diags):
        _size(defs[name], defs)
    return defs


def _acceptable(block: S.Block, chosen: dict, kinds, diags: Diagnostics) -> bool:
    if block.name in chosen:
        diags.error("E215", block.name_span, f"block '{block.name}' is defined twice",
                    f"the first definition is at line {chosen[block.name].span.line}")
        return False
    if block.name in kinds or block.name in RESERVED_LAYER_NAMES:
        what = "a layer kind" if block.name in kinds else "reserved"
        diags.error("E215", block.name_span, f"a block cannot be called '{block.name}': it is {what}",
                    "choose another name")
        return False
    return True


def _definition(block: S.Block, blocks: dict, diags: Diagnostics, node_kind) -> Definition:
    params: dict[str, S.Param] = {}
    for p in block.params:
        if p.name in params or p.name in BLOCK_RESERVED_NAMES:
            what = "given twice" if p.name in params else "reserved"
            diags.error("E216", p.span, f"parameter '{p.name}' is {what}", "choose another name")
        params[p.name] = p
    kinds = [line_kind(layer, blocks, node_kind) for layer in block.body]
    forbidden = {n: "reserved" for n in BLOCK_RESERVED_NAMES}
    names = name_lines([(layer, layer.name) for layer in block.body], kinds, diags, forbidden)
    uses = [(kind, layer, _static_count(layer)) for kind, layer in zip(kinds, block.body)
            if kind in blocks and (layer.kind in blocks or layer.kind == "repeat")]
    return Definition(block, names, {n: i for i, n in enumerate(names)}, params, uses)


def _static_count(layer: S.Layer) -> int:
    if layer.kind == "repeat" and layer.args and layer.args[0].kind == "int":
        return max(1, layer.args[0].value)
    return 1  # a use, or a count known only when expanding (checked then)


def _post_order(defs: dict[str, Definition], diags: Diagnostics) -> list[str]:
    """Blocks in an order where every block comes after those it uses; E213 for cycles."""
    state: dict[str, bool] = {}  # False: on the current path, True: done
    order: list[str] = []
    for root, d in defs.items():
        if root in state:
            continue
        state[root], path, stack = False, [root], [iter(d.uses)]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                state[path[-1]] = True
                order.append(path.pop())
            elif step[0] not in state:
                state[step[0]] = False
                path.append(step[0])
                stack.append(iter(defs[step[0]].uses))
            elif state[step[0]] is False:
                _cycle(path[path.index(step[0]):] + [step[0]], step[1], defs, diags)
    return order


def _cycle(cycle: list[str], use: S.Layer, defs: dict, diags: Diagnostics) -> None:
    chain = " -> ".join(cycle)
    what = "uses itself" if len(cycle) == 2 else "uses itself indirectly"
    diags.error("E213", use.kind_span if use.kind == cycle[-1] else use.span,
                f"block '{cycle[-1]}' {what}: {chain}",
                "a block may use other blocks, but never one that (directly or not) uses it")
    for name in cycle:
        defs[name].cyclic = True


def _size(d: Definition, defs: dict) -> None:
    used = {id(layer): defs[kind].size * count for kind, layer, count in d.uses}
    total = sum(used.get(id(layer), 1) for layer in d.block.body)
    d.size = min(max(1, total), MAX_LAYERS + 1)
