"""Source text and positions: every syntax node and diagnostic carries a Span."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

MAX_TEXT = 1_000_000  # characters; longer specs are refused (E003) rather than parsed
MAX_READ = 4 * MAX_TEXT + 1  # bytes: MAX_TEXT characters take at most 4 bytes each in UTF-8


class NotRegularFileError(OSError):
    """A path that names a FIFO, a device, a socket or a directory instead of a plain file."""

    def __init__(self, path: str | Path, what: str):
        super().__init__(errno.EINVAL, f"not a regular file (it is {what})", str(path))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, from its st_mode."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def open_regular(path: str | Path):
    """A regular file opened for binary reading. Opening never blocks (a FIFO is refused, not
    waited on); devices, sockets and directories are refused before anything is read.

    Raises OSError: FileNotFoundError, PermissionError, NotRegularFileError, or another OSError
    (a name too long, a loop of links) with the path as its filename."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError:  # a NUL character in the path
        raise OSError(errno.EINVAL, "invalid file name (it contains a NUL character)", str(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegularFileError(path, file_kind(mode))
    return os.fdopen(fd, "rb")


def read_limited(path: str | Path, limit: int = MAX_READ) -> bytes:
    """At most `limit` bytes of a regular file (see open_regular for what is refused)."""
    with open_regular(path) as f:
        chunks, left = [], limit
        while left > 0 and (chunk := f.read(min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


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
        """A spec file, decoded as UTF-8 (a leading byte-order mark dropped, so columns count
        from the first real character). A file over the size limit is read only as far as
        needed to know that; its text is then longer than MAX_TEXT and the parser refuses it.

        Raises the OSError subclasses of read_limited; nothing else."""
        raw = read_limited(path)
        return cls(str(path), raw.decode("utf-8-sig", errors="replace"))

    @classmethod
    def from_text(cls, text: str, name: str = "<string>") -> SourceFile:
        """Spec text given directly (the API's loads); a leading byte-order mark is dropped."""
        return cls(name, text.removeprefix("\ufeff"))

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return ""

    def start(self) -> Span:
        return Span.point(self.name, 1, 1)
