"""The numpy emitters of reshape, cropping and upsampling: a mixin of the numpy emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

All three are array views or BLAS work: reshape is NumPy's own (NHWC row-major, the spec's
order), crop a slice, nearest upsampling two ``np.repeat``, bilinear upsampling two small
interpolation matrices (one per axis) applied as GEMMs -- exact for both align modes, since
each row holds the two weights of the neighbours the spec's formula names.
"""

from __future__ import annotations

from ..ir import Node

_BILINEAR = '''
def _interpolation_matrix(n, factor, align_corners, dtype):
    """(n*factor, n) weights of linear interpolation along one axis: output o reads source
    position src(o) = (o + 0.5) / factor - 0.5 (half-pixel), or o * (n - 1) / (n*factor - 1)
    (align_corners), clamped to [0, n - 1]; input i gets weight max(0, 1 - |src(o) - i|)."""
    out = n * factor
    o = np.arange(out, dtype=np.float64)
    if align_corners:
        src = o * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        src = (o + 0.5) / factor - 0.5
    src = np.clip(src, 0, n - 1)
    weights = np.maximum(0.0, 1.0 - np.abs(src[:, None] - np.arange(n)[None, :]))
    return weights.astype(dtype)


def _upsample_bilinear(x, factor, align_corners):
    """Bilinear upsampling of an NHWC batch by integer factors (fh, fw): rows, then columns."""
    n, h, w, c = x.shape
    (fh, fw) = factor
    rows = _interpolation_matrix(h, fh, align_corners, x.dtype)
    cols = _interpolation_matrix(w, fw, align_corners, x.dtype)
    y = np.matmul(rows, x.reshape(n, h, w * c))  # (n, h*fh, w*c)
    y = np.matmul(cols, y.reshape(n * h * fh, w, c))  # (n*h*fh, w*fw, c)
    return y.reshape(n, h * fh, w * fw, c)
'''

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {"upsample_bilinear": (_BILINEAR, ())}


class ShapeKinds:
    """Reshape, cropping and upsampling (mixed into the numpy emitter)."""

    def reshape_layer(self, node: Node) -> list[str]:
        src = self.src(node)
        dims = ", ".join(map(str, node.attrs["shape"]))
        return self.assign(node, f"{src}.reshape({src}.shape[0], {dims})")

    def crop_layer(self, node: Node) -> list[str]:
        t, b, left, right = node.attrs["cropping"]
        h, w = node.in_shape[:2]
        return self.assign(node, f"{self.src(node)}[:, {t}:{h - b}, {left}:{w - right}]")

    def upsample_layer(self, node: Node) -> list[str]:
        a, src = node.attrs, self.src(node)
        fh, fw = a["factor"]
        if a["mode"] == "bilinear":
            self.used.add("upsample_bilinear")
            return self.assign(node, f"_upsample_bilinear({src}, {(fh, fw)}, "
                                     f"align_corners={a['align_corners']})")
        expression = src + (f".repeat({fh}, axis=1)" if fh > 1 else "") + \
            (f".repeat({fw}, axis=2)" if fw > 1 else "")
        return self.assign(node, expression)
