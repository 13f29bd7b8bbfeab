"""Matching a checked spec to a Keras graph by structure, never by names.

The spec's nodes are walked in topological order, its input standing for Keras's InputLayer.
A node's candidates are the unmatched Keras ops that read the images of its inputs (through
ops that are the identity at inference: dropouts, Identity, Activation('linear'), which are
skipped) and whose class can be that kind (compat.KINDS_OF); the inputs of `concat` must come
in the spec's order, those of `add`/`multiply` in any. Candidates are ranked by how many
settings disagree (compat.differences: output shape, weights, kernel, strides, padding, ...),
then by their downstream structure (a signature a few ops deep, so that two equal 1x1 convs
on one input go to the branches they feed), then by name similarity, then by Keras's order.
A node with a fused activation absorbs the Keras Activation/ReLU that alone reads its op, and
a node whose shape has axes of size 1 that Keras adds with a Reshape absorbs that Reshape.
A spec `dropout` without a Keras counterpart stands for its input (both are the identity at
inference). Anything left over is an error naming the spec node (name, kind, line) or the
Keras layer.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

from ..ir import Network, Node
from . import compat
from .keras_graph import KerasGraph, KerasOp

SIGNATURE_DEPTH = 6


class MatchError(ValueError):
    """The spec and the Keras model do not describe the same network; says where."""


@dataclass(frozen=True)
class Match:
    node: str  # the spec node
    op: str  # the Keras op it stands for
    absorbed: tuple[str, ...] = ()  # a following activation the spec fuses into the node
    skipped: tuple[str, ...] = ()  # identity ops between its inputs and the op

    @property
    def image(self) -> str:
        """The Keras op whose output is the spec node's output."""
        return self.absorbed[-1] if self.absorbed else self.op


def where(node: Node) -> str:
    return f"spec node '{node.name}' ({node.kind}, line {node.line})"


def match(network: Network, graph: KerasGraph) -> dict[str, Match]:
    """spec node name -> its Match, for every node (see the module docstring)."""
    return Matcher(network, graph).run()


class Matcher:
    def __init__(self, network: Network, graph: KerasGraph):
        self.network, self.graph = network, graph
        self.consumers = graph.consumers()
        self.matches: dict[str, Match] = {}
        self.claimed: set[str] = set()
        self.signatures: dict = {}
        self.spec_consumers: dict[str, list[Node]] = {n.name: [] for n in network.nodes}
        for n in network.nodes:
            for name in dict.fromkeys(n.inputs):
                self.spec_consumers[name].append(n)

    def run(self) -> dict[str, Match]:
        self.match_input()
        for node in self.network.layers:
            self.matches[node.name] = self.match_node(node)
            self.claimed.update(self.claims(self.matches[node.name]))
        self.check_leftovers()
        self.check_outputs()
        return self.matches

    @staticmethod
    def claims(m: Match) -> tuple[str, ...]:
        return (m.op, *m.absorbed, *m.skipped)

    def match_input(self) -> None:
        node, op = self.network.nodes[0], self.graph.ops[self.graph.input]
        if not compat.shape_fits(op.out_shape, node.out_shape):
            raise MatchError(f"the spec's input is {compat._hwc(node.out_shape)} (line {node.line}) "
                             f"but the Keras model's is {compat._hwc(op.out_shape)}; give the spec "
                             "the model's input (cnnspec keras --input, or edit its input line)")
        self.matches[node.name] = Match(node.name, op.name)
        self.claimed.add(op.name)

    # -- candidates ---------------------------------------------------------------------------

    def match_node(self, node: Node) -> Match:
        sources = [self.matches[name].image for name in node.inputs]
        found = list(self.candidates(node, sources))
        if not found and node.kind == "dropout":  # the identity at inference on this side too
            return Match(node.name, sources[0])
        if not found:
            raise MatchError(self.no_candidate(node, sources))
        ranked = sorted(found, key=lambda c: self.rank(node, c))
        best, problems = ranked[0]
        if problems:
            op = self.graph.ops[best.op]
            raise MatchError(f"{where(node)} does not fit {op.label}: " + "; ".join(problems))
        return best

    def candidates(self, node: Node, sources: list[str]):
        """(Match, problems) for each compatible unclaimed op reading the sources."""
        for name, via in self.reachable(sources[0]):
            op = self.graph.ops[name]
            if not compat.compatible(node.kind, op) or len(op.inputs) != len(sources):
                continue
            skipped = self.inputs_match(node, op, sources)
            if skipped is None:
                continue
            yield self.plan(node, op, tuple(dict.fromkeys(via + skipped)))

    def reachable(self, source: str, via: tuple = ()):
        """(op, identity ops passed) for the unclaimed ops reading `source`, directly or
        through identity ops."""
        for name in self.consumers[source]:
            if name in self.claimed:
                continue
            yield name, via
            op = self.graph.ops[name]
            if compat.is_identity(op) and len(op.inputs) == 1:
                yield from self.reachable(name, via + (name,))

    def back(self, name: str) -> list[str]:
        """The op and the unclaimed identity ops behind it: what an input may stand for."""
        chain = [name]
        op = self.graph.ops[name]
        while name not in self.claimed and compat.is_identity(op) and len(op.inputs) == 1:
            name = op.inputs[0]
            chain.append(name)
            op = self.graph.ops[name]
        return chain

    def inputs_match(self, node: Node, op: KerasOp, sources: list[str]) -> tuple | None:
        """The identity ops skipped on the way if the op's inputs are the sources (in order
        for concat, in any order for add and multiply); None if they are not."""
        chains = [self.back(name) for name in op.inputs]
        resolved = [next((s for s in chain if s in sources), None) for chain in chains]
        if None in resolved:
            return None
        ordered = node.kind not in ("add", "multiply")
        if (resolved != sources) if ordered else (Counter(resolved) != Counter(sources)):
            return None
        return tuple(s for chain, r in zip(chains, resolved) for s in chain[:chain.index(r)])

    def plan(self, node: Node, op: KerasOp, skipped: tuple) -> tuple[Match, list[str]]:
        """The match with its absorbed activation (and reshape), and what disagrees."""
        problems = compat.differences(node, op, node.in_shape)
        problems += self.weight_problems(node, op)
        absorbed, act_problem = self.absorb(node, op)
        if act_problem:
            problems.append(act_problem)
        absorbed += self.absorb_reshape(node, self.graph.ops[absorbed[-1] if absorbed else op.name])
        if absorbed:
            last = self.graph.ops[absorbed[-1]]
            problems = [p for p in problems if not p.startswith("output shape")]
            problems += [p for p in compat.differences(node, last, node.in_shape)
                         if p.startswith("output shape")]
        return Match(node.name, op.name, absorbed, skipped), problems

    def absorb_reshape(self, node: Node, op: KerasOp) -> tuple[str, ...]:
        """A Reshape that only adds or drops axes of size 1 to give the node's shape (Keras's
        squeeze-excite: GlobalAveragePooling2D then Reshape((1, 1, C)) is `keepdims=true`)."""
        readers = [n for n in self.consumers[op.name] if n not in self.claimed]
        if len(readers) != 1 or compat.shape_fits(op.out_shape, node.out_shape):
            return ()
        follow = self.graph.ops[readers[0]]
        squeezed = [d for d in op.out_shape if d != 1] == [d for d in node.out_shape if d != 1]
        if follow.cls == "Reshape" and compat.shape_fits(follow.out_shape, node.out_shape) and squeezed:
            return (follow.name,)
        return ()

    def absorb(self, node: Node, op: KerasOp) -> tuple[tuple[str, ...], str | None]:
        """The activation op a fused `-> act` stands for; a problem when there is none."""
        want = compat.spec_activation(node)
        if node.kind == "activation":
            have = compat.activation_of(op)
            return (), None if have == want else f"activation {have} vs the spec's {want}"
        have = compat.activation_of(op) if "activation" in op.config else ("linear", None)
        if have == want:
            return (), None
        readers = [n for n in self.consumers[op.name] if n not in self.claimed]
        follow = self.graph.ops[readers[0]] if len(readers) == 1 else None
        if have == ("linear", None) and follow is not None and \
                follow.cls in compat.ACTIVATION_CLASSES and compat.activation_of(follow) == want:
            return (follow.name,), None
        if have == ("linear", None) and want == ("hard_sigmoid", None):
            chain = self.hard_sigmoid_ops(op.name)
            if chain:
                return chain, None
        after = ", ".join(f"'{n}' ({self.graph.ops[n].cls})" for n in readers) or "nothing"
        return (), (f"the spec applies {want[0]} after it, but Keras applies {have[0]} and then "
                    f"feeds {after}")

    def hard_sigmoid_ops(self, name: str) -> tuple[str, ...]:
        """Keras's MobileNetV3 hard_sigmoid written with ops, ReLU(6.)(x + 3.) * (1. / 6.):
        the three ops, when they alone follow `name`; () otherwise."""
        chain, steps = [], (("Add", 3.0), ("ReLU", None), ("Multiply", 1.0 / 6.0))
        for cls, constant in steps:
            readers = [n for n in self.consumers[name] if n not in self.claimed]
            op = self.graph.ops[readers[0]] if len(readers) == 1 else None
            if op is None or op.cls != cls or len(op.inputs) != 1:
                return ()
            fits = compat.activation_of(op) == ("relu6", None) if constant is None else \
                len(op.constants) == 1 and abs(op.constants[0] - constant) <= 1e-7
            if not fits:
                return ()
            chain.append(op.name)
            name = op.name
        return tuple(chain)

    @staticmethod
    def weight_problems(node: Node, op: KerasOp) -> list[str]:
        """Parameter counts that differ (the layouts are converted and checked in weights.py)."""
        theirs = sum(value.size for _, value in op.weights)
        if theirs == node.params:
            return []
        keras_tensors = ", ".join(f"{name} {tuple(v.shape)}" for name, v in op.weights) or "none"
        spec_tensors = ", ".join(f"{w.name} {w.shape}" for w in node.weights) or "none"
        return [(f"{theirs:,} parameters ({keras_tensors}) vs the spec's {node.params:,} "
                f"({spec_tensors})")]

    # -- ranking ------------------------------------------------------------------------------

    def rank(self, node: Node, candidate) -> tuple:
        m, problems = candidate
        op = self.graph.ops[m.op]
        same_shape = self.spec_signature(node.name, SIGNATURE_DEPTH) == \
            self.keras_signature(m.op, SIGNATURE_DEPTH)
        return (len(problems), not same_shape, -similarity(node.name, op.name), op.index)

    def spec_signature(self, name: str, depth: int):
        """A node's channels, params and what reads it (activations passed through); the
        channels alone, since Keras may leave the spatial sizes open."""
        key = ("spec", name, depth)
        if key not in self.signatures:
            node = self.network.node(name)
            readers = self.spec_readers(name) if depth else []
            self.signatures[key] = (tuple(node.out_shape[-1:]), node.params, tuple(sorted(
                (self.spec_signature(r, depth - 1), pos) for r, pos in readers)))
        return self.signatures[key]

    def spec_readers(self, name: str) -> list[tuple[str, int | None]]:
        out = []
        for node in self.spec_consumers[name]:
            if node.kind in ("activation", "dropout"):
                out += self.spec_readers(node.name)
            else:
                pos = node.inputs.index(name) if node.kind == "concat" else None
                out.append((node.name, pos))
        return out

    def keras_signature(self, name: str, depth: int):
        key = ("keras", name, depth)
        if key not in self.signatures:
            op = self.graph.ops[name]
            readers = self.keras_readers(name) if depth else []
            params = sum(value.size for _, value in op.weights)
            self.signatures[key] = (tuple(op.out_shape or ())[-1:], params, tuple(sorted(
                (self.keras_signature(r, depth - 1), pos) for r, pos in readers)))
        return self.signatures[key]

    def keras_readers(self, name: str) -> list[tuple[str, int | None]]:
        out = []
        for reader in self.consumers[name]:
            op = self.graph.ops[reader]
            if op.cls in compat.ACTIVATION_CLASSES or compat.is_identity(op):
                out += self.keras_readers(reader)
            else:
                pos = op.inputs.index(name) if op.cls == "Concatenate" else None
                out.append((reader, pos))
        return out

    # -- what is left ---------------------------------------------------------------------------

    def no_candidate(self, node: Node, sources: list[str]) -> str:
        readers = [f"'{n}' ({self.graph.ops[n].cls})" for n, _ in self.reachable(sources[0])]
        wanted = sorted(cls for cls, kinds in compat.KINDS_OF.items() if node.kind in kinds)
        reads = " and ".join(f"'{s}'" for s in dict.fromkeys(sources))
        return (f"{where(node)} has no Keras counterpart: it needs an unmatched "
                f"{' or '.join(wanted) or 'layer'} reading {reads}, but Keras feeds "
                f"{reads} only to {', '.join(readers) or 'nothing unmatched'}")

    def check_leftovers(self) -> None:
        left = [op for op in self.graph.ops.values()
                if op.name not in self.claimed and not compat.is_identity(op)]
        if left:
            names = ", ".join(f"'{op.name}' ({op.cls}, reading {', '.join(op.inputs)})" for op in left[:5])
            more = f" and {len(left) - 5} more" if len(left) > 5 else ""
            raise MatchError(f"Keras layer(s) {names}{more} have no node in the spec "
                             f"'{self.network.name}'")

    def check_outputs(self) -> None:
        theirs = [self.back(name) for name in self.graph.outputs]
        ours = [self.matches[n.name].image for n in self.network.output_nodes]
        if len(ours) != len(theirs) or any(o not in chain for o, chain in zip(ours, theirs)):
            raise MatchError(f"the spec's outputs ({', '.join(n.name for n in self.network.output_nodes)}) "
                             f"are Keras's {', '.join(ours)}, but the Keras model's outputs are "
                             f"{', '.join(self.graph.outputs)}")


def similarity(spec_name: str, keras_name: str) -> float:
    """How alike two names are, as words: `conv3.0.conv2` vs `conv3_block1_2_conv`."""
    def words(name):
        return " ".join(re.findall(r"[a-z]+|\d+", name.lower()))
    return difflib.SequenceMatcher(None, words(spec_name), words(keras_name)).ratio()
