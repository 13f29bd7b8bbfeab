"""The keras emitters of depthwise, separable and transposed convolutions: a mixin of the keras emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

Depthwise and separable are Keras's DepthwiseConv2D and SeparableConv2D, whose weights are the
portable tensors themselves; padding is theirs (padding="same") only where it equals the
resolved padding, else an explicit ZeroPadding2D; a stride together with a dilation (which
Keras refuses) or unequal strides (which TensorFlow's depthwise op refuses) run at stride 1
and subsample after (MaxPooling2D(1, strides)), as conv does. A transposed convolution is
Keras's Conv2DTranspose where Keras's own rule ("same": out = N*S, "valid") gives exactly the
spec's crop; anything else (an explicit crop, output_padding, groups, a dilation, which
TensorFlow's CPU kernel refuses) is the small ConvTranspose2D layer written into the
generated module.
"""

from __future__ import annotations

from .. import shapes
from ..ir import Node
from .keras_parts import Step, fused, pair, window_steps

CONV_TRANSPOSE_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class ConvTranspose2D(keras.layers.Layer):
    """A transposed convolution with cnnspec's exact geometry, where Conv2DTranspose has none:
    groups, a dilation (TensorFlow's CPU kernel has none), and an explicit crop.

    Input pixel (a, b) adds x[a, b] @ kernel[i, j] (per group) to output pixel
    (a*sh + i*dh - top, b*sw + j*dw - left): the whole output is computed with
    keras.ops.conv_transpose ("valid", the kernel dilated with zeros), then the rows
    [top, top + out) are kept (those past its end are zeros), then the bias is added.
    kernel (kh, kw, filters/groups, c_in) and bias (filters,), as Conv2DTranspose holds them.
    padding is (top, bottom, left, right), out the output (height, width).
    """

    def __init__(self, filters, kernel_size, strides, padding, out, dilation_rate=(1, 1),
                 groups=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, tuple(kernel_size), tuple(strides)
        self.padding, self.out = tuple(padding), tuple(out)
        self.dilation_rate, self.groups, self.use_bias = tuple(dilation_rate), groups, use_bias

    def build(self, input_shape):
        shape = (*self.kernel_size, self.filters // self.groups, input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer="zeros") if self.use_bias else None

    def call(self, x):
        kernel = _dilated(self.kernel, self.dilation_rate)
        c_in = x.shape[-1] // self.groups
        parts = [keras.ops.conv_transpose(x[..., g * c_in:(g + 1) * c_in],
                                          kernel[..., g * c_in:(g + 1) * c_in],
                                          self.strides, padding="valid")
                 for g in range(self.groups)]
        y = parts[0] if self.groups == 1 else keras.ops.concatenate(parts, axis=-1)
        (top, left), (oh, ow) = self.padding[::2], self.out
        extra = (max(top + oh - y.shape[1], 0), max(left + ow - y.shape[2], 0))
        if any(extra):
            y = keras.ops.pad(y, ((0, 0), (0, extra[0]), (0, extra[1]), (0, 0)))
        y = y[:, top:top + oh, left:left + ow]
        return y + self.bias if self.use_bias else y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "out": self.out,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "use_bias": self.use_bias}


def _dilated(kernel, rate):
    """The kernel with rate - 1 zeros between its taps: (d(kh-1)+1, d(kw-1)+1, out, in)."""
    (dh, dw), (kh, kw, n_out, n_in) = rate, kernel.shape
    if (dh, dw) == (1, 1):
        return kernel
    k = keras.ops.reshape(kernel, (kh, 1, kw, 1, n_out, n_in))
    k = keras.ops.pad(k, ((0, 0), (0, dh - 1), (0, 0), (0, dw - 1), (0, 0), (0, 0)))
    k = keras.ops.reshape(k, (kh * dh, kw * dw, n_out, n_in))
    return k[:dh * (kh - 1) + 1, :dw * (kw - 1) + 1]
'''

CUSTOM_LAYERS: dict[str, str] = {"ConvTranspose2D": CONV_TRANSPOSE_LAYER}  # constructor -> source


def multiplier(node: Node) -> list[str]:
    m = node.attrs["multiplier"]
    return [] if m == 1 else [f"depth_multiplier={m}"]


def keras_transpose_padding(node: Node) -> str | None:
    """'same' or 'valid' where Keras's Conv2DTranspose computes exactly the node's geometry
    (no groups, no dilation: TensorFlow's CPU kernel has none); else None."""
    a = node.attrs
    if a["groups"] != 1 or a["dilation"] != (1, 1):
        return None
    for mode, rule in (("same", shapes.transposed_same), ("valid", shapes.transposed_valid)):
        axes = [rule(node.in_shape[i], a["kernel_size"][i], a["stride"][i], a["dilation"][i])
                for i in (0, 1)]
        if tuple(a["padding"]) == axes[0][:2] + axes[1][:2] and \
                tuple(a["output_padding"]) == (axes[0][2], axes[1][2]):
            return mode
    return None


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the keras emitter)."""

    @staticmethod
    def depthwise_layer(node: Node) -> list[Step]:
        return window_steps(node, "DepthwiseConv2D", [], multiplier(node), equal_strides=True)

    @staticmethod
    def separable_layer(node: Node) -> list[Step]:
        return window_steps(node, "SeparableConv2D", [str(node.attrs["filters"])], multiplier(node),
                            equal_strides=True)

    @staticmethod
    def convtranspose_layer(node: Node) -> list[Step]:
        a = node.attrs
        mode = keras_transpose_padding(node)
        extra = [] if a["bias"] else ["use_bias=False"]
        if mode is not None:
            args = [str(a["filters"]), pair(a["kernel_size"]), f'padding="{mode}"']
            args += [f"strides={pair(a['stride'])}"] if a["stride"] != (1, 1) else []
            return fused(node, Step("conv", "Conv2DTranspose", args + extra, node.out_shape,
                                    node.params, True))
        args = [str(a["filters"]), pair(a["kernel_size"]), pair(a["stride"]),
                f"padding={tuple(a['padding'])}", f"out={pair(a['out'])}"]
        args += [f"dilation_rate={pair(a['dilation'])}"] if a["dilation"] != (1, 1) else []
        args += [f"groups={a['groups']}"] if a["groups"] != 1 else []
        return fused(node, Step("conv", "ConvTranspose2D", args + extra, node.out_shape,
                                node.params, True), allowed=())
