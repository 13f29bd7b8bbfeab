"""`cnnspec fmt`: one canonical layout for .cnn files, made line by line from the source text.

The parser only says which lines are layer lines (and which are named); the text itself is
re-spaced, never regenerated, so every comment stays exactly as written. The layout:
- tokens separated by single spaces (`k=v`, `(a, b)` without inner spaces around `=`, `(`,
  `)` and before `,`); strings and comments are kept byte for byte (trailing blanks dropped);
- block bodies indented two spaces, everything else at column 1;
- in each run of consecutive layer lines of one indentation, the kinds start in one column
  (`name:` padded); in each run of consecutive statement lines, the trailing comments start in
  one column, two spaces after the longest line that has one;
- full-line comments kept (at the indentation of their place), runs of blank lines collapsed to
  one, none at the start or end, one newline at the end. Options keep their written order.
- a statement continued with `\\` over several lines is kept as written (trailing blanks aside).

A guard re-parses the result: the syntax tree, spans aside, must equal the original's; if
not, a more cautious layout (whitespace collapsed only) is tried, and failing that the text is
left as it is.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from . import syntax as S
from .diagnostics import Diagnostics
from .parser import _continues, parse
from .source import SourceFile, Span

_BLANKS = " \t\f"
_PIECES = re.compile(r'"[^"\n]*"|[ \t\f]+|[^" \t\f]+|"')
_TIGHT = ((re.compile(r" ?(?<![=<>!])=(?![=]) ?"), "="), (re.compile(r"\( "), "("),
          (re.compile(r" \)"), ")"), (re.compile(r" ,"), ","), (re.compile(r",(?! )"), ", "))


@dataclass
class Item:
    """One statement's physical lines (several for a `\\` continuation), or a blank/comment line."""

    kind: str            # "blank", "comment", "code" or "verbatim"
    lines: list[str]     # as written, without the newline
    depth: int = 0
    code: str = ""       # the statement, re-spaced (name and colon apart for a named layer)
    name: str | None = None
    layer: bool = False
    comment: str = ""
    head: str = ""       # the code with its aligned name
    rendered: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """The formatted text (None when the file has syntax errors), its diagnostics, and for
    every line of the input its line in the output (None for a dropped blank line)."""

    text: str | None
    diagnostics: Diagnostics
    line_map: tuple


def format_source(source: SourceFile) -> Result:
    spec, diags = parse(source)
    if spec is None:
        return Result(None, diags, ())
    shape = _tree(spec)
    for tight in (True, False):
        text, line_map = layout(source.text, spec, tight)
        if text == source.text or _tree(parse(SourceFile(source.name, text))[0]) == shape:
            return Result(text, diags, line_map)
    return Result(source.text, diags, tuple(range(1, source.text.count("\n") + 2)))


def format_text(text: str, name: str = "<string>") -> str | None:
    """The canonical layout of spec text; None when it has syntax errors."""
    return format_source(SourceFile(name, text)).text


def _tree(node):
    """A syntax tree with every Span left out: what the layout must not change."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(
            _tree(getattr(node, f.name)) for f in dataclasses.fields(node))
    if isinstance(node, (list, tuple)):
        return tuple(_tree(x) for x in node)
    return node


def layout(text: str, spec: S.Spec, tight: bool = True) -> tuple[str, tuple]:
    items = _items(text, _layer_lines(spec), tight)
    out, line_map = [], []
    for item in _drop_blanks(items):
        if item is None:
            line_map.append(None)
            continue
        line_map.extend(len(out) + 1 + k for k in range(len(item.lines)))
        out.extend(item.rendered)
    return ("\n".join(out) + "\n" if out else ""), tuple(line_map)


def _layer_lines(spec: S.Spec) -> dict[int, str | None]:
    """Line -> the layer's name (None when unnamed), for the layers written on one line."""
    found = {}
    for stmt in spec.statements:
        for layer in stmt.body if isinstance(stmt, S.Block) else (stmt,):
            if isinstance(layer, S.Layer) and layer.span.line == layer.span.end_line:
                found[layer.span.line] = layer.name
    return found


def _physical(text: str) -> list[str]:
    """The lines, each without its newline (and the '\\r' of a '\\r\\n')."""
    lines = text.split("\n")
    ended = lines[:-1]  # the lines a newline follows
    return [line.removesuffix("\r") for line in ended] + ([lines[-1]] if lines[-1] else [])


def _items(text: str, layers: dict, tight: bool) -> list[Item]:
    lines, items, depth, i = _physical(text), [], 0, 0
    while i < len(lines):
        j = i
        while j < len(lines) - 1 and _continues(lines[j]):
            j += 1
        item = _item(lines[i:j + 1], i + 1, layers, tight)
        if item.kind in ("code", "verbatim") and _word(item) == "end" and not item.layer:
            depth = 0
        item.depth = depth
        if item.kind in ("code", "verbatim") and _word(item) == "block" and not item.layer:
            depth = 1
        items.append(item)
        i = j + 1
    _align(items)
    return items


def _word(item: Item) -> str:
    return (item.code or item.lines[0].strip(_BLANKS)).split(" ")[0]


def _item(lines: list[str], number: int, layers: dict, tight: bool) -> Item:
    first = lines[0].strip(_BLANKS)
    if len(lines) > 1:
        return Item("verbatim", [line.rstrip(_BLANKS) for line in lines], layer=number in layers)
    if not first:
        return Item("blank", lines)
    if first.startswith("#"):
        return Item("comment", lines, comment=first)
    code, comment = _split_comment(first)
    item = Item("code", lines, comment=comment, layer=number in layers)
    if layers.get(number) is not None:
        colon = code.index(":")
        item.name, code = code[:colon].strip(_BLANKS), code[colon + 1:]
    item.code = _respace(code, tight)
    return item


def _split_comment(line: str) -> tuple[str, str]:
    """The code and the comment (from the first '#' outside a string) of one line."""
    pos = 0
    for piece in _PIECES.finditer(line):
        if not piece.group().startswith('"') and "#" in piece.group():
            pos = piece.start() + piece.group().index("#")
            return line[:pos].rstrip(_BLANKS), line[pos:].rstrip(_BLANKS)
    return line, ""


def _respace(code: str, tight: bool) -> str:
    pieces = [p for p in _PIECES.findall(code.strip(_BLANKS)) if p.strip(_BLANKS)]
    strings = [p for p in pieces if p.startswith('"')]
    masked = " ".join("\x00" if p.startswith('"') else p for p in pieces)
    if tight:
        for pattern, repl in _TIGHT:
            masked = pattern.sub(repl, masked)
    parts = masked.split("\x00")
    return parts[0] + "".join(s + rest for s, rest in zip(strings, parts[1:]))


def _runs(items: list[Item], member) -> list[list[Item]]:
    """Maximal runs of consecutive items that `member` accepts, of one depth."""
    runs, current = [], []
    for item in items:
        if member(item) and current and current[-1].depth == item.depth:
            current.append(item)
            continue
        if current:
            runs.append(current)
        current = [item] if member(item) else []
    return runs + ([current] if current else [])


def _align(items: list[Item]) -> None:
    for item in items:
        item.head = item.code if item.kind == "code" else ""
    for run in _runs(items, lambda it: it.kind == "code" and it.layer):
        width = max((len(it.name) + 2 for it in run if it.name is not None), default=0)
        for it in run:
            label = "" if it.name is None else it.name + ":"
            it.head = (label.ljust(width) if width else "") + it.code
        _align_conditions(run)
    for run in _runs(items, lambda it: it.kind == "code"):
        column = max((len(it.head) + 2 for it in run if it.comment), default=0)
        for it in run:
            it.rendered = ["  " * it.depth + (it.head.ljust(column) + it.comment if it.comment
                                                else it.head)]
    for item in items:
        if item.kind == "comment":
            item.rendered = ["  " * item.depth + item.comment]
        elif item.kind == "verbatim":
            item.rendered = item.lines
        elif item.kind == "blank":
            item.rendered = [""]


def _align_conditions(run: list[Item]) -> None:
    """The `if` parts of a run's layer lines start in one column, two spaces after the
    longest layer before its `if` (as resnet50.cnn aligns its optional lines)."""
    conditional = [it for it in run if " if " in it.head]
    if not conditional:
        return
    column = max(len(it.head.split(" if ", 1)[0]) for it in conditional) + 2
    for it in conditional:
        layer, condition = it.head.split(" if ", 1)
        it.head = layer.ljust(column) + "if " + condition


def _drop_blanks(items: list[Item]):
    """The items, with None in place of each blank line dropped (runs, and at the ends)."""
    last = max((k for k, it in enumerate(items) if it.kind != "blank"), default=-1)
    seen_code, previous_blank = False, False
    for k, item in enumerate(items):
        blank = item.kind == "blank"
        if blank and (not seen_code or previous_blank or k > last):
            yield None
            continue
        seen_code, previous_blank = True, blank
        yield item


# the command: `cnnspec fmt FILE... [--check] [--diff]` (docs/cli.md)

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
_BOM = "\ufeff"


def spec_paths(paths: list[str]) -> list[str]:
    """The files given, a folder standing for the .cnn files under it (sorted)."""
    from pathlib import Path
    out = []
    for path in paths:
        if Path(path).is_dir():
            out.extend(str(p) for p in sorted(Path(path).rglob("*.cnn")) if p.is_file())
        else:
            out.append(path)
    return out


def read_text(path: str) -> str:
    """The file's text, strictly UTF-8 (a byte that is not would be lost on rewriting).

    Raises OSError (unreadable) or ValueError (not UTF-8)."""
    from .source import read_limited
    raw = read_limited(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text (byte {err.start + 1})") from None


def format_file(path: str, args) -> str:
    """'changed', 'same' or 'errors' for one file; writes it unless --check or --diff."""
    import sys

    from .diagnostics import render_text
    text = read_text(path)
    bom = _BOM if text.startswith(_BOM) else ""
    source = SourceFile(path, text.removeprefix(_BOM))
    result = format_source(source)
    if result.text is None:
        print(render_text(source, result.diagnostics.sorted()), file=sys.stderr)
        print(f"{path}: not formatted: it has syntax errors", file=sys.stderr)
        return "errors"
    if result.text == source.text:
        return "same"
    if args.diff:
        sys.stdout.writelines(_diff(path, source.text, result.text))
    if args.check:
        print(f"would reformat {path}")
    if not (args.check or args.diff):
        from .output import write_atomic
        write_atomic(path, bom + result.text)
        print(f"reformatted {path}", file=sys.stderr)
    return "changed"


def _diff(path: str, old: str, new: str):
    import difflib
    for line in difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                     f"{path} (original)", f"{path} (formatted)"):
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def run_fmt(args) -> int:
    """Exit 1 for a file with syntax errors (or, with --check, one that would change); 2 for
    one that cannot be read or written (the others are still formatted)."""
    import sys
    counts = {"changed": 0, "same": 0, "errors": 0}
    unreadable = False
    for path in spec_paths(args.files):
        try:
            counts[format_file(path, args)] += 1
        except (OSError, ValueError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            print(f"cnnspec: error: cannot format {path}: {reason}", file=sys.stderr)
            unreadable = True
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    print(f"{counts['changed']} file(s) {verb}, {counts['same']} unchanged"
          + (f", {counts['errors']} with syntax errors" if counts["errors"] else ""), file=sys.stderr)
    if unreadable:
        return EXIT_USAGE
    return EXIT_ERRORS if counts["errors"] or (args.check and counts["changed"]) else EXIT_OK
