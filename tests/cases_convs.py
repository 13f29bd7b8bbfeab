"""Backend cases and framework references for depthwise, separable and transposed convolutions (issue 9).

CASES: node kind -> a function making a small Network that uses it (see backend_cases.graph).
REFERENCES: node kind -> reference(node, params, xs) -> the node's NHWC value, computed with
the frameworks' own ops (torch.nn.functional, keras.layers), never with generated code.
backend_cases merges both into its tables.

The references read only the IR's resolved numbers and the portable weights: depthwise is
F.conv2d with groups = C on the kernel (kh, kw, C, m) viewed as (C*m, 1, kh, kw); separable
adds F.conv2d with the 1x1 pointwise kernel; a transposed convolution is F.conv_transpose2d
itself (padding=, output_padding=) where the crop is symmetric, else its whole output cropped
(and zero-extended) as docs/semantics.md states, the bias added last.
"""

from __future__ import annotations


def _single(text, shape=(6, 6, 3), extra=()):
    from backend_cases import _single as single  # backend_cases imports this module
    return single(text, shape, extra)


CASES: dict = {
    "depthwise": lambda: _single("depthwise 3x3 multiplier=2 stride=2 pad=same -> relu")(),
    "separable": lambda: _single("separable 5 3x3 multiplier=2 pad=(0, 2, 1, 1) -> tanh",
                                 extra=[("t", "separable 3 3x3 dilation=2 pad=same bias=false", None)])(),
    "convtranspose": lambda: _single(
        "convtranspose 6 3x3 stride=2 pad=(1, 0, 0, 2) output_padding=1 groups=2 -> relu",
        extra=[("t", "convtranspose 3 2x2 stride=2", None),
               ("u", "convtranspose 2 3x3 stride=2 pad=same dilation=1x2 bias=false", None)])(),
}


def _torch():
    import torch
    import torch.nn.functional as F
    return torch, F


def _nchw(x):
    torch, _ = _torch()
    return torch.as_tensor(x).permute(0, 3, 1, 2)


def _nhwc(t):
    return t.permute(0, 2, 3, 1).numpy()


def _activation(y, attrs):
    from backend_cases import _activation as activation
    return activation(y, attrs)


def depthwise_nchw(node, x, kernel, bias):
    """F.conv2d with groups = C of an NCHW tensor; kernel (kh, kw, C, m) portable."""
    torch, F = _torch()
    a = node.attrs
    kh, kw, c, m = kernel.shape
    w = torch.as_tensor(kernel).reshape(kh, kw, 1, c * m).permute(3, 2, 0, 1)
    t, b, left, right = a["padding"]
    bias = None if bias is None else torch.as_tensor(bias)
    return F.conv2d(F.pad(x, (left, right, t, b)), w, bias, a["stride"], 0, a["dilation"], c)


def depthwise_reference(node, p, xs):
    bias = p[f"{node.name}.bias"] if node.attrs["bias"] else None
    y = depthwise_nchw(node, _nchw(xs[0]), p[f"{node.name}.kernel"], bias)
    return _activation(_nhwc(y), node.attrs)


def separable_reference(node, p, xs):
    torch, F = _torch()
    key = node.name
    y = depthwise_nchw(node, _nchw(xs[0]), p[f"{key}.depthwise_kernel"], None)
    w = torch.as_tensor(p[f"{key}.pointwise_kernel"]).permute(3, 2, 0, 1)
    bias = torch.as_tensor(p[f"{key}.bias"]) if node.attrs["bias"] else None
    return _activation(_nhwc(F.conv2d(y, w, bias)), node.attrs)


def convtranspose_reference(node, p, xs):
    """PyTorch's F.conv_transpose2d; an asymmetric crop: its whole output, cropped."""
    torch, F = _torch()
    a, key = node.attrs, node.name
    w = torch.as_tensor(p[f"{key}.kernel"]).permute(3, 2, 0, 1)
    bias = torch.as_tensor(p[f"{key}.bias"]) if a["bias"] else None
    t, b, left, right = a["padding"]
    if t == b and left == right:
        y = F.conv_transpose2d(_nchw(xs[0]), w, bias, a["stride"], (t, left), a["output_padding"],
                               a["groups"], a["dilation"])
        return _activation(_nhwc(y), a)
    full = F.conv_transpose2d(_nchw(xs[0]), w, None, a["stride"], 0, 0, a["groups"], a["dilation"])
    (oh, ow), (h, w_) = a["out"], full.shape[2:]
    full = F.pad(full, (0, max(0, left + ow - w_), 0, max(0, t + oh - h)))
    y = full[:, :, t:t + oh, left:left + ow]
    if bias is not None:
        y = y + bias[:, None, None]
    return _activation(_nhwc(y), a)


REFERENCES: dict = {"depthwise": depthwise_reference, "separable": separable_reference,
                    "convtranspose": convtranspose_reference}
