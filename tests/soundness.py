"""What every input must get, however hostile: shared by tests/test_fuzz.py and scripts/fuzz.py.

`analyse` returns (never raises); without a network there is at least one diagnostic; every
diagnostic is located in its file (a line that exists, a column at most one past that line's
end); the diagnostics render as text and GitHub annotations; a clean network summarises to
JSON, a table and Markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnnspec import report
from cnnspec.api import analyse
from cnnspec.diagnostics import render_github, render_text
from cnnspec.source import SourceFile


def assert_sound(text: str, name: str = "fuzz.cnn") -> tuple:
    """analyse() returns; diagnostics are located; a clean network can be summarised."""
    source = SourceFile(name, text)
    network, diags = analyse(source)
    if network is None:
        assert diags, "no network and no diagnostic"
    for d in diags:
        assert d.code[0] in "EW" and d.message, d
        assert_located(d, text if d.span.file == name else None)
    render_text(source, diags)
    render_github(diags)
    if network is not None and not any(d.severity == "error" for d in diags):
        summary = network.summary()
        json.dumps(summary)
        report.table(summary)
        report.markdown(summary)
    return network, diags


def assert_located(d, text: str | None) -> None:
    """The span lies in its file: a line that exists, and where the file has only plain
    newlines, a column at most one past the end of that line."""
    if text is None:  # a diagnostic located in an imported file
        text = Path(d.span.file).read_text(encoding="utf-8", errors="replace")
    last_line = max(1, text.count("\n") + 1 + text.count("\r"))
    assert 1 <= d.span.line <= last_line and d.span.col >= 1, d
    assert d.span.end_line >= d.span.line, d
    if not any(sep in text for sep in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        line = text.split("\n")[d.span.line - 1]
        assert d.span.col <= len(line) + 1, d
