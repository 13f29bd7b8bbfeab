"""Diagnostics: a code, a severity, a span, a message and an optional hint.

The checker collects every diagnostic of a file instead of stopping at the first; the CLI
renders them as text (file:line:col, the line, a caret underline, help), JSON or GitHub
annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .source import SourceFile, Span
from .terminal import printable

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str
    span: Span
    message: str
    hint: str | None = None

    def to_json(self) -> dict:
        data = {
            "code": self.code,
            "severity": self.severity,
            "file": self.span.file,  # the imported spec's own path for an error found there
            "message": self.message,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
        }
        if self.hint:
            data["hint"] = self.hint
        return data


@dataclass
class Diagnostics:
    """An ordered collection of diagnostics for one file."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, span: Span, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, ERROR, span, message, hint))

    def warning(self, code: str, span: Span, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, WARNING, span, message, hint))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    def has_errors(self) -> bool:
        return any(d.severity == ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span.line, d.span.col))


class SpecError(Exception):
    """Raised by the Python API when a spec has errors; carries all its diagnostics."""

    def __init__(self, source: SourceFile, diagnostics: list[Diagnostic]):
        self.source = source
        self.diagnostics = diagnostics
        super().__init__(render_text(source, diagnostics))


class _Lines:
    """Source lines by span, each file split once (thousands of diagnostics stay linear)."""

    def __init__(self, source: SourceFile):
        self.files = {source.name: _split(source.text)}

    def get(self, span: Span) -> str:
        """The line a span points at, also when it lies in an imported spec."""
        if span.file not in self.files:
            try:
                self.files[span.file] = _split(SourceFile.read(span.file).text)
            except OSError:
                self.files[span.file] = []
        lines = self.files[span.file]
        return lines[span.line - 1] if 1 <= span.line <= len(lines) else ""


def _split(text: str) -> list[str]:
    """Lines as the parser counts them: only '\\n' ends a line (not '\\r' or U+2028)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def render_one(source: SourceFile, diag: Diagnostic, cache: _Lines | None = None) -> str:
    """One diagnostic as text, safe for a terminal (see terminal.printable)."""
    span = diag.span
    head = f"{span.file}:{span.line}:{span.col}: {diag.severity}[{diag.code}]: {diag.message}"
    text = (cache or _Lines(source)).get(span).replace("\t", " ")
    if not text.strip():
        lines = [head]
    else:
        width = span.end_col - span.col if span.end_line == span.line else len(text) - span.col + 1
        width = max(1, min(width, max(1, len(text) - span.col + 1)))
        text, col, width = _excerpt(text, span.col, width)
        gutter = f"{span.line} | "
        lines = [head, gutter + text, " " * (len(gutter) + col - 1) + "^" * width]
    if diag.hint:
        lines.append(f"  help: {diag.hint}")
    return printable("\n".join(lines))


def _excerpt(text: str, col: int, width: int, room: int = 160) -> tuple[str, int, int]:
    """The line as shown, (text, col, width): controls escaped (terminal.printable), the caret
    kept under the same characters, and a line longer than `room` cut around the span."""
    lo = max(0, col - 1 - room)
    cells = [printable(c) for c in text[lo: col - 1 + min(width, room) + room]]
    at = min(col - 1 - lo, len(cells))  # the cell the span starts at (or just past the end)
    start, end = _window([len(c) for c in cells], at, room)
    before = "..." if lo + start > 0 else ""
    after = "..." if lo + end < len(text) else ""
    shown = before + "".join(cells[start:end]) + after
    caret = len(before) + sum(map(len, cells[start:at])) + 1
    return shown, caret, max(1, sum(map(len, cells[at:min(at + width, end)])))


def _window(sizes: list[int], at: int, room: int) -> tuple[int, int]:
    """Cells [start, end) to show: a third of `room` before cell `at`, then as many as fit."""
    start, used = at, 0
    while start > 0 and used + sizes[start - 1] <= room // 3:
        start, used = start - 1, used + sizes[start - 1]
    end, used = start, 0
    while end < len(sizes) and (end <= at or used + sizes[end] <= room):
        end, used = end + 1, used + sizes[end]
    while start > 0 and used + sizes[start - 1] <= room:  # room left at the end: show more before
        start, used = start - 1, used + sizes[start - 1]
    return start, end


def render_text(source: SourceFile, diagnostics: list[Diagnostic]) -> str:
    cache = _Lines(source)
    return "\n".join(render_one(source, d, cache) for d in diagnostics)


def _escape_github(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(diagnostics: list[Diagnostic]) -> str:
    out = []
    for d in diagnostics:
        s = d.span
        level = "error" if d.severity == ERROR else "warning"
        msg = printable(d.message + (f" (help: {d.hint})" if d.hint else ""))
        file = _escape_github(printable(s.file)).replace(",", "%2C").replace(":", "%3A")
        # exactly design.md's '::error file=F,line=L,col=C::message'; the code leads the message
        out.append(f"::{level} file={file},line={s.line},col={s.col}::"
                   f"{_escape_github(f'{d.code}: {msg}')}")
    return "\n".join(out)
