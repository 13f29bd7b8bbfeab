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

# spec activation -> Keras 3's name for exactly that function (activation="..." or
# keras.layers.Activation): Keras calls swish "silu" and hard_swish "hard_silu"; its
# "hard_sigmoid" is relu6(x + 3) / 6 and its "elu" has alpha 1. The gelus and elu with another
# alpha are layers of their own (activation_steps): with the TensorFlow backend,
# keras.activations.gelu runs TF's Gelu kernel, which is off by up to 5e-9 in float64 (9e-10
# with approximate=True), so the generated layers write the formulas out with keras.ops.
KERAS_ACTIVATIONS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax",
                     "relu6": "relu6", "swish": "silu", "hard_sigmoid": "hard_sigmoid",
                     "hard_swish": "hard_silu", "elu": "elu"}

GELU_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class Gelu(keras.layers.Layer):
    """The exact GELU, x/2 * (1 + erf(x / sqrt(2))), what Activation("gelu") means, written
    with keras.ops.erf: TensorFlow's Gelu kernel is off by up to 5e-9 in float64."""

    def call(self, x):
        return 0.5 * x * (1.0 + keras.ops.erf(x * 0.7071067811865476))
'''

GELU_TANH_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class GeluTanh(keras.layers.Layer):
    """GELU's tanh approximation, x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))), what
    keras.activations.gelu(x, approximate=True) means (TensorFlow's kernel: 9e-10 off in
    float64); Activation("gelu") is the exact form."""

    def call(self, x):
        inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + keras.ops.tanh(inner))
'''

# custom layers (constructor -> source) that activation_steps uses
CUSTOM_LAYERS = {"Gelu": GELU_LAYER, "GeluTanh": GELU_TANH_LAYER}
ACTIVATION_LAYERS = {"gelu": "Gelu", "gelu_tanh": "GeluTanh"}


@dataclass
class Step:
    """One Keras layer: its role (the name suffix when it is not the last), constructor, shape."""

    role: str
    ctor: str
    args: list[str]
    shape: tuple[int, ...]
    params: int = 0
    holds_weights: bool = False
    note: str = ""  # said after the shape in the generated line's comment


def pair(values) -> str:
    return f"({values[0]}, {values[1]})"


def keras_activation(act: str, alpha) -> str | None:
    """Keras's name for the activation, None where activation="..." cannot say it exactly."""
    if act == "elu" and alpha != 1.0:
        return None
    return KERAS_ACTIVATIONS.get(act)


def activation_steps(node: Node, shape) -> list[Step]:
    """The activation as a layer of its own (a fused one Keras's activation= cannot express,
    or an activation layer)."""
    act, alpha = fused_activation(node)
    if act == "leaky_relu":
        return [Step("act", "LeakyReLU", [f"negative_slope={alpha!r}"], shape)]
    if act == "elu" and alpha != 1.0:
        return [Step("act", "ELU", [f"alpha={alpha!r}"], shape)]
    if act in ACTIVATION_LAYERS:
        return [Step("act", ACTIVATION_LAYERS[act], [], shape)]
    return [Step("act", "Activation", [f'"{KERAS_ACTIVATIONS.get(act, act)}"'], shape)]


def fused(node: Node, core: Step, allowed=tuple(KERAS_ACTIVATIONS)) -> list[Step]:
    """The core layer with its activation: as activation= when Keras has it exactly (and the
    layer takes activation=: `allowed`), else as a layer after it."""
    act, alpha = fused_activation(node)
    if act == "linear":
        return [core]
    name = keras_activation(act, alpha)
    if act in allowed and name is not None:
        core.args.append(f'activation="{name}"')
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


def window_steps(node: Node, ctor: str, args: list[str], options=(), equal_strides=False):
    """A Keras sliding-window layer (Conv2D, DepthwiseConv2D, SeparableConv2D) with the node's
    padding, stride and dilation: `args` first, then the kernel, `padding="same"` where that
    is exactly the node's padding (else a ZeroPadding2D before), strides, dilation, `options`
    and use_bias. Keras takes no stride together with a dilation (and TensorFlow's depthwise
    op equal strides only: `equal_strides`): then the layer runs at stride 1 and a 1x1 max
    pooling subsamples after it."""
    a = node.attrs
    split = max(a["stride"]) > 1 and max(a["dilation"]) > 1
    split = split or (equal_strides and a["stride"][0] != a["stride"][1])
    same = is_keras_same(node) and not split  # one layer instead of ZeroPadding2D + the conv
    steps = [] if same else padding_step(a["padding"], node.in_shape)
    shape = steps[-1].shape if steps else node.in_shape
    args = [*args, pair(a["kernel"])] + (['padding="same"'] if same else [])
    if a["stride"] != (1, 1) and not split:
        args.append(f"strides={pair(a['stride'])}")
    if a["dilation"] != (1, 1):
        args.append(f"dilation_rate={pair(a['dilation'])}")
    args += list(options) + ([] if a["bias"] else ["use_bias=False"])
    out = node.out_shape if not split else tuple(
        shape[i] - a["dilation"][i] * (a["kernel"][i] - 1) for i in (0, 1)) + node.out_shape[2:]
    chain = fused(node, Step("conv", ctor, args, out, node.params, True))
    if not split:
        return steps + chain
    subsample = Step("stride", "MaxPooling2D", ["1", f"strides={pair(a['stride'])}"], node.out_shape)
    return steps + chain[:1] + [subsample] + chain[1:]
