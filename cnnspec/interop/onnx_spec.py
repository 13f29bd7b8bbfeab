"""Translated layers -> a readable, checked spec and its portable weights.

Names: the module path the ONNX file suggests ('layer1.0.conv1' from the weight
'layer1.0.conv1.weight' or the node '/layer1/layer1.0/conv1/Conv') with every character a
spec NAME cannot hold made '_' ('layer1_0_conv1'); a name that would start with a digit, be
a word of the language, or repeat an earlier one gets the layer's kind in front or a number
after (`unique_name`); a layer with no suggested name is `<kind>_<n>`, as the spec's own
automatic names are. A layer reads the line above unless it says `from=`; merges list their
inputs. After a first check the text gets each layer's output shape (and parameters) as a
trailing comment and `expect` lines with the network's counts, and is checked again: what
the checker refuses (a pool padding wider than half its window, ...) is reported, per layer
with the ONNX nodes it stands for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..formatter import format_text
from ..ir import Network
from .onnx_layers import Layer, Translation

RESERVED = frozenset({"input", "output", "in", "block", "end", "repeat", "if", "first", "last",
                      "network", "expect", "freeze", "unfreeze", "stage", "import", "use", "from"})
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")



class SpecProblems(ValueError):
    """The layers do not make a spec that checks: the problems, one a line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    network: Network
    text: str
    weights: dict[str, np.ndarray]
    table: dict[str, list[str]]  # spec name -> the ONNX nodes it stands for


def sanitise(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")


def unique_name(hint: str | None, kind: str, taken: set[str], counters: dict[str, int]) -> str:
    """The layer's spec name (see the module docstring); added to `taken`."""
    name = sanitise(hint or "")
    if name and (name[0].isdigit() or name in RESERVED):
        name = f"{kind}_{name}"
    if not name:
        while True:
            counters[kind] = counters.get(kind, 0) + 1
            name = f"{kind}_{counters[kind]}"
            if name not in taken:
                break
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def network_name(text: str) -> str:
    name = sanitise(text) or "Imported"
    return name if not name[0].isdigit() else "Net_" + name


def layer_lines(tr: Translation) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """[(name, body)] of the layer lines, and layer id -> spec name."""
    taken: set[str] = set()
    counters: dict[str, int] = {}
    names = {"input": "input"}
    lines = []
    previous = "input"
    for layer in tr.layers:
        names[layer.id] = unique_name(layer.hint, layer.kind, taken, counters)
        lines.append((names[layer.id], body(layer, names, previous)))
        previous = layer.id
    return lines, names


def body(layer: Layer, names: dict[str, str], previous: str) -> str:
    words = [layer.kind]
    if layer.merge:
        words += [names[i] for i in layer.inputs]
    words += layer.args
    if not layer.merge and layer.inputs[0] != previous:
        words.append(f"from={names[layer.inputs[0]]}")
    if layer.activation:
        words += ["->", layer.activation]
    return " ".join(words)


def header(tr: Translation, name: str, source: str) -> list[str]:
    g = tr.graph
    shape = g.input_shape
    if len(shape) == 3 and not g.nhwc_input:
        shape = (shape[1], shape[2], shape[0])
    size = "x".join(str(d) for d in shape)
    made = f", made by {g.producer}" if g.producer else ""
    return [f"# imported by `cnnspec import` from {source} (ONNX opset {g.opset}{made})",
            "# images are NHWC here: ONNX's NCHW tensors transposed, dense rows permuted",
            f'network {name} "imported from {source}"', "", f"input {size}", ""]


def render(tr: Translation, name: str, source: str, network: Network | None = None) -> str:
    lines, names = layer_lines(tr)
    rows = [f"{n}: {b}" for n, b in lines]  # aligned by `cnnspec fmt`'s layout (build_spec)
    outputs = [names[o] for o in tr.outputs]
    tail = []
    if outputs != [lines[-1][0]]:
        tail = ["", "output " + ", ".join(outputs)]
    if network is not None:
        rows = [with_comment(row, network.node(n)) for row, (n, _) in zip(rows, lines)]
        tail += ["", *expect_lines(network)]
    return "\n".join(header(tr, name, source) + rows + tail) + "\n"


def with_comment(row: str, node) -> str:
    shape = "x".join(str(d) for d in node.out_shape)
    params = f", {node.params:,} params" if node.params else ""
    return f"{row}  # {shape}{params}"


def expect_lines(network: Network) -> list[str]:
    total = sum(n.params for n in network.nodes)
    trainable = sum(n.trainable_params for n in network.nodes)
    macs = sum(n.macs for n in network.nodes)
    out = [f"expect {n.name}.shape == {'x'.join(str(d) for d in n.out_shape)}"
           for n in network.output_nodes]
    return out + [f"expect params == {total}", f"expect trainable_params == {trainable}",
                  f"expect macs == {macs}"]


def build_spec(tr: Translation, name: str, source: str) -> Imported:
    """The checked spec (text and Network), its portable weights and the node table."""
    from ..api import analyse
    from ..source import SourceFile
    if tr.problems:
        raise SpecProblems(tr.problems)
    if not tr.layers:
        raise SpecProblems(["the graph has no layer between its input and its output"])
    plain = render(tr, name, source)
    network, diags = analyse(SourceFile.from_text(plain, "<imported>"))
    errors = [d for d in diags if d.severity == "error"]
    if network is None or errors:
        raise SpecProblems([checker_problem(tr, plain, d) for d in errors] or ["the spec does not check"])
    text = render(tr, name, source, network)
    text = format_text(text, "<imported>") or text  # the canonical layout, as `cnnspec fmt` writes
    final, diags = analyse(SourceFile.from_text(text, "<imported>"))
    if final is None or any(d.severity == "error" for d in diags):
        raise SpecProblems([checker_problem(tr, text, d) for d in diags])
    _, names = layer_lines(tr)
    weights = {f"{names[layer.id]}.{k}": v for layer in tr.layers for k, v in layer.weights.items()}
    table = {names[layer.id]: layer.nodes for layer in tr.layers}
    return Imported(final, text, weights, table)


def checker_problem(tr: Translation, text: str, diag) -> str:
    """A checker diagnostic on the generated text, told by the ONNX nodes of its line."""
    line = text.splitlines()[diag.span.line - 1] if diag.span.line else ""
    name = line.split(":", 1)[0].strip()
    _, names = layer_lines(tr)
    layer = next((layer for layer in tr.layers if names[layer.id] == name), None)
    where = f"node '{layer.nodes[0]}'" if layer else "the spec"
    return f"{where}: as `{line.strip()}`: {diag.message}"
