"""The TextMate grammar (editors/vscode/syntaxes/cnn.tmLanguage.json), issue 10.

The oracle is VS Code's own engine: vscode-textmate with the Oniguruma WebAssembly build
(`npm ci --prefix editors/vscode`, as scripts/test_tools.sh does), driven by editors/vscode/test/tokenize.js.
What the scopes must be comes from cnnspec itself: the keyword, kind and activation lists
from the Lark grammar and cnnspec.kinds, the layer names, kinds and shapes from the parser's
spans of every shipped spec.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lark import Lark

from cnnspec import syntax as S
from cnnspec.kinds import ACTIVATIONS, KINDS
from cnnspec.parser import grammar_text, parse
from cnnspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = json.loads((VSCODE / "syntaxes" / "cnn.tmLanguage.json").read_text())
SHIPPED = sorted([*ROOT.glob("specs/**/*.cnn"), *ROOT.glob("docs/examples/*.cnn")])
# words of the language that the expander reads rather than the Lark grammar (cnnspec/expand.py)
EXPANDER_WORDS = {"repeat", "first", "last"}

# constructs the shipped specs do not all show, in one spec that parses
EXTRA = '''network Extra "a # in a string is not a comment"   # but this is
import "base.cnn" as base
use base until pool2
input 32x32x3
output: conv 8 3x3 pad=(1, 1, 1, 1) stride=2 -> leaky_relu alpha=0.2
c2: conv (8*2) ?x? out=16x16x16 dilation=1 -> silu
flat_out: dense filters*4 bias=false
layer1: repeat 2 basic 64 first(stride=2) last(stride=1)
  dropout 0.5                     # unnamed
freeze conv1..c2, layer1.0.conv1
unfreeze c2 lr=1e-3
expect c2.shape == 16x16x16
m: add c2 \\
   flat_out \\
   layer1      # a statement continued over three lines
'''


def _node() -> str:
    node = shutil.which("node")
    assert node, "the TextMate tests need Node.js (apt-get install nodejs)"
    assert (VSCODE / "node_modules" / "vscode-textmate").is_dir(), \
        "run `npm ci --prefix editors/vscode` (vscode-textmate and vscode-oniguruma, the oracle)"
    return node


def _run_node(*args: str) -> object:
    out = subprocess.run([_node(), str(VSCODE / "test" / "tokenize.js"), *args],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[Path, str]:
    extra = tmp_path_factory.mktemp("tm") / "extra.cnn"
    extra.write_text(EXTRA)
    return {p: p.read_text("utf-8") for p in [*SHIPPED, extra]}


@pytest.fixture(scope="module")
def tokens(files) -> dict[Path, list]:
    """Every file's tokens, by VS Code's engine: {path: [[{start, end, scopes}], ...]}."""
    result = _run_node(*map(str, files))
    return {Path(name): lines for name, lines in result.items()}


def test_shipped_specs_are_found():
    assert len(SHIPPED) >= 20 and any("zoo" in p.parts for p in SHIPPED)


# --- the word lists are exactly the language's -----------------------------------------------

def _rules(node=GRAMMAR):
    """Every rule with a regex, anywhere in the grammar."""
    for rule in [*node.get("patterns", ()), *node.get("repository", {}).values()]:
        if "match" in rule or "begin" in rule:
            yield rule
        yield from _rules(rule)


_WORD_GROUP = re.compile(r"\((?!\?)([a-z0-9_]+(?:\|[a-z0-9_]+)*)\)")


def _group_number(pattern: str, at: int) -> int:
    """The number of the capturing group whose '(' is at `at`."""
    opens = re.findall(r"(?<!\\)\((?!\?)", pattern[:at + 1])
    return len(opens)


def _scoped_words() -> dict[str, set[str]]:
    """scope -> the words of the plain word alternations captured with that scope."""
    words: dict[str, set[str]] = {}
    for rule in _rules():
        pattern = rule.get("match") or rule["begin"]
        for m in _WORD_GROUP.finditer(pattern):
            capture = rule.get("captures", {}).get(str(_group_number(pattern, m.start())))
            scope = capture["name"] if capture else rule.get("name", "")
            words.setdefault(scope, set()).update(m.group(1).split("|"))
    return words


def _words(prefix: str) -> set[str]:
    return set().union(*(w for scope, w in _scoped_words().items() if scope.startswith(prefix)))


def _language_keywords() -> set[str]:
    """Every keyword of grammars/cnnspec.lark: its terminals that are plain lower-case words."""
    lark = Lark(grammar_text(), parser="lalr")
    return {t.pattern.value for t in lark.terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z]+", t.pattern.value)}


def test_keywords_are_exactly_the_languages():
    language = _language_keywords() | EXPANDER_WORDS
    assert {"network", "expect", "freeze", "block", "if", "until"} <= language  # the reader works
    assert _words("keyword.") == language


def test_kinds_are_exactly_cnnspec_kinds():
    assert _words("support.type.kind") == set(KINDS)


def test_activations_are_exactly_cnnspec_activations():
    assert _words("support.function.activation") == set(ACTIVATIONS)


# --- the regexes are in the subset that Oniguruma and Python's re read alike ------------------

ONIGURUMA_ONLY = (r"\G", r"\A", r"\z", r"\h", r"\p{", "(?>", "++", "*+", "?+", r"\k<", "(?<!\\w", "(?~")


def _patterns() -> list[str]:
    return [r.get(k) for r in _rules() for k in ("match", "begin", "end") if r.get(k)]


def test_every_pattern_compiles_with_python_re_and_avoids_oniguruma_only_syntax():
    assert len(_patterns()) > 20
    for pattern in _patterns():
        re.compile(pattern)
        assert not [c for c in ONIGURUMA_ONLY if c in pattern], pattern


def test_python_re_and_oniguruma_find_the_same_matches(files, tmp_path):
    """Each pattern, searched in every line of every spec (BMP text: offsets agree)."""
    lines = sorted({line for text in files.values() for line in text.split("\n")
                    if all(ord(c) < 0x10000 for c in line)})
    request = tmp_path / "search.json"
    request.write_text(json.dumps({"patterns": _patterns(), "lines": lines}))
    onig = _run_node("--search", str(request))
    for pattern, found in zip(_patterns(), onig):
        compiled = re.compile(pattern)
        for line, want in zip(lines, found):
            m = compiled.search(line)
            assert (m and [m.start(), m.end()]) == (want or None), (pattern, line)


# --- scopes of the shipped specs --------------------------------------------------------------

def _scopes_at(lines: list, line: int, col: int) -> list[str]:
    """The scopes of the character at 1-based (line, col)."""
    for tok in lines[line - 1]:
        if tok["start"] <= col - 1 < tok["end"]:
            return tok["scopes"]
    raise AssertionError(f"no token at {line}:{col}")


def _token_at(lines: list, line: int, col: int) -> dict:
    return next(t for t in lines[line - 1] if t["start"] <= col - 1 < t["end"])


def _assert_token(lines, span, scope: str, where: Path):
    """The span is exactly one token, and it has `scope`."""
    tok = _token_at(lines, span.line, span.col)
    assert (tok["start"], tok["end"]) == (span.col - 1, span.end_col - 1), (where, span)
    assert scope in tok["scopes"], (where, span, tok["scopes"])


def _comment_start(line: str) -> int | None:
    """The 0-based offset of the '#' that starts a comment: the first outside a string."""
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return i
    return None


def test_every_comment_character_and_nothing_else_is_comment(files, tokens):
    counted = 0
    for path, text in files.items():
        for n, line in enumerate(text.split("\n"), 1):
            start = _comment_start(line)
            for col in range(1, len(line.rstrip("\r")) + 1):
                is_comment = any(s.startswith("comment.line") for s in _scopes_at(tokens[path], n, col))
                assert is_comment == (start is not None and col - 1 >= start), (path, n, col)
                counted += is_comment
    assert counted > 5000


def _spec(path: Path, text: str) -> S.Spec:
    spec, diags = parse(SourceFile(str(path), text))
    assert spec is not None, [d.message for d in diags.items]
    return spec


def _layers(spec: S.Spec):
    """Every layer line, those of block bodies too."""
    for stmt in spec.statements:
        yield from (stmt.body if isinstance(stmt, S.Block) else [stmt] if isinstance(stmt, S.Layer) else [])


def test_layer_names_kinds_and_block_uses_get_their_scopes(files, tokens):
    seen = {"name": 0, "kind": 0, "block": 0, "repeat": 0}
    for path, text in files.items():
        spec = _spec(path, text)
        lines = tokens[path]
        for layer in _layers(spec):
            if layer.name_span:
                _assert_token(lines, layer.name_span, "entity.name.variable.layer.cnn", path)
                seen["name"] += 1
            if layer.kind in KINDS:
                _assert_token(lines, layer.kind_span, "support.type.kind.cnn", path)
                seen["kind"] += 1
            elif layer.kind == "repeat":
                _assert_token(lines, layer.kind_span, "keyword.control.repeat.cnn", path)
                _assert_token(lines, layer.args[1].span, "entity.name.type.block.cnn", path)
                seen["repeat"] += 1
            else:
                _assert_token(lines, layer.kind_span, "entity.name.type.block.cnn", path)
                seen["block"] += 1
    assert min(seen.values()) > 5, seen


def _values(layer: S.Layer):
    opts = [*layer.options, *(layer.activation.options if layer.activation else ())]
    yield from (*layer.args, *(o.value for o in opts))


def test_shapes_activations_blocks_and_strings_get_their_scopes(files, tokens):
    seen = {"dims": 0, "act": 0, "block": 0, "string": 0}
    for path, text in files.items():
        spec = _spec(path, text)
        lines = tokens[path]
        for layer in _layers(spec):
            for value in _values(layer):
                if value.kind == "dims":
                    _assert_token(lines, value.span, "constant.numeric.shape.cnn", path)
                    seen["dims"] += 1
            act = layer.activation
            if act is not None:
                col = text.split("\n")[act.span.line - 1].index(act.name, act.span.col - 1) + 1
                span = act.span._replace(col=col, end_col=col + len(act.name), end_line=act.span.line)
                if act.name in ACTIVATIONS:
                    _assert_token(lines, span, "support.function.activation.cnn", path)
                    seen["act"] += 1
                else:  # `-> act`, a block parameter naming the activation
                    assert "support.function.activation.cnn" not in _scopes_at(lines, span.line, col)
        for stmt in spec.statements:
            if isinstance(stmt, S.Block):
                _assert_token(lines, stmt.name_span, "entity.name.type.block.cnn", path)
                seen["block"] += 1
            if isinstance(stmt, S.NetworkDecl) and stmt.description:
                line = text.split("\n")[stmt.span.line - 1]
                col = line.index('"') + 2
                assert "string.quoted.double.cnn" in _scopes_at(lines, stmt.span.line, col)
                seen["string"] += 1
    assert min(seen.values()) > 5, seen


def test_statement_words_are_keywords_but_not_as_layer_names(tokens, files):
    extra = next(p for p in files if p.name == "extra.cnn")
    lines, text = tokens[extra], EXTRA.split("\n")
    for n, line in enumerate(text, 1):
        word = re.match(r"\s*(\w+)", line)
        if not word or word.group(1) not in _language_keywords():
            continue
        scopes = _scopes_at(lines, n, word.start(1) + 1)
        if line[word.end(1):].lstrip().startswith(":"):  # `output: conv ...` is a layer name
            assert "entity.name.variable.layer.cnn" in scopes, line
        else:
            assert any(s.startswith("keyword.") for s in scopes), line


def test_continued_lines_have_no_line_start(tokens, files):
    """After a line ending in '\\' the next line goes on with the statement: no layer name,
    kind or block use at its start."""
    extra = next(p for p in files if p.name == "extra.cnn")
    lines, text = tokens[extra], EXTRA.split("\n")
    heads = ("entity.name.variable.layer.cnn", "support.type.kind.cnn", "entity.name.type.block.cnn")
    continued = [n for n in range(2, len(text) + 1) if text[n - 2][:_comment_start(text[n - 2])]
                 .rstrip().endswith("\\")]
    assert len(continued) == 2
    for n in continued:
        assert not [t for t in lines[n - 1] if set(heads) & set(t["scopes"])], text[n - 1]
