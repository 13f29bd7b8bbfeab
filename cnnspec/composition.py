"""Reusing another spec: `import "base.cnn" as base` and `use base [until LAYER]`.

The imported spec is parsed and checked on its own (it must be clean); `use` then inlines its
layers, under their own names (so the base's portable weights keep their keys), into this
spec's chain, tagged with the import's alias as their group, and re-checks them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import syntax as S
from .diagnostics import Diagnostics
from .source import SourceFile

MAX_DEPTH = 16


@dataclass
class Base:
    alias: str
    path: str
    source: SourceFile
    entries: list  # (S.Layer, name) in order, names as the base resolved them
    input: S.InputDecl | None
    network: object  # ir.Network of the base, for its input shape and names


def resolve_import(decl: S.ImportDecl, source: SourceFile, stack: tuple[str, ...],
                   diags: Diagnostics) -> Base | None:
    from .checker import Checker
    from .parser import parse
    path = _locate(decl.path, source.name)
    key = str(path.resolve()) if path else decl.path
    if key in stack or len(stack) >= MAX_DEPTH:
        chain = " -> ".join(Path(p).name for p in (*stack, key))
        diags.error("E204", decl.span, f"import cycle: {chain}", "a spec cannot import itself")
        return None
    try:
        base_source = SourceFile.read(path) if path else None
    except OSError:
        base_source = None
    if base_source is None:
        diags.error("E205", decl.span, f"cannot read imported spec '{decl.path}'",
                    "paths are relative to the importing spec's folder")
        return None
    spec, base_diags = parse(base_source)
    checker = Checker(base_source, spec, base_diags, (*stack, key)) if spec else None
    network = checker.run() if checker else None
    if network is None or base_diags.has_errors():
        first = base_diags.errors[0] if base_diags.errors else None
        where = f": {first.span.file}:{first.span.line}:{first.span.col}: {first.message}" if first else ""
        diags.error("E206", decl.span, f"the imported spec '{decl.path}' has errors{where}",
                    f"run 'cnnspec check {decl.path}'")
        return None
    entries = [(layer, name) for (layer, name, _group) in checker.entries]
    return Base(decl.alias, decl.path, base_source, entries, checker.input, network)


def _locate(path: str, importer: str) -> Path | None:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = Path(importer).parent / candidate
    return candidate if candidate.is_file() else None


def use_entries(use: S.UseDecl, base: Base, diags: Diagnostics) -> list | None:
    """The base's layers up to and including `until` (all of them without it)."""
    names = [node.name for node in base.network.layers]  # automatic names included
    if use.until is None:
        return [(layer, name, base.alias) for layer, name in base.entries]
    if use.until not in names:
        from .args import did_you_mean
        hint = did_you_mean(use.until, names) or f"'{base.alias}' has: {', '.join(names)}"
        diags.error("E202", use.span, f"'{base.alias}' has no layer named '{use.until}'", hint)
        return None
    stop = names.index(use.until) + 1
    return [(layer, name, base.alias) for layer, name in base.entries[:stop]]
