"""Writing output files atomically: a failed write leaves the old file untouched.

What a target path may be, and what happens to it (docs/cli.md, "Output files"):
- a new path: created with the permissions the umask gives (0644 under the usual 022);
- an existing regular file: replaced atomically (a new file renamed over it) keeping its
  permission bits and, where allowed, its owner. Other hard links to the old file keep the
  old contents: the name is given a new file, the old inode is never written to;
- a symbolic link: written through, to the file it points at (the link itself stays);
- anything else (a directory, a FIFO, a device such as /dev/null) is refused, and so is a path
  that is the same file as one of `protect` (the spec being compiled).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from .source import NotRegularFileError, file_kind


class ProtectedFileError(OSError):
    """The output path is one of the files the output is made from."""

    def __init__(self, path: str | Path, what: str):
        super().__init__(errno.EEXIST, f"refusing to overwrite {what}", str(path))


def write_atomic(path: str | Path, data: str | bytes | list, protect: Iterable[str | Path] = ()) -> None:
    """Write text (UTF-8, '\\n' line ends), bytes, or a list of bytes-like pieces written one
    after another (a large binary file without joining it first) to `path`, atomically.

    Raises OSError: NotRegularFileError, ProtectedFileError, or the OSError of the failed
    creation, write or rename (no partial file is left behind)."""
    target = Path(os.path.realpath(path))  # through symbolic links, to the file they name
    old = _existing(target, path, protect)
    pieces = [data.encode("utf-8") if isinstance(data, str) else bytes(data)] \
        if isinstance(data, (str, bytes, bytearray)) else list(data)
    fd, tmp = _create_beside(target)
    try:
        for piece in pieces:
            _write_all(fd, piece)
        if old is not None:
            _keep_mode_and_owner(fd, tmp, old)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def _existing(target: Path, given: str | Path, protect: Iterable[str | Path]) -> os.stat_result | None:
    """The stat of the file about to be replaced (None for a new one), after the refusals."""
    try:
        old = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(old.st_mode):
        raise NotRegularFileError(given, file_kind(old.st_mode))
    for other in protect:
        try:
            mine = os.stat(other)
        except OSError:
            continue
        if (mine.st_dev, mine.st_ino) == (old.st_dev, old.st_ino):
            raise ProtectedFileError(given, f"the input {other}")
    return old


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new, empty file in the target's folder; mode 0666 less the umask, like open(..., 'w')."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file", str(target.parent))


def _write_all(fd: int, payload) -> None:
    view = memoryview(payload).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _keep_mode_and_owner(fd: int, tmp: Path, old: os.stat_result) -> None:
    """The replacement keeps the replaced file's permission bits, and its owner when allowed
    (the owner first: changing it may clear set-id bits that the chmod then restores)."""
    new = os.fstat(fd)
    if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (new.st_uid, new.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError:
            pass  # only root may give a file away; the new file stays the writer's
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
