"""Lark LALR parser and transformer: .cnn text -> syntax.Spec, syntax errors -> Diagnostics."""

from __future__ import annotations

import bisect
import functools
import re
import threading
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from . import syntax as S
from .diagnostics import Diagnostics
from .source import MAX_TEXT, SourceFile, Span


def grammar_text() -> str:
    """The grammar: beside the package in a source checkout, else the copy in the wheel."""
    here = Path(__file__).resolve().parent.parent / "grammars" / "cnnspec.lark"
    if here.is_file():
        return here.read_text("utf-8")
    return resources.files("cnnspec.grammars").joinpath("cnnspec.lark").read_text("utf-8")


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
    """The LALR parser, with ToSyntax applied inline (no parse tree is built)."""
    text = grammar_text()
    return Lark(text, parser="lalr", maybe_placeholders=False, transformer=ToSyntax(),
                cache=_cache_file(text))


_PARSE_LOCK = threading.Lock()  # the inline transformer holds the current file's name


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


MAX_DIGITS = 60  # longer integers stand in as 10**60: past every limit, and printable


def _int(text: str) -> int:
    digits = text.replace("_", "").lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS


class ToSyntax(Transformer):
    """Turns Lark's parse into syntax dataclasses with spans, inline, as the parser reduces.

    Spans come from the tokens themselves (no position propagation): a value's from its
    tokens, a statement's from the first non-blank column of its line to its last token.
    """

    def __init__(self):
        super().__init__()
        self.file = "<string>"
        self.indents: list[int] = []

    def start_file(self, source: SourceFile) -> None:
        self.file = source.name
        self.indents = [len(line) - len(line.lstrip(" \t\f")) for line in source.text.split("\n")]

    def tspan(self, tok: Token) -> Span:
        return _tok_span(self.file, tok)

    def span_of(self, item) -> Span:
        return self.tspan(item) if isinstance(item, Token) else item.span

    def between(self, first, last) -> Span:
        return self.span_of(first).to(self.span_of(last))

    def statement(self, c) -> Span:
        """From the start of the statement's line to the end of its last part."""
        first, last = self.span_of(c[0]), self.span_of(c[-1])
        col = self.indents[first.line - 1] + 1 if first.line <= len(self.indents) else first.col
        return Span(self.file, first.line, min(col, first.col), last.end_line, last.end_col)

    # values
    def int(self, c):
        return S.Value("int", _int(c[0]), self.tspan(c[0]))

    def neg_int(self, c):
        return S.Value("int", -_int(c[1]), self.between(c[0], c[1]))

    def float(self, c):
        return S.Value("float", float(c[0]), self.tspan(c[0]))

    def neg_float(self, c):
        return S.Value("float", -float(c[1]), self.between(c[0], c[1]))

    def dims(self, c):
        parts = tuple(None if p == "?" else _int(p) for p in str(c[0]).split("x"))
        return S.Value("dims", parts, self.tspan(c[0]))

    def word(self, c):
        return S.Value("word", str(c[0]), self.tspan(c[0]))

    def unknown(self, c):
        return S.Value("unknown", None, self.tspan(c[0]))

    def string(self, c):
        return S.Value("string", str(c[0])[1:-1], self.tspan(c[0]))

    def tuple(self, c):
        items = tuple(c[1:-1])
        if len(items) == 1 and items[0].kind in ("expr", "word", "ref"):
            return items[0]  # `(filters * 4)`: an expression in parentheses
        return S.Value("tuple", items, self.between(c[0], c[-1]))

    # graphs: references, `a?b`, expressions
    def ref(self, c):
        return S.Value("ref", str(c[0]), self.tspan(c[0]))

    def alt(self, c):
        return S.Value("alt", tuple(str(c[0]).split("?")), self.tspan(c[0]))

    def compact(self, c):
        return compact_expr(str(c[0]), self.tspan(c[0]))

    def _fold(self, c):
        left = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            left = _operation(str(op), (left, right), left.span.to(right.span))
        return left

    or_expr = and_expr = comparison = sum = product = _fold

    def not_op(self, c):
        return _operation("not", (c[1],), self.between(c[0], c[1]))

    def neg_op(self, c):
        span = self.between(c[0], c[1])
        if c[1].kind in ("int", "float"):
            return S.Value(c[1].kind, -c[1].value, span)
        return _operation("neg", (c[1],), span)

    def paren(self, c):
        return c[1]

    def condition(self, c):
        return _Condition(c[1], self.between(c[0], c[1]))

    def first_args(self, c):
        which = str(c[0]).removesuffix("(")
        return S.Override(which, tuple(a for a in c if isinstance(a, S.Option)),
                          self.between(c[0], c[-1]))

    def option(self, c):
        return S.Option(str(c[0]), c[1], self.between(c[0], c[1]))

    # statements
    def start(self, c):
        return S.Spec(list(c))

    def network(self, c):
        desc = str(c[1])[1:-1] if len(c) > 1 else ""
        return S.NetworkDecl(str(c[0]), desc, self.statement(c))

    def input(self, c):
        return S.InputDecl(c[1], tuple(c[2:]), self.statement(c))

    def activation(self, c):
        args = tuple(a for a in c[1:] if isinstance(a, S.Value))
        opts = tuple(a for a in c[1:] if isinstance(a, S.Option))
        arrow = self.span_of(c[0])
        span = Span(self.file, arrow.line, max(1, arrow.col - 3), *self._end(c[-1]))
        return S.Activation(str(c[0]), args, opts, span)

    def _end(self, item) -> tuple[int, int]:
        span = self.span_of(item)
        return span.end_line, span.end_col

    def layer(self, c):
        name = name_span = None
        if len(c) >= 2 and isinstance(c[0], Token) and isinstance(c[1], Token):
            name, name_span = str(c[0]), self.tspan(c[0])
        kind = c[1] if name is not None else c[0]
        rest = c[2:] if name is not None else c[1:]
        cond = next((a.value for a in rest if isinstance(a, _Condition)), None)
        act = next((a for a in rest if isinstance(a, S.Activation)), None)
        args = tuple(a for a in rest if isinstance(a, S.Value))
        opts = tuple(a for a in rest if isinstance(a, S.Option))
        return S.Layer(name, name_span, str(kind), self.tspan(kind), args, opts, act,
                       self.between(c[0], c[-1]), cond,
                       tuple(a for a in rest if isinstance(a, S.Override)))

    def block_start(self, c):
        name_tok = c[1]
        name = str(name_tok).removesuffix("(")
        span = self.tspan(name_tok)
        name_span = Span(span.file, span.line, span.col, span.line, span.col + len(name))
        params = tuple(p if isinstance(p, S.Param) else S.Param(p.key, p.value, p.span)
                       for p in c[2:] if isinstance(p, (S.Param, S.Option)))
        return S.BlockStart(name, name_span, params, self.statement(c))

    def param_name(self, c):
        return S.Param(str(c[0]), None, self.tspan(c[0]))

    def block_end(self, c):
        return S.BlockEnd(self.statement(c))

    def output_stmt(self, c):
        return S.OutputDecl(tuple((str(t), self.tspan(t)) for t in c[1:]), self.statement(c))

    def target(self, c):
        return c

    def expect(self, c):
        target, op, value = c
        layer, _, attr = str(target[0]).rpartition(".")
        tspan = self.tspan(target[0])
        return S.Expect(layer or None, attr, tspan, str(op), value, self.statement([target[0], value]))

    def range(self, c):
        return S.Selection(str(c[0]), str(c[1]), self.between(c[0], c[1]))

    def _selections(self, items):
        out = []
        for it in items:
            if isinstance(it, Token):
                out.append(S.Selection(str(it), None, self.tspan(it)))
            elif isinstance(it, S.Selection):
                out.append(it)
        return tuple(out)

    def freeze(self, c):
        return S.FreezeRule(True, self._selections(c), (), self.statement(c))

    def unfreeze(self, c):
        opts = tuple(a for a in c if isinstance(a, S.Option))
        return S.FreezeRule(False, self._selections(c), opts, self.statement(c))

    def stage(self, c):
        desc = str(c[1])[1:-1] if len(c) > 1 else ""
        return S.StageDecl(str(c[0]), desc, self.statement(c))

    def import_stmt(self, c):
        return S.ImportDecl(str(c[0])[1:-1], str(c[1]), self.statement(c))

    def use_stmt(self, c):
        opts = tuple(a for a in c[1:] if isinstance(a, S.Option))
        until = next((str(a) for a in c[1:] if isinstance(a, Token)), None)
        return S.UseDecl(str(c[0]), until, opts, self.statement(c))


class _Condition:
    """The `if COND` part of a layer line, until the layer is built."""

    def __init__(self, value: S.Value, span: Span):
        self.value, self.span = value, span


_COMPACT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?|//|[*%+-]")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2, "%": 2}


def compact_expr(text: str, span: Span) -> S.Value:
    """`filters*4+1` (an argument without spaces): + - over * // %, left to right."""
    parts = []
    for m in _COMPACT.finditer(text):
        sub = Span(span.file, span.line, span.col + m.start(), span.line, span.col + m.end())
        parts.append((m.group(), sub))
    return _climb(parts, 0, 1)[0]


def _operand(word: str, span: Span) -> S.Value:
    if word[0].isdigit():
        return S.Value("float", float(word), span) if "." in word else S.Value("int", _int(word), span)
    return S.Value("ref" if "." in word else "word", word, span)


def _climb(parts, i: int, level: int):
    """Precedence climbing over [(text, span)], operand at i: (Value, next index)."""
    left, i = _operand(*parts[i]), i + 1
    while i < len(parts) and _PRECEDENCE[parts[i][0]] >= level:
        op = parts[i][0]
        right, i = _climb(parts, i + 1, _PRECEDENCE[op] + 1)
        left = _operation(op, (left, right), left.span.to(right.span))
    return left, i


def _operation(op: str, operands: tuple, span: Span) -> S.Value:
    depth = 1 + max((x.value.depth for x in operands if x.kind == "expr"), default=0)
    return S.Value("expr", S.Expr(op, operands, span, depth), span)


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
    "REF": "a name such as layer2.0.conv1",
    "ALT": "a?b",
    "EXPR": "an expression such as filters*4",
    "CALL": "a name followed by '('",
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


def _syntax_diagnostic(name: str, text: str, err: UnexpectedInput, diags: Diagnostics) -> None:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    if line < 1:
        line, col = max(1, text.count("\n") + 1), 1
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        hint = "cnnspec specs use names, numbers, shapes like 28x28x1, key=value options and '#' comments"
        diags.error("E001", Span.point(name, line, col), msg, hint)
        return
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        shown = "end of line" if tok.type == "_NL" else repr(str(tok))
        msg = f"unexpected {shown}; expected {_describe_expected(err.expected)}"
        width = len(str(tok)) if tok.type != "_NL" else 1
        diags.error("E001", Span.point(name, line, col, width), msg, _token_hint(tok))
        return
    msg = "unexpected end of file"
    if isinstance(err, (UnexpectedEOF, UnexpectedToken)):
        msg += f"; expected {_describe_expected(err.expected)}"
    diags.error("E001", Span.point(name, line, col), msg)


def _token_hint(tok: Token) -> str | None:
    if tok.type == "LPAR":
        return "values do not nest: write tuples flat, e.g. pad=(0, 1, 0, 1)"
    if str(tok) == "x":
        return "write shapes without spaces, e.g. 28x28x1"
    if tok.type == "COLON":
        return "a layer is written 'name: kind args', one per line"
    if tok.type == "EQUAL":
        return "options are written key=value after the layer kind"
    return None


def parse(source: SourceFile) -> tuple[S.Spec | None, Diagnostics]:
    """Parse a spec; on syntax errors return (None, diagnostics), one E001 per broken statement."""
    diags = Diagnostics()
    if len(source.text) > MAX_TEXT:
        diags.error("E003", source.start(), f"file too large (over {MAX_TEXT:,} characters)",
                    f"specs are limited to {MAX_TEXT:,} characters")
        return None, diags
    if "\x00" in source.text:
        col = source.text.index("\x00")
        line = source.text.count("\n", 0, col) + 1
        diags.error("E003", Span.point(source.name, line, 1), "file contains NUL bytes; is it a binary file?")
        return None, diags
    recovery = _Recovery(source, diags)
    try:
        parser = get_parser()
        with _PARSE_LOCK:
            parser.options.transformer.start_file(source)
            spec = parser.parse(source.text, on_error=recovery)
        if diags.has_errors():  # a broken `block` line would make its `end` look lonely
            return None, diags
        spec = fold_blocks(spec, diags)
        return (None if diags.has_errors() else spec), diags
    except UnexpectedInput as err:  # the end of the file, after recovery reported it
        if not recovery.reported(err):
            _syntax_diagnostic(source.name, source.text, err, diags)
    except (ValueError, OverflowError) as err:  # a value the transformer could not convert
        diags.error("E003", source.start(), f"cannot read a value of this spec ({type(err).__name__})")
    return None, diags


_IN_BLOCK = {S.NetworkDecl: "network", S.InputDecl: "input", S.Expect: "expect",
             S.FreezeRule: "freeze", S.StageDecl: "stage", S.ImportDecl: "import",
             S.UseDecl: "use", S.OutputDecl: "output"}


def fold_blocks(spec: S.Spec, diags: Diagnostics) -> S.Spec:
    """`block` ... `end` lines become one S.Block statement (E214 for a broken structure)."""
    out, open_block, body = [], None, []
    for stmt in spec.statements:
        if isinstance(stmt, S.BlockStart):
            if open_block is not None:
                _unclosed(open_block, diags, stmt)
            open_block, body = stmt, []
        elif isinstance(stmt, S.BlockEnd):
            if open_block is None:
                diags.error("E214", stmt.span, "'end' without a 'block' line",
                            "a block is written 'block NAME(params)', its lines, then 'end'")
            else:
                out.append(_block(open_block, body))
                open_block = None
        elif open_block is not None:
            _in_block(stmt, body, open_block, diags)
        else:
            out.append(stmt)
    if open_block is not None:
        _unclosed(open_block, diags)
    return S.Spec(out)


def _block(start: S.BlockStart, body: list) -> S.Block:
    return S.Block(start.name, start.name_span, start.params, tuple(body), start.span)


def _unclosed(start: S.BlockStart, diags: Diagnostics, nested=None) -> None:
    if nested is None:
        diags.error("E214", start.name_span, f"block '{start.name}' has no 'end'",
                    "close the block with a line 'end' after its last layer")
    else:
        diags.error("E214", nested.span, f"a block inside block '{start.name}' "
                    f"(line {start.span.line}), which has no 'end' yet",
                    "blocks are defined at top level: end the first block before starting "
                    "another (a block may use another block by name)")


def _in_block(stmt, body: list, start: S.BlockStart, diags: Diagnostics) -> None:
    if isinstance(stmt, S.Layer):
        body.append(stmt)
        return
    word = _IN_BLOCK.get(type(stmt), "this")
    diags.error("E214", stmt.span, f"'{word}' lines cannot be inside block '{start.name}'",
                "a block holds layer lines, block uses and repeats; put this line after "
                "the block's 'end'")


class _Recovery:
    """Lark's on_error: report the error, skip to the end of its statement, parse on.

    The statements before are dropped from the parser's stacks (the spec is not checked when
    it has syntax errors), so a broken line never makes the next one look broken.
    """

    def __init__(self, source: SourceFile, diags: Diagnostics):
        self.source, self.diags = source, diags
        self.ends: list[int] | None = None  # where each statement's line ends, found on demand
        self.last: UnexpectedInput | None = None

    def reported(self, err: UnexpectedInput) -> bool:
        return err is self.last

    def __call__(self, err: UnexpectedInput) -> bool:
        _syntax_diagnostic(self.source.name, self.source.text, err, self.diags)
        self.last = err
        if isinstance(err, UnexpectedToken) and err.token.type == "$END":
            return False
        lexer = err.interactive_parser.lexer_thread.state
        if not (isinstance(err, UnexpectedToken) and err.token.type == "_NL"):
            pos = lexer.line_ctr.char_pos
            lexer.line_ctr.feed(self.source.text[pos: self._statement_end(pos)])
        state = err.interactive_parser.parser_state
        state.state_stack[:] = [state.parse_conf.start_state]
        state.value_stack[:] = []
        return True

    def _statement_end(self, pos: int) -> int:
        if self.ends is None:
            self.ends = statement_ends(self.source.text)
        i = bisect.bisect_left(self.ends, pos)
        return self.ends[i] if i < len(self.ends) else len(self.source.text)


def statement_ends(text: str) -> list[int]:
    """The offsets of the newlines that end statements: every '\\n' but those of a '\\'
    continuation outside a comment or string, which is exactly where the lexer sees no end
    of line."""
    ends, pos = [], 0
    for line in text.split("\n")[:-1]:
        pos += len(line)
        if not _continues(line):
            ends.append(pos)
        pos += 1
    return ends


def _continues(line: str) -> bool:
    """Whether a physical line ends in the '\\' that joins it to the next one."""
    i = 0
    while i < len(line):
        if line[i] == '"':
            close = line.find('"', i + 1)
            if close < 0:
                break
            i = close + 1
        elif line[i] == "#":
            return False  # the comment runs to the end of the line, backslash and all
        else:
            i += 1
    return _CONTINUATION.search(line) is not None


_CONTINUATION = re.compile(r"\\[\t \f]*\r?$")  # the grammar's ignored '\\' + newline, less the newline
