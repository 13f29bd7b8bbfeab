"""A Keras functional model's graph as plain records: what the matcher needs, nothing more.

Keras 3 keeps a functional model's graph in `model._nodes_by_depth`: every call of a layer or
of an operation (`x + y` becomes a `keras.src.ops.numpy.Add` in `model.operations`) is a node
with its input tensors, each tensor remembering the operation that made it
(`_keras_history`). This module reads that into `KerasOp` records (name, class, config, the
names of the operations it reads, output shape, weights as NumPy arrays) in topological order.
A nested `Sequential` (ConvNeXt's stem and downsampling layers) is opened into its layers, a
chain; its inner layers have no tensor of the outer model, so only the last one is probed.
Keras is imported by the caller: this module touches only the model object it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class KerasGraphError(ValueError):
    """A Keras model this reader cannot turn into a graph (shared layers, nested models)."""


@dataclass(frozen=True)
class KerasOp:
    name: str
    cls: str  # the class name: Conv2D, BatchNormalization, Add (a layer or an op) ...
    config: dict
    inputs: tuple[str, ...]  # the names of the ops whose outputs it reads, in argument order
    out_shape: tuple | None  # without the batch axis
    weights: tuple[tuple[str, np.ndarray], ...] = ()  # (Keras's weight name, value), layer order
    index: int = 0  # position in the topological order
    probed: bool = True  # its output is a tensor of the top-level model
    constants: tuple = ()  # the numbers among an operation's arguments: `x + 3.0` has (3.0,)

    def weight(self, name: str) -> np.ndarray | None:
        return next((value for key, value in self.weights if key == name), None)

    @property
    def label(self) -> str:
        return f"Keras layer '{self.name}' ({self.cls})"


@dataclass
class KerasGraph:
    ops: dict[str, KerasOp]  # in topological order
    input: str
    outputs: tuple[str, ...]
    tensors: dict = field(default_factory=dict)  # op name -> its output KerasTensor (probed ops)

    def consumers(self) -> dict[str, list[str]]:
        """op name -> the ops reading its output, in topological order."""
        out: dict[str, list[str]] = {name: [] for name in self.ops}
        for op in self.ops.values():
            for name in dict.fromkeys(op.inputs):
                out[name].append(op.name)
        return out


def read_graph(model) -> KerasGraph:
    """The functional model's operations as KerasOp records (see the module docstring); a
    built Sequential model is read through the functional model Keras keeps inside it."""
    if not hasattr(model, "_nodes_by_depth") and getattr(model, "_functional", None) is not None:
        model = model._functional
    if not hasattr(model, "_nodes_by_depth") or len(model.inputs) != 1:
        raise KerasGraphError("only functional Keras models with one input can be read "
                              f"(got {type(model).__name__} with {len(getattr(model, 'inputs', []))} inputs)")
    producer = {id(t): _history(t).name for t in model.inputs}
    graph = KerasGraph({}, _history(model.inputs[0]).name, ())
    for node in _nodes_in_order(model):
        inputs = tuple(producer[id(t)] for t in node.input_tensors)
        name = _add(graph, node.operation, inputs, node.output_tensors)
        producer[id(node.output_tensors[0])] = name
        if constants := _constants(node):
            graph.ops[name] = replace(graph.ops[name], constants=constants)
    graph.outputs = tuple(producer[id(t)] for t in model.outputs)
    return graph


def _constants(node) -> tuple:
    """The plain numbers a node was called with (`x * (1 / 6)`: (0.1666...,))."""
    arguments = getattr(node, "arguments", None)
    args = list(getattr(arguments, "args", ())) + list(getattr(arguments, "kwargs", {}).values())
    return tuple(float(a) for a in args if isinstance(a, (int, float)) and not isinstance(a, bool))


def _history(tensor):
    return tensor._keras_history[0]


def _nodes_in_order(model) -> list:
    """The model's own nodes (not other calls of its layers), inputs first, in the order of
    model.operations within a depth."""
    order = {id(op): i for i, op in enumerate(model.operations)}
    nodes = [n for depth in sorted(model._nodes_by_depth, reverse=True)
             for n in sorted(model._nodes_by_depth[depth], key=lambda n: order.get(id(n.operation), 0))]
    seen: dict[int, str] = {}
    for n in nodes:
        if len(n.output_tensors) != 1:
            raise KerasGraphError(f"Keras layer '{n.operation.name}' ({type(n.operation).__name__}) "
                                  f"has {len(n.output_tensors)} outputs; cnnspec layers have one")
        if id(n.operation) in seen:
            raise KerasGraphError(f"Keras layer '{n.operation.name}' is called more than once "
                                  "(a shared layer); cnnspec layers have one use each")
        seen[id(n.operation)] = n.operation.name
    return nodes


def _add(graph: KerasGraph, op, inputs: tuple[str, ...], outputs) -> str:
    """Append an op's record (a nested Sequential: the chain of its layers); returns the name
    of the record whose output is the op's."""
    cls = type(op).__name__
    if cls == "Sequential":
        return _add_sequential(graph, op, inputs, outputs[0])
    if hasattr(op, "_nodes_by_depth"):
        raise KerasGraphError(f"Keras layer '{op.name}' is a nested functional model; "
                              "flatten it first (only nested Sequential models are opened)")
    graph.ops[op.name] = _record(op, inputs, _shape(outputs[0]), len(graph.ops))
    graph.tensors[op.name] = outputs[0]
    return op.name


def _add_sequential(graph: KerasGraph, model, inputs: tuple[str, ...], output) -> str:
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        shape = _shape(output) if last else _shape(layer.output)
        graph.ops[layer.name] = _record(layer, inputs, shape, len(graph.ops), probed=last)
        inputs = (layer.name,)
    graph.tensors[layers[-1].name] = output
    return layers[-1].name


def _record(op, inputs, out_shape, index: int, probed: bool = True) -> KerasOp:
    weights = tuple((w.name, _value(op, w)) for w in getattr(op, "weights", ()))
    return KerasOp(op.name, type(op).__name__, _config(op), inputs, out_shape, weights, index, probed)


def _value(op, weight) -> np.ndarray:
    """A weight's value as the layer computes with it: Keras's Normalization divides by copies
    of its mean and variance made by finalize_state (set_weights alone leaves them stale)."""
    if type(op).__name__ == "Normalization" and weight.name in ("mean", "variance"):
        used = getattr(op, weight.name, None)
        if used is not None:
            return np.asarray(used).reshape(tuple(weight.shape))
    return np.asarray(weight.numpy())


def _config(op) -> dict:
    try:
        return dict(op.get_config())
    except (NotImplementedError, TypeError, AttributeError):
        return {}


def _shape(tensor) -> tuple | None:
    shape = getattr(tensor, "shape", None)
    return None if shape is None else tuple(shape[1:])
