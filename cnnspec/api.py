"""The public API: load, compile, build (design.md section 5)."""

from __future__ import annotations

import errno
import gc
import os

from .checker import check
from .diagnostics import Diagnostic, Diagnostics, SpecError
from .ir import Network
from .parser import parse
from .source import SourceFile

TARGETS = ("numpy", "torch", "keras", "onnx")  # onnx: a binary model (backends/onnx.py)
VERIFY_TARGETS = ("numpy", "torch", "keras")  # what `verify` compares unless told otherwise


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


def load(path: str | os.PathLike) -> Network:
    """Load the spec file at `path` (never spec text: that is `loads`).

    Raises SpecError for a spec with errors, and OSError for a file that cannot be read:
    FileNotFoundError, PermissionError, source.NotRegularFileError (a FIFO, a device, a
    directory)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"cnnspec.load takes a path (str or Path), not {type(path).__name__}; "
                        "use cnnspec.loads for spec text")
    return load_source(read_spec_file(path))


def read_spec_file(path: str | os.PathLike) -> SourceFile:
    """The file at `path`; a missing one is a FileNotFoundError naming it (and loads), and so is
    a name too long to be a file's (spec text given where a path belongs, as a rule)."""
    try:
        return SourceFile.read(path)
    except OSError as err:
        if not isinstance(err, FileNotFoundError) and err.errno != errno.ENAMETOOLONG:
            raise
        raise FileNotFoundError(errno.ENOENT, "no such spec file (for spec text use "
                                "cnnspec.loads)", os.fspath(path)) from None


def loads(text: str, name: str = "<string>") -> Network:
    """Load a spec from its text; `name` stands for the file in diagnostics and summaries."""
    if not isinstance(text, str):
        raise TypeError(f"cnnspec.loads takes spec text (str), not {type(text).__name__}")
    return load_source(SourceFile.from_text(text, name))


def compile(network: Network, target: str) -> str | bytes:
    """The generated source text; for "onnx" the model's bytes (weights from seed 0: for others
    use cnnspec.backends.onnx.export/serialize)."""
    if target == "onnx":
        from .backends.onnx import serialize
        return serialize(network)
    from .backends import generate
    return generate(network, target)


def build(network: Network, target: str, weights=None, seed: int = 0, dtype: str = "float32"):
    from .runtime import build_model
    return build_model(network, target, weights=weights, seed=seed, dtype=dtype)


def summary(spec, *, stage: str | None = None, depth: int | None = 1):
    """The summary object of a spec file or a Network (cnnspec/summary_api.py)."""
    from .summary_api import summary as make_summary
    return make_summary(spec, stage=stage, depth=depth)


__all__ = ["TARGETS", "VERIFY_TARGETS", "Diagnostics", "analyse", "build", "compile", "load", "load_source", "loads",
           "read_spec_file", "summary"]
