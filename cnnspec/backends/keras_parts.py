"""What every Keras emitter shares: the Step record (one Keras layer) and its helpers.

The kind families (keras.py's core kinds, keras_convs, keras_norms, keras_reshapes) import
from here. A family's custom layers (classes written into the generated module) are listed in
its CUSTOM_LAYERS: constructor name -> source.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node
from ..shapes import same_padding
from .base import fused_activation

KERAS_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax")


@dataclass
class Step:
    """One Keras layer: its role (the name suffix when it is not the last), constructor, shape."""

    role: str
    ctor: str
    args: list[str]
    shape: tuple[int, ...]
    params: int = 0
    holds_weights: bool = False


def pair(values) -> str:
    return f"({values[0]}, {values[1]})"


def activation_steps(node: Node, shape) -> list[Step]:
    """The layer for an activation that Keras's activation= argument cannot express."""
    act, alpha = fused_activation(node)
    if act == "leaky_relu":
        return [Step("act", "LeakyReLU", [f"negative_slope={alpha!r}"], shape)]
    return [Step("act", "Activation", [f'"{act}"'], shape)]


def fused(node: Node, core: Step, allowed=KERAS_ACTIVATIONS) -> list[Step]:
    """The core layer with its activation: as activation= when Keras has it, else a layer."""
    act = fused_activation(node)[0]
    if act == "linear":
        return [core]
    if act in allowed:
        core.args.append(f'activation="{act}"')
        return [core]
    return [core, *activation_steps(node, node.out_shape)]


def padding_step(pads, shape) -> list[Step]:
    t, b, left, right = pads
    if not any(pads):
        return []
    out = (shape[0] + t + b, shape[1] + left + right, shape[2])
    return [Step("pad", "ZeroPadding2D", [f"(({t}, {b}), ({left}, {right}))"], out)]


def is_keras_same(node: Node) -> bool:
    """Whether the resolved padding is exactly what Keras's padding="same" computes (the
    TensorFlow rule, also used by cnnspec's 'same'), and non-zero."""
    a = node.attrs
    same = tuple(p for axis in (0, 1) for p in same_padding(
        node.in_shape[axis], a["kernel"][axis], a["stride"][axis], a["dilation"][axis]))
    return any(a["padding"]) and tuple(a["padding"]) == same
