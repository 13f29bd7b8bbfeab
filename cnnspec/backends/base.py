"""The emitter base shared by the NumPy, PyTorch and Keras generators.

An emitter walks ``network.nodes`` in their (topological) order and dispatches each node to the
method ``<node kind>_layer`` of its target (one method per kind, found by name, as sqlglot's
generator does); a kind without one is a located ``UnsupportedNode`` error, never wrong code.

Values. Generated code names the value of every node with ``value_names``:

- a value read only by the very next node (and not an output, unless it is the last node)
  stays ``x``, so a chain generates exactly the code it always did;
- every other value gets a variable named after its node: ``layer2.0.conv1`` ->
  ``layer2_0_conv1`` (dots become ``_``; a leading ``_`` gets ``layer`` in front; ``_`` is
  appended while the name is a keyword, a builtin, a name the target reserves, or already
  taken). The network input, when it needs a name, is ``input_`` (``inputs`` in Keras).

Outputs (``Network.output_nodes``, in the order of the spec's ``output`` line) are returned as
one value when there is one, else as a tuple (NumPy, PyTorch) or a list (Keras) in that order.
"""

from __future__ import annotations

import keyword

from ..graph import consumers
from ..ir import Network, Node
from ..kinds import NODE_KINDS
from ..names import BUILTINS, unique


def node_kinds() -> tuple[str, ...]:
    """Every node kind of the IR (cnnspec.kinds.NODE_KINDS, the one declaration)."""
    return tuple(NODE_KINDS)


class UnsupportedNode(ValueError):
    """A node kind a backend has no emitter for; the message names the node and its line."""


def python_name(name: str) -> str:
    """A spec name (possibly hierarchical) as a Python identifier: dots -> `_`, and `layer` in
    front of a leading `_` (no private names, no clash with generated helpers)."""
    ident = name.replace(".", "_")
    return "layer" + ident if ident.startswith("_") else ident


def stays_x(network: Network) -> set[str]:
    """The nodes whose value stays `x`: read by the next node only, and not an output unless
    it is the last node."""
    return x_values([(n.name, n.inputs) for n in network.nodes],
                    {n.name for n in network.output_nodes})


def x_values(items, outputs: set[str]) -> set[str]:
    """stays_x over (name, inputs) items in topological order (nodes, or whole blocks)."""
    readers = consumers(dict(items))
    keep = set()
    for i, (name, _) in enumerate(items):
        following = items[i + 1][0] if i + 1 < len(items) else None
        if all(r == following for r in readers[name]) and (name not in outputs or following is None):
            keep.add(name)
    return keep


def value_names(network: Network, reserved: frozenset[str], input_name: str = "input_",
                plain: set[str] | None = None) -> dict[str, str]:
    """node name -> the variable holding its value in generated code (see the module doc);
    `plain`: the values that stay `x` (default: stays_x)."""
    plain = stays_x(network) if plain is None else plain
    taken = set(reserved) | {"x", input_name} | set(keyword.kwlist) | BUILTINS
    names = {}
    for i, node in enumerate(network.nodes):
        if node.name in plain:
            names[node.name] = "x"
        else:
            names[node.name] = input_name if i == 0 else unique(python_name(node.name), taken)
    return names


class Emitter:
    """Walks a network's nodes and calls one `<kind>_layer(node)` method per node."""

    target = "?"  # the backend's name, for messages
    reserved: frozenset[str] = frozenset()  # names a value's variable must not take
    input_name = "input_"  # the input's variable when it is not `x`

    def __init__(self, network: Network):
        self.net = network
        self.var = value_names(network, self.reserved, self.input_name)

    def emit(self, node: Node):
        method = getattr(self, f"{node.kind}_layer", None)
        if method is None:
            raise UnsupportedNode(f"layer '{node.name}' (line {node.line}): the {self.target} "
                                  f"backend does not support layers of kind '{node.kind}'")
        return method(node)

    def src(self, node: Node, i: int = 0) -> str:
        """The variable holding the node's i-th input."""
        return self.var[node.inputs[i]]

    def srcs(self, node: Node) -> list[str]:
        return [self.var[name] for name in node.inputs]

    def dest(self, node: Node) -> str:
        return self.var[node.name]

    @property
    def input_var(self) -> str:
        return self.var[self.net.nodes[0].name]

    def returned(self, several: str = "({})") -> str:
        """The returned expression: the output's variable, or several in a tuple/list."""
        names = [self.var[n.name] for n in self.net.output_nodes]
        if len(names) == 1:
            return names[0]
        return several.format(", ".join(names))

    @property
    def several_outputs(self) -> bool:
        return len(self.net.output_nodes) > 1


def fused_activation(node: Node) -> tuple[str, object]:
    """(activation, alpha) of a node's fused activation ('linear', None when it has none)."""
    return node.attrs.get("activation", "linear"), node.attrs.get("alpha")
