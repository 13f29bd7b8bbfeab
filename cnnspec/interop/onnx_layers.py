"""An OnnxGraph -> spec layers (plain records) and their portable weights; no `onnx` import.

The nodes are read in the file's (topological) order. Every ONNX tensor that holds a value
of the network is a `Value`: the spec layer whose output it is, whether it is an image
(NCHW in ONNX, NHWC in the spec) or flat, and, for a flat value made by ONNX's Flatten of an
image, that image's (C, H, W): ONNX flattens in C,H,W order and the spec in H,W,C order, so
the dense (or 1-D batch norm) reading it gets its rows permuted (onnx_weights.nhwc_rows), and
anything that cannot be proven to mean the same in both orders is reported.

Each operator's handler (onnx_ops.HANDLERS) turns a node into a `Layer` (or a fused
activation, a folded batch norm, or nothing: Dropout, Identity) or raises `Unsupported`.
Every problem is collected (node name, operator, why) and nothing is dropped silently.
A few patterns are read before the walk (`patterns`): a zero Pad whose only reader is a Conv
becomes that conv's padding, `x * Sigmoid(x)` is swish, `x * HardSigmoid(x)` is hard_swish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..kinds import KINDS
from .onnx_graph import OnnxGraph, OnnxNode


class Unsupported(ValueError):
    """A node that the spec language cannot express (the message says why)."""


@dataclass
class Layer:
    id: str  # unique, internal (the spec name is chosen when the text is written)
    kind: str  # the word that starts the layer line: conv, depthwise, maxpool, add ...
    args: list[str]  # positional values and key=value options, in spec syntax
    inputs: list[str]  # layer ids; "input" is the network's input
    hint: str | None  # the name the ONNX file suggests (a module path, a node name)
    nodes: list[str]  # the ONNX nodes it stands for
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    activation: str | None = None  # a fused `-> act` ("relu", "leaky_relu alpha=0.2")
    out: str = ""  # the ONNX tensor the layer itself produced
    affine: tuple = ()  # a rescale's (scale, offset) vectors, while later nodes may join it

    @property
    def merge(self) -> bool:
        return self.kind in ("add", "concat", "multiply")

    @property
    def takes_activation(self) -> bool:
        return KINDS[self.kind].fused_activation and self.activation is None


@dataclass(frozen=True)
class Value:
    layer: str  # a layer id, or "input"
    image: bool
    chw: tuple[int, int, int] | None = None  # a flat value in ONNX's C,H,W order of this image
    nhwc: bool = False  # an image that ONNX holds as (N, H, W, C), after a Transpose


@dataclass
class Translation:
    layers: list[Layer]
    outputs: list[str]  # layer ids
    problems: list[str]  # "node 'name' (Op): why"
    notes: list[str]
    graph: OnnxGraph


class Translator:
    def __init__(self, graph: OnnxGraph, fold_bn: bool = False):
        self.graph, self.fold_bn = graph, fold_bn
        self.values = {graph.input: Value("input", len(graph.input_shape) == 3, nhwc=graph.nhwc_input)}
        self.layers: dict[str, Layer] = {}
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.absorbed: set[str] = set()  # nodes a pattern has taken
        self.merged_pads: dict[str, list[int]] = {}  # conv node -> [t, l, b, r] from a Pad
        self.aliases: dict[str, str] = {}  # tensor -> the tensor it stands for (a merged Pad)
        self.swaps: dict[str, str] = {}  # Mul node -> the activation a pattern makes of it
        self.gate_inputs: dict[str, str] = {}  # that Mul node -> its x
        self.shape_tensors: set[str] = set()  # Reshape shapes computed from a Shape (taken)
        self.poisoned: set[str] = set()  # outputs of nodes already reported

    def run(self) -> Translation:
        from .onnx_ops import HANDLERS, patterns
        patterns(self)
        for node in self.graph.nodes:
            if node.name in self.absorbed:
                continue
            node = self.rewritten(node)
            handler = HANDLERS.get(node.op)
            if handler is None:
                self.fail(node, f"the operator {node.op} has no cnnspec layer")
                continue
            if any(t in self.poisoned for t in node.inputs):
                self.poisoned.update(node.outputs)  # fed by a node already reported
                continue
            unknown = [t for t in node.inputs if not self.known(t)]
            try:
                if unknown:
                    raise Unsupported(f"it reads '{unknown[0]}', which no node before it makes")
                handler(self, node)
            except Unsupported as err:
                self.fail(node, str(err))
            except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as err:
                # attributes or constants of a shape the handler cannot read (a 1-D Conv
                # weight, a missing kernel_shape): the node, never a traceback
                self.fail(node, f"its attributes or constants cannot be read ({type(err).__name__}: {err})")
        outputs = [self.output(t) for t in self.graph.outputs]
        return Translation(list(self.layers.values()), [o for o in outputs if o], self.problems,
                           self.notes, self.graph)

    def rewritten(self, node: OnnxNode) -> OnnxNode:
        """The node as the patterns read it: a merged Pad's input for its output, a gated
        activation (`x * Sigmoid(x)`) as one op reading x."""
        if node.name in self.swaps:
            return replace(node, op=self.swaps[node.name], inputs=(self.gate_inputs[node.name],))
        inputs = tuple(self.aliases.get(t, t) for t in node.inputs)
        return node if inputs == node.inputs else replace(node, inputs=inputs)

    def only_reader(self, tensor: str) -> str | None:
        """The name of the one node (patterns' nodes aside) reading a tensor that is not a
        graph output; None otherwise."""
        readers = [n.name for n in self.graph.readers(tensor) if n.name not in self.absorbed]
        if len(readers) == 1 and tensor not in self.graph.outputs:
            return readers[0]
        return None

    def fail(self, node: OnnxNode, why: str) -> None:
        self.problems.append(f"{node.label}: {why}")
        self.poisoned.update(node.outputs)

    def known(self, tensor: str) -> bool:
        return tensor == "" or tensor in self.values or tensor in self.graph.constants or \
            tensor in self.shape_tensors

    def output(self, tensor: str) -> str | None:
        value = self.values.get(tensor)
        if value is None:
            if tensor in self.graph.constants:
                self.problems.append(f"the graph output '{tensor}' is a constant")
            elif tensor not in self.poisoned:
                self.problems.append(f"the graph output '{tensor}' is made by no node cnnspec read")
            return None
        if value.layer == "input":
            self.problems.append(f"the graph output '{tensor}' is the input itself")
            return None
        if value.chw is not None:
            self.problems.append(f"the graph output '{tensor}' is an image flattened in ONNX's "
                                 "C,H,W order; the spec's flatten gives H,W,C order")
            return None
        return value.layer

    # -- what handlers use --------------------------------------------------------------------

    def value(self, tensor: str) -> Value:
        if tensor in self.graph.constants:
            raise Unsupported(f"its input '{tensor}' is a constant; cnnspec layers read the "
                              "network's values")
        return self.values[tensor]

    def constant(self, node: OnnxNode, index: int, what: str, optional: bool = False):
        name = node.inputs[index] if index < len(node.inputs) else ""
        if name == "":
            if optional:
                return None
            raise Unsupported(f"it has no {what}")
        if name not in self.graph.constants:
            raise Unsupported(f"its {what} '{name}' is computed at run time; cnnspec needs it "
                              "as a constant (an initializer)")
        return self.graph.constants[name]

    def shape(self, tensor: str) -> tuple[int, ...]:
        """A tensor's inferred shape without the batch axis (ONNX's NCHW)."""
        if tensor == self.graph.input:
            return self.graph.input_shape
        shape = self.graph.shapes.get(tensor)
        if shape is None:
            raise Unsupported(f"ONNX's shape inference gives no fixed shape for '{tensor}'")
        return shape

    def emit(self, node: OnnxNode, kind: str, args: list[str], inputs: list[str], image: bool,
             weights: dict | None = None, chw=None, hint: str | None = None,
             nhwc: bool = False) -> Layer:
        layer = Layer(f"l{len(self.layers)}", kind, [a for a in args if a], inputs,
                      hint if hint is not None else self.hint(node), [node.name], weights or {},
                      out=node.outputs[0])
        self.layers[layer.id] = layer
        self.values[node.outputs[0]] = Value(layer.id, image, chw, nhwc)
        return layer

    def alias(self, node: OnnxNode, value: Value, tensor: str | None = None) -> None:
        """The node's output is the same value as `value` (Dropout, Identity, a Flatten of a
        flat value)."""
        self.values[tensor or node.outputs[0]] = value

    def fusable(self, node: OnnxNode) -> Layer | None:
        """The layer whose own output only this node reads, and which takes a fused
        activation (or a folded batch norm): None if there is none."""
        tensor = node.inputs[0]
        value = self.values.get(tensor)
        layer = self.layers.get(value.layer) if value else None
        if layer is None or layer.out != tensor or self.only_reader(tensor) != node.name:
            return None
        return layer

    def extend(self, layer: Layer, node: OnnxNode, value: Value | None = None) -> None:
        """The node's output is now the layer's (a fused activation, a folded batch norm)."""
        layer.nodes.append(node.name)
        layer.out = node.outputs[0]
        self.values[node.outputs[0]] = value or self.values[node.inputs[0]]


    def hint(self, node: OnnxNode) -> str | None:
        """The name the file suggests for a node's layer (tf2onnx's, or node_hint's)."""
        if self.graph.producer.startswith("tf2onnx"):
            return tf_hint(node)
        return node_hint(node)


def tf_hint(node: OnnxNode) -> str | None:
    """tf2onnx names nodes and weights by TensorFlow's scopes, '<model>/<layer>_1/<op>' (Keras 3
    adds the `_1`): the layer's name, from the node or else from one of its inputs."""
    for name in (node.name, *node.inputs[1:]):
        parts = name.split("/")
        if len(parts) > 2:
            return parts[1].removesuffix("_1")
    return None


def node_hint(node: OnnxNode) -> str | None:
    """A name from the ONNX node: the module path in PyTorch's node names
    ('/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1'), the dynamo exporter's recorded scope,
    or a plain node name ('conv1'); None for names the exporter made up ('node_Conv_3')."""
    name = node.name
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        if parts and OP_NAME.fullmatch(parts[-1]):  # the operator: '.../conv1/Conv', '/Mul_1'
            parts = parts[:-1]
        return dotted(parts) or None
    if node.scope:
        return dotted(list(node.scope))
    if name.startswith(("node_", f"{node.op}_")) or name == node.op:
        return None
    return name


OP_NAME = re.compile(r"[A-Z][A-Za-z0-9]*(_\d+)?")


def dotted(parts: list[str]) -> str:
    """['layer1', 'layer1.0', 'conv1'] -> 'layer1.0.conv1' (a part that extends the path so
    far replaces it)."""
    path = ""
    for part in parts:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


WEIGHT_SUFFIXES = (".weight", ".scale", ".kernel", ".gamma", "_weight")


def weight_hint(graph: OnnxGraph, node: OnnxNode, index: int = 1) -> str | None:
    """The module path of a node's weight initializer ('layer1.0.conv1.weight' ->
    'layer1.0.conv1'), when the exporter kept the framework's name."""
    if index >= len(node.inputs):
        return None
    name = node.inputs[index]
    for suffix in WEIGHT_SUFFIXES:
        if name.endswith(suffix) and not name.startswith("onnx::") and "/" not in name:
            return name[: -len(suffix)] or None
    return None


def translate(graph: OnnxGraph, fold_bn: bool = False) -> Translation:
    return Translator(graph, fold_bn).run()
