"""Reusing another spec: `import "base.cnn" as base` and `use base [until LAYER]`.

The imported spec is parsed and checked on its own (it must be clean); `use` then inlines its
layers, under their own names (so the base's portable weights keep their keys), into this
spec's chain, tagged with the import's alias as their group, and re-checks them here.

Each file is read and checked once per analysis, however many specs import it and however
often (Imports caches the result by the file's real path), and the imports are bounded in
depth, number of files and characters (limits.py).

An import path is relative to the folder of the importing spec's real file: a spec reached
through a symbolic link imports what it imports beside its target, as Python does for a
script run through a link, so a spec means the same wherever it is linked from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import syntax as S
from .diagnostics import Diagnostics
from .limits import MAX_IMPORT_DEPTH, MAX_IMPORTED_FILES, MAX_IMPORTED_TEXT
from .source import SourceFile


@dataclass
class Base:
    alias: str
    path: str
    source: SourceFile
    entries: list  # (S.Layer, name) in order, names as the base resolved them
    input: S.InputDecl | None
    network: object  # ir.Network of the base, for its input shape and names
    blocks: tuple = ()  # the base's block definitions (S.Block), which its lines may use
    line_names: tuple = ()  # every entry's name as the base resolved it (automatic ones too)


@dataclass(frozen=True)
class _Checked:
    """A clean imported spec, as every import of it shares it."""

    source: SourceFile
    entries: list
    input: S.InputDecl | None
    network: object
    blocks: tuple = ()
    line_names: tuple = ()


@dataclass(frozen=True)
class _Failed:
    """Why an imported file cannot be used: reported at every line importing it."""

    code: str
    message: Callable[[str], str]  # of the path as the importing line wrote it
    hint: str | None
    cause: str = ""  # for E206: where the first error really is, however deep


@dataclass
class _Shared:
    checked: dict[str, _Checked | _Failed] = field(default_factory=dict)
    causes: dict = field(default_factory=dict)  # Span of an E206 -> the error it stands for
    files: int = 0  # imported files read so far (a file is cached only once checked)
    text: int = 0  # characters of the imported files read so far


@dataclass(frozen=True)
class Imports:
    """One analysis's imports: the chain of real paths down to this spec, and the cache."""

    stack: tuple[str, ...]
    shared: _Shared

    @classmethod
    def root(cls, source: SourceFile) -> Imports:
        return cls((os.path.realpath(source.name),), _Shared())

    def below(self, key: str) -> Imports:
        return Imports((*self.stack, key), self.shared)


def resolve_import(decl: S.ImportDecl, source: SourceFile, imports: Imports,
                   diags: Diagnostics) -> Base | None:
    result = _lookup(decl, source, imports)
    if isinstance(result, _Failed):
        diags.error(result.code, decl.span, result.message(decl.path), result.hint)
        if result.cause:
            imports.shared.causes[decl.span] = result.cause
        return None
    return Base(decl.alias, decl.path, result.source, result.entries, result.input, result.network,
                result.blocks, result.line_names)


def _lookup(decl: S.ImportDecl, source: SourceFile, imports: Imports) -> _Checked | _Failed:
    try:
        path = _locate(decl.path, source.name)
        key = os.path.realpath(path)
    except (OSError, ValueError) as error:
        return _unreadable(error)
    refused = _refused(key, imports)
    if refused is not None:
        return refused
    if key not in imports.shared.checked:
        imports.shared.checked[key] = _read_and_check(path, key, imports)
    return imports.shared.checked[key]


def _locate(path: str, importer: str) -> Path:
    """The file an import names; relative paths start at the importer's real folder."""
    candidate = Path(path)
    if not candidate.is_absolute():
        folder = Path(os.path.realpath(importer) if os.path.islink(importer) else importer).parent
        candidate = folder / candidate
    if not candidate.is_file():
        raise FileNotFoundError(0, "not a regular file" if candidate.exists() else "no such file")
    return candidate


def _unreadable(error: Exception) -> _Failed:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return _Failed("E205", lambda path: f"cannot read imported spec '{path}': {reason}",
                   "paths are relative to the importing spec's folder")


def _refused(key: str, imports: Imports) -> _Failed | None:
    """A self-import, a cycle, nesting too deep or too many files: nothing is read."""
    names = [Path(p).name for p in (*imports.stack, key)]
    if key == imports.stack[-1]:
        return _Failed("E204", lambda _path: f"a spec cannot import itself ('{names[-1]}')",
                       "remove this import, or import another file")
    if key in imports.stack:
        chain = " -> ".join(names[imports.stack.index(key):])
        return _Failed("E204", lambda _path: f"import cycle: {chain}", "a spec cannot import, directly or not, "
                       "a spec that imports it")
    if len(imports.stack) > MAX_IMPORT_DEPTH:
        chain = " -> ".join(names)
        return _Failed("E004", lambda _path: f"imports nested more than {MAX_IMPORT_DEPTH} deep: {chain}",
                       f"at most {MAX_IMPORT_DEPTH} levels of imports "
                       "below the spec being checked; there is no cycle")
    if key not in imports.shared.checked and imports.shared.files >= MAX_IMPORTED_FILES:
        return _Failed("E004", lambda _path: f"more than {MAX_IMPORTED_FILES} files imported",
                       f"one check may import at most {MAX_IMPORTED_FILES} different files")
    return None


def _read_and_check(path: Path, key: str, imports: Imports) -> _Checked | _Failed:
    imports.shared.files += 1
    try:
        base_source = SourceFile.read(path)
    except (OSError, ValueError) as error:
        return _unreadable(error)
    imports.shared.text += len(base_source.text)
    if imports.shared.text > MAX_IMPORTED_TEXT:
        return _Failed("E004", lambda _path: f"the imported specs hold more than {MAX_IMPORTED_TEXT:,} characters",
                       f"one check may import at most {MAX_IMPORTED_TEXT:,} characters in all")
    return _check_base(base_source, imports.below(key))


def _check_base(base_source: SourceFile, imports: Imports) -> _Checked | _Failed:
    """Parse and check an imported file; an E206 quotes its first error, or what that stands for."""
    from .checker import Checker
    from .parser import parse
    spec, base_diags = parse(base_source)
    checker = Checker(base_source, spec, base_diags, imports) if spec else None
    network = checker.run() if checker else None
    if network is None or base_diags.has_errors():
        first = next((d for d in base_diags.sorted() if d.severity == "error"), None)
        cause = first and (imports.shared.causes.get(first.span)
                           or f"{first.span.file}:{first.span.line}:{first.span.col}: {first.message}")
        where = f": {cause}" if cause else ""
        return _Failed("E206", lambda path: f"the imported spec '{path}' has errors{where}",
                       f"run 'cnnspec check {base_source.name}'", cause or "")
    entries = [(layer, name) for (layer, name, _group) in checker.entries]
    return _Checked(base_source, entries, checker.input, network, tuple(checker.blocks),
                    tuple(checker.line_names))


def use_entries(use: S.UseDecl, base: Base, diags: Diagnostics) -> list | None:
    """The base's lines up to `until` (all of them without it). On a graph base, `until X`
    keeps X's ancestors only: the lines X depends on, in order (X a top-level line or a block
    instance; the next line of the spec reads X)."""
    if use.until is None:
        return [(layer, name, base.alias) for layer, name in base.entries]
    names = list(base.line_names)
    if use.until not in names:
        diags.error("E202", use.span, f"'{base.alias}' has no layer named '{use.until}'",
                    _until_hint(use.until, names, base))
        return None
    stop = names.index(use.until) + 1
    keep = _ancestor_lines(base, use.until)
    return [(layer, name, base.alias) for (layer, name), line in zip(base.entries[:stop], names)
            if line in keep]


def _until_hint(until: str, names: list[str], base: Base) -> str:
    from .args import did_you_mean
    if "." in until and until.partition(".")[0] in names:
        return f"'until' names a top-level layer or block instance of '{base.alias}', " \
            f"not a layer inside one: e.g. '{until.partition('.')[0]}'"
    return did_you_mean(until, names) or f"'{base.alias}' has: {', '.join(names[:20])}"


def _ancestor_lines(base: Base, until: str) -> set[str]:
    """The top-level line names whose nodes `until` depends on (itself included)."""
    from .graph import ancestors, edges_of
    net = base.network
    inside = net.instance_nodes(until)
    last = inside[-1].name if inside else until  # an instance stands for its output
    if last not in {n.name for n in net.nodes}:
        return {until}
    return {name.partition(".")[0] for name in ancestors(edges_of(net.nodes), [last])} | {until}
