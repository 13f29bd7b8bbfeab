"""Document symbols: the blocks (with their layers) and the named layers, as an outline."""

from __future__ import annotations

from lsprotocol import types as T

from .. import syntax as S
from .analysis import Analysis


def _layer(layer: S.Layer, to_range) -> T.DocumentSymbol:
    return T.DocumentSymbol(name=layer.name, detail=layer.kind, kind=T.SymbolKind.Variable,
                            range=to_range(layer.span), selection_range=to_range(layer.name_span))


def document_symbols(a: Analysis, to_range) -> list[T.DocumentSymbol]:
    out = []
    for stmt in a.spec.statements if a.spec else ():
        if isinstance(stmt, S.Block):
            children = [_layer(x, to_range) for x in stmt.body if x.name]
            out.append(T.DocumentSymbol(name=stmt.name, detail="block", kind=T.SymbolKind.Class,
                                        range=to_range(stmt.span), children=children,
                                        selection_range=to_range(stmt.name_span)))
        elif isinstance(stmt, S.Layer) and stmt.name:
            out.append(_layer(stmt, to_range))
    return out
