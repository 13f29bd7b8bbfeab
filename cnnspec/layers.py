"""One entry per layer kind: its arguments, output shape, weight shapes and MACs.

Each kind reads its arguments with an ArgReader, reports problems as located diagnostics and
returns a Resolved (attrs, output shape, weights in the canonical layout, MACs), or None when
the layer cannot be resolved. Canonical weight layouts: conv kernel (kh, kw, c_in/groups,
c_out), dense kernel (in, out), biases and batch-norm vectors (c,).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import shapes
from . import syntax as S
from .args import ArgReader, did_you_mean
from .ir import Weight
from .shapes import shape_text
from .windows import Window, inexact_warning, read_window, resolve_window, rounding

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "linear")
DEFAULT_LEAKY_ALPHA = 0.01  # PyTorch's default; every backend writes the slope explicitly
COMMON_OPTIONS = {"out"}


@dataclass(frozen=True)
class Resolved:
    attrs: dict
    out_shape: tuple[int, ...]
    weights: tuple[Weight, ...] = ()
    macs: int = 0


def need_image(r: ArgReader, layer: S.Layer, in_shape) -> bool:
    if len(in_shape) == 3:
        return True
    origin = r.origin() if r.origin else None
    where = f"put it before {origin}" if origin else "give it an HxWxC input"
    r.error("E305", layer, f"{layer.kind} needs an HxWxC input, but its input is the flat vector "
            f"{shape_text(in_shape)}", f"{where}, or use dense for flat inputs")
    return False


def activation_advice(layer: S.Layer, fused: bool):
    """Hints for activations written as Keras/PyTorch habits: `activation=relu`, `dense 10 softmax`."""
    def advise(node) -> str | None:
        if isinstance(node, S.Option) and node.key == "activation":
            node = node.value
        if not isinstance(node, S.Value) or node.kind not in ("word", "string") \
                or node.value not in ACTIVATIONS:
            return None
        if fused:
            return f"an activation follows an arrow: write '-> {node.value}' at the end of the line"
        return f"{layer.kind} takes no activation: add '{node.value}' as a layer of its own on the next line"
    return advise


def read_activation(r: ArgReader, act: S.Activation | None):
    """(name, alpha) of a fused activation; ('linear', None) when there is none."""
    if act is None:
        return "linear", None
    if act.name not in ACTIVATIONS:
        r.error("E101", act, f"unknown activation '{act.name}'",
                did_you_mean(act.name, ACTIVATIONS) or "activations: " + ", ".join(ACTIVATIONS))
        return None
    sub = ArgReader(r.diags, act.name, act.args, act.options,
                    {"alpha"} if act.name == "leaky_relu" else set())
    alpha = alpha_of(sub, act.name)
    sub.finish()
    r.ok = r.ok and sub.ok
    return act.name, alpha


def alpha_of(r: ArgReader, name: str):
    if name != "leaky_relu":
        return None
    value = r.value("alpha") or r.take(("int", "float"))
    return DEFAULT_LEAKY_ALPHA if value is None else r.float_of(value, "alpha", 0.0, 1e6)


def stated_hw(r: ArgReader):
    value = r.value("out")
    if value is None or value.kind != "dims" or None in value.value:
        return None
    return value.value[:2]


class Conv:
    options = frozenset({"stride", "pad", "padding", "dilation", "groups", "bias", "round"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        filters_v = r.take(("int",))
        kernel_v = r.take(("dims", "unknown", "int"))
        if filters_v is None or kernel_v is None:
            r.error("E104", layer, "conv needs a number of kernels and a kernel size",
                    "write e.g. 'conv 32 3x3' (32 kernels of 3x3)")
            return None
        filters = r.int_of(filters_v, "number of kernels")
        if kernel_v.kind == "dims" and len(kernel_v.value) not in (2, 3):
            r.error("E103", kernel_v, f"a kernel is KxK, KhxKw or KxKxDepth, not '{kernel_v.describe()}'")
            return None
        win = read_window(r, kernel_v, False, unknown_ok=True)
        groups = r.int_of(r.value("groups"), "groups") if r.value("groups") else 1
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        act = read_activation(r, layer.activation)
        explicit = rounding(r, ("floor",))
        if None in (filters, win, groups, bias, act) or not need_image(r, layer, in_shape):
            return None
        if not self._check_depth(r, layer, kernel_v, in_shape[2], filters, groups):
            return None
        res = resolve_window(r, layer, in_shape, win, stated_hw(r))
        if res is None:
            return None
        inexact_warning(r, layer, res, in_shape, win, explicit)
        return self._resolved(res, in_shape, filters, groups, bias, act)

    def _check_depth(self, r, layer, kernel_v, channels, filters, groups) -> bool:
        for count, what in ((channels, "input channels"), (filters, "kernels")):
            if count % groups:
                r.error("E302", layer, f"the {count} {what} are not divisible by groups={groups}",
                        "groups must divide both the input channels and the number of kernels")
                return False
        if kernel_v.kind == "dims" and len(kernel_v.value) == 3:
            depth, expected = kernel_v.value[2], channels // groups
            if depth != expected:
                per = f" per group ({channels} / groups={groups})" if groups > 1 else ""
                r.error("E301", kernel_v, f"kernel depth {depth} does not match the {expected} "
                        f"input channels{per}",
                        "a kernel's depth must equal the number of input channels; the number of "
                        "kernels sets the output channels")
        return True

    def _resolved(self, res, in_shape, filters, groups, bias, act) -> Resolved:
        (kh, kw), (oh, ow) = res["kernel"], res["out"]
        weights = [Weight("kernel", (kh, kw, in_shape[2] // groups, filters))]
        if bias:
            weights.append(Weight("bias", (filters,)))
        attrs = {**res, "filters": filters, "groups": groups, "bias": bias,
                 "activation": act[0], "alpha": act[1]}
        macs = shapes.conv_macs(oh, ow, kh, kw, in_shape[2], groups, filters)
        return Resolved(attrs, (oh, ow, filters), tuple(weights), macs)


class Pool:
    fused_activation = False

    def __init__(self, op: str):
        self.op = op
        self.options = {"stride", "pad", "padding", "round"} | (
            {"count_include_pad"} if op == "avg" else set())

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        kernel_v = r.take(("dims", "int", "unknown"))
        if kernel_v is None:
            r.error("E104", layer, f"{layer.kind} needs a window size", f"write e.g. '{layer.kind} 2x2'")
            return None
        if kernel_v.kind == "dims" and len(kernel_v.value) != 2:
            r.error("E103", kernel_v, f"a pooling window is KxK or KhxKw, not '{kernel_v.describe()}'",
                    "pooling works on each channel alone: it has no depth")
            return None
        win = read_window(r, kernel_v, True, unknown_ok=True)
        explicit = rounding(r, ("floor", "ceil"))
        include = r.value("count_include_pad")
        include = r.bool_of(include, "count_include_pad") if include else False
        if None in (win, include) or not need_image(r, layer, in_shape):
            return None
        if r.value("round") is not None and explicit is None:
            return None
        win.ceil = explicit == "ceil"
        if not self._check_padding(r, layer, win):
            return None
        res = resolve_window(r, layer, in_shape, win, stated_hw(r))
        if res is None:
            return None
        inexact_warning(r, layer, res, in_shape, win, explicit)
        attrs = {**res, "op": self.op, "ceil": win.ceil, "count_include_pad": include}
        return Resolved(attrs, (*res["out"], in_shape[2]))

    def _check_padding(self, r, layer, win: Window) -> bool:
        if not isinstance(win.padding, tuple):
            return True
        kh, kw = win.kernel
        for side, k in zip(win.padding, (kh, kh, kw, kw)):
            if isinstance(k, int) and side * 2 > k:
                r.error("E106", layer, f"pooling padding {side} is more than half the window {k}",
                        "a pooling window must never lie wholly in the padding")
                return False
        return True


class GlobalPool:
    options: frozenset = frozenset()
    fused_activation = False

    def __init__(self, op: str):
        self.op = op

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        if not need_image(r, layer, in_shape):
            return None
        return Resolved({"op": self.op}, (in_shape[2],))


class Flatten:
    options: frozenset = frozenset()
    fused_activation = False

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        return Resolved({}, (shapes.prod(in_shape),))


class ZeroPad:
    options = frozenset({"pad", "padding"})
    fused_activation = False

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        value = r.take(("int", "tuple", "dims", "word", "unknown")) or r.value("pad") \
            or r.value("padding")
        if value is None:
            r.error("E104", layer, "zeropad needs a padding", "write e.g. 'zeropad 1' or 'zeropad (0, 1, 0, 1)'")
            return None
        pads = r.padding_of(value)
        if pads is None or not need_image(r, layer, in_shape):
            return None
        if not isinstance(pads, tuple):
            r.error("E103", value, "zeropad needs explicit sizes, not 'same', 'valid' or '?'")
            return None
        t, b, left, right = pads
        return Resolved({"padding": pads}, (in_shape[0] + t + b, in_shape[1] + left + right, in_shape[2]))


class Dense:
    options = frozenset({"bias", "units"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        units_v = r.take(("int",)) or r.value("units")
        if units_v is None:
            r.error("E104", layer, "dense needs a number of units", "write e.g. 'dense 64'")
            return None
        units = r.int_of(units_v, "number of units")
        bias = r.bool_of(r.value("bias"), "bias") if r.value("bias") else True
        act = read_activation(r, layer.activation)
        if None in (units, bias, act):
            return None
        if len(in_shape) != 1:
            r.error("E305", layer, f"dense needs a flat input, but its input is {shape_text(in_shape)}",
                    f"add 'flatten' before it (it would give {shapes.prod(in_shape)} values) or a "
                    "global pooling layer")
            return None
        weights = [Weight("kernel", (in_shape[0], units))] + ([Weight("bias", (units,))] if bias else [])
        attrs = {"units": units, "bias": bias, "activation": act[0], "alpha": act[1]}
        return Resolved(attrs, (units,), tuple(weights), in_shape[0] * units)


class BatchNorm:
    options = frozenset({"eps", "epsilon", "momentum"})
    fused_activation = True

    def resolve(self, r: ArgReader, layer: S.Layer, in_shape) -> Resolved | None:
        eps_v = r.value("eps") or r.value("epsilon")
        eps = r.float_of(eps_v, "eps", 0.0, 1.0) if eps_v else 1e-3
        mom_v = r.value("momentum")
        momentum = r.float_of(mom_v, "momentum", 0.0, 1.0) if mom_v else 0.99
        act = read_activation(r, layer.activation)
        if None in (eps, momentum, act):
            return None
        c = in_shape[-1]
        weights = (Weight("gamma", (c,)), Weight("beta", (c,)),
                   Weight("moving_mean", (c,), False), Weight("moving_variance", (c,), False))
        attrs = {"eps": eps, "momentum": momentum, "activation": act[0], "alpha": act[1]}
        return Resolved(attrs, in_shape, weights)


class Dropout:
    options = frozenset({"rate"})
    fused_activation = False

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        value = r.take(("float", "int")) or r.value("rate")
        if value is None:
            r.error("E104", layer, "dropout needs a rate", "write e.g. 'dropout 0.5'")
            return None
        rate = r.float_of(value, "dropout rate", 0.0, 1.0, high_open=True)
        return None if rate is None else Resolved({"rate": rate}, in_shape)


class ActivationLayer:
    """`relu`, `sigmoid`, ... as layers of their own, or `activation NAME`."""

    fused_activation = False

    def __init__(self, fn: str | None):
        self.fn = fn
        self.options = {"alpha"} if fn in ("leaky_relu", None) else set()

    def resolve(self, r: ArgReader, layer, in_shape) -> Resolved | None:
        fn = self.fn
        if fn is None:
            value = r.take(("word",))
            if value is None:
                r.error("E104", layer, "activation needs a function", "write e.g. 'activation relu'")
                return None
            fn = r.word_of(value, "activation", ACTIVATIONS)
            if fn is None:
                return None
        alpha = alpha_of(r, fn)
        if fn == "leaky_relu" and alpha is None:
            return None
        return Resolved({"activation": fn, "alpha": alpha}, in_shape)


KINDS = {
    "conv": Conv(),
    "maxpool": Pool("max"),
    "avgpool": Pool("avg"),
    "globalavgpool": GlobalPool("avg"),
    "globalmaxpool": GlobalPool("max"),
    "flatten": Flatten(),
    "zeropad": ZeroPad(),
    "dense": Dense(),
    "batchnorm": BatchNorm(),
    "dropout": Dropout(),
    "activation": ActivationLayer(None),
    **{fn: ActivationLayer(fn) for fn in ACTIVATIONS},
}

# what the IR calls each kind (activation layers share one node kind)
NODE_KIND = {name: ("activation" if isinstance(k, ActivationLayer) else name) for name, k in KINDS.items()}
