"""`cnnspec lsp`: the language server over standard input and output (cnnspec/lsp/server.py)."""

from __future__ import annotations


def add_arguments(p) -> None:
    """The subcommand's arguments (registered by cnnspec.cli)."""
    p.add_argument("--stdio", action="store_true",
                   help="talk over standard input and output (the default and only transport; "
                   "accepted because editors' clients pass it)")


def run_lsp(args) -> int | str:
    """Serve until the client says exit; a message (exit status 2) when pygls is missing."""
    try:
        from .server import serve
    except ImportError as err:
        if not (err.name or "").startswith(("pygls", "lsprotocol")):
            raise
        return "cnnspec lsp needs pygls: pip install 'cnnspec[lsp]'"
    serve()
    return 0
