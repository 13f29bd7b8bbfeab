"""The ONNX emitter's kind methods, one family per mixin (backends/onnx.py holds the builder).

Each `<kind>_layer(node)` adds the operators of one layer through `self.op` (the first that is
not marked `main=False` is named after the layer) and returns the tensor holding its value (before
its fused activation: OnnxEmitter.layer_ops adds that for the kinds that declare one).
Images are NCHW, flat values in the spec's NHWC flatten order. Spec padding is
``(top, bottom, left, right)``; ONNX's ``pads`` are ``[top, left, bottom, right]``.
"""

from __future__ import annotations

from ..ir import Node
from ..shapes import window_count, windows_end

# activation -> (operator, attributes) for those that are one operator
ACTIVATION_OPS = {
    "relu": ("Relu", {}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softmax": ("Softmax", {"axis": 1}),  # the channels of NCHW, the features of a flat vector
    "hard_sigmoid": ("HardSigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}),  # relu6(x + 3) / 6
    "hard_swish": ("HardSwish", {}),  # x * relu6(x + 3) / 6 (alpha 1/6, beta 1/2)
    "gelu": ("Gelu", {"approximate": "none"}),
    "gelu_tanh": ("Gelu", {"approximate": "tanh"}),
}
WITH_ALPHA = {"leaky_relu": "LeakyRelu", "elu": "Elu"}


def onnx_pads(padding) -> list[int]:
    """(top, bottom, left, right) -> ONNX's [top, left, bottom, right]."""
    top, bottom, left, right = padding
    return [top, left, bottom, right]


def nchw_pads(padding) -> list[int]:
    """(top, bottom, left, right) of an image -> the `pads` input of ONNX's Pad for NCHW."""
    top, left, bottom, right = onnx_pads(padding)
    return [0, 0, top, left, 0, 0, bottom, right]


class ActivationKinds:
    def activate(self, x: str, name: str, alpha) -> str:
        """The operators of activation `name` applied to tensor x."""
        if name == "linear":
            return x
        if name in ACTIVATION_OPS:
            op_type, attrs = ACTIVATION_OPS[name]
            return self.op(op_type, [x], **attrs)
        if name in WITH_ALPHA:
            return self.op(WITH_ALPHA[name], [x], alpha=float(alpha))
        if name == "relu6":
            return self.op("Clip", [x, self.const("min", 0.0), self.const("max", 6.0)])
        if name == "swish":
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        return self.unsupported(self.layer, f"no ONNX operators for the activation '{name}'")

    def activation_layer(self, node: Node) -> str:
        return self.activate(self.x(node), node.attrs["activation"], node.attrs["alpha"])


class ConvKinds(ActivationKinds):
    def conv_attrs(self, a, kernel) -> dict:
        return {"kernel_shape": list(kernel), "strides": list(a["stride"]),
                "pads": onnx_pads(a["padding"]), "dilations": list(a["dilation"])}

    def conv_layer(self, node: Node) -> str:
        a = node.attrs
        inputs = [self.x(node), self.weight(node, "kernel")]
        if a["bias"]:
            inputs.append(self.weight(node, "bias"))
        y = self.op("Conv", inputs, group=a["groups"], **self.conv_attrs(a, a["kernel"]))
        return y

    def depthwise_layer(self, node: Node) -> str:
        a, channels = node.attrs, node.in_shape[2]
        inputs = [self.x(node), self.weight(node, "kernel")]
        if a["bias"]:
            inputs.append(self.weight(node, "bias"))
        y = self.op("Conv", inputs, group=channels, **self.conv_attrs(a, a["kernel"]))
        return y

    def separable_layer(self, node: Node) -> str:
        """A depthwise Conv (group=C, no bias) named after the layer, then a 1x1 Conv."""
        a, channels = node.attrs, node.in_shape[2]
        y = self.op("Conv", [self.x(node), self.weight(node, "depthwise_kernel")], group=channels,
                    **self.conv_attrs(a, a["kernel"]))
        inputs = [y, self.weight(node, "pointwise_kernel")]
        if a["bias"]:
            inputs.append(self.weight(node, "bias"))
        return self.op("Conv", inputs, kernel_shape=[1, 1])

    def convtranspose_layer(self, node: Node) -> str:
        """ConvTranspose: ONNX's pads crop the whole output, zero-extended by output_padding,
        per side, as the spec's padding and output_padding do. Only the net end change
        (output_padding - end crop) matters; onnxruntime refuses an output_padding of the
        stride or more, so rows past that are a Pad of zeros before the bias is added."""
        a = node.attrs
        top, bottom, left, right = a["padding"]
        ends, extends, more = [], [], []
        for end_crop, extra, stride in zip((bottom, right), a["output_padding"], a["stride"]):
            net = extra - end_crop
            ends.append(max(0, -net))
            extends.append(min(max(0, net), stride - 1))
            more.append(max(0, net) - extends[-1])
        inputs = [self.x(node), self.weight(node, "kernel")]
        late_bias = any(more) and a["bias"]
        if a["bias"] and not late_bias:
            inputs.append(self.weight(node, "bias"))
        attrs = self.conv_attrs({**a, "padding": (top, ends[0], left, ends[1])}, a["kernel_size"])
        y = self.op("ConvTranspose", inputs, group=a["groups"], output_padding=extends, **attrs)
        if any(more):
            y = self.op("Pad", [y, self.const("pads", nchw_pads((0, more[0], 0, more[1])), "int64")])
        if late_bias:
            bias = self.op("Unsqueeze", [self.weight(node, "bias"), self.const("axes", [1, 2], "int64")])
            y = self.op("Add", [y, bias])
        return y

    def maxpool_layer(self, node: Node) -> str:
        x, ceil, padding = self.pool_input(node)
        return self.op("MaxPool", [x], ceil_mode=ceil, **self.pool_attrs(node.attrs, padding))

    def avgpool_layer(self, node: Node) -> str:
        """count_include_pad=true in ceil mode pads explicitly first, so that the overhang of
        the last window (outside the padded input) does not count, as the spec says."""
        a = node.attrs
        x, ceil, padding = self.pool_input(node)
        include = bool(a["count_include_pad"])
        if include and ceil and any(padding):
            x = self.op("Pad", [x, self.const("pads", nchw_pads(padding), "int64")], main=False)
            padding, include = (0, 0, 0, 0), False
        return self.op("AveragePool", [x], ceil_mode=ceil, count_include_pad=int(include),
                       **self.pool_attrs(a, padding))

    def pool_input(self, node: Node) -> tuple[str, int, tuple]:
        """The pool's input (a Slice first where rows no window reads must go), ceil_mode, pads."""
        ceil, padding, keep = self.ceil_plan(node, node.attrs["padding"], node.in_shape[:2])
        x = self.x(node)
        if keep != tuple(node.in_shape[:2]):
            x = self.op("Slice", [x, self.const("starts", [0, 0], "int64"),
                                  self.const("ends", list(keep), "int64"),
                                  self.const("axes", [2, 3], "int64")], main=False)
        return x, ceil, padding

    def pool_attrs(self, a, padding) -> dict:
        attrs = {"kernel_shape": list(a["kernel"]), "strides": list(a["stride"]),
                 "pads": onnx_pads(padding)}
        if tuple(a.get("dilation", (1, 1))) != (1, 1):
            attrs["dilations"] = list(a["dilation"])
        return attrs

    def ceil_plan(self, node: Node, padding, size) -> tuple[int, tuple, tuple]:
        """ONNX's ceil_mode, pads, and the input rows and columns to keep, that give the spec's
        windows, every axis's count from ONNX's formula alone (never its drop of a window).

        The spec's ceil mode drops a window that would start in the right padding; on such an
        axis ONNX's floor count is the spec's. ONNX has one ceil_mode for both axes, so when
        one axis needs ceil and the other floor, the floor axis ends where its last window
        does: its end padding is cut, or, when that window ends inside the input (a window
        smaller than the stride), the rows after it are sliced off. No window reads them."""
        a = node.attrs
        keep, pads = list(size), list(padding)
        wanted = node.out_shape[:2]
        ceil = [self.axis_count(node, padding, size, i, True) == wanted[i] for i in (0, 1)]
        if not a["ceil"] or not any(ceil):
            return 0, tuple(padding), tuple(size)
        for i in (0, 1):
            if not ceil[i]:
                end = windows_end(wanted[i], a["kernel"][i], a["stride"][i]) - padding[2 * i]
                keep[i], pads[2 * i + 1] = min(size[i], end), max(0, end - size[i])
        assert all(self.axis_count(node, pads, keep, i, True) == wanted[i] for i in (0, 1))
        return 1, tuple(pads), tuple(keep)

    @staticmethod
    def axis_count(node: Node, padding, size, i: int, ceil: bool) -> int:
        a = node.attrs
        return window_count(size[i], a["kernel"][i], a["stride"][i], padding[2 * i],
                            padding[2 * i + 1], ceil, a.get("dilation", (1, 1))[i])

    def global_pool(self, node: Node) -> str:
        op_type = "GlobalAveragePool" if node.attrs["op"] == "avg" else "GlobalMaxPool"
        y = self.op(op_type, [self.x(node)])
        return y if node.attrs.get("keepdims") else self.op("Flatten", [y], axis=1)

    globalavgpool_layer = globalmaxpool_layer = global_pool

    def dense_layer(self, node: Node) -> str:
        """Gemm of the flat input and the portable (in, out) kernel; per pixel, a 1x1 Conv."""
        inputs = [self.x(node), self.weight(node, "kernel")]
        if node.attrs["bias"]:
            inputs.append(self.weight(node, "bias"))
        if node.attrs.get("per_pixel"):
            return self.op("Conv", inputs, kernel_shape=[1, 1])
        return self.op("Gemm", inputs)


class NormKinds:
    def batchnorm_layer(self, node: Node) -> str:
        """BatchNormalization at inference; a missing gamma (scale=false) is a constant of ones,
        a missing beta (center=false) one of zeros (exact: x * 1 + 0 is x)."""
        a, channels = node.attrs, node.out_shape[-1]
        present = {w.name for w in node.weights}
        scale = self.weight(node, "gamma") if "gamma" in present else self.const("ones", [1.0] * channels)
        bias = self.weight(node, "beta") if "beta" in present else self.const("zeros", [0.0] * channels)
        y = self.op("BatchNormalization", [self.x(node), scale, bias, self.weight(node, "moving_mean"),
                                           self.weight(node, "moving_variance")],
                    epsilon=float(a["eps"]))
        return y

    def layernorm_layer(self, node: Node) -> str:
        """LayerNormalization over the last axis: of an image, with the channels moved last."""
        a, channels, image = node.attrs, node.out_shape[-1], len(node.out_shape) == 3
        present = {w.name for w in node.weights}
        x = self.op("Transpose", [self.x(node)], main=False, perm=[0, 2, 3, 1]) if image else self.x(node)
        inputs = [x, self.weight(node, "gamma") if "gamma" in present else self.const("ones", [1.0] * channels)]
        if "beta" in present:
            inputs.append(self.weight(node, "beta"))
        y = self.op("LayerNormalization", inputs, axis=-1, epsilon=float(a["eps"]))
        if image:
            y = self.op("Transpose", [y], perm=[0, 3, 1, 2])
        return y

    def normalize_layer(self, node: Node) -> str:
        """(x - mean) / max(sqrt(variance), 1e-7), from the spec's numbers or its weights."""
        a = node.attrs
        if a["mean"] is None:
            mean, variance = self.weight(node, "mean"), self.weight(node, "variance")
        else:
            mean = self.channel_const(node, "mean", a["mean"])
            variance = self.channel_const(node, "variance", a["variance"])
        centred = self.op("Sub", [self.x(node), mean])
        std = self.op("Max", [self.op("Sqrt", [variance]), self.const("floor", float(a["eps"]))])
        return self.op("Div", [centred, std])

    def rescale_layer(self, node: Node) -> str:
        a = node.attrs
        y = self.op("Mul", [self.x(node), self.channel_const(node, "scale", a["scale"])])
        return self.op("Add", [y, self.channel_const(node, "offset", a["offset"])])

    def layerscale_layer(self, node: Node) -> str:
        return self.op("Mul", [self.x(node), self.weight(node, "gamma")])


class ShapeKinds:
    def to_nhwc_flat(self, node: Node, x: str, image) -> str:
        """An NCHW image as a flat vector in NHWC order (a Transpose first unless C == 1 or
        H*W == 1, where both orders coincide)."""
        h, w, c = image
        if c != 1 and h * w != 1:
            x = self.op("Transpose", [x], main=False, perm=[0, 2, 3, 1])
        return self.op("Flatten", [x], axis=1)

    def from_nhwc_flat(self, node: Node, x: str, image) -> str:
        """A flat vector in NHWC order as an NCHW image of shape `image` (H, W, C)."""
        h, w, c = image
        if c == 1 or h * w == 1:
            return self.op("Reshape", [x, self.const("shape", [0, c, h, w], "int64")])
        y = self.op("Reshape", [x, self.const("shape", [0, h, w, c], "int64")])
        return self.op("Transpose", [y], perm=[0, 3, 1, 2])

    def flatten_layer(self, node: Node) -> str:
        if len(node.in_shape) != 3:
            return self.x(node)  # a flatten of a flat value is the identity
        return self.to_nhwc_flat(node, self.x(node), node.in_shape)

    def reshape_layer(self, node: Node) -> str:
        """A reshape reads and writes elements in NHWC order (docs/semantics.md)."""
        x, image_in, image_out = self.x(node), len(node.in_shape) == 3, len(node.out_shape) == 3
        if image_in and image_out and node.in_shape[2] == node.out_shape[2] == 1:
            return self.op("Reshape", [x, self.const("shape", [0, 1, *node.out_shape[:2]], "int64")])
        if image_in:
            x = self.to_nhwc_flat(node, x, node.in_shape)
        return self.from_nhwc_flat(node, x, node.out_shape) if image_out else x

    def crop_layer(self, node: Node) -> str:
        top, bottom, left, right = node.attrs["cropping"]
        h, w = node.in_shape[:2]
        return self.op("Slice", [self.x(node), self.const("starts", [top, left], "int64"),
                                 self.const("ends", [h - bottom, w - right], "int64"),
                                 self.const("axes", [2, 3], "int64")])

    def zeropad_layer(self, node: Node) -> str:
        pads = self.const("pads", nchw_pads(node.attrs["padding"]), "int64")
        return self.op("Pad", [self.x(node), pads], mode="constant")

    def upsample_layer(self, node: Node) -> str:
        """Resize by the integer factors: nearest as x[o // f] (asymmetric, floor), bilinear
        with half-pixel centres or align_corners."""
        a = node.attrs
        scales = self.const("scales", [float(f) for f in a["factor"]])  # of axes 2, 3 only: the
        # batch dimension stays the symbol N in shape inference
        if a["mode"] == "nearest":
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                     "nearest_mode": "floor"}
        else:
            attrs = {"mode": "linear", "coordinate_transformation_mode":
                     "align_corners" if a["align_corners"] else "half_pixel"}
        self.declare_shape(node)  # onnx's Resize inference loses the symbolic batch dimension
        return self.op("Resize", [self.x(node), "", scales], axes=[2, 3], **attrs)

    def dropout_layer(self, node: Node) -> str:
        return self.x(node)  # the identity at inference (layer_ops writes an Identity)


class MergeKinds:
    def add_layer(self, node: Node) -> str:
        op_type = "Add" if len(node.inputs) == 2 else "Sum"
        return self.op(op_type, list(node.inputs))

    def concat_layer(self, node: Node) -> str:
        return self.op("Concat", list(node.inputs), axis=1)

    def multiply_layer(self, node: Node) -> str:
        """Mul, one per further input; a flat (C,) gate of an image is unsqueezed to
        (N, C, 1, 1), and a 1x1xC gate broadcasts as it is."""
        terms = []
        for name, shape in zip(node.inputs, self.net.input_shapes(node)):
            if len(shape) == 1 and len(node.out_shape) == 3:
                name = self.op("Unsqueeze", [name, self.const("axes", [2, 3], "int64")], main=False)
            terms.append(name)
        y = terms[0]
        for term in terms[1:]:
            y = self.op("Mul", [y, term])
        return y
