"""What a name under the cursor refers to: a layer, a block instance, a block, an import.

Names resolve as the checker resolves them: inside a block's lines against that block's own
layers (`in` is the block's input), elsewhere against the network's layer and instance names
(`layer2.0.conv1`, automatic names such as `flatten_1`, an imported base's layers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import syntax as S
from ..source import Span
from .analysis import Analysis

WORD = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")


@dataclass(frozen=True)
class Target:
    """kind: "node", "instance", "block", "block-layer" (a layer line of a block: one node
    per instance), "input" (a block's `in`) or "alias" (an import); name as the network
    names it; span: where it is defined."""

    kind: str
    name: str
    span: Span
    block: S.Block | None = None


def word_at(line: str, col: int) -> str | None:
    """The name at 0-based `col`, up to the end of the dotted part the cursor is on
    (`layer2` on the first part of `layer2.0.conv1`); None on an option's key (`stride=`)."""
    for m in WORD.finditer(line):
        if m.start() <= col <= m.end():
            rest = line[m.end():].lstrip()
            if rest.startswith("=") and not rest.startswith("=="):
                return None
            cut = line.find(".", col, m.end())
            return m.group()[: (cut if cut >= 0 else m.end()) - m.start()]
    return None


def blocks(spec: S.Spec | None) -> dict[str, S.Block]:
    return {s.name: s for s in (spec.statements if spec else ()) if isinstance(s, S.Block)}


def block_at(spec: S.Spec | None, line: int) -> S.Block | None:
    """The block whose definition holds `line` (its `block` line to its last layer line)."""
    for block in blocks(spec).values():
        last = max((layer.span.end_line for layer in block.body), default=block.span.line)
        if block.span.line <= line <= last:
            return block
    return None


def resolve(a: Analysis, word: str, line: int) -> Target | None:
    """What `word`, written on `line`, names; None for anything else (a kind, an option)."""
    for candidate in _shorter(word):
        found = _block_name(a, candidate) or _in_block(a, candidate, line) \
            or _top_level(a, candidate)
        if found:
            return found
    return None


def _shorter(word: str):
    """`c1.shape` may be `c1` with an attribute: the word, then without its last parts."""
    parts = word.split(".")
    for n in range(len(parts), 0, -1):
        yield ".".join(parts[:n])


def _block_name(a: Analysis, word: str) -> Target | None:
    block = blocks(a.spec).get(word)
    return Target("block", word, block.name_span, block) if block else None


def _in_block(a: Analysis, word: str, line: int) -> Target | None:
    block = block_at(a.spec, line)
    if block is None:
        return None
    if word == "in":
        return Target("input", word, block.name_span, block)
    layer = next((x for x in block.body if x.name == word), None)
    return Target("block-layer", word, layer.name_span, block) if layer else None


def _top_level(a: Analysis, word: str) -> Target | None:
    net = a.network
    if net is not None:
        inst = next((i for i in net.instances if i.name == word), None)
        if inst is not None:
            return Target("instance", word, inst.span)
        if word in {n.name for n in net.nodes}:
            return Target("node", word, net.node(word).span)
    for stmt in a.spec.statements if a.spec else ():
        if isinstance(stmt, S.ImportDecl) and stmt.alias == word:
            return Target("alias", word, stmt.span)
        if isinstance(stmt, S.Layer) and stmt.name == word and net is None:
            return Target("node", word, stmt.name_span)
    return None

