"""The spec as written: plain frozen dataclasses, each with the Span it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from .source import Span


@dataclass(frozen=True)
class Value:
    """A literal: kind is int, float, dims, word, unknown, string or tuple."""

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
        return str(self.value)


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
class Layer:
    name: str | None
    name_span: Span | None
    kind: str
    kind_span: Span
    args: tuple[Value, ...]
    options: tuple[Option, ...]
    activation: Activation | None
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
