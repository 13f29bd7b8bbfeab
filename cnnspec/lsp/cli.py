"""`cnnspec lsp`: the language server over standard input and output (cnnspec/lsp/server.py)."""

from __future__ import annotations

import importlib.util


def add_arguments(p) -> None:
    """The subcommand's arguments (registered by cnnspec.cli)."""
    p.add_argument("--stdio", action="store_true",
                   help="talk over standard input and output (the default and only transport; "
                   "accepted because editors' clients pass it)")


def run_lsp(args) -> int | str:
    """Serve until the client says exit; a message (exit status 2) when pygls is missing."""
    if importlib.util.find_spec("pygls") is None:
        return "cnnspec lsp needs pygls: pip install 'cnnspec[lsp]'"
    from .server import serve
    serve()
    return 0
