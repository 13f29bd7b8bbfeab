"""A Keras model -> a checked cnnspec spec and portable weights, and the proof that they agree.

    from cnnspec.interop import keras as ik
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))
    mapping = ik.from_keras(model, ik.application_spec("ResNet50"))
    cnnspec.build(mapping.network, "torch", weights=mapping.weights)   # the same network
    ik.compare(model, mapping, x)   # every matched layer, per backend: the worst difference

The spec is matched to the model's graph by structure (interop/matching.py), its weights
converted to the portable layout (interop/weights.py). Keras is imported here only, lazily:
`check`, `summary` and `compile` never import it.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ir import Network
from .keras_graph import KerasGraph, KerasGraphError, read_graph
from .matching import Match, MatchError, match
from .weights import portable_weights

TOLERANCE = 1e-4  # float32: max|a - b| <= TOLERANCE * max(1, max|a|), a = Keras's output
INPUT_LINE = re.compile(r"^([ \t]*input[ \t]+)(\S+)(.*)$", re.MULTILINE)

__all__ = [
    "TOLERANCE",
    "Comparison",
    "KerasGraphError",
    "Mapping",
    "MatchError",
    "application_spec",
    "compare",
    "from_keras",
    "spec_at",
    "spec_text_at",
]


@dataclass(frozen=True)
class Mapping:
    """The spec's network, its portable weights, and which Keras layer each node stands for."""

    network: Network
    weights: dict[str, np.ndarray]
    table: dict[str, str]  # spec node -> the Keras layer (or op) whose output it computes
    matches: dict[str, Match] = field(repr=False)
    graph: KerasGraph = field(repr=False)

    @property
    def fused(self) -> int:
        """Keras activation layers that the spec writes as fused activations."""
        return sum(self.graph.ops[name].cls != "Reshape"
                   for m in self.matches.values() for name in m.absorbed)

    @property
    def reshapes(self) -> int:
        """Keras Reshapes that only add axes of size 1, which the spec's node keeps itself."""
        return sum(self.graph.ops[name].cls == "Reshape"
                   for m in self.matches.values() for name in m.absorbed)

    @property
    def skipped(self) -> list[str]:
        """Keras layers that are the identity at inference and that the spec leaves out."""
        claimed = {name for m in self.matches.values() for name in (m.op, *m.absorbed)}
        return [name for name in self.graph.ops if name not in claimed]


def application_spec(name: str) -> Path:
    """The zoo spec of a keras.applications model: "ResNet50" -> cnnspec/zoo/resnet50.cnn."""
    stem = re.sub(r"[^a-z0-9]", "", name.lower())
    path = importlib.resources.files("cnnspec.zoo") / f"{stem}.cnn"
    if not path.is_file():
        known = sorted(p.name[:-4] for p in importlib.resources.files("cnnspec.zoo").iterdir()
                       if p.name.endswith(".cnn"))
        raise FileNotFoundError(f"the zoo has no spec for {name!r} (no {stem}.cnn; the zoo "
                                f"has: {', '.join(known) or 'nothing yet'})")
    return Path(os.fspath(path))


def spec_text_at(text: str, hwc: tuple[int, ...]) -> str:
    """The spec text with its `input` line set to HxWxC. Its `expect` lines that no longer
    hold (counts and shapes stated for the standard input) are left out."""
    from ..api import analyse
    from ..source import SourceFile
    size = "x".join(str(d) for d in hwc)
    line = INPUT_LINE.search(text)
    if not line:
        raise ValueError("the spec has no input line")
    note = f"# at {size} here (the spec says {line[2]}): expect lines failing at this size left out\n"
    text = text[:line.start()] + note + f"{line[1]}{size}{line[3]}" + text[line.end():]
    _, diags = analyse(SourceFile.from_text(text, "<spec>"))
    stale = {d.span.line for d in diags if d.code == "E401"}
    lines = text.splitlines(keepends=True)
    return "".join(line for i, line in enumerate(lines, 1) if i not in stale)


def spec_at(spec, hwc: tuple[int, ...] | None = None) -> Network:
    """A spec (a Network, a path) as a Network, at the input HxWxC when given (see
    spec_text_at). Raises cnnspec.SpecError, OSError."""
    from ..api import load_source
    from ..source import SourceFile
    network = spec if isinstance(spec, Network) else load_source(SourceFile.read(spec))
    if hwc is None or tuple(network.input_shape) == tuple(hwc):
        return network
    source = network.source
    return load_source(SourceFile(source.name, spec_text_at(source.text, hwc)))


def from_keras(model, spec) -> Mapping:
    """Match the spec (a Network or a path; at the model's input size, see spec_at) to the
    Keras model and convert its weights. Raises MatchError / KerasGraphError."""
    graph = read_graph(model)
    shape = graph.ops[graph.input].out_shape
    known = shape is not None and None not in shape
    network = spec_at(spec, tuple(shape) if known else None)
    matches = match(network, graph)
    weights = portable_weights(network, graph, matches)
    table = {name: m.image for name, m in matches.items()}
    return Mapping(network, weights, table, matches, graph)


# -- the proof -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """One backend against Keras: every compared layer's max|a-b| / max(1, max|a|)."""

    target: str
    layers: dict[str, float]  # spec node -> relative difference
    absolute: dict[str, float]
    argmax_equal: bool

    @property
    def worst(self) -> str:
        return max(self.layers, key=self.layers.__getitem__)

    @property
    def ok(self) -> bool:
        return self.argmax_equal and self.layers[self.worst] <= TOLERANCE


def keras_outputs(model, mapping: Mapping, x) -> dict[str, np.ndarray]:
    """The Keras model's own output at every matched spec node whose Keras layer it exposes."""
    import keras
    names = [n.name for n in mapping.network.layers
             if mapping.table[n.name] in mapping.graph.tensors]
    tensors = [mapping.graph.tensors[mapping.table[name]] for name in names]
    probe = keras.Model(model.inputs[0], tensors)
    values = probe(x, training=False)
    values = values if isinstance(values, (list, tuple)) else [values]
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in zip(names, values)}


def compare(model, mapping: Mapping, x, targets=("numpy", "torch", "keras"),
            reference: dict | None = None) -> dict[str, Comparison]:
    """Build the spec for each target with the mapped weights and compare every layer's
    output with Keras's (`reference`: keras_outputs, computed once when not given)."""
    import cnnspec

    from ..runtime import run_layers
    x = np.asarray(x, dtype=np.float32)
    reference = reference if reference is not None else keras_outputs(model, mapping, x)
    result = {}
    for target in targets:
        built = cnnspec.build(mapping.network, target, weights=mapping.weights)
        ours = run_layers(built, target, mapping.network, x)
        result[target] = _compare(target, mapping.network, reference, ours)
    return result


def _compare(target: str, network: Network, theirs: dict, ours: dict) -> Comparison:
    relative, absolute = {}, {}
    for name, a in theirs.items():
        if name not in ours:
            continue
        b = np.asarray(ours[name], dtype=np.float64).reshape(a.shape)
        diff = float(np.abs(b - a).max()) if a.size else 0.0
        absolute[name] = diff
        relative[name] = diff / max(1.0, float(np.abs(a).max()) if a.size else 0.0)
    same = all(np.array_equal(theirs[n.name].reshape(len(theirs[n.name]), -1).argmax(1),
                              np.asarray(ours[n.name]).reshape(len(ours[n.name]), -1).argmax(1))
               for n in network.output_nodes if n.name in theirs and n.name in ours)
    return Comparison(target, relative, absolute, same)


# -- random weights that matter ------------------------------------------------------------------

def randomise(model, seed: int = 0) -> None:
    """Give every non-kernel weight random values from `seed`: batch-norm scales, offsets and
    moving statistics away from 1 and 0, Normalization means and variances, biases, layer
    scales, so that a wrong epsilon, order or layout shows in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in _layers(model):
        values = [_random_like(rng, w.name, np.asarray(w.numpy()), type(layer).__name__)
                  for w in layer.weights]
        if values:
            layer.set_weights(values)
        if hasattr(layer, "finalize_state"):  # Normalization computes with copies made here
            layer.finalize_state()


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional"):
            yield from _layers(layer)
        else:
            yield layer


def _random_like(rng, name: str, value: np.ndarray, cls: str) -> np.ndarray:
    shape, dtype = value.shape, value.dtype
    if name in ("kernel", "depthwise_kernel", "pointwise_kernel") or dtype.kind != "f":
        return value
    if name in ("gamma", "moving_variance", "variance") or cls == "LayerScale":
        return rng.uniform(0.5, 1.5, shape).astype(dtype)
    return rng.normal(0.0, 0.1, shape).astype(dtype)
