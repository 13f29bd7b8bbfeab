"""The PyTorch emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the
PyTorch emitter, one `<kind>_layer` method per node kind (see backends/base.py), and the
helper sources they need (module-level classes and functions, written into a generated module
once each through `Emitted.helpers`).

PyTorch runs NCHW, so "the last axis" of the spec is dim 1 of an image tensor: layer norm
moves the channels last for nn.LayerNorm and back; the per-channel maps broadcast their (C,)
vectors as (C, 1, 1). Numbers the spec gives are kept as Python floats and made into tensors
of the input's dtype at each call, so a float64 model computes with them exactly (a float32
buffer converted by model.double() would not). A flat input fed by a flatten runs in
PyTorch's flatten order (cnnspec.layout): per-unit weights are permuted on load and save, and
per-unit numbers when the code is written.
"""

from __future__ import annotations

from .. import layout
from ..ir import Node
from .torch_parts import Emitted, activation, uses_f

PARTIAL_AFFINE = '''
def _partial_affine(norm: nn.Module, scale: bool, center: bool) -> nn.Module:
    """A batch or layer norm built with affine weights, minus the one the spec leaves out
    (PyTorch has one switch for both): a missing gamma (scale=false) becomes a constant buffer
    of ones, a missing beta (center=false) one of zeros. Not parameters: never trained, not
    counted, not in the state dict or the portable weights; x * 1 + 0 is exact."""
    for name, keep, value in (("weight", scale, 1.0), ("bias", center, 0.0)):
        if not keep:
            fixed = torch.full_like(getattr(norm, name), value).detach()
            delattr(norm, name)
            norm.register_buffer(name, fixed, persistent=False)
    return norm
'''

CHANNEL_LAYER_NORM = '''
class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels (dim 1) of an NCHW tensor, as Keras's
    LayerNormalization(axis=-1) over NHWC: the channels moved last, normalised, moved back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                                     self.bias, self.eps)
        return y.permute(0, 3, 1, 2)
'''

PER_CHANNEL = '''
def _constant(values) -> torch.Tensor:
    """Spec numbers (one, or one per channel) as a float64 tensor: a module's constant buffer
    (not persistent: no weight), cast to the input's dtype where it is used."""
    return torch.tensor(values, dtype=torch.float64)


def _per_channel(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A constant (one number, or one per channel) in x's dtype and device, shaped to
    broadcast over dim 1 of an NCHW x (or over the units of a flat x)."""
    t = values.to(dtype=x.dtype, device=x.device)
    return t.view(-1, 1, 1) if x.ndim == 4 and t.ndim > 0 else t
'''

NORMALIZATION = '''
class Normalization(nn.Module):
    """Keras's Normalization at inference: (x - mean) / max(sqrt(variance), eps) per channel,
    eps being Keras's backend epsilon (1e-7). With fixed values (mean, variance given) they are
    constant buffers (not persistent); else mean (C,), variance (C,) and count () are buffers
    (Keras's non-trainable weights; count is kept for the portable weights and used by nothing)."""

    def __init__(self, channels: int, mean=None, variance=None, eps: float = 1e-7) -> None:
        super().__init__()
        self.eps = eps
        if mean is None:
            self.register_buffer("mean", torch.zeros(channels))
            self.register_buffer("variance", torch.ones(channels))
            self.register_buffer("count", torch.zeros(()))
        else:
            self.register_buffer("mean", _constant(mean), persistent=False)
            self.register_buffer("variance", _constant(variance), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, variance = _per_channel(self.mean, x), _per_channel(self.variance, x)
        return (x - mean) / torch.clamp(torch.sqrt(variance), min=self.eps)
'''

RESCALING = '''
class Rescaling(nn.Module):
    """Keras's Rescaling: x * scale + offset, each one number or one per channel (constant
    buffers, not persistent)."""

    def __init__(self, scale, offset=0.0) -> None:
        super().__init__()
        self.register_buffer("scale", _constant(scale), persistent=False)
        self.register_buffer("offset", _constant(offset), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * _per_channel(self.scale, x) + _per_channel(self.offset, x)
'''

LAYER_SCALE = '''
class LayerScale(nn.Module):
    """ConvNeXt's layer scale: x * gamma, gamma (C,) trainable, per channel (dim 1)."""

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.gamma.view(-1, 1, 1) if x.ndim == 4 else self.gamma)
'''

SCALAR_COPY = '''
def _copy_scalar(target: torch.Tensor, array: np.ndarray, key: str) -> None:
    """_copy for a tensor of shape () (np.ascontiguousarray would make it (1,))."""
    if np.shape(array) != ():
        raise ValueError(f"portable tensor '{key}' has shape {np.shape(array)}, but the model "
                         "needs () (a scalar)")
    with torch.no_grad():
        target.fill_(float(np.asarray(array)))
'''


def affine_module(module: str, scale: bool, center: bool) -> tuple[str, tuple[str, ...]]:
    """A norm's constructor with affine weights minus the missing one, and its helper."""
    if scale and center:
        return module, ()
    return f"_partial_affine({module}, scale={scale}, center={center})", (PARTIAL_AFFINE,)


def torch_order(values, rows):
    """Per-unit numbers (NHWC order) put in PyTorch's flatten order; one number stays."""
    if isinstance(values, (int, float)) or rows is None:
        return values
    return tuple(values[int(i)] for i in rows)


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the torch emitter)."""

    def tensor_lines(self, node: Node, pairs) -> tuple[list[str], list[str]]:
        """load_portable and to_portable lines for (torch attribute, portable name) pairs,
        rows permuted where a flatten feeds the layer."""
        attr, key = self.attrs[node.name], node.name
        to_torch, to_portable = self.row_orders(node)
        loads, saves = [], []
        for torch_name, name in pairs:
            if name == "count":  # a scalar: no rows to permute
                loads.append(f'_copy_scalar(model.{attr}.count, params["{key}.count"], "{key}.count")')
                saves.append(f'"{key}.count": _numpy(model.{attr}.count)')
                continue
            loads.append(f'_copy(model.{attr}.{torch_name}, params["{key}.{name}"]{to_torch}, '
                         f'"{key}.{name}")')
            saves.append(f'"{key}.{name}": _numpy(model.{attr}.{torch_name}){to_portable}')
        return loads, saves

    def unit_rows(self, node: Node):
        """PyTorch's order of a flat input's units (None: NHWC order, or an image)."""
        order = self.orders.get(node.inputs[0]) if node.inputs else None
        return None if order is None else layout.torch_rows(order, node.in_shape[-1])

    def layernorm_layer(self, node: Node) -> Emitted:
        a = node.attrs
        cls = "ChannelLayerNorm" if len(node.in_shape) == 3 else "nn.LayerNorm"
        affine = "" if a["scale"] or a["center"] else ", elementwise_affine=False"
        module = f"{cls}({node.in_shape[-1]}, eps={a['eps']!r}{affine})"
        helpers = (CHANNEL_LAYER_NORM,) if len(node.in_shape) == 3 else ()
        if affine == "":
            module, extra = affine_module(module, a["scale"], a["center"])
            helpers += extra
        present = {w.name for w in node.weights}
        loads, saves = self.tensor_lines(node, [(t, n) for t, n in (("weight", "gamma"), ("bias", "beta"))
                                                if n in present])
        call = activation(f"self.{self.attrs[node.name]}({self.src(node)})", a)
        return Emitted(call, module, loads, saves, uses_f=uses_f(a), helpers=helpers)

    def normalize_layer(self, node: Node) -> Emitted:
        a = node.attrs
        helpers = (PER_CHANNEL, NORMALIZATION)
        if a["mean"] is None:
            module = f"Normalization({node.in_shape[-1]}, eps={a['eps']!r})"
            loads, saves = self.tensor_lines(node, [(n, n) for n in ("mean", "variance", "count")])
            helpers += (SCALAR_COPY,)
        else:
            rows = self.unit_rows(node)
            mean, variance = (torch_order(a[k], rows) for k in ("mean", "variance"))
            module = f"Normalization({node.in_shape[-1]}, {mean!r}, {variance!r}, eps={a['eps']!r})"
            loads, saves = [], []
        call = f"self.{self.attrs[node.name]}({self.src(node)})"
        return Emitted(call, module, loads, saves, helpers=helpers)

    def rescale_layer(self, node: Node) -> Emitted:
        a = node.attrs
        rows = self.unit_rows(node)
        scale, offset = (torch_order(a[k], rows) for k in ("scale", "offset"))
        module = f"Rescaling({scale!r}, offset={offset!r})"
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", module,
                       helpers=(PER_CHANNEL, RESCALING))

    def layerscale_layer(self, node: Node) -> Emitted:
        module = f"LayerScale({node.in_shape[-1]}, init={node.attrs['init']!r})"
        loads, saves = self.tensor_lines(node, [("gamma", "gamma")])
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", module, loads, saves,
                       helpers=(LAYER_SCALE,))
