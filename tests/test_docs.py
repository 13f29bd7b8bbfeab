"""Every output the docs show comes from running it, so the docs cannot drift from the tool.

In README.md and docs/*.md:

- a fenced block with lines `$ cnnspec ...` (or `$ python FILE.py`): each command runs, from
  the repository root of a temporary copy (specs/, docs/examples/), and its output (stderr,
  then stdout) must be the lines after it, up to the next `$` line or the fence;
- a block after an HTML comment `<!-- output of: COMMAND -->` is COMMAND's output, and after
  `<!-- excerpt of: COMMAND -->` its lines appear in COMMAND's output in that order;
- in expected output a line `...` stands for any number of lines;
- a block whose first line is `# PATH.cnn` shows that spec file (`(shortened)`: some of its
  lines): its statements, comments aside, must be the file's;
- a `python` block whose last lines are `# ...` comments after a `print(` shows their output;
- a `json` block shows keys and values of `cnnspec check --format json` for its "file".

Only trailing whitespace is normalised. Commands run in-process through `cnnspec.cli.main`
(a process start would import torch and TensorFlow for every `verify`).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnnspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- (output|excerpt) of: (.+?) -->")
SPEC_HEADER = re.compile(r"# (\S+\.cnn)( \(shortened\))?$")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence
    lang: str
    lines: list[str]
    marker: tuple[str, str] | None  # ("output" | "excerpt", command)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found, lines = [], page.read_text().splitlines()
    i, marker = 0, None
    while i < len(lines):
        line = lines[i].strip()
        if m := MARKER.fullmatch(line):
            marker = (m.group(1), m.group(2))
        elif line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            found.append(Block(page.relative_to(ROOT).as_posix(), i + 1, line[3:].strip(),
                               lines[i + 1:end], marker))
            i, marker = end, None
        elif line:
            marker = None
        i += 1
    return found


ALL = [b for page in PAGES for b in blocks(page)]


def sessions(block: Block) -> list[tuple[str, list[str]]]:
    """The `$ command` lines of a block, each with the output lines that follow it."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs:
            runs[-1][1].append(line)
    return runs


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A scratch repository root holding what the docs' commands read."""
    root = tmp_path_factory.mktemp("repo")
    for folder in ("specs", "docs/examples"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def run(command: str, cwd: Path, monkeypatch) -> str:
    """A documented command's output, stderr first, as a user sees it in a terminal."""
    argv = shlex.split(command)
    out, err = terminal(), terminal()
    monkeypatch.chdir(cwd)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if argv[0] == "cnnspec":
                main(argv[1:])
            elif argv[0] == "python" and len(argv) == 2:
                monkeypatch.setattr(sys, "argv", argv[1:])
                runpy.run_path(argv[1], run_name="__main__")
            else:
                raise AssertionError(f"the docs may show cnnspec or python FILE.py: {command}")
        except SystemExit:
            pass
    return text(err) + text(out)


def terminal() -> io.TextIOWrapper:
    """A text stream with a byte buffer underneath, as sys.stdout has."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n")


def text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")


# Differences at the level of floating-point rounding (verify's tables) depend on the BLAS and
# NumPy build, so shown and printed ones compare equal whatever their digits; which layer and
# pair is the worst among such differences is rounding too.
ROUNDING = re.compile(r"\b\d\.\d\de-(0[6-9]|[1-9]\d)\b")
WORST_ROUNDING = re.compile(r"worst: layer '[^']*' \w+ vs \w+ <rounding>")


def clean(text_or_lines) -> list[str]:
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    lines = [WORST_ROUNDING.sub("worst: <rounding>", ROUNDING.sub("<rounding>", line.rstrip()))
             for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    """Exact, line by line, where a line `...` stands for any number of lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if elided(line) else re.escape(line) + "\n"
                      for line in expected)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def elided(line: str) -> bool:
    return line.strip() == "..."


def missing_line(expected: list[str], actual: list[str]) -> str | None:
    """The first shown line that is not in `actual` after the lines before it; None if all are."""
    rest = iter(actual)
    return next((line for line in expected
                 if line and not elided(line) and not any(line == have for have in rest)), None)


def assert_output(where: str, command: str, expected: list[str], actual: list[str], excerpt=False):
    if excerpt:
        line = missing_line(expected, actual)
        assert line is None, f"{where}: `{command}` does not print, in this order: {line!r}"
    else:
        assert matches(expected, actual), f"{where}: `{command}` printed:\n" + "\n".join(actual)


COMMAND_BLOCKS = [b for b in ALL if sessions(b) or b.marker]


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=[b.where for b in COMMAND_BLOCKS])
def test_shown_output_is_what_the_command_prints(block, repo, monkeypatch):
    if block.marker:
        kind, command = block.marker
        actual = clean(run(command, repo, monkeypatch))
        assert_output(block.where, command, clean(block.lines), actual, excerpt=kind == "excerpt")
    for command, expected in sessions(block):
        assert_output(block.where, command, clean(expected), clean(run(command, repo, monkeypatch)))


def statements(lines: list[str]) -> list[str]:
    """A spec's lines without comments and blank lines, spaces collapsed."""
    code = (" ".join(line.split("#", 1)[0].split()) for line in lines)
    return [line for line in code if line]


SPEC_BLOCKS = [b for b in ALL if b.lines and SPEC_HEADER.fullmatch(b.lines[0])]


@pytest.mark.parametrize("block", SPEC_BLOCKS, ids=[b.where for b in SPEC_BLOCKS])
def test_shown_spec_is_the_file(block):
    path, shortened = SPEC_HEADER.fullmatch(block.lines[0]).groups()
    shown, real = statements(block.lines), statements((ROOT / path).read_text().splitlines())
    if shortened:
        line = missing_line(shown, real)
        assert line is None, f"{block.where}: not a line of {path} (in this order): {line!r}"
    else:
        assert shown == real, f"{block.where}: differs from {path}"


def printed_comments(block: Block) -> tuple[list[str], list[str]] | None:
    """(code, output) of a python block ending in `# output` lines after a print."""
    n = len(block.lines)
    while n and block.lines[n - 1].startswith("# "):
        n -= 1
    if n == len(block.lines) or "print(" not in block.lines[n - 1]:
        return None
    return block.lines[:n], [line[2:] for line in block.lines[n:]]


PRINTING = [b for b in ALL if b.lang == "python" and printed_comments(b)]


@pytest.mark.parametrize("block", PRINTING, ids=[b.where for b in PRINTING])
def test_shown_python_prints_what_it_says(block, repo, monkeypatch):
    code, expected = printed_comments(block)
    script = repo / f"block_{block.line}.py"
    script.write_text("\n".join(code) + "\n")
    shown = clean(run(f"python {script.name}", repo, monkeypatch))
    assert shown == clean(expected), f"{block.where} prints:\n" + "\n".join(shown)


def test_the_harness_finds_the_docs_examples():
    """A renamed marker or fence style must not make the checks above vacuous, and every file
    in docs/examples/ is one a page shows."""
    commands = sum(len(sessions(b)) + bool(b.marker) for b in COMMAND_BLOCKS)
    assert commands >= 20 and len(SPEC_BLOCKS) >= 7 and len(PRINTING) >= 1 and JSON_BLOCKS
    pages = "\n".join(page.read_text() for page in PAGES)
    unused = [p.name for p in (ROOT / "docs" / "examples").iterdir()
              if p.is_file() and f"docs/examples/{p.name}" not in pages]
    assert not unused, f"files in docs/examples/ that no page shows: {unused}"


def test_matching_rules():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"]) and matches(["a", "..."], ["a"])
    assert not matches(["a", "d"], ["a", "b", "d"]) and not matches(["a"], ["a", "b"])
    assert missing_line(["b", "  ...", "d"], ["a", "b", "c", "d"]) is None
    assert missing_line(["d", "b"], ["b", "d"]) == "b"


JSON_BLOCKS = [b for b in ALL if b.lang == "json"]


def shown_within(shown, actual) -> bool:
    """Every key and value the docs show is in the real object; `"...": "..."` elides the rest."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            key == "..." or (key in actual and shown_within(value, actual[key]))
            for key, value in shown.items())
    if isinstance(shown, list):
        return isinstance(actual, list) and len(shown) <= len(actual) and all(
            shown_within(s, a) for s, a in zip(shown, actual))
    return shown == actual


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=[b.where for b in JSON_BLOCKS])
def test_shown_json_is_what_check_prints(block, repo, monkeypatch):
    shown = json.loads("\n".join(block.lines))
    actual = json.loads(run(f"cnnspec check --format json {shown['file']}", repo, monkeypatch))
    assert shown_within(shown, actual), f"{block.where}: check --format json prints {actual}"
