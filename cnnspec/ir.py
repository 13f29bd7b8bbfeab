"""The IR: a frozen, validated graph of nodes with shapes, weights and parameter counts.

Frozen dataclasses rather than pydantic models: the IR is built for every `check` and
`summary`, and a process start-up budget of 0.2 s leaves no room for pydantic's import.
Parameter counts are derived from weight shapes (one source of truth), never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

from .diagnostics import Diagnostic
from .instances import summarise as summarise_instances
from .nogc import paused
from .shapes import prod
from .source import SourceFile, Span


@dataclass(frozen=True)
class Weight:
    """One tensor of a layer, in the canonical portable layout (see docs/semantics.md)."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True  # False for batch-norm moving statistics, whatever the freeze rules

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    attrs: Mapping[str, object]
    inputs: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weights: tuple[Weight, ...]
    macs: int
    span: Span
    frozen: bool = False
    lr_scale: float = 1.0
    group: str | None = None  # e.g. the alias of an imported base
    # in_shape is the first input's shape; a merge's other inputs: Network.input_shapes(node)

    @cached_property
    def params(self) -> int:
        return sum(w.size for w in self.weights)

    @cached_property
    def trainable_params(self) -> int:
        if self.frozen:
            return 0
        return sum(w.size for w in self.weights if w.trainable)

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def line(self) -> int:
        return self.span.line

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "line": self.line,
            "inputs": list(self.inputs),
            "input_shape": list(self.in_shape),
            "output_shape": list(self.out_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "frozen": self.frozen,
            "lr_scale": self.lr_scale,
            "group": self.group,
            "source": self.span.file,
            "weights": {w.name: list(w.shape) for w in self.weights},
            "config": {k: _plain(v) for k, v in self.attrs.items() if k not in ("out", "dropped")},
        }


def _plain(value):
    """Attribute values as JSON: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


def freeze_attrs(attrs: dict) -> Mapping[str, object]:
    return MappingProxyType(dict(attrs))


@dataclass(frozen=True)
class Instance:
    """One use of a block (or a `repeat` of one): its nodes are those named `<name>.<...>`."""

    name: str                 # hierarchical: "layer2", "layer2.0"
    block: str                # the block definition's name
    span: Span                # the line that uses the block
    definition: Span          # the `block` line that defines it
    repeat: int | None = None  # N for `repeat N`: the container of instances <name>.0 ... <name>.N-1
    parent: str | None = None  # the enclosing instance, if any
    # The block's bound parameters, in the definition's order, after defaults and first(...):
    # (name, value) with ints, floats, bools or words (str); () for a repeat's container.
    args: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Network:
    name: str
    description: str
    input_shape: tuple[int, ...]
    nodes: tuple[Node, ...]  # in topological order; nodes[0] is the input
    source: SourceFile
    diagnostics: tuple[Diagnostic, ...] = ()
    stages: Mapping[str | None, tuple[Node, ...]] = field(default_factory=dict)
    stage: str | None = None  # the stage whose freeze flags `nodes` carry
    outputs: tuple[str, ...] = ()  # the output nodes' names; () means the last node
    instances: tuple[Instance, ...] = ()  # block uses, outermost first, in spec order

    def with_stage(self, name: str | None) -> Network:
        """The same network with another stage's freeze rules applied."""
        if name == self.stage or (name is None and not self.stages):
            return self
        if name not in self.stages:
            known = ", ".join(str(s) for s in self.stages) or "none"
            raise KeyError(f"no stage named {name!r} (stages: {known})")
        return replace(self, nodes=self.stages[name], stage=name)

    @property
    def layers(self) -> tuple[Node, ...]:
        """Every node but the input."""
        return self.nodes[1:]

    @property
    def output_nodes(self) -> tuple[Node, ...]:
        """Every output, in the order the spec lists them (the last node when it lists none)."""
        if not self.outputs:
            return (self.nodes[-1],)
        return tuple(self.node(name) for name in self.outputs)

    @property
    def output(self) -> Node:
        """The first output (the only one of a single-output network)."""
        return self.output_nodes[0]

    @cached_property
    def _by_name(self) -> Mapping[str, Node]:
        return MappingProxyType({n.name: n for n in self.nodes})

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def input_shapes(self, node: Node) -> tuple[tuple[int, ...], ...]:
        """The output shapes of a node's inputs, in order."""
        return tuple(self.node(name).out_shape for name in node.inputs)

    def instance_nodes(self, name: str) -> tuple[Node, ...]:
        """The nodes inside a block instance (or a whole `repeat`), in topological order."""
        prefix = name + "."
        return tuple(n for n in self.nodes if n.name.startswith(prefix))

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def trainable_params(self) -> int:
        return sum(n.trainable_params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @paused
    def summary(self) -> dict:
        """The JSON object of design.md section 5, as a dict."""
        return {
            "file": self.source.name,
            "network": self.name,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "input_line": self.nodes[0].line,
            "output_shape": list(self.output.out_shape),
            "outputs": [{"name": n.name, "shape": list(n.out_shape)} for n in self.output_nodes],
            "layers": [n.summary() for n in self.layers],
            "instances": summarise_instances(self),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.total_params - self.trainable_params,
            "macs": self.macs,
            "stage": self.stage,
            "stages": {name: _stage_counts(nodes) for name, nodes in self.stages.items()},
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def _stage_counts(nodes) -> dict:
    trainable = sum(n.trainable_params for n in nodes)
    return {
        "trainable_params": trainable,
        "non_trainable_params": sum(n.params for n in nodes) - trainable,
        "frozen": [n.name for n in nodes if n.frozen and n.weights],
        "lr_scales": {n.name: n.lr_scale for n in nodes if n.lr_scale != 1.0 and not n.frozen},
    }
