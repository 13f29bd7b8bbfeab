"""Text bound for a terminal: characters that could control it are shown as escapes.

A spec's description, names, file names and the source lines quoted in diagnostics are the
user's text; printed raw, an escape sequence in them could retitle or clear the terminal, move
the cursor or hide text (bidirectional overrides). Every text renderer passes its output
through `printable`: C0 and C1 controls other than tab and newline, DEL, format characters
(bidi overrides, zero-width characters), line and paragraph separators, surrogates, private-use
and unassigned code points come out as Python-style escapes (\\x1b, \\u202e, \\U000e0001).
JSON output needs none of this: json.dumps already escapes every control character.
"""

from __future__ import annotations

import re
import unicodedata

_CANDIDATE = re.compile(r"[^\t\n\x20-\x7e]")  # everything but plain printable ASCII
_UNSAFE = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def _escape(match: re.Match) -> str:
    char = match.group()
    if unicodedata.category(char) not in _UNSAFE:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every terminal-controlling or invisible character written as an escape."""
    return _CANDIDATE.sub(_escape, text)
