"""Issue 10: `cnnspec fmt` keeps every comment, is idempotent and never changes meaning.

Meaning is compared through the checker, not the formatter: the formatted text of every
shipped spec, and of random re-spacings, re-indentations, blank lines and comments added to
them, must check to the same IR nodes and the same summary JSON, with line numbers mapped by
matching the non-blank lines in order (the formatter only ever drops blank lines).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnspec.api import analyse
from cnnspec.cli import main
from cnnspec.formatter import format_text
from cnnspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted([*ROOT.glob("specs/*.cnn"), *ROOT.glob("specs/zoo/*.cnn"), *ROOT.glob("docs/examples/*.cnn")])
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE_KEYS = ("line", "end_line", "definition_line")
COLUMN_KEYS = ("col", "end_col", "column", "end_column")  # re-spacing moves columns


def nonblank(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.split("\n")) if line.strip(" \t\f\r")]


def line_map(old: str, new: str) -> dict[int, int]:
    a, b = nonblank(old), nonblank(new)
    assert len(a) == len(b), "the formatter may drop blank lines only"
    return dict(zip(a, b))


def remap(data, lines: dict[int, int], file: str):
    """The JSON with this file's line numbers mapped (an imported spec's lines stay)."""
    if isinstance(data, dict):
        mine = data.get("source", data.get("file", file)) == file
        return {k: (lines.get(v, -v) if mine and k in LINE_KEYS and isinstance(v, int)
                    else remap(v, lines, file)) for k, v in data.items() if k not in COLUMN_KEYS}
    if isinstance(data, list):
        return [remap(x, lines, file) for x in data]
    return data


def meaning(path: Path, text: str, lines: dict[int, int] | None = None):
    """IR nodes, the summary JSON and the diagnostics of a text, lines mapped through `lines`."""
    network, diags = analyse(SourceFile(str(path), text))
    lines = lines or {n: n for n in nonblank(text)}
    where = {str(path): lines}
    found = [(d.code, where.get(d.span.file, {}).get(d.span.line, d.span.line), d.message) for d in diags]
    if network is None:
        return None, None, found
    nodes = [(n.name, n.kind, dict(n.attrs), n.inputs, n.in_shape, n.out_shape, n.weights,
              n.macs, n.frozen, n.lr_scale, where.get(n.span.file, {}).get(n.span.line, n.span.line))
             for n in network.layers]
    summary = network.summary()
    summary.pop("input_line")  # the input node's line, in an imported base's file after `use`
    first = network.nodes[0].span
    summary["input"] = (first.file, where.get(first.file, {}).get(first.line, first.line))
    return nodes, remap(summary, lines, str(path)), found


def comments(text: str) -> list[str]:
    """Every comment's text, in order (a '#' outside a "string"), trailing blanks aside."""
    found = []
    for line in text.split("\n"):
        code = re.sub(r'"[^"\n]*"', lambda m: "_" * len(m.group()), line)
        if "#" in code:
            found.append(line[code.index("#"):].rstrip(" \t\f\r"))
    return found


def assert_same_meaning(path: Path, old: str, new: str) -> None:
    before = meaning(path, old)
    after = meaning(path, new, {n: o for o, n in line_map(old, new).items()})  # in old lines
    assert after == before
    assert comments(new) == comments(old)


UNFORMATTED = ROOT / "docs/examples/unformatted.cnn"  # docs/cli.md's fmt example, kept messy


def squeezed(text: str) -> str:
    """The spec as typed without alignment: every run of blanks outside comments one space."""
    lines = []
    for line in text.split("\n"):
        code, hash_, comment = line.partition("#")
        if '"' in code or code.rstrip().endswith("\\"):
            lines.append(line)
            continue
        lead = code[:len(code) - len(code.lstrip())]
        lines.append(lead + re.sub(r"[ \t]+", " ", code.strip()) + (" " if code.strip() and hash_
                                                                     else "") + hash_ + comment)
    return "\n".join(lines)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_specs_keep_their_meaning_and_are_idempotent(path):
    old = squeezed(path.read_text("utf-8"))
    new = format_text(old, str(path))
    assert new is not None
    assert_same_meaning(path, old, new)
    assert format_text(new, str(path)) == new


@pytest.mark.parametrize("path", [p for p in SPECS if p != UNFORMATTED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_specs_are_in_the_canonical_layout(path):
    text = path.read_text("utf-8")
    assert format_text(text, str(path)) == text
    assert format_text(UNFORMATTED.read_text("utf-8"), str(UNFORMATTED)) != UNFORMATTED.read_text()


def test_layout_of_a_block_and_its_runs():
    text = ("network  N\ninput 8x8x3\n\n\n\nblock b(f,stride = 1)\n c1 : conv f 3x3 pad=( 1 ,1 )  #a\n"
            "        long_name:  batchnorm -> relu\nend\nx: b 4 # one\nyy: b 4 stride=2    # two\n"
            "   flatten\n\n\n")
    assert format_text(text) == (
        "network N\ninput 8x8x3\n\nblock b(f, stride=1)\n"
        "  c1:        conv f 3x3 pad=(1, 1)  #a\n"
        "  long_name: batchnorm -> relu\nend\n"
        "x:  b 4           # one\nyy: b 4 stride=2  # two\n    flatten\n")


def test_continued_lines_strings_and_hashes_in_strings_are_kept():
    text = 'network N "a  #  b"   # c  \ninput 4\nd: dense 3 \\\n     -> relu\n'
    assert format_text(text) == 'network N "a  #  b"  # c\ninput 4\nd: dense 3 \\\n     -> relu\n'


@pytest.mark.parametrize("text, expected", [
    ("", ""),
    ("\n\n", ""),
    ("# only\n\n\n# c\n", "# only\n\n# c\n"),
    ("input 4\r\nd: dense 3  # x\r\n", "input 4\nd: dense 3  # x\n"),
    ("input 4\nd: dense 3", "input 4\nd: dense 3\n"),
    ("input 4\nblock b(f)\n# in\n  c: dense f\n\n\n  # last\nend\nx: b 2\n",
     "input 4\nblock b(f)\n  # in\n  c: dense f\n\n  # last\nend\nx: b 2\n"),
    ("input 4\nd:dense 3\ne :  dense 2\n", "input 4\nd: dense 3\ne: dense 2\n"),
    ("input 4\nd: dense 3 \\\n\ne: dense 2\n", "input 4\nd: dense 3 \\\n\ne: dense 2\n"),
])
def test_edge_cases(text, expected):
    assert format_text(text) == expected
    assert format_text(expected) == expected


def test_a_byte_order_mark_is_kept(tmp_path):
    spec = tmp_path / "bom.cnn"
    spec.write_bytes(b"\xef\xbb\xbfinput   4\n")
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_bytes() == b"\xef\xbb\xbfinput 4\n"


def test_the_meaning_check_can_fail():
    path = ROOT / "specs/lenet5.cnn"
    old = path.read_text("utf-8")
    with pytest.raises(AssertionError):
        assert_same_meaning(path, old, old.replace("pad=2", "pad=1"))
    with pytest.raises(AssertionError):
        assert_same_meaning(path, old, "\n" + old.replace("# 14x14x6", "# 14x14"))


def test_syntax_errors_give_none():
    assert format_text("input 28x28x1\nc1: conv 3 3x3 pad=(1\n") is None


# random variants of the shipped specs

def _continued(lines: list[str], i: int) -> bool:
    """Whether line i continues or is continued (those lines are kept as written)."""
    ends = [line.split("#")[0].rstrip().endswith("\\") for line in lines]
    return ends[i] or (i > 0 and ends[i - 1])


def _respace_code(code: str, draw) -> str:
    pieces = re.split(r'("[^"\n]*")', code)
    out = []
    for k, piece in enumerate(pieces):
        if k % 2:
            out.append(piece)
            continue
        piece = re.sub(r"[ \t]+", lambda m: draw(st.sampled_from([" ", "  ", "\t", " \t  "])), piece)
        piece = re.sub(r"(?<=[A-Za-z0-9_)])(?<![=<>!])=(?!=)",
                       lambda m: draw(st.sampled_from(["=", " = ", "= ", " ="])), piece)
        piece = re.sub(r", ", lambda m: draw(st.sampled_from([", ", ",", " , "])), piece)
        piece = re.sub(r"\(", lambda m: draw(st.sampled_from(["(", "( "])), piece)
        piece = re.sub(r"\)", lambda m: draw(st.sampled_from([")", " )"])), piece)
        piece = re.sub(r"^(\s*[A-Za-z_][A-Za-z0-9_]*):", lambda m: m.group(1) + draw(
            st.sampled_from([":", " :", ":"])), piece)
        out.append(piece)
    return "".join(out)


def _respace_line(line: str, draw) -> str:
    stripped = line.strip(" \t")
    if not stripped:
        return draw(st.sampled_from(["", " ", "\t"]))
    masked = re.sub(r'"[^"\n]*"', lambda m: "_" * len(m.group()), stripped)
    cut = masked.index("#") if "#" in masked else len(stripped)
    code, comment = stripped[:cut], stripped[cut:]
    indent = draw(st.sampled_from(["", " ", "  ", "\t", "    "]))
    gap = draw(st.sampled_from(["", " ", "\t", "     "])) if code.strip() and comment else ""
    return indent + _respace_code(code.rstrip(" \t"), draw) + gap + comment


@st.composite
def respaced(draw):
    """A shipped spec with every gap between tokens re-spaced: formats to the same bytes."""
    path = draw(st.sampled_from(SPECS))
    lines = path.read_text("utf-8").split("\n")
    out = [line if _continued(lines, i) else _respace_line(line, draw) for i, line in enumerate(lines)]
    return path, "\n".join(out)


@given(respaced())
@FEW
def test_respaced_specs_format_to_the_same_bytes(case):
    path, text = case
    original = format_text(path.read_text("utf-8"), str(path))
    assert format_text(text, str(path)) == original


@st.composite
def annotated(draw):
    """A shipped spec with blank lines, full-line and trailing comments added at random."""
    path = draw(st.sampled_from(SPECS))
    lines = path.read_text("utf-8").split("\n")
    out = []
    for i, line in enumerate(lines):
        if not _continued(lines, i) and (i == 0 or not _continued(lines, i - 1)):
            out.extend(draw(st.lists(st.sampled_from(["", "  ", "# note", "   #  indented note  "]),
                                     max_size=2)))
        if not _continued(lines, i) and "#" not in line and line.strip() and draw(st.booleans()):
            line += draw(st.sampled_from(["  # t", "# tight", "\t#\ttab"]))
        out.append(line)
    return path, "\n".join(out)


@given(annotated())
@FEW
def test_annotated_specs_keep_meaning_and_comments_and_are_idempotent(case):
    path, text = case
    new = format_text(text, str(path))
    assert_same_meaning(path, text, new)
    assert format_text(new, str(path)) == new
    assert "\n\n\n" not in new and not new.startswith("\n")


# the command

def _copy(tmp_path: Path, name: str) -> Path:
    """A shipped spec as typed without alignment (so that fmt has work to do)."""
    target = tmp_path / Path(name).name
    target.write_text(squeezed((ROOT / name).read_text("utf-8")), "utf-8")
    return target


def test_rewrites_in_place_keeping_the_mode(tmp_path, capsys):
    spec = _copy(tmp_path, "specs/lenet5.cnn")
    os.chmod(spec, 0o640)
    assert main(["fmt", str(spec)]) == 0
    assert stat.S_IMODE(spec.stat().st_mode) == 0o640
    assert spec.read_text("utf-8") == (ROOT / "specs/lenet5.cnn").read_text("utf-8")
    assert f"reformatted {spec}" in capsys.readouterr().err
    assert main(["fmt", "--check", str(spec)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["lenet5.cnn"]  # no temporary file left


def test_check_and_diff_write_nothing(tmp_path, capsys):
    spec = _copy(tmp_path, "specs/lenet5.cnn")
    before = spec.read_bytes()
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"would reformat {spec}\n"
    assert main(["fmt", "--diff", str(spec)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- {spec} (original)\n+++ {spec} (formatted)\n@@")
    assert "+c1:  conv 6 5x5 pad=2 -> sigmoid  # pad 2" in out
    assert spec.read_bytes() == before


def test_a_file_with_syntax_errors_is_reported_and_left_alone(tmp_path, capsys):
    bad = tmp_path / "bad.cnn"
    bad.write_text("input   28x28x1\nc1: conv 3 3x3 pad=(1\n")
    good = _copy(tmp_path, "specs/lenet5.cnn")
    assert main(["fmt", str(bad), str(good)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:22: error[E001]" in err and "Traceback" not in err
    assert bad.read_text() == "input   28x28x1\nc1: conv 3 3x3 pad=(1\n"
    assert good.read_text("utf-8") == format_text(good.read_text("utf-8"))


def test_unreadable_and_non_utf8_files_exit_2(tmp_path, capsys):
    latin = tmp_path / "latin.cnn"
    latin.write_bytes(b"input 4 # caf\xe9\n")
    assert main(["fmt", str(latin), str(tmp_path / "missing.cnn")]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "missing.cnn" in err
    assert latin.read_bytes() == b"input 4 # caf\xe9\n"


def test_fmt_imports_no_framework(tmp_path):
    spec = _copy(tmp_path, "specs/zoo/resnet50.cnn")
    code = ("import sys; from cnnspec.cli import main; main(['fmt', '--check', sys.argv[1]]); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert out.stdout.strip().endswith("[]"), out.stderr


def test_the_guard_keeps_a_layout_that_would_change_the_tree(monkeypatch):
    import cnnspec.formatter as F
    text = "input 4\nd: dense 3   bias = false\n"
    monkeypatch.setattr(F, "_TIGHT", ((re.compile(r"false"), "true"),))  # an unsafe rule
    assert format_text(text) == "input 4\nd: dense 3 bias = false\n"  # the cautious layout
    monkeypatch.setattr(F, "layout", lambda text, spec, tight=True: ("input 5\n", ()))
    assert format_text(text) == text  # no layout passes: the text stays as written


def test_if_parts_of_a_run_are_aligned():
    """Optional lines of a block read as a table: their `if` parts start in one column."""
    from cnnspec.formatter import format_text
    text = ("network t\ninput 8x8x3\nblock b(s=1)\n  a: conv 4 1x1 stride=s if s != 1\n"
            "  long_name: batchnorm eps=0.001   if s != 1\n  c: relu\nend\nu: b 2\n")
    lines = format_text(text).splitlines()
    columns = {line.index(" if ") for line in lines if " if " in line}
    assert len(columns) == 1 and format_text(format_text(text)) == format_text(text)
