"""The pygls server: diagnostics on open, change and save; hover; go to definition;
document symbols; formatting. Every handler's failure is logged, never fatal: a language
server sees every half-typed line."""

from __future__ import annotations

import functools
import logging
import os
import sys
from urllib.parse import quote

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

from .. import syntax as S
from ..diagnostics import Diagnostic
from ..source import Span
from .analysis import Analysis, analyse_text, path_of
from .hover import hover_markdown
from .lookup import resolve, word_at

log = logging.getLogger("cnnspec.lsp")
SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning}


def guarded(default=None):
    """A handler whose exceptions are logged and answered with `default`."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args):
            try:
                return fn(*args)
            except Exception:  # any bug in a handler must not stop the server
                log.exception("cnnspec lsp: %s failed", fn.__name__)
                return default
        return run
    return wrap


class CnnspecServer(LanguageServer):
    def __init__(self):
        from .. import __version__
        super().__init__("cnnspec", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.analyses: dict[str, tuple[int | None, Analysis]] = {}

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis, redone when its version changed."""
        doc = self.workspace.get_text_document(uri)
        cached = self.analyses.get(uri)
        if cached is None or cached[0] != doc.version or cached[1].source.text != doc.source:
            self.analyses[uri] = (doc.version, analyse_text(doc.source, path_of(uri)))
        return self.analyses[uri][1]

    def to_client(self, uri: str, span: Span) -> T.Range:
        """A cnnspec span (1-based lines, columns in characters) as an LSP range."""
        doc = self.workspace.get_text_document(uri)
        lines = doc.lines
        start = _clamp(lines, span.line - 1, span.col - 1)
        end = _clamp(lines, span.end_line - 1, span.end_col - 1)
        return doc.position_codec.range_to_client_units(lines, T.Range(start, max(start, end, key=_key)))

    def from_client(self, uri: str, pos: T.Position) -> tuple[int, int]:
        doc = self.workspace.get_text_document(uri)
        p = doc.position_codec.position_from_client_units(doc.lines, pos)
        return p.line, p.character


def _key(p: T.Position):
    return p.line, p.character


def _clamp(lines, line: int, col: int) -> T.Position:
    """A position inside the text (a span past the end of the file ends at its last line)."""
    if not lines:
        return T.Position(0, 0)
    line = max(0, min(line, len(lines) - 1))
    return T.Position(line, max(0, min(col, len(lines[line].rstrip("\r\n")))))


def uri_of(path: str) -> str:
    return "file://" + quote(os.path.abspath(path))


server = CnnspecServer()


def lsp_diagnostic(ls: CnnspecServer, uri: str, a: Analysis, d: Diagnostic) -> T.Diagnostic:
    message = d.message + (f"\nhelp: {d.hint}" if d.hint else "")
    span = d.span
    if span.file != a.source.name:  # found in an imported spec: shown on the import line
        message = f"{span.file}:{span.line}:{span.col}: {message}"
        span = _import_line(a, span.file) or Span(span.file, 1, 1, 1, 1)
    return T.Diagnostic(range=ls.to_client(uri, span), message=message, code=d.code,
                        severity=SEVERITY.get(d.severity, T.DiagnosticSeverity.Error),
                        source="cnnspec")


def _import_line(a: Analysis, file: str) -> Span | None:
    """The `import` line of the spec `file` (else the first import line)."""
    for stmt in a.spec.statements if a.spec else ():
        if isinstance(stmt, S.ImportDecl) and os.path.basename(stmt.path) == os.path.basename(file):
            return stmt.span
    return next((s.span for s in (a.spec.statements if a.spec else ())
                 if isinstance(s, S.ImportDecl)), None)


@guarded()
def publish(ls: CnnspecServer, uri: str) -> None:
    a = ls.analysis(uri)
    diagnostics = [lsp_diagnostic(ls, uri, a, d) for d in a.diagnostics]
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CnnspecServer, params: T.DidOpenTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CnnspecServer, params: T.DidChangeTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CnnspecServer, params: T.DidSaveTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
@guarded()
def did_close(ls: CnnspecServer, params: T.DidCloseTextDocumentParams) -> None:
    ls.analyses.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


def _target(ls: CnnspecServer, uri: str, pos: T.Position):
    line, col = ls.from_client(uri, pos)
    doc = ls.workspace.get_text_document(uri)
    if line >= len(doc.lines):
        return None, None
    word = word_at(doc.lines[line], col)
    a = ls.analysis(uri)
    return a, (resolve(a, word, line + 1) if word else None)


@server.feature(T.TEXT_DOCUMENT_HOVER)
@guarded()
def hover(ls: CnnspecServer, params: T.HoverParams) -> T.Hover | None:
    a, target = _target(ls, params.text_document.uri, params.position)
    text = hover_markdown(a, target) if target else None
    if not text:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
@guarded()
def definition(ls: CnnspecServer, params: T.DefinitionParams) -> T.Location | None:
    uri = params.text_document.uri
    a, target = _target(ls, uri, params.position)
    if target is None:
        return None
    if target.span.file == a.source.name:
        return T.Location(uri=uri, range=ls.to_client(uri, target.span))
    start = _position_in_file(target.span)  # another file (an imported spec): read from disk
    return T.Location(uri=uri_of(target.span.file), range=T.Range(start, start))


def _position_in_file(span: Span) -> T.Position:
    """The start of a span in a file not open in the editor, its column in UTF-16 units."""
    from ..source import SourceFile
    try:
        line = SourceFile.read(span.file).line(span.line)
    except OSError:
        line = ""
    return T.Position(span.line - 1, len(line[:span.col - 1].encode("utf-16-le")) // 2)


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded(default=[])
def symbols(ls: CnnspecServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    from .symbols import document_symbols
    uri = params.text_document.uri
    return document_symbols(ls.analysis(uri), lambda span: ls.to_client(uri, span))


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
@guarded(default=None)
def formatting(ls: CnnspecServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    from ..formatter import format_text
    doc = ls.workspace.get_text_document(params.text_document.uri)
    new = format_text(doc.source, path_of(params.text_document.uri))
    if new is None or new == doc.source:
        return [] if new is not None else None
    return [T.TextEdit(range=T.Range(T.Position(0, 0), _end(doc.lines)), new_text=new)]


def _end(lines) -> T.Position:
    """The end of the document, in UTF-16 units."""
    if not lines or lines[-1].endswith("\n"):
        return T.Position(len(lines), 0)
    return T.Position(len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2)


def serve() -> None:
    """Serve on stdin and stdout. The protocol gets its own copy of the output; the process's
    stdout then points at stderr, so that nothing else written can break the stream."""
    logging.basicConfig(level=logging.WARNING, format="cnnspec lsp: %(levelname)s %(message)s")
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server.start_io(sys.stdin.buffer, protocol_out)
