"""`cnnspec lsp`: a language server for .cnn files (diagnostics, hover, go to definition).

analysis.py and lookup.py are plain Python over the checker's results (no pygls); hover.py
writes the hover text; server.py is the pygls server that calls them, imported only when the
command runs (pygls is the optional extra `cnnspec[lsp]`).
"""
