"""The spec as written: plain frozen dataclasses, each with the Span it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from .source import Span


@dataclass(frozen=True)
class Value:
    """A literal: kind is int, float, dims, word, unknown, string or tuple; or, for graphs,
    ref (a dotted path `in.channels`, `layer2.0.conv1`: value is the text), alt (`a?b`: value
    is the tuple of names) or expr (value is an Expr)."""

    kind: str
    value: object
    span: Span

    def describe(self) -> str:
        if self.kind == "dims":
            return "x".join("?" if d is None else str(d) for d in self.value)
        if self.kind == "tuple":
            return "(" + ", ".join(v.describe() for v in self.value) + ")"
        if self.kind == "unknown":
            return "?"
        if self.kind == "string":
            return f'"{self.value}"'
        if self.kind == "alt":
            return "?".join(self.value)
        return str(self.value)


@dataclass(frozen=True)
class Expr:
    """An operation over Values and Exprs: op is one of + - * // % == != < <= > >= and or
    not neg; operands in order."""

    op: str
    operands: tuple
    span: Span
    depth: int = 1  # of nested operations: bounded before anything walks the tree

    def __str__(self) -> str:
        if len(self.operands) == 1:
            word = "not " if self.op == "not" else "-"
            return word + _text(self.operands[0])
        return f" {self.op} ".join(_text(x) for x in self.operands)


def _text(item) -> str:
    return item.describe() if isinstance(item, Value) else f"({item})"


@dataclass(frozen=True)
class Option:
    key: str
    value: Value
    span: Span


@dataclass(frozen=True)
class Activation:
    name: str
    args: tuple[Value, ...]
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Override:
    """A repeat's `first(k=v, ...)` or `last(k=v, ...)`: `which` is the word before the
    parenthesis, as written (the expander rejects any other)."""

    which: str
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Layer:
    """A layer line; also a block use (kind = a block's name) and `repeat N NAME ...`
    (kind = 'repeat'). `condition` is the `if` part; `overrides` a repeat's first(...) and
    last(...)."""

    name: str | None
    name_span: Span | None
    kind: str
    kind_span: Span
    args: tuple[Value, ...]
    options: tuple[Option, ...]
    activation: Activation | None
    span: Span
    condition: Value | None = None
    overrides: tuple[Override, ...] = ()

    def override(self, which: str) -> Override | None:
        return next((o for o in self.overrides if o.which == which), None)

    @property
    def first(self) -> tuple[Option, ...] | None:
        """The options of `first(...)`, None without one."""
        o = self.override("first")
        return o and o.options

    @property
    def first_span(self) -> Span | None:
        o = self.override("first")
        return o and o.span


@dataclass(frozen=True)
class Param:
    name: str
    default: Value | None
    span: Span


@dataclass(frozen=True)
class BlockStart:
    name: str
    name_span: Span
    params: tuple[Param, ...]
    span: Span


@dataclass(frozen=True)
class BlockEnd:
    span: Span


@dataclass(frozen=True)
class Block:
    """`block NAME(params)` ... `end`: the body's statements are Layer lines."""

    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: tuple[Layer, ...]
    span: Span  # the `block` line


@dataclass(frozen=True)
class OutputDecl:
    names: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True)
class NetworkDecl:
    name: str
    description: str
    span: Span


@dataclass(frozen=True)
class InputDecl:
    value: Value
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Expect:
    layer: str | None
    attribute: str
    target_span: Span
    op: str
    value: Value
    span: Span


@dataclass(frozen=True)
class Selection:
    """A layer name, or a range first..last (inclusive, in spec order)."""

    first: str
    last: str | None
    span: Span


@dataclass(frozen=True)
class FreezeRule:
    freeze: bool
    selections: tuple[Selection, ...]
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class StageDecl:
    name: str
    description: str
    span: Span


@dataclass(frozen=True)
class ImportDecl:
    path: str
    alias: str
    span: Span


@dataclass(frozen=True)
class UseDecl:
    alias: str
    until: str | None
    options: tuple[Option, ...]
    span: Span


@dataclass
class Spec:
    statements: list = field(default_factory=list)
