"""What every NumPy emitter shares (core kinds in numpy.py, and numpy_convs, numpy_norms,
numpy_reshapes). A family's helper functions, written into generated modules only when used,
are listed in its HELPERS: name -> (source, names of the helpers it calls); an emitter method
adds a name to ``self.used`` to ask for one."""

from __future__ import annotations

from ..ir import Node


def tensor(node: Node, name: str) -> str:
    return f'p["{node.name}.{name}"]'
