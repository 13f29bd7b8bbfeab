"""Lark LALR parser and transformer: .cnn text -> syntax.Spec, syntax errors -> Diagnostics."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from . import syntax as S
from .diagnostics import Diagnostics
from .source import SourceFile, Span

MAX_TEXT = 1_000_000  # characters; longer specs are refused rather than parsed


def grammar_text() -> str:
    try:
        return resources.files("cnnspec.grammars").joinpath("cnnspec.lark").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        here = Path(__file__).resolve().parent.parent / "grammars" / "cnnspec.lark"
        return here.read_text("utf-8")


def _cache_file(text: str) -> str | bool:
    """A per-user cache of the built LALR tables (start-up is part of the speed budget)."""
    import hashlib
    import os
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnnspec"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return str(root / f"grammar-{digest}.lark-cache")


@functools.lru_cache(maxsize=1)
def get_parser() -> Lark:
    text = grammar_text()
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False,
                cache=_cache_file(text))


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


MAX_DIGITS = 60  # longer integers stand in as 10**60: past every limit, and printable


def _int(text: str) -> int:
    digits = text.replace("_", "").lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS


@v_args(meta=True)
class ToSyntax(Transformer):
    """Turns Lark's parse tree into syntax dataclasses with spans."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def span(self, meta) -> Span:
        return _span(self.file, meta)

    def tspan(self, tok: Token) -> Span:
        return _tok_span(self.file, tok)

    # values
    def int(self, meta, c):
        return S.Value("int", _int(c[0]), self.tspan(c[0]))

    def neg_int(self, meta, c):
        return S.Value("int", -_int(c[0]), self.span(meta))

    def float(self, meta, c):
        return S.Value("float", float(c[0]), self.tspan(c[0]))

    def neg_float(self, meta, c):
        return S.Value("float", -float(c[0]), self.span(meta))

    def dims(self, meta, c):
        parts = tuple(None if p == "?" else _int(p) for p in str(c[0]).split("x"))
        return S.Value("dims", parts, self.tspan(c[0]))

    def word(self, meta, c):
        return S.Value("word", str(c[0]), self.tspan(c[0]))

    def unknown(self, meta, c):
        return S.Value("unknown", None, self.span(meta))

    def string(self, meta, c):
        return S.Value("string", str(c[0])[1:-1], self.tspan(c[0]))

    def tuple(self, meta, c):
        return S.Value("tuple", tuple(c), self.span(meta))

    def option(self, meta, c):
        return S.Option(str(c[0]), c[1], self.span(meta))

    # statements
    def start(self, meta, c):
        return S.Spec(list(c))

    def network(self, meta, c):
        desc = str(c[1])[1:-1] if len(c) > 1 else ""
        return S.NetworkDecl(str(c[0]), desc, self.span(meta))

    def input(self, meta, c):
        return S.InputDecl(c[0], tuple(c[1:]), self.span(meta))

    def activation(self, meta, c):
        args = tuple(a for a in c[1:] if isinstance(a, S.Value))
        opts = tuple(a for a in c[1:] if isinstance(a, S.Option))
        return S.Activation(str(c[0]), args, opts, self.span(meta))

    def layer(self, meta, c):
        name = name_span = None
        if len(c) >= 2 and isinstance(c[0], Token) and isinstance(c[1], Token):
            name, name_span = str(c[0]), self.tspan(c[0])
            c = c[1:]
        kind = c[0]
        rest = c[1:]
        act = rest[-1] if rest and isinstance(rest[-1], S.Activation) else None
        args = tuple(a for a in rest if isinstance(a, S.Value))
        opts = tuple(a for a in rest if isinstance(a, S.Option))
        return S.Layer(name, name_span, str(kind), self.tspan(kind), args, opts, act, self.span(meta))

    def target(self, meta, c):
        return c

    def expect(self, meta, c):
        target, op, value = c
        layer, attr = (str(target[0]), str(target[1])) if len(target) == 2 else (None, str(target[0]))
        tspan = self.tspan(target[0]).to(self.tspan(target[-1]))
        return S.Expect(layer, attr, tspan, str(op), value, self.span(meta))

    def range(self, meta, c):
        return S.Selection(str(c[0]), str(c[1]), self.span(meta))

    def _selections(self, items):
        out = []
        for it in items:
            if isinstance(it, Token):
                out.append(S.Selection(str(it), None, self.tspan(it)))
            elif isinstance(it, S.Selection):
                out.append(it)
        return tuple(out)

    def freeze(self, meta, c):
        return S.FreezeRule(True, self._selections(c), (), self.span(meta))

    def unfreeze(self, meta, c):
        opts = tuple(a for a in c if isinstance(a, S.Option))
        return S.FreezeRule(False, self._selections(c), opts, self.span(meta))

    def stage(self, meta, c):
        desc = str(c[1])[1:-1] if len(c) > 1 else ""
        return S.StageDecl(str(c[0]), desc, self.span(meta))

    def import_stmt(self, meta, c):
        return S.ImportDecl(str(c[0])[1:-1], str(c[1]), self.span(meta))

    def use_stmt(self, meta, c):
        opts = tuple(a for a in c[1:] if isinstance(a, S.Option))
        until = next((str(a) for a in c[1:] if isinstance(a, Token)), None)
        return S.UseDecl(str(c[0]), until, opts, self.span(meta))


EXPECTED_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "DIMS": "a shape such as 3x3",
    "_NL": "end of line",
    "COLON": "':'",
    "EQUAL": "'='",
    "COMPARE": "a comparison such as ==",
    "STRING": 'a "string"',
    "$END": "end of file",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "MINUS": "'-'",
    "QMARK": "'?'",
    "DOT": "'.'",
    "RARROW": "'->'",
}


def _terminal_text(name: str) -> str:
    """How a learner would write a terminal: '->' rather than Lark's name '__ANON_0'."""
    if name in EXPECTED_NAMES:
        return EXPECTED_NAMES[name]
    try:
        pattern = get_parser().get_terminal(name).pattern
    except KeyError:
        return repr(name.strip("_").lower())
    return repr(pattern.value) if pattern.type == "str" else repr(name.strip("_").lower())


def _describe_expected(expected) -> str:
    names = sorted({_terminal_text(e) for e in expected})
    if len(names) > 6:
        names = names[:6] + ["..."]
    return ", ".join(names)


def _syntax_diagnostic(source: SourceFile, err: UnexpectedInput, diags: Diagnostics) -> None:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    if line < 1:
        line, col = max(1, source.text.count("\n") + 1), 1
    if isinstance(err, UnexpectedCharacters):
        ch = source.text[err.pos_in_stream] if err.pos_in_stream < len(source.text) else "?"
        msg = f"unexpected character {ch!r}"
        hint = "cnnspec specs use names, numbers, shapes like 28x28x1, key=value options and '#' comments"
        diags.error("E001", Span.point(source.name, line, col), msg, hint)
        return
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        shown = "end of line" if tok.type == "_NL" else repr(str(tok))
        msg = f"unexpected {shown}; expected {_describe_expected(err.expected)}"
        width = len(str(tok)) if tok.type != "_NL" else 1
        diags.error("E001", Span.point(source.name, line, col, width), msg, _token_hint(tok))
        return
    msg = "unexpected end of file"
    if isinstance(err, (UnexpectedEOF, UnexpectedToken)):
        msg += f"; expected {_describe_expected(err.expected)}"
    diags.error("E001", Span.point(source.name, line, col), msg)


def _token_hint(tok: Token) -> str | None:
    if str(tok) == "x":
        return "write shapes without spaces, e.g. 28x28x1"
    if tok.type == "COLON":
        return "a layer is written 'name: kind args', one per line"
    if tok.type == "EQUAL":
        return "options are written key=value after the layer kind"
    return None


def parse(source: SourceFile) -> tuple[S.Spec | None, Diagnostics]:
    """Parse a spec; on a syntax error return (None, diagnostics) with its location."""
    diags = Diagnostics()
    if len(source.text) > MAX_TEXT:
        diags.error("E003", source.start(), f"file too large ({len(source.text)} characters)",
                    f"specs are limited to {MAX_TEXT} characters")
        return None, diags
    if "\x00" in source.text:
        col = source.text.index("\x00")
        line = source.text.count("\n", 0, col) + 1
        diags.error("E003", Span.point(source.name, line, 1), "file contains NUL bytes; is it a binary file?")
        return None, diags
    try:
        tree = get_parser().parse(source.text)
        return ToSyntax(source.name).transform(tree), diags
    except UnexpectedInput as err:
        _syntax_diagnostic(source, err, diags)
    except RecursionError:
        diags.error("E003", _most_nested(source), "values are nested too deeply to read",
                    "write tuples flat, e.g. pad=(0, 1, 0, 1)")
    except VisitError as err:  # a value the transformer could not turn into syntax
        where = getattr(err.obj, "meta", err.obj)
        line, col = getattr(where, "line", 1) or 1, getattr(where, "column", 1) or 1
        diags.error("E003", Span.point(source.name, line, col), f"cannot read this value "
                    f"({type(err.orig_exc).__name__})")
    return None, diags


def _most_nested(source: SourceFile) -> Span:
    """The line with the most '(' (where a too deep nesting is), at its first '('."""
    lines = source.text.splitlines() or [""]
    number = max(range(len(lines)), key=lambda i: lines[i].count("("))
    return Span.point(source.name, number + 1, max(1, lines[number].find("(") + 1))
