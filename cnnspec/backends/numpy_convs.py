"""The numpy emitters of depthwise, separable and transposed convolutions: a mixin of the numpy emitter, one
`<kind>_layer` method per node kind (see backends/base.py).

Depthwise reuses numpy.py's `_conv2d` with groups = C: the portable kernel (kh, kw, C, m)
reshaped to (kh, kw, 1, C*m) is a grouped conv kernel in the same channel order c*m + j, which
`_conv2d` runs as broadcast multiply-accumulates over the kh*kw kernel offsets. Separable adds
one GEMM (the pointwise 1x1 conv). A transposed convolution is one GEMM of the input with the
kernel (every input pixel's kh*kw*N/groups patch values, batched over groups) followed by a
scatter-add of each kernel offset's strided slab into the whole output, then the crop.
"""

from __future__ import annotations

from ..ir import Node
from .numpy_parts import tensor

_CONV_TRANSPOSE = '''
def _conv_transpose2d(x, kernel, bias, stride, padding, output_padding=(0, 0),
                      dilation=(1, 1), groups=1):
    """Transposed convolution of an NHWC batch; kernel (kh, kw, c_out/groups, c_in).

    Input pixel (a, b) adds x[a, b] @ kernel[i, j] to output pixel (a*sh + i*dh - top,
    b*sw + j*dw - left). The whole output ((H-1)*sh + dh*(kh-1) + 1 rows) is cropped by
    padding (top, bottom, left, right), then output_padding adds rows at the end: the whole
    output's where it reaches, else zeros (the bias only). One GEMM makes every pixel's
    kh*kw*c_out/groups patch; the loop over kernel offsets scatter-adds each strided slab.
    """
    n, h, w, c_in = x.shape
    kh, kw, per, _ = kernel.shape
    (sh, sw), (dh, dw) = stride, dilation
    depth = c_in // groups
    cols = x.reshape(n * h * w, groups, depth).transpose(1, 0, 2)
    k = kernel.reshape(kh * kw, per, groups, depth).transpose(2, 3, 0, 1)
    patches = np.matmul(cols, k.reshape(groups, depth, kh * kw * per))  # (groups, n*h*w, kh*kw*per)
    if groups > 1:  # one copy, so that each offset's slab is whole pixels of c_out channels
        patches = patches.reshape(groups, n * h * w, kh * kw, per).transpose(1, 2, 0, 3).copy()
    patches = patches.reshape(n, h, w, kh * kw, groups * per)
    top, bottom, left, right = padding
    full = ((h - 1) * sh + dh * (kh - 1) + 1, (w - 1) * sw + dw * (kw - 1) + 1)
    out = (full[0] - top - bottom + output_padding[0], full[1] - left - right + output_padding[1])
    y = np.zeros((n, max(full[0], top + out[0]), max(full[1], left + out[1]), groups * per),
                 dtype=patches.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (h - 1) + 1, sh)
            cells = slice(j * dw, j * dw + sw * (w - 1) + 1, sw)
            y[:, rows, cells] += patches[:, :, :, i * kw + j]
    y = y[:, top:top + out[0], left:left + out[1]]
    return y + bias if bias is not None else np.ascontiguousarray(y)
'''

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "conv_transpose": (_CONV_TRANSPOSE, ()),
}


class ConvKinds:
    """Depthwise, separable and transposed convolutions (mixed into the numpy emitter)."""

    def depthwise_call(self, node: Node, kernel: str, bias: str) -> str:
        """`_conv2d` of the node's input with a depthwise kernel (kh, kw, C, m) as groups = C."""
        a = node.attrs
        (kh, kw), c = a["kernel"], node.in_shape[2]
        self.used.add("conv")
        args = [f"{self.src(node)}, {kernel}.reshape({kh}, {kw}, 1, {c * a['multiplier']}), {bias}",
                f"stride={tuple(a['stride'])}", f"padding={tuple(a['padding'])}"]
        if tuple(a["dilation"]) != (1, 1):
            args.append(f"dilation={tuple(a['dilation'])}")
        if c != 1:
            args.append(f"groups={c}")
        return f"_conv2d({', '.join(args)})"

    def depthwise_layer(self, node: Node) -> list[str]:
        bias = tensor(node, "bias") if node.attrs["bias"] else "None"
        return self.assign(node, self.depthwise_call(node, tensor(node, "kernel"), bias))

    def separable_layer(self, node: Node) -> list[str]:
        a, out = node.attrs, self.dest(node)
        depth = node.in_shape[2] * a["multiplier"]
        bias = f" + {tensor(node, 'bias')}" if a["bias"] else ""
        pointwise = f"{tensor(node, 'pointwise_kernel')}.reshape({depth}, {a['filters']})"
        shape = f"(-1, {node.out_shape[0]}, {node.out_shape[1]}, {a['filters']})"
        gemm = f"{out} = ({out}.reshape(-1, {depth}) @ {pointwise}).reshape{shape}{bias}"
        return self.assign(node, self.depthwise_call(node, tensor(node, "depthwise_kernel"), "None")) + \
            [gemm + "  # the pointwise 1x1 conv: one GEMM"]

    def convtranspose_layer(self, node: Node) -> list[str]:
        a = node.attrs
        self.used.add("conv_transpose")
        bias = tensor(node, "bias") if a["bias"] else "None"
        args = [f"{self.src(node)}, {tensor(node, 'kernel')}, {bias}",
                f"stride={tuple(a['stride'])}", f"padding={tuple(a['padding'])}"]
        if tuple(a["output_padding"]) != (0, 0):
            args.append(f"output_padding={tuple(a['output_padding'])}")
        if tuple(a["dilation"]) != (1, 1):
            args.append(f"dilation={tuple(a['dilation'])}")
        if a["groups"] != 1:
            args.append(f"groups={a['groups']}")
        return self.assign(node, f"_conv_transpose2d({', '.join(args)})")
