"""The public API: load, compile, build (design.md section 5)."""

from __future__ import annotations

import gc
from pathlib import Path

from .checker import check
from .diagnostics import Diagnostic, Diagnostics, SpecError
from .ir import Network
from .parser import parse
from .source import SourceFile

TARGETS = ("numpy", "torch", "keras")


def analyse(source: SourceFile) -> tuple[Network | None, list[Diagnostic]]:
    """Parse and check; returns the network (None if it could not be built) and all diagnostics."""
    collecting = gc.isenabled()
    gc.disable()  # parsing creates many small objects and no cycles: the collector only costs time
    try:
        return _analyse(source)
    finally:
        if collecting:
            gc.enable()


def _analyse(source: SourceFile) -> tuple[Network | None, list[Diagnostic]]:
    spec, diags = parse(source)
    if spec is None:
        return None, diags.sorted()
    return check(source, spec, diags), diags.sorted()


def load_source(source: SourceFile) -> Network:
    network, diagnostics = analyse(source)
    if network is None or any(d.severity == "error" for d in diagnostics):
        raise SpecError(source, list(diagnostics))
    return network


def load(path_or_text: str | Path) -> Network:
    """Load a spec from a path, or from spec text (anything containing a newline or 'input ')."""
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or ("\n" not in text and Path(text).exists()):
        return load_source(SourceFile.read(path_or_text))
    return load_source(SourceFile("<string>", text))


def compile(network: Network, target: str) -> str:
    from .backends import generate
    return generate(network, target)


def build(network: Network, target: str, weights=None, seed: int = 0, dtype: str = "float32"):
    from .runtime import build_model
    return build_model(network, target, weights=weights, seed=seed, dtype=dtype)


__all__ = ["TARGETS", "Diagnostics", "analyse", "build", "compile", "load", "load_source"]
