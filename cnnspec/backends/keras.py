"""Keras 3 backend: IR -> the source of a standalone module with a functional `keras.Model`.

The generated module imports keras and numpy only, and defines:

- ``build_<network>(dtype="float32") -> keras.Model`` over NHWC inputs. Each spec layer becomes
  one Keras layer named exactly like it, so ``model.get_layer("c1").output`` is that spec
  layer's output (after its fused activation). Where Keras needs several layers for one spec
  layer (explicit padding, a leaky ReLU with its slope, stride together with dilation), the
  helpers get suffixed names (``c1_pad``, ``c1_conv``) and the last layer carries the spec name.
- ``load_portable(model, params)`` and ``to_portable(model)``: the portable layouts are Keras's
  own (conv kernel (kh, kw, c_in/groups, c_out), dense (in, out), batch-norm gamma, beta,
  moving_mean, moving_variance), so weights are copied as they are.

Semantics that Keras's defaults get wrong are written out (design.md section 3): a conv's
padding is Keras's ``padding="same"`` only where the resolved padding equals it exactly (the
TensorFlow rule, one layer instead of two), else explicit ``ZeroPadding2D`` + "valid"; padded or
ceil-mode pooling uses a small layer defined in the generated module, ``PaddedPool2D``, that
pads max pooling with -inf and divides average pooling by the cells the spec counts.
Transfer learning: frozen layers are built with ``trainable=False`` (a frozen
``BatchNormalization`` then runs in inference mode, so its moving statistics stay put). When a
spec scales learning rates, the module adds ``LR_SCALES`` and ``scaled_optimizer(optimizer)``;
when it has training stages, ``STAGES`` and ``set_stage(model, name)`` (see TRAINING below).
Importing this module imports no framework: it only writes text.
"""

from __future__ import annotations

from ..graph import ancestors, edges_of
from ..ir import Network, Node
from ..names import KERAS_MODULE_GLOBALS, keras_helper_name
from ..shapes import shape_text
from . import builder_name
from . import keras_blocks as kb
from . import torch_blocks as tb
from .base import Emitter, value_names
from .keras_convs import CUSTOM_LAYERS as CONV_LAYERS
from .keras_convs import ConvKinds
from .keras_norms import CUSTOM_LAYERS as NORM_LAYERS
from .keras_norms import NormKinds
from .keras_parts import CUSTOM_LAYERS as ACT_LAYERS
from .keras_parts import Step, activation_steps, fused, padding_step, pair, window_steps
from .keras_reshapes import CUSTOM_LAYERS as SHAPE_LAYERS
from .keras_reshapes import ShapeKinds

POOL_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class PaddedPool2D(keras.layers.Layer):
    """Max or average pooling over an explicitly padded input, with PyTorch's rules.

    padding is (top, bottom, left, right); out is the output size the spec resolved. Max pooling
    pads with -inf, so padding never wins. Average pooling pads with zeros and divides each
    window by the cells it counts: those inside the padded input when count_include_pad, else
    those inside the real input. In ceil mode the bottom/right is padded further so that the
    last window fits; that overhang never counts.
    """

    def __init__(self, op, pool_size, strides, padding, out, count_include_pad=False, **kwargs):
        super().__init__(**kwargs)
        self.op, self.pool_size, self.strides = op, tuple(pool_size), tuple(strides)
        self.padding, self.out = tuple(padding), tuple(out)
        self.count_include_pad = count_include_pad

    def build(self, input_shape):
        rows, cells_h = _pool_axis(input_shape[1], *self.padding[:2], self.pool_size[0],
                                   self.strides[0], self.out[0], self.count_include_pad)
        cols, cells_w = _pool_axis(input_shape[2], *self.padding[2:], self.pool_size[1],
                                   self.strides[1], self.out[1], self.count_include_pad)
        self.pads = ((0, 0), rows, cols, (0, 0))
        area = self.pool_size[0] * self.pool_size[1]
        self.scale = area / np.outer(cells_h, cells_w)[:, :, None]

    def call(self, x):
        if self.op == "max":
            x = keras.ops.pad(x, self.pads, constant_values=-np.inf)
            return keras.ops.max_pool(x, self.pool_size, self.strides, padding="valid")
        x = keras.ops.pad(x, self.pads, constant_values=0.0)
        mean = keras.ops.average_pool(x, self.pool_size, self.strides, padding="valid")
        return mean * keras.ops.cast(self.scale, mean.dtype)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "pool_size": self.pool_size,
                "strides": self.strides, "padding": self.padding, "out": self.out,
                "count_include_pad": self.count_include_pad}


def _pool_axis(size, before, after, window, stride, out, include_pad):
    """The (before, after) padding and the cells each window counts, along one axis."""
    starts = np.arange(out) * stride
    needed = max(int(starts[-1]) + window - size - before, 0)
    first, last = (0, size + before + after) if include_pad else (before, before + size)
    return (before, needed), np.minimum(starts + window, last) - np.maximum(starts, first)
'''

LEAKY_LAYER = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class LeakyReLU(keras.layers.LeakyReLU):
    """keras.layers.LeakyReLU with the slope applied in the input's dtype.

    TensorFlow's own op holds the slope as a float32, which costs float64 models ~1e-9.
    """

    def call(self, x):
        return keras.ops.where(x >= 0, x, x * self.negative_slope)
'''

CUSTOM_LAYERS = {"PaddedPool2D": POOL_LAYER, "LeakyReLU": LEAKY_LAYER, **ACT_LAYERS,
                 **CONV_LAYERS, **NORM_LAYERS, **SHAPE_LAYERS}

LOADERS = '''

def load_portable(model, params):
    """Set the weights from a portable dict {"<layer>.<tensor>": array}.

    The portable layouts are Keras's own: conv kernel (kh, kw, c_in/groups, c_out), dense
    kernel (in, out) with rows in NHWC flatten order, batch-norm gamma, beta, moving_mean and
    moving_variance; values are cast to the model's dtype.
    """
    for layer_name, (keras_name, tensors) in WEIGHTS.items():
        layer = model.get_layer(keras_name)
        for tensor in tensors:
            key = f"{layer_name}.{tensor}"
            if key not in params:
                raise KeyError(f"missing tensor {key!r}")
            variable, value = getattr(layer, tensor), np.asarray(params[key])
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"tensor {key!r} has shape {tuple(value.shape)}, "
                                 f"but the model needs {tuple(variable.shape)}")
            variable.assign(value.astype(variable.dtype))


def to_portable(model):
    """The model's weights as a portable dict: the exact inverse of load_portable."""
    params = {}
    for layer_name, (keras_name, tensors) in WEIGHTS.items():
        layer = model.get_layer(keras_name)
        for tensor in tensors:
            params[f"{layer_name}.{tensor}"] = np.array(getattr(layer, tensor).numpy())
    return params
'''

SET_STAGE = '''

def set_stage(model, name):
    """Apply the freeze rules of training stage `name` (see STAGES); returns its lr scales.

    Every layer with weights gets trainable=False if the stage freezes it, else True (a frozen
    BatchNormalization runs in inference mode, its moving statistics untouched). Keras reads
    these flags when a model is compiled: compile the model again, with a new optimizer,
    before training it in the new stage.
    """
    if name not in STAGES:
        raise KeyError(f"no stage {name!r}; the stages are {', '.join(STAGES)}")
    frozen = STAGES[name]["frozen"]
    for layer_name, (keras_name, _) in WEIGHTS.items():
        model.get_layer(keras_name).trainable = layer_name not in frozen
    return STAGES[name]["lr_scales"]
'''

SCALED_OPTIMIZER = '''

def scaled_optimizer(optimizer, lr_scales=LR_SCALES):
    """A fresh copy of a Keras optimizer that trains each layer at its learning-rate scale.

    Keras has no per-layer learning rate. The copy is an instance of a subclass of the
    optimizer's class whose update_step(gradient, variable, learning_rate) -- which Keras
    calls once per trainable variable, with the TensorFlow backend too -- multiplies
    learning_rate by the scale of the spec layer that owns the variable (found from the
    variable's path "<layer>/<tensor>" through WEIGHTS; other layers keep 1.0). This is exact
    for optimizers whose step is proportional to the learning rate: SGD with or without
    momentum, Adam, RMSprop, Adagrad... (scaling the gradients instead would be undone by
    Adam's normalisation). Decoupled weight decay (AdamW, weight_decay=) is applied by Keras
    with the unscaled rate. Pass an optimizer that has not been used yet. The subclass is made
    at run time: load a saved model with keras.models.load_model(path, compile=False) and
    compile it again with scaled_optimizer.
    """
    if optimizer.built:
        raise ValueError("scaled_optimizer needs an optimizer that has not been used yet")
    unknown = [name for name in lr_scales if name not in WEIGHTS]
    if unknown:
        raise KeyError(f"no layer with weights named {unknown[0]!r}")
    by_layer = {WEIGHTS[name][0]: float(scale) for name, scale in lr_scales.items()}
    return _with_lr_scales(type(optimizer), by_layer).from_config(optimizer.get_config())


def _with_lr_scales(optimizer_class, by_layer):
    """A subclass of optimizer_class that scales each variable's step by its layer's scale."""

    class LrScaled(optimizer_class):
        def build(self, variables):
            super().build(variables)
            self.variable_lr_scales = [by_layer.get(_layer_of(v), 1.0) for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            scale = self.variable_lr_scales[self._get_variable_index(variable)]
            if scale != 1.0:
                learning_rate = keras.ops.cast(learning_rate, variable.dtype) * scale
            return super().update_step(gradient, variable, learning_rate)

    LrScaled.__name__ = LrScaled.__qualname__ = f"LrScaled{optimizer_class.__name__}"
    return LrScaled


def _layer_of(variable):
    """The name of the Keras layer that owns a variable: its path's second-to-last part."""
    parts = variable.path.split("/")
    return parts[-2] if len(parts) > 1 else None
'''

def conv_steps(node: Node) -> list[Step]:
    groups = node.attrs["groups"]
    return window_steps(node, "Conv2D", [str(node.attrs["filters"])],
                        [f"groups={groups}"] if groups != 1 else [])


def dense_steps(node: Node) -> list[Step]:
    """Dense; per_pixel too, since Keras's Dense maps the last axis of any input."""
    args = [str(node.attrs["units"])] + ([] if node.attrs["bias"] else ["use_bias=False"])
    return fused(node, Step("dense", "Dense", args, node.out_shape, node.params, True))


def batchnorm_steps(node: Node) -> list[Step]:
    args = ["axis=-1", f"epsilon={node.attrs['eps']!r}", f"momentum={node.attrs['momentum']!r}"]
    args += [f"{flag}=False" for flag in ("center", "scale") if not node.attrs.get(flag, True)]
    core = Step("norm", "BatchNormalization", args, node.out_shape, node.params, True)
    return fused(node, core, allowed=())


def pool_steps(node: Node) -> list[Step]:
    a = node.attrs
    natural = tuple((n - k) // s + 1 for n, k, s in zip(node.in_shape, a["kernel"], a["stride"]))
    if not any(a["padding"]) and natural == tuple(a["out"]):
        ctor = "MaxPooling2D" if a["op"] == "max" else "AveragePooling2D"
        args = [pair(a["kernel"]), f"strides={pair(a['stride'])}"]
        return [Step("pool", ctor, args, node.out_shape)]
    args = [f'"{a["op"]}"', pair(a["kernel"]), pair(a["stride"]),
            f"padding={tuple(a['padding'])}", f"out={pair(a['out'])}"]
    if a["op"] == "avg":
        args.append(f"count_include_pad={a['count_include_pad']}")
    return [Step("pool", "PaddedPool2D", args, node.out_shape)]


def simple_steps(node: Node) -> list[Step]:
    kind, a, shape = node.kind, node.attrs, node.out_shape
    if kind in ("globalavgpool", "globalmaxpool"):
        ctor = "GlobalAveragePooling2D" if kind == "globalavgpool" else "GlobalMaxPooling2D"
        return [Step("pool", ctor, ["keepdims=True"] if a.get("keepdims") else [], shape)]
    if kind == "flatten":
        return [Step("flatten", "Flatten", [], shape)]
    if kind == "dropout":
        return dropout_steps(node)
    if kind == "zeropad":
        return padding_step(a["padding"], node.in_shape) or [Step("pad", "Identity", [], shape)]
    if kind == "activation":
        return activation_steps(node, shape)
    raise NotImplementedError(f"the Keras backend has no layer for '{kind}' (layer {node.name})")


def dropout_steps(node: Node) -> list[Step]:
    """Dropout (mode=element), SpatialDropout2D (channel: whole feature maps) or Dropout with
    one draw per sample (sample: stochastic depth); each is the identity at inference."""
    mode, rate = node.attrs.get("mode", "element"), node.attrs["rate"]
    ctor, args = ("SpatialDropout2D" if mode == "channel" else "Dropout"), [repr(rate)]
    if mode == "sample":
        args.append(f"noise_shape={(None,) + (1,) * len(node.out_shape)}")
    return [Step("dropout", ctor, args, node.out_shape, note="identity at inference")]


MERGES = {"add": ("Add", ()), "multiply": ("Multiply", ()), "concat": ("Concatenate", ("axis=-1",))}


def merge_steps(node: Node) -> list[Step]:
    """A Keras merge layer (a (C,) gate of an image multiply is broadcast by Keras itself, as
    (batch, 1, 1, C)), then the fused activation as a layer: merges take no activation=."""
    ctor, args = MERGES[node.kind]
    core = Step("merge", ctor, list(args), node.out_shape)
    return fused(node, core, allowed=())


RESERVED = KERAS_MODULE_GLOBALS | {"dtype", "keras"}


class KerasWriter(ConvKinds, NormKinds, ShapeKinds, Emitter):
    """Writes the builder's lines; names helper layers so that none clashes with a spec name.
    One method per node kind returns the node's Keras layers (Steps)."""

    target = "Keras"
    reserved = RESERVED
    input_name = "inputs"

    def __init__(self, network: Network):
        super().__init__(network)
        self.network = network
        self.taken = {n.name for n in network.nodes}
        self.lines: list[str] = []
        self.weights: list[tuple[str, str, tuple[str, ...]]] = []  # (spec, Keras layer, tensors)
        self.custom: set[str] = set()  # the custom layer classes the module needs

    conv_layer = staticmethod(conv_steps)
    dense_layer = staticmethod(dense_steps)
    batchnorm_layer = staticmethod(batchnorm_steps)
    maxpool_layer = avgpool_layer = staticmethod(pool_steps)
    globalavgpool_layer = globalmaxpool_layer = flatten_layer = staticmethod(simple_steps)
    dropout_layer = zeropad_layer = activation_layer = staticmethod(simple_steps)
    add_layer = multiply_layer = concat_layer = staticmethod(merge_steps)

    # --- blocks: one function per definition (cnnspec.backends.keras_blocks) ---

    def plan_blocks(self, live: set[str]) -> None:
        self.groups, self.functions, self.flat_notes = [], [], []
        if not self.network.instances:
            return
        groups, self.flat_notes = tb.prepare(self.network)
        groups = [g for g in groups if g[-1].nodes[-1].name in live]
        taken = kb.reserved_function_names(builder_name(self.network))
        for _ in range(3):
            functions, failed = self.make_functions(groups, set(taken))
            kept = [g for g in groups if not any(u.instance.name in failed for u in g)]
            self.flat_notes += [tb.group_name(g) for g in groups if g not in kept]
            if len(kept) == len(groups):
                break
            groups = kept
        self.groups, self.functions = groups, functions
        names = {u.cls for g in groups for u in g}  # a value must not shadow a block function
        self.var = value_names(self.network, self.reserved | names, self.input_name,
                               tb.plain_values(self.network, groups))

    def make_functions(self, groups, taken):
        functions, failed, counters = [], set(), {}
        for block, tries in tb.per_definition(groups):
            if len(tries) > 1:
                made = kb.make_function(self.network, block, tries[0], KerasWriter, counters, taken)
                if made is not None:
                    tries = [(tries[0], made)]
                else:
                    tries = tries[1:]  # no one function for the definition: one per variant
            for entry in tries:
                uses, made = entry if isinstance(entry, tuple) else \
                    (entry, kb.make_function(self.network, block, entry, KerasWriter, counters, taken))
                if made is None:
                    failed |= {u.instance.name for u in uses}
                    continue
                name, source, calls = made
                functions.append(source)
                for use, args in zip(uses, calls):
                    use.cls, use.args = name, args
        return functions, failed

    def group_lines(self, group) -> None:
        src, out = self.var[group[0].source], group[-1].nodes[-1]
        for i, use in enumerate(group):
            target = self.dest(out)
            arg = src if i == 0 else target
            args = "".join(f", {a}" for a in use.args)
            note = f"  # {shape_text(use.nodes[-1].out_shape)}"
            self.lines.append(f'    {target} = {use.cls}({arg}, "{use.instance.name}"{args}, '
                              f"dtype=dtype){note}")

    def layer(self, node: Node, shown: bool = True) -> None:
        if not shown:  # inside a block function: only its weights and custom layers count
            lines, self.lines = self.lines, []
            self.layer(node)
            self.lines = lines
            return
        steps = self.emit(node)
        srcs = self.srcs(node)
        arg = srcs[0] if len(srcs) == 1 else f"[{', '.join(srcs)}]"
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            name = node.name if last else keras_helper_name(node.name, step.role, self.taken)
            self.emit_step(node, step, name, arg)
            arg = self.dest(node)
            if step.holds_weights:
                self.weights.append((node.name, name, tuple(w.name for w in node.weights)))

    def emit_step(self, node: Node, step: Step, name: str, arg: str) -> None:
        custom = step.ctor in CUSTOM_LAYERS
        if custom:
            self.custom.add(step.ctor)
        args = [*step.args, f'name="{name}"', "dtype=dtype"]
        if step.holds_weights and node.frozen:
            args.append("trainable=False")
        note = f"{shape_text(step.shape)}, {step.params:,} params"
        if step.note:
            note += f", {step.note}"
        if step.holds_weights and node.frozen:
            note += ", frozen"
        elif step.holds_weights and node.lr_scale != 1.0:
            note += f", lr x{node.lr_scale!r} (scaled_optimizer)"
        ctor = step.ctor if custom else f"keras.layers.{step.ctor}"
        self.lines.append(f"    {self.dest(node)} = {ctor}({', '.join(args)})({arg})  # {note}")

    def builder(self) -> str:
        net = self.network
        live = set(ancestors(edges_of(net.nodes), [n.name for n in net.output_nodes]))
        self.plan_blocks(live)  # first: it renames the values, the input's included
        shape, first = tuple(net.input_shape), net.nodes[0].name
        inputs = f'keras.Input(shape={shape}, dtype=dtype, name="{first}")'
        head = [f'def {builder_name(net)}(dtype="float32"):',
                f'    """{net.name} over NHWC inputs; every layer is named as in the spec."""',
                f"    {'x = ' if self.input_var == 'x' else ''}inputs = {inputs}  # {shape_text(shape)}"]
        dead = [node.name for node in net.layers if node.name not in live]
        owner, done = tb.owners(self.groups), set()
        for node in net.layers:
            group = owner.get(node.name)
            if group is not None and id(group) not in done:
                done.add(id(group))
                self.group_lines(group)
            if node.name in live:
                self.layer(node, shown=group is None)
        if dead:  # a functional Model holds only layers that some output depends on
            self.lines.append(f"    # not built: no output depends on {', '.join(dead)}")
        tail = f'    return keras.Model(inputs, {self.returned("[{}]")}, name="{net.name}")'
        return "\n".join([*head, *self.lines, tail])

    def weight_table(self) -> str:
        rows = [f'    "{spec}": ("{keras_name}", {quoted(tensors)}),'
                for spec, keras_name, tensors in self.weights]
        table = "WEIGHTS = {\n" + "\n".join(rows) + "\n}" if rows else "WEIGHTS = {}"
        return ("# The layers that hold weights: spec layer -> (Keras layer, its portable tensors)."
                "\n" + table)


def quoted(names: tuple[str, ...]) -> str:
    items = ", ".join(f'"{n}"' for n in names)
    return f"({items},)" if len(names) == 1 else f"({items})"


def freeze_table(nodes) -> tuple[tuple[str, ...], dict[str, float]]:
    """The layers with weights that nodes freeze, and the lr scales of those that train."""
    frozen = tuple(n.name for n in nodes if n.frozen and n.weights)
    scales = {n.name: n.lr_scale for n in nodes if n.weights and not n.frozen and n.lr_scale != 1.0}
    return frozen, scales


def scales_text(scales: dict[str, float]) -> str:
    return "{" + ", ".join(f'"{name}": {scale!r}' for name, scale in scales.items()) + "}"


class Training:
    """The transfer-learning part of a module: STAGES, LR_SCALES and their functions."""

    def __init__(self, network: Network):
        self.network = network
        named = network.stages or {None: network.nodes}
        for name in named:
            if name is not None and not name.isidentifier():
                raise ValueError(f"stage name {name!r} is not an identifier")
        self.tables = {name: freeze_table(nodes) for name, nodes in named.items()}
        self.staged = bool(network.stages)
        self.scaled = any(scales for _, scales in self.tables.values())

    def constants(self) -> str:
        parts = [self.stages_table()] if self.staged else []
        if self.scaled:
            parts.append(self.lr_scales_line())
        return "".join("\n\n" + part for part in parts)

    def stages_table(self) -> str:
        rows = [f'    "{name}": {{"frozen": {quoted(frozen)}, "lr_scales": {scales_text(scales)}}},'
                for name, (frozen, scales) in self.tables.items()]
        return (f"# Training stages ({builder_name(self.network)}() sets up {self.network.stage}): "
                "the layers\n# each one freezes, and the learning-rate scales of layers that "
                "train at a scaled rate.\nSTAGES = {\n" + "\n".join(rows) + "\n}")

    def lr_scales_line(self) -> str:
        if self.staged:
            return ("# The learning-rate scales of the stage the model is built in.\n"
                    f'LR_SCALES = STAGES["{self.network.stage}"]["lr_scales"]')
        scales = scales_text(self.tables[None][1])
        return f"# Learning-rate scales: spec layer -> scale (see scaled_optimizer).\nLR_SCALES = {scales}"

    def functions(self) -> list[str]:
        return [code for code, wanted in ((SET_STAGE, self.staged), (SCALED_OPTIMIZER, self.scaled))
                if wanted]

    def usage(self) -> str:
        """Lines of the module docstring that show how to train with stages and lr scales."""
        lines = []
        if self.staged:
            stage = next((s for s, (_, scales) in self.tables.items() if scales), self.network.stage)
            target = "lr_scales = " if self.scaled else ""
            lines.append(f'    {target}set_stage(model, "{stage}")  # then compile the model again')
        if self.scaled:
            scales = "lr_scales" if self.staged else "LR_SCALES"
            lines.append(f"    model.compile(scaled_optimizer(keras.optimizers.Adam(1e-4), {scales}), ...)")
        return "".join(line + "\n" for line in lines)


def generate(network: Network) -> str:
    writer = KerasWriter(network)
    builder = writer.builder()
    training = Training(network)
    doc = (f'"""Network {network.name} as a Keras 3 functional model over NHWC inputs, '
           f'generated by cnnspec.\n\n    model = {builder_name(network)}()  # or dtype="float64"\n'
           '    load_portable(model, params)  # params: {"<layer>.<tensor>": array}\n'
           f'{training.usage()}"""\n')
    parts = [doc, "\nimport keras\nimport numpy as np\n"]
    parts += [code for name, code in CUSTOM_LAYERS.items() if name in writer.custom]
    if writer.flat_notes:
        parts.append("\n\n# Generated flat (not as block functions): " + ", ".join(writer.flat_notes) +
                     "\n# (see cnnspec.backends.torch_blocks for when a block instance stays flat)")
    parts += ["\n\n" + code for code in writer.functions]
    parts += ["\n\n" + builder + "\n\n\n" + writer.weight_table() + training.constants() + "\n",
              LOADERS, *training.functions()]
    return "".join(parts)
