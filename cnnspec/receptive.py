"""Receptive field, jump (effective stride) and activation memory of every node of a Network.

Pure functions over a checked Network (docs/semantics.md, "Receptive field, jump and memory").
Per spatial axis a node's field is (rf, jump, start) in network-input pixels: one output pixel
i sees the input pixels start + i*jump ... start + i*jump + rf - 1 (start < 0: in padding).
Each node kind's rule is declared once, in RULES, as a function of the node's resolved attrs
(kernel, stride, dilation, padding come resolved from the IR): no shape maths is redone here.
A merge takes the union of its inputs' fields (the largest over the paths into it). Jumps are
Fractions: upsample and convtranspose divide them. The reported rf is rounded up to a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from .graph import consumers, edges_of
from .shapes import prod

DTYPE_BYTES = {"float16": 2, "float32": 4, "float64": 8}


@dataclass(frozen=True)
class Field:
    """One axis: receptive field size, jump and start, in network-input pixels."""

    rf: Fraction
    jump: Fraction
    start: Fraction

    def window(self, k_eff: int, stride: int, lo: int) -> Field:
        """Through a sliding window of dilated extent k_eff, `stride`, `lo` pixels of padding."""
        return Field(self.rf + (k_eff - 1) * self.jump, self.jump * stride,
                     self.start - lo * self.jump)

    def scatter(self, span: int, stride: int, first: int) -> Field:
        """Through a layer whose output pixel reads at most `span` consecutive input pixels,
        `stride` outputs per input pixel, output 0 reading input pixel `first` first."""
        return Field(self.rf + (span - 1) * self.jump, self.jump / stride,
                     self.start + first * self.jump)


IDENTITY = Field(Fraction(1), Fraction(1), Fraction(0))


def _window(node, axis, f: Field) -> Field:
    a = node.attrs
    k, d = a["kernel"][axis], a["dilation"][axis]
    return f.window(d * (k - 1) + 1, a["stride"][axis], a["padding"][2 * axis])


def _pad(key: str, sign: int):
    def rule(node, axis, f: Field) -> Field:
        return f.window(1, 1, sign * node.attrs[key][2 * axis])
    return rule


def _whole(node, axis, f: Field) -> Field:
    """Every output reads the whole input (global pools, flatten, dense, reshape)."""
    if len(node.in_shape) != 3:
        return f
    return f.window(node.in_shape[axis], 1, 0)


def _dense(node, axis, f: Field) -> Field:
    return _keep(node, axis, f) if node.attrs.get("per_pixel") else _whole(node, axis, f)


def _keep(node, axis, f: Field) -> Field:
    return f


def _transposed(node, axis, f: Field) -> Field:
    """Output o reads input i when i*S + k*d - lo == o for some kernel tap k < K."""
    a = node.attrs
    k, s, d = a["kernel_size"][axis], a["stride"][axis], a["dilation"][axis]
    lo = a["padding"][2 * axis]

    def reads(o):
        return [(o + lo - t * d) // s for t in range(k) if (o + lo - t * d) % s == 0]
    spans = [max(r) - min(r) + 1 for r in map(reads, range(s * d)) if r]
    return f.scatter(max(spans, default=1), s, min(reads(0), default=0))


def _upsample(node, axis, f: Field) -> Field:
    factor = node.attrs["factor"][axis]
    span = 2 if node.attrs["mode"] == "bilinear" and factor > 1 else 1
    return f.scatter(span, factor, 0)


# node kind -> its rule, (node, axis, the input's Field) -> the output's Field
RULES = {
    **dict.fromkeys(("conv", "maxpool", "avgpool", "depthwise", "separable"), _window),
    **dict.fromkeys(("globalavgpool", "globalmaxpool", "flatten", "reshape"), _whole),
    **dict.fromkeys(("batchnorm", "dropout", "activation", "layernorm", "normalize", "rescale",
                     "layerscale"), _keep),
    "dense": _dense, "zeropad": _pad("padding", 1), "crop": _pad("cropping", -1),
    "convtranspose": _transposed, "upsample": _upsample,
}
MERGES = ("add", "concat", "multiply")


def union(fields: list[Field]) -> Field:
    """The fields of a merge's inputs as one: from the lowest start to the highest end."""
    start = min(f.start for f in fields)
    end = max(f.start + f.rf for f in fields)
    return Field(end - start, max(f.jump for f in fields), start)


def fields(network) -> dict[str, tuple[Field, Field]]:
    """node name -> (height Field, width Field), in topological order."""
    out = {network.nodes[0].name: (IDENTITY, IDENTITY)}
    for node in network.nodes[1:]:
        if node.kind in MERGES:
            out[node.name] = tuple(union([out[i][axis] for i in node.inputs]) for axis in (0, 1))
        else:
            rule, given = RULES[node.kind], out[node.inputs[0]]
            out[node.name] = (rule(node, 0, given[0]), rule(node, 1, given[1]))
    return out


def number(x: Fraction):
    """A Fraction as JSON: an int when whole, else a float."""
    return int(x) if x.denominator == 1 else float(x)


def elements(network) -> dict[str, int]:
    """node name -> the elements of its output, per sample."""
    return {n.name: prod(n.out_shape) for n in network.nodes}


def peak_elements(network) -> int:
    """The most elements alive at once when the nodes run in topological order: a node's
    output lives from its computation until its last reader's (outputs: to the end)."""
    sizes, readers = elements(network), consumers(edges_of(network.nodes))
    order = {n.name: i for i, n in enumerate(network.nodes)}
    kept = {n.name for n in network.output_nodes}
    last = {name: max((order[r] for r in rs), default=order[name]) for name, rs in readers.items()}
    frees: dict[int, list[str]] = {}
    for name, when in last.items():
        if name not in kept:
            frees.setdefault(when, []).append(name)
    alive = peak = 0
    for i, node in enumerate(network.nodes):
        alive += sizes[node.name]
        peak = max(peak, alive)
        alive -= sum(sizes[name] for name in frees.get(i, ()))
    return peak


def _fields_or_none(network):
    """fields(network); None for an IR built by hand without its nodes' resolved attrs."""
    try:
        return fields(network)
    except (KeyError, IndexError, TypeError):
        return None


def annotate(network, summary: dict, batch: int = 1, dtype: str = "float32") -> dict:
    """The summary dict with the new keys: per layer receptive_field, jump, rf_start,
    activation_elements and activation_bytes; in total activation_memory_bytes and
    peak_activation_bytes (for `batch` samples of `dtype`). Adds keys, never removes any."""
    per = DTYPE_BYTES[dtype] * batch
    found, sizes = _fields_or_none(network), elements(network)
    for layer in summary["layers"]:
        h, w = found[layer["name"]] if found else (None, None)
        layer["receptive_field"] = [ceil(h.rf), ceil(w.rf)] if h else None
        layer["jump"] = [number(h.jump), number(w.jump)] if h else None
        layer["rf_start"] = [number(h.start), number(w.start)] if h else None
        layer["activation_elements"] = sizes[layer["name"]]
        layer["activation_bytes"] = sizes[layer["name"]] * per
    summary["batch"], summary["dtype"] = batch, dtype
    summary["activation_memory_bytes"] = sum(sizes.values()) * per
    summary["peak_activation_bytes"] = peak_elements(network) * per
    return summary
