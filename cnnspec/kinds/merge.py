"""Merges: add, concat and multiply of two or more inputs. No weights, no parameters.

Each merge's shape rule is a pure function of its inputs (names and shapes) that returns the
output shape or a Problem: the error code, what the merge needs, and the fix, written for the
input that breaks the rule (a 1x1 conv with N kernels for channels, the zeropad or stride that
aligns heights and widths, flatten or global pooling for an image beside a flat vector).
MACs are 0: cnnspec counts multiply-accumulates against weights only (as for pooling and
batch norm), which is what torchinfo and Keras-style counters report for a ResNet.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import syntax as S
from ..args import ArgReader
from ..shapes import shape_text
from .base import MANY, Kind, Resolved, read_activation

MAX_LISTED = 12  # inputs listed by name in a message; past this, the two that disagree


@dataclass(frozen=True)
class Inputs:
    names: tuple[str, ...]  # the nodes' (hierarchical) names: what messages list
    shapes: tuple[tuple[int, ...], ...]
    words: tuple[str, ...] = ()  # the names as the merge's own line writes them: what fixes use

    def word(self, i: int) -> str:
        return self.words[i] if len(self.words) == len(self.names) else self.names[i]

    def listing(self, *shown: int) -> str:
        """"'a' 8x8x16 and 'b' 8x8x32": every input, or (past MAX_LISTED) the ones shown."""
        picked = range(len(self.shapes)) if len(self.shapes) <= MAX_LISTED else sorted(set(shown))
        parts = [f"'{self.names[i]}' {shape_text(self.shapes[i])}" for i in picked]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        rest = len(self.shapes) - len(parts)
        return text + (f" (and {rest} more inputs)" if rest else "")


@dataclass(frozen=True)
class Problem:
    code: str
    needs: str  # "inputs of one shape"
    hint: str
    shown: tuple[int, ...] = (0,)  # the inputs the message must name


def inputs_of(r: ArgReader, in_shapes) -> Inputs:
    """The merge's inputs; a lone shape (from a caller that wires one input) is one input.
    With fewer than 2 (which the checker refuses, E217, before resolving) the rules still hold."""
    if in_shapes and all(isinstance(d, int) for d in in_shapes):
        in_shapes = (in_shapes,)
    shapes_ = tuple(tuple(s) for s in in_shapes)
    names = tuple(getattr(r, "inputs", None) or ())
    if len(names) != len(shapes_):
        names = tuple(f"input {i + 1}" for i in range(len(shapes_)))
    return Inputs(names, shapes_, tuple(getattr(r, "input_words", None) or ()))


def written_names(inputs, own: str, block_input: str | None = None) -> tuple[str, ...]:
    """How the line of node `own` (e.g. 'layer2.0.out') writes each of its inputs' node names:
    'layer2.0.bn3' -> 'bn3' (same instance), the instance's input node -> 'in', others as they are.
    What a checker sets as `r.input_words` for a merge inside a block."""
    prefix = own[: own.rfind(".") + 1]
    def word(name: str) -> str:
        if prefix and name == block_input:
            return "in"
        return name[len(prefix):] if prefix and name.startswith(prefix) else name
    return tuple(word(n) for n in inputs)


class Merge(Kind):
    arity = MANY
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shapes) -> Resolved | None:
        inputs = inputs_of(r, in_shapes)  # at least 2: the checker reads `arity` (E217)
        if not inputs.shapes:
            raise ValueError(f"{layer.kind} was resolved without its inputs' shapes")
        act = read_activation(r, layer.activation)
        out = self.shape(inputs)
        if isinstance(out, Problem):
            r.error(out.code, layer, f"{layer.kind} needs {out.needs}, but its inputs are "
                    f"{inputs.listing(*out.shown)}", out.hint)
            return None
        if act is None:
            return None
        return Resolved({**self.attrs(out), "activation": act[0], "alpha": act[1]}, out)

    def attrs(self, out) -> dict:
        return {}


class Add(Merge):
    flat_order = "elementwise"

    def shape(self, inputs: Inputs):
        return same_shape(inputs, "add")


class Multiply(Merge):
    flat_order = "elementwise"

    def shape(self, inputs: Inputs):
        return broadcast_shape(inputs)


class Concat(Merge):
    flat_order = "concat"

    def shape(self, inputs: Inputs):
        return concat_shape(inputs)

    def attrs(self, out) -> dict:
        return {"axis": "channels" if len(out) == 3 else "flat"}


# --- the shape rules: pure functions of the inputs --------------------------------------

def same_shape(inputs: Inputs, kind: str):
    """add (and multiply without a gate): every input has the first one's shape."""
    problem = rank_problem(inputs, kind) or spatial_problem(inputs)
    if problem:
        return problem
    ref = inputs.shapes[0]
    for i, s in enumerate(inputs.shapes):
        if s != ref:
            return size_problem(inputs, 0, i)
    return ref


def concat_shape(inputs: Inputs):
    """Along channels for images of one height and width, end to end for flat vectors."""
    problem = rank_problem(inputs, "concat") or spatial_problem(inputs, keep_channels=True)
    if problem:
        return problem
    first = inputs.shapes[0]
    total = sum(s[-1] for s in inputs.shapes)
    return (*first[:2], total) if len(first) == 3 else (total,)


def broadcast_shape(inputs: Inputs):
    """multiply: one shape, except that a C or 1x1xC gate scales every pixel of HxWxC."""
    full = _broadcast_target(inputs.shapes)
    ref = inputs.shapes[full]
    if len(ref) != 3:
        return same_shape(inputs, "multiply")  # flat vectors only: one length
    for i, s in enumerate(inputs.shapes):
        if s == ref:
            continue
        if len(s) == 1 and s[0] == ref[0] * ref[1] * ref[2] != ref[2]:
            return rank_problem(inputs, "multiply")  # a flattened image, not a gate
        if _is_gate(s):
            if s[-1] != ref[-1]:
                return _gate_problem(inputs, full, i)
        elif s[:2] != ref[:2]:
            return Problem("E313", "inputs of one height and width (or C / 1x1xC gates)",
                           align_hint(inputs, full, i, ref[2]), (full, i))
        else:
            return size_problem(inputs, full, i)
    return ref


def _broadcast_target(shapes_) -> int:
    """The input the others broadcast to: the largest image (the first of those), else the first."""
    images = [i for i, s in enumerate(shapes_) if len(s) == 3]
    return max(images, key=lambda i: (shapes_[i][0] * shapes_[i][1], -i)) if images else 0


def _is_gate(s) -> bool:
    return len(s) == 1 or s[:2] == (1, 1)


def _gate_problem(inputs: Inputs, full: int, i: int) -> Problem:
    c, name = inputs.shapes[full][-1], inputs.word(i)
    maker = f"dense {c} -> sigmoid" if len(inputs.shapes[i]) == 1 else f"conv {c} 1x1 -> sigmoid"
    return Problem("E312", f"gates with as many channels as the {c} of '{inputs.names[full]}'",
                   f"make the gate '{name}' {c} wide: e.g. '{maker}' where it is made (a C or "
                   "1x1xC gate scales every pixel)", (full, i))


def rank_problem(inputs: Inputs, kind: str) -> Problem | None:
    """An image beside a flat vector: flatten it, or pool it globally."""
    images = [i for i, s in enumerate(inputs.shapes) if len(s) == 3]
    flats = [i for i, s in enumerate(inputs.shapes) if len(s) != 3]
    if not images or not flats:
        return None
    i, j = images[0], flats[0]
    (h, w, c), name = inputs.shapes[i], inputs.word(i)
    hint = (f"make '{name}' flat first: 'flatten from={name}' gives {h * w * c:,} values, "
            f"'globalavgpool from={name}' gives {c}")
    if kind != "concat" and inputs.shapes[j][0] not in (h * w * c, c):
        hint += f"; '{inputs.word(j)}' has {inputs.shapes[j][0]:,}"
    return Problem("E311", "inputs that are all images (HxWxC) or all flat vectors", hint, (i, j))


def spatial_problem(inputs: Inputs, keep_channels=False) -> Problem | None:
    """Images of different heights or widths: the zeropad or stride that aligns them."""
    ref = inputs.shapes[0]
    if len(ref) != 3:
        return None
    for i, s in enumerate(inputs.shapes):
        if s[:2] != ref[:2]:
            return Problem("E313", "inputs of one height and width", align_hint(
                inputs, 0, i, None if keep_channels else ref[2]), (0, i))
    return None


def size_problem(inputs: Inputs, ref: int, i: int) -> Problem:
    """Same rank and (for images) the same height and width, but other channels or lengths."""
    want, name = inputs.shapes[ref][-1], inputs.word(i)
    if len(inputs.shapes[ref]) == 3:
        fix = f"give '{name}' {want} channels with a 1x1 conv: 'conv {want} 1x1 from={name}'"
        return Problem("E312", "inputs of one shape (the same channels)", fix, (ref, i))
    fix = f"give '{name}' {want:,} values: e.g. 'dense {want} from={name}'"
    return Problem("E312", "flat inputs of one length", fix, (ref, i))


def align_hint(inputs: Inputs, ref: int, i: int, channels: int | None) -> str:
    """How to bring input i to the height and width of input ref (channels: also match them)."""
    (big_h, big_w), (h, w) = inputs.shapes[ref][:2], inputs.shapes[i][:2]
    a, b = inputs.word(ref), inputs.word(i)
    then = f" and a 1x1 conv with {channels} kernels" if channels and inputs.shapes[i][2] != channels \
        else ""
    if h <= big_h and w <= big_w:
        pad = f"zeropad '{b}' by {_pads(big_h - h, big_w - w)} to {big_h}x{big_w}{then}: " \
              f"'zeropad {_pads(big_h - h, big_w - w)} from={b}'"
        down = _stride(big_h, big_w, h, w)
        kernels = channels or inputs.shapes[ref][2]
        return pad + (f", or shrink '{a}' to {h}x{w}: 'conv {kernels} 1x1 stride={down} from={a}'"
                      if down else "")
    stride = _stride(h, w, big_h, big_w)
    if stride:
        kernels = channels if channels else inputs.shapes[i][2]
        return f"a 1x1 conv with {kernels} kernels and stride={stride} from '{b}' gives " \
               f"{big_h}x{big_w}x{kernels} (a projection shortcut): 'conv {kernels} 1x1 " \
               f"stride={stride} from={b}'"
    if h >= big_h and w >= big_w:
        return f"zeropad '{a}' by {_pads(h - big_h, w - big_w)} to {h}x{w}, or shrink '{b}' " \
               f"(a crop or a strided layer) to {big_h}x{big_w}"
    return f"pad each to {max(h, big_h)}x{max(w, big_w)}: 'zeropad " \
           f"{_pads(max(0, h - big_h), max(0, w - big_w))} from={a}' and 'zeropad " \
           f"{_pads(max(0, big_h - h), max(0, big_w - w))} from={b}'"


def _pads(dh: int, dw: int) -> str:
    """(top, bottom, left, right) adding dh rows and dw columns, the odd one after."""
    return f"({dh // 2}, {dh - dh // 2}, {dw // 2}, {dw - dw // 2})"


def _stride(h: int, w: int, out_h: int, out_w: int) -> int | None:
    """The stride s > 1 with which a 1x1 conv takes h x w to out_h x out_w, if one does."""
    if out_h < 1 or out_w < 1:
        return None
    s = -(-h // out_h)
    return s if s > 1 and -(-h // s) == out_h and -(-w // s) == out_w else None

