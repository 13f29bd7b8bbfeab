"""Source text and positions: every syntax node and diagnostic carries a Span."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class Span(NamedTuple):
    """A region of a source file; lines and columns are 1-based, end_col exclusive.

    A named tuple rather than a dataclass: every token of a spec gets one, and a tuple is
    several times cheaper to create."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, file: str, line: int, col: int, width: int = 1) -> Span:
        return cls(file, line, col, line, col + max(width, 1))

    def to(self, other: Span) -> Span:
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True)
class SourceFile:
    """A spec's name and text; the renderer asks it for lines."""

    name: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        raw = Path(path).read_bytes()
        return cls(str(path), raw.decode("utf-8", errors="replace"))

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return ""

    def start(self) -> Span:
        return Span.point(self.name, 1, 1)
