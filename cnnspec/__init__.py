"""cnnspec: a compiler for convolutional network architectures.

    net = cnnspec.load("specs/lenet5.cnn")   # raises cnnspec.SpecError with diagnostics
    net = cnnspec.loads(text)                # spec text instead of a path
    print(cnnspec.summary("specs/lenet5.cnn"))  # the table of `cnnspec summary` (or a Network)
    cnnspec.summary(net).to_dict()           # the JSON object of `cnnspec summary --format json`
    cnnspec.compile(net, "torch")            # Python source text
    cnnspec.build(net, "numpy")              # a live model
"""

from __future__ import annotations

from .api import build, compile, load, load_source, loads, summary
from .diagnostics import Diagnostic, SpecError
from .ir import Network, Node

__all__ = ["Diagnostic", "Network", "Node", "SpecError", "build", "compile", "load", "load_source",
           "loads", "summary"]
__version__ = "0.1.0"
