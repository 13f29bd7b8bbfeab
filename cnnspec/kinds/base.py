"""What every layer kind shares: the Resolved result, activations, and the Kind defaults.

Each kind reads its arguments with an ArgReader, reports problems as located diagnostics and
returns a Resolved (attrs, output shape, weights in the canonical layout, MACs), or None when
the layer cannot be resolved. Canonical weight layouts: conv kernel (kh, kw, c_in/groups,
c_out), dense kernel (in, out), biases and batch-norm vectors (c,).

A kind declares, once: `options` (its key=value options), `fused_activation` (whether it takes
`-> activation`), `arity` (1, or MANY: two or more inputs) and `flat_order` (how the element
order of a flat output relates to its inputs': "keeps", "makes", "concat", "elementwise" or
"new"; see the team contract and cnnspec/layout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import syntax as S
from ..args import ArgReader, did_you_mean
from ..ir import Weight
from ..shapes import shape_text

# The activation functions, as the IR names them (docs/semantics.md defines each exactly).
ACTIVATION_FUNCTIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "linear", "relu6",
                        "swish", "hard_sigmoid", "hard_swish", "gelu", "gelu_tanh", "elu")
# Other words for the same functions: accepted in specs, normalised in the IR.
ACTIVATION_ALIASES = {"silu": "swish"}
# Every word that names an activation (fused after `->`, or as a layer of its own).
ACTIVATIONS = ACTIVATION_FUNCTIONS + tuple(ACTIVATION_ALIASES)
# The activations that take a parameter `alpha`, and its default (every backend writes it
# explicitly): leaky_relu's slope (PyTorch's default), elu's scale of the negative part.
ALPHA_DEFAULTS = {"leaky_relu": 0.01, "elu": 1.0}
DEFAULT_LEAKY_ALPHA = ALPHA_DEFAULTS["leaky_relu"]
COMMON_OPTIONS = {"out"}
FLAT_ORDERS = ("keeps", "makes", "concat", "elementwise", "new")


class _Many:
    """The arity of a merge: two or more inputs (at most the fan-in limit)."""

    def __repr__(self) -> str:
        return "MANY"


MANY = _Many()


@dataclass(frozen=True)
class Resolved:
    attrs: dict
    out_shape: tuple[int, ...]
    weights: tuple[Weight, ...] = ()
    macs: int = 0


class Kind:
    """The defaults: one input, no options, no fused activation, a fresh flat order."""

    options: frozenset = frozenset()
    fused_activation = False
    arity: object = 1
    flat_order = "new"


def need_image(r: ArgReader, layer: S.Layer, in_shape) -> bool:
    if len(in_shape) == 3:
        return True
    origin = r.origin() if r.origin else None
    where = f"put it before {origin}" if origin else "give it an HxWxC input"
    r.error("E305", layer, f"{layer.kind} needs an HxWxC input, but its input is the flat vector "
            f"{shape_text(in_shape)}", f"{where}, or use dense for flat inputs")
    return False


def activation_advice(layer: S.Layer, fused: bool):
    """Hints for activations written as Keras/PyTorch habits: `activation=relu`, `dense 10 softmax`."""
    def advise(node) -> str | None:
        if isinstance(node, S.Option) and node.key == "activation":
            node = node.value
        if not isinstance(node, S.Value) or node.kind not in ("word", "string") \
                or node.value not in ACTIVATIONS:
            return None
        if fused:
            return f"an activation follows an arrow: write '-> {node.value}' at the end of the line"
        return f"{layer.kind} takes no activation: add '{node.value}' as a layer of its own on the next line"
    return advise


def activation_name(word: str) -> str:
    """The IR's name of an activation word: aliases (`silu`) become their function (`swish`)."""
    return ACTIVATION_ALIASES.get(word, word)


def read_activation(r: ArgReader, act: S.Activation | None):
    """(name, alpha) of a fused activation, the name normalised (`silu` -> `swish`); alpha is
    None for the activations that take none. ('linear', None) when there is none."""
    if act is None:
        return "linear", None
    if act.name not in ACTIVATIONS:
        r.error("E101", act, f"unknown activation '{act.name}'",
                did_you_mean(act.name, ACTIVATIONS) or "activations: " + ", ".join(ACTIVATIONS))
        return None
    name = activation_name(act.name)
    sub = ArgReader(r.diags, act.name, act.args, act.options,
                    {"alpha"} if name in ALPHA_DEFAULTS else set())
    alpha = alpha_of(sub, name)
    sub.finish()
    r.ok = r.ok and sub.ok
    return name, alpha


def alpha_of(r: ArgReader, name: str):
    """The alpha of leaky_relu or elu (`alpha=A` or a positional number; its default when
    not given), None for every other activation (and after reporting a bad value)."""
    if name not in ALPHA_DEFAULTS:
        return None
    value = r.value("alpha") or r.take(("int", "float"))
    return ALPHA_DEFAULTS[name] if value is None else r.float_of(value, "alpha", 0.0, 1e6)


def stated_hw(r: ArgReader):
    value = r.value("out")
    if value is None or value.kind != "dims" or None in value.value:
        return None
    return value.value[:2]
