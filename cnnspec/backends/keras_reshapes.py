"""The keras emitters of reshape, cropping and upsampling: a mixin of the keras emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

Keras runs NHWC, the spec's own order, so reshape is ``Reshape`` and crop ``Cropping2D``.
Nearest upsampling is ``UpSampling2D`` (a repeat: exact). Bilinear upsampling is the module's
own ``BilinearUpSampling2D`` for both align modes: ``UpSampling2D(interpolation="bilinear")``
has the spec's half-pixel rule but TensorFlow's resize computes in float32 whatever the dtype
(about 1e-6 off in a float64 model), and Keras has no align_corners=true at all. The layer
applies one small interpolation matrix per axis (einsum), exact in every dtype.
"""

from __future__ import annotations

from ..ir import Node
from .keras_parts import Step, pair

BILINEAR_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class BilinearUpSampling2D(keras.layers.Layer):
    """Bilinear upsampling of NHWC images by integer factors size=(fh, fw).

    Output pixel o of an axis of n pixels reads the source position (o + 0.5) / f - 0.5
    (half-pixel centres, as tf.image.resize and PyTorch's align_corners=False), or
    o * (n - 1) / (n*f - 1) with align_corners, clamped to [0, n - 1], and mixes its two
    neighbours linearly: one (n*f, n) interpolation matrix per axis, exact in every dtype.
    """

    def __init__(self, size, align_corners=False, **kwargs):
        super().__init__(**kwargs)
        self.size, self.align_corners = tuple(size), bool(align_corners)

    def build(self, input_shape):
        self.rows = _interpolation_matrix(input_shape[1], self.size[0], self.align_corners)
        self.cols = _interpolation_matrix(input_shape[2], self.size[1], self.align_corners)

    def call(self, x):
        rows = keras.ops.cast(self.rows, x.dtype)
        cols = keras.ops.cast(self.cols, x.dtype)
        y = keras.ops.einsum("oh,nhwc->nowc", rows, x)
        return keras.ops.einsum("pw,nowc->nopc", cols, y)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, h * self.size[0], w * self.size[1], c)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "align_corners": self.align_corners}


def _interpolation_matrix(n, factor, align_corners):
    """(n*factor, n) float64 weights: input i gets max(0, 1 - |src(o) - i|) in row o."""
    out = n * factor
    o = np.arange(out, dtype=np.float64)
    if align_corners:
        src = o * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        src = (o + 0.5) / factor - 0.5
    src = np.clip(src, 0, n - 1)
    return np.maximum(0.0, 1.0 - np.abs(src[:, None] - np.arange(n)[None, :]))
'''

CUSTOM_LAYERS: dict[str, str] = {"BilinearUpSampling2D": BILINEAR_LAYER}  # constructor -> source


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the keras emitter)."""

    @staticmethod
    def reshape_layer(node: Node) -> list[Step]:
        dims = tuple(node.attrs["shape"])
        return [Step("reshape", "Reshape", [str(dims)], node.out_shape)]

    @staticmethod
    def crop_layer(node: Node) -> list[Step]:
        t, b, left, right = node.attrs["cropping"]
        return [Step("crop", "Cropping2D", [f"(({t}, {b}), ({left}, {right}))"], node.out_shape)]

    @staticmethod
    def upsample_layer(node: Node) -> list[Step]:
        a = node.attrs
        if a["mode"] == "bilinear":
            args = [f"size={pair(a['factor'])}", f"align_corners={a['align_corners']}"]
            return [Step("upsample", "BilinearUpSampling2D", args, node.out_shape)]
        args = [pair(a["factor"]), 'interpolation="nearest"']
        return [Step("upsample", "UpSampling2D", args, node.out_shape)]
