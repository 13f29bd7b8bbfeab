"""The torch emitters of reshape, cropping and upsampling: a mixin of the torch emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

PyTorch holds images NCHW while the spec's reshape is NHWC row-major, so a reshape is written
per case (cnnspec/layout.py tracks the flat orders): image -> flat is ``torch.flatten`` (an
NCHW-order vector, flat order "makes", exactly like a flatten); flat -> flat keeps the order;
flat -> image first undoes the vector's order (``_to_nhwc``, or a single NCHW piece read back
as its image) and reads it in NHWC order; image -> image goes through channels-last.

Nearest upsampling is ``repeat_interleave``: exact, where ``F.interpolate(mode="nearest")``
computes the source index as floor(dst * (1/F)) in floating point and is one pixel off for
some factors (41, 47, 55, 61 in float32). Bilinear is ``F.interpolate`` with the spec's
align_corners (its half-pixel rule is the spec's).
"""

from __future__ import annotations

from .. import layout
from ..ir import Node
from .torch_parts import Emitted


def nchw_is_nhwc(shape) -> bool:
    """Whether an image's NCHW and NHWC flatten orders coincide (C == 1 or H*W == 1)."""
    return shape[2] == 1 or shape[0] * shape[1] == 1


def image_to_image(x: str, source, target) -> str:
    """An NCHW image `source` reshaped (in NHWC row-major order) to the NCHW image `target`."""
    if tuple(source) == tuple(target):
        return x
    (h, w, c) = target
    if nchw_is_nhwc(source) and nchw_is_nhwc(target):
        return f"{x}.flatten(1).unflatten(1, {(c, h, w)})"
    return f"{x}.permute(0, 2, 3, 1).flatten(1).unflatten(1, {(h, w, c)}).permute(0, 3, 1, 2)"


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the torch emitter)."""

    def reshape_layer(self, node: Node) -> Emitted:
        src, source, target = self.src(node), tuple(node.in_shape), tuple(node.attrs["shape"])
        if len(target) == 1:  # NCHW flatten of an image (its order tracked), or a flat no-op
            return Emitted(f"torch.flatten({src}, 1)" if len(source) == 3 else src)
        if len(source) == 3:
            return Emitted(image_to_image(src, source, target))
        order = layout.image_source_order(node, self.orders)
        if order is not None and len(order) == 1 and order[0][1] is not None:
            h, w, c = order[0][1]  # the NCHW flatten of one image: read that image back
            return Emitted(image_to_image(f"{src}.unflatten(1, {(c, h, w)})", (h, w, c), target))
        if order is not None:
            src = f"_to_nhwc({src}, {layout.order_text(order)})"
        (h, w, c) = target
        if nchw_is_nhwc(target):
            return Emitted(f"{src}.unflatten(1, {(c, h, w)})")
        return Emitted(f"{src}.unflatten(1, {(h, w, c)}).permute(0, 3, 1, 2)")

    def crop_layer(self, node: Node) -> Emitted:
        t, b, left, right = node.attrs["cropping"]
        h, w = node.in_shape[:2]
        return Emitted(f"{self.src(node)}[:, :, {t}:{h - b}, {left}:{w - right}]")

    def upsample_layer(self, node: Node) -> Emitted:
        a, src = node.attrs, self.src(node)
        fh, fw = a["factor"]
        if a["mode"] == "bilinear":
            return Emitted(f"F.interpolate({src}, scale_factor={(float(fh), float(fw))}, "
                           f'mode="bilinear", align_corners={a["align_corners"]})', uses_f=True)
        return Emitted(src + (f".repeat_interleave({fh}, dim=2)" if fh > 1 else "") +
                       (f".repeat_interleave({fw}, dim=3)" if fw > 1 else ""))
