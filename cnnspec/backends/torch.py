"""PyTorch backend: IR -> the source of an ``nn.Module`` subclass over NCHW tensors.

Importing this module imports no torch: it only writes text. The generated module defines
``class <Network>(nn.Module)`` with one attribute per spec layer that has weights or is a
natural module (named as in the spec), ``forward(x)`` and ``forward_layers(x)`` (sharing one
code path, ``_run``), and the functions ``load_portable(model, params)`` and
``to_portable(model)`` that convert between cnnspec's portable layouts and PyTorch's.

Transfer learning (only when the network freezes layers, scales learning rates or declares
training stages): frozen layers get ``requires_grad=False``; an override of ``train(mode)``
keeps frozen batch norms in inference mode so their running statistics cannot drift while the
rest trains; ``param_groups(lr)`` gives the optimizer one group per learning-rate scale
(``lr * scale``, frozen parameters left out); with stages, a module-level ``STAGES`` dict and
``set_stage(model, name)`` switch between them, and the class is built for ``network.stage``.

Semantics kept exactly (design.md section 3): asymmetric padding through ``F.pad`` (PyTorch's
own padding is symmetric), max pooling pads with -inf, average pooling divides as the spec
says (``count_include_pad``, ceil mode), and a dense or 1-D batch norm fed by a flatten gets
its rows permuted from NHWC to NCHW flatten order so the same portable weights give the same
outputs. Shapes are baked into the code as literal numbers.
"""

from __future__ import annotations

from .. import layout
from ..ir import Network, Node
from ..names import TORCH_MODULE_GLOBALS, UNSAFE_ATTRIBUTES, torch_attribute_names, unique
from . import class_name, torch_blocks
from .base import Emitter, fused_activation, value_names
from .torch_convs import ConvKinds
from .torch_norms import NormKinds, affine_module
from .torch_parts import Emitted, activation, activation_module, nchw, optional, pair, uses_f
from .torch_reshapes import ShapeKinds

# Local names of _run that a value's variable must not take.
RESERVED = TORCH_MODULE_GLOBALS | {"self", "keep", "outputs", "prefix"}


def attribute_names(network: Network) -> dict[str, str]:
    """Layer name -> attribute name (torch_attribute_names_of)."""
    return torch_attribute_names_of([n.name for n in network.layers])


def torch_attribute_names_of(names: list[str]) -> dict[str, str]:
    """cnnspec.names.torch_attribute_names for plain names; a hierarchical name
    `layer2.0.conv1` becomes `layer2_0_conv1` (in flat code), `_` appended while it is unsafe
    or taken."""
    plain = [n for n in names if "." not in n]
    attrs = torch_attribute_names(plain)
    taken = set(plain) | set(attrs.values()) | UNSAFE_ATTRIBUTES
    for name in names:
        if "." in name:
            ident = name.replace(".", "_")
            attrs[name] = unique("layer" + ident if ident.startswith("_") else ident, taken)
    return {name: attrs[name] for name in names}


def generate(network: Network) -> str:
    return Generator(network).module()


class Generator(ConvKinds, NormKinds, ShapeKinds, Emitter):
    """One method per layer kind (`conv_layer`, `dense_layer`, ...), each returning Emitted."""

    target = "PyTorch"
    reserved = RESERVED

    def __init__(self, network: Network):
        super().__init__(network)
        self.cls = class_name(network)
        self.attrs = attribute_names(network)
        self.orders = layout.flat_orders(network)
        self.groups, self.classes, self.flat_notes = [], [], []
        if network.instances:
            self.plan_blocks()
        self.layers = [(node, self.emit(node)) for node in network.layers]
        self.rules = freeze_rules(network.nodes, self.attrs)
        self.stages = {name: freeze_rules(nodes, self.attrs)
                       for name, nodes in network.stages.items() if name is not None}
        self.training = bool(self.stages) or any(self.rules)
        self.frozen_batchnorm = any(n.kind == "batchnorm" and n.frozen
                                    for nodes in (network.nodes, *network.stages.values())
                                    for n in nodes)

    # --- the module ---

    def module(self) -> str:
        stages = self.stages_source()  # constants follow the imports after one blank line
        parts = [self.header() + ("\n" + stages if stages else "")]
        if any("PaddedAvgPool2d(" in (e.module or "") for _, e in self.layers):
            parts.append(PADDED_AVG_POOL)
        parts += dict.fromkeys(h for _, e in self.layers for h in e.helpers)  # once each, in order
        parts += [self.blocks_note()] + [c.source for c in self.classes]
        parts += [self.class_source(), self.set_stage_source(),
                  self.load_source(), self.save_source(), HELPERS]
        code = "\n".join(parts)
        if "_flat_rows(" in code or "_to_nhwc(" in code:
            parts.append(ROW_HELPERS + FLAT_ROWS)
        elif any("_nchw_rows(" in line for _, e in self.layers for line in e.loads):
            parts.append(ROW_HELPERS)
        return "\n\n".join(p.strip("\n") + "\n" for p in parts if p)

    def header(self) -> str:
        uses_f = any(e.uses_f for _, e in self.layers)
        imports = ["import numpy as np", "import torch"]
        imports += ["import torch.nn.functional as F"] if uses_f else []
        imports.append("from torch import nn")  # isort's order, as ruff checks it
        doc = (f'"""PyTorch model of network {self.net.name}, generated by cnnspec.\n\n'
               f"Input: NCHW tensors (batch, {', '.join(map(str, nchw(self.net.input_shape)))}). "
               "Portable weights (cnnspec's canonical\nlayouts, NHWC flatten order) load with "
               "load_portable(model, params) and come back with\nto_portable(model).\n\"\"\"\n")
        return doc + "\n" + "\n".join(imports) + "\n"

    # --- blocks: one class per definition (cnnspec.backends.torch_blocks) ---

    def plan_blocks(self) -> None:
        groups, self.flat_notes = torch_blocks.prepare(self.net)
        taken = torch_blocks.reserved_class_names(self.net, self.cls)
        for _ in range(3):  # drop the groups a class could not be made for, then remake
            classes, failed = torch_blocks.build_classes(self.net, groups, Generator, set(taken))
            kept = [g for g in groups if not any(u.instance.name in failed for u in g)]
            self.flat_notes += [g[0].instance.parent or g[0].instance.name
                                for g in groups if g not in kept]
            if len(kept) == len(groups):
                break
            groups = kept
        self.groups, self.classes = groups, classes
        if not groups:
            return
        top = [n.name for n in self.net.layers if n.name not in self.in_blocks] + \
              list(dict.fromkeys(self.group_name(g) for g in groups))
        attrs = torch_attribute_names_of(top)
        for group in groups:
            for i, use in enumerate(group):
                use.path = attrs[self.group_name(group)] + (f"[{i}]" if self.looped(group) else "")
                inner = attribute_names(torch_blocks.sub_network(self.net, use))
                for node in use.nodes:
                    self.attrs[node.name] = f"{use.path}.{inner[torch_blocks.leaf(use.instance.name, node.name)]}"
            self.attrs[self.group_name(group)] = attrs[self.group_name(group)]
        self.var = self.item_values()

    group_name = staticmethod(torch_blocks.group_name)
    looped = staticmethod(torch_blocks.looped)

    @property
    def in_blocks(self) -> dict[str, list]:
        return torch_blocks.owners(self.groups)

    def item_values(self) -> dict[str, str]:
        plain = torch_blocks.plain_values(self.net, self.groups)
        return value_names(self.net, self.reserved, self.input_name, plain)

    def group_init(self, group) -> list[str]:
        attr = self.attrs[self.group_name(group)]
        calls = [f"{u.cls}({', '.join(u.args)})" for u in group]
        if not self.looped(group):
            return [f"        self.{attr} = {calls[0]}"]
        return [f"        self.{attr} = nn.ModuleList([", *[f"            {c}," for c in calls],
                "        ])"]

    def group_run(self, group) -> list[str]:
        name = self.group_name(group)
        attr, src = self.attrs[name], self.var[group[0].source]
        out = group[-1].nodes[-1]
        note = f"  # {comment(out)}"
        if not self.looped(group):
            return [f'        {self.dest(out)} = self.{attr}({src}, keep, "{name}."){note}']
        lines = [] if src == self.dest(out) else [f"        {self.dest(out)} = {src}"]
        return lines + [f"        for i, block in enumerate(self.{attr}):",
                        f'            {self.dest(out)} = block({self.dest(out)}, keep, f"{name}.{{i}}."){note}']

    def class_source(self) -> str:
        lines = [f"class {self.cls}(nn.Module):", *self.class_doc(), "",
                 "    def __init__(self) -> None:", "        super().__init__()"]
        owner, done = self.in_blocks, set()
        for node, emitted in self.layers:
            group = owner.get(node.name)
            if group is not None and id(group) not in done:
                done.add(id(group))
                lines += self.group_init(group)
            elif group is None and emitted.module:
                lines.append(f"        self.{self.attrs[node.name]} = {emitted.module}")
        lines += self.freeze_call()
        lines += self.forward_source().rstrip("\n").split("\n")
        if self.input_var != "x":
            lines.append(f"        {self.input_var} = x")
        done = set()
        for node, emitted in self.layers:
            group = owner.get(node.name)
            if group is not None and id(group) not in done:
                done.add(id(group))
                lines += self.group_run(group)
            elif group is None:
                lines.append(f"        {self.dest(node)} = {emitted.call}  # {comment(node)}")
                lines.append(f'        _keep(keep, "{node.name}", {self.dest(node)})')
        lines.append(f"        return {self.returned()}")
        if self.training:
            lines += (TRAIN if self.frozen_batchnorm else "").replace("{cls}", self.cls).rstrip("\n").split("\n")
            lines += PARAM_GROUPS.replace("{train}", "\n        self.train(self.training)"
                                          if self.frozen_batchnorm else "").rstrip("\n").split("\n")
        return "\n".join(lines) + "\n"

    def forward_source(self) -> str:
        """forward, forward_layers and the head of _run; several outputs come as a tuple."""
        shapes = [f"(batch, {', '.join(map(str, nchw(n.out_shape)))})" for n in self.net.output_nodes]
        source = f"(batch, {', '.join(map(str, nchw(self.net.input_shape)))})"
        if not self.several_outputs:
            return FORWARD.replace("{signature}", f"{source} -> {shapes[0]}")
        names = ", ".join(n.name for n in self.net.output_nodes)
        result = f"tuple[{', '.join(['torch.Tensor'] * len(shapes))}]"
        doc = f"{source} -> the outputs ({names}): ({', '.join(shapes)})"
        return (FORWARD.replace("{signature}", doc)
                .replace(") -> torch.Tensor:\n        \"\"\"(", f") -> {result}:\n        \"\"\"(")
                .replace(" | None) -> torch.Tensor:", f" | None) -> {result}:"))

    def blocks_note(self) -> str:
        if not self.flat_notes:
            return ""
        return ("# Generated flat (not as block modules): " + ", ".join(self.flat_notes) +
                "\n# (see cnnspec.backends.torch_blocks for when a block instance stays flat)\n")

    # --- transfer learning: freeze rules, learning-rate scales, stages ---

    def class_doc(self) -> list[str]:
        net = self.net
        head = (f'    """{shape_text(net.input_shape)} -> {shape_text(net.output.out_shape)}, '
                f'{net.total_params:,} parameters ({net.trainable_params:,} trainable).')
        if not self.training:
            return [head + '"""']
        doc = TRAINING_DOC
        if self.stages:
            doc = STAGES_DOC.replace("{stage}", str(net.stage)) + doc
        if self.frozen_batchnorm:
            doc += FROZEN_BATCHNORM_DOC
        return [head, ""] + [("    " + line).rstrip() for line in doc.strip("\n").split("\n")] + ['    """']

    def freeze_call(self) -> list[str]:
        if self.net.stage in self.stages:
            return [f'        set_stage(self, "{self.net.stage}")  # the stage this module is built for']
        if not self.training:
            return []
        frozen, scales = self.rules
        return [f"        self._freeze(frozen={literal(frozen)}, lr_scales={literal(scales)})"]

    def stages_source(self) -> str:
        if not self.stages:
            return ""
        lines = ["# Training stages: the layers each one freezes, and the learning-rate scales of",
                 "# the layers it trains (the others train at the optimizer's learning rate).",
                 "STAGES = {"]
        for name, (frozen, scales) in self.stages.items():
            lines.append(f'    "{name}": {{"frozen": {literal(frozen)}, "lr_scales": {literal(scales)}}},')
        return "\n".join(lines + ["}"]) + "\n"

    def set_stage_source(self) -> str:
        return SET_STAGE.replace("{cls}", self.cls) if self.stages else ""

    def load_source(self) -> str:
        lines = [f"def load_portable(model: {self.cls}, params: dict[str, np.ndarray]) -> None:",
                 ('    """Copy portable weights (keys `<layer>.<tensor>`, cnnspec\'s canonical layouts) '
                  'into\n    the model, converting to PyTorch layouts and to the model\'s dtype."""')]
        lines += ["    " + line for _, e in self.layers for line in e.loads]
        return "\n".join(lines) + "\n"

    def save_source(self) -> str:
        lines = [f"def to_portable(model: {self.cls}) -> dict[str, np.ndarray]:",
                 ('    """The model\'s weights in cnnspec\'s portable layouts (the inverse of '
                  'load_portable)."""')]
        entries = [e for _, emitted in self.layers for e in emitted.saves]
        if not entries:
            return "\n".join(lines + ["    return {}"]) + "\n"
        lines.append("    params = {")
        lines += [f"        {entry}," for entry in entries]
        lines += ["    }", "    return {key: np.ascontiguousarray(value).reshape(value.shape)",
                  "            for key, value in params.items()}"]
        return "\n".join(lines) + "\n"

    # --- layer kinds ---

    def conv_layer(self, node: Node) -> Emitted:
        a = node.attrs
        t, b, left, right = a["padding"]
        symmetric = t == b and left == right
        options = [f"kernel_size={pair(a['kernel'])}"]
        options += optional("stride", a["stride"], (1, 1))
        if symmetric:
            options += optional("padding", (t, left), (0, 0))
        options += optional("dilation", a["dilation"], (1, 1))
        options += [f"groups={a['groups']}"] if a["groups"] != 1 else []
        options += [] if a["bias"] else ["bias=False"]
        module = f"nn.Conv2d({node.in_shape[2]}, {a['filters']}, {', '.join(options)})"
        x = self.src(node) if symmetric else f"F.pad({self.src(node)}, {(left, right, t, b)})"
        attr, key = self.attrs[node.name], node.name
        loads = [f'_copy(model.{attr}.weight, params["{key}.kernel"].transpose(3, 2, 0, 1), "{key}.kernel")']
        saves = [f'"{key}.kernel": _numpy(model.{attr}.weight).transpose(2, 3, 1, 0)']
        if a["bias"]:
            loads.append(f'_copy(model.{attr}.bias, params["{key}.bias"], "{key}.bias")')
            saves.append(f'"{key}.bias": _numpy(model.{attr}.bias)')
        call = activation(f"self.{attr}({x})", a)
        return Emitted(call, module, loads, saves, uses_f=not symmetric or uses_f(a))

    def dense_layer(self, node: Node) -> Emitted:
        a = node.attrs
        attr, key = self.attrs[node.name], node.name
        bias = "" if a["bias"] else ", bias=False"
        module = f"nn.Linear({node.in_shape[-1]}, {a['units']}{bias})"
        to_torch, to_portable = self.row_orders(node)
        loads = [f'_copy(model.{attr}.weight, params["{key}.kernel"]{to_torch}.T, "{key}.kernel")']
        saves = [f'"{key}.kernel": _numpy(model.{attr}.weight).T{to_portable}']
        if a["bias"]:
            loads.append(f'_copy(model.{attr}.bias, params["{key}.bias"], "{key}.bias")')
            saves.append(f'"{key}.bias": _numpy(model.{attr}.bias)')
        call = f"self.{attr}({self.src(node)})"
        if a.get("per_pixel"):  # nn.Linear over channels-last pixels, back to NCHW
            call = f"self.{attr}({self.src(node)}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)"
        return Emitted(activation(call, a), module, loads, saves, uses_f=uses_f(a))

    def batchnorm_layer(self, node: Node) -> Emitted:
        """nn.BatchNorm1d/2d; without gamma (scale=false) or beta (center=false): affine=False
        when both are missing, else the missing one a constant buffer (_partial_affine)."""
        a = node.attrs
        attr, key = self.attrs[node.name], node.name
        dims = "2d" if len(node.in_shape) == 3 else "1d"
        momentum = round(1.0 - a["momentum"], 12)  # PyTorch's momentum is 1 - Keras's
        scale, center = a.get("scale", True), a.get("center", True)
        affine = "" if scale or center else ", affine=False"
        module = (f"nn.BatchNorm{dims}({node.in_shape[-1]}, eps={a['eps']!r}, "
                  f"momentum={momentum!r}{affine})")
        module, helpers = affine_module(module, scale, center) if affine == "" else (module, ())
        to_torch, to_portable = self.row_orders(node)
        present = {w.name for w in node.weights}
        loads, saves = [], []
        for torch_name, name in BATCHNORM_TENSORS:
            if name not in present:
                continue
            loads.append(f'_copy(model.{attr}.{torch_name}, params["{key}.{name}"]{to_torch}, '
                         f'"{key}.{name}")')
            saves.append(f'"{key}.{name}": _numpy(model.{attr}.{torch_name}){to_portable}')
        return Emitted(activation(f"self.{attr}({self.src(node)})", a), module, loads, saves,
                       uses_f=uses_f(a), helpers=helpers)

    def maxpool_layer(self, node: Node) -> Emitted:
        return self.pool(node)

    def avgpool_layer(self, node: Node) -> Emitted:
        return self.pool(node)

    def pool(self, node: Node) -> Emitted:
        a = node.attrs
        t, b, left, right = a["padding"]
        if t == b and left == right:
            return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", symmetric_pool(a))
        # Asymmetric: pad explicitly, far enough that floor mode gives the spec's output size
        # (a ceil-mode overhang counts for nothing: -inf for max, not counted for avg).
        (h, w), (kh, kw), (sh, sw), (oh, ow) = node.in_shape[:2], a["kernel"], a["stride"], a["out"]
        b2 = max(b, (oh - 1) * sh + kh - h - t)
        r2 = max(right, (ow - 1) * sw + kw - w - left)
        if a["op"] == "max":
            x = f'F.pad({self.src(node)}, {(left, r2, t, b2)}, value=float("-inf"))'
            module = f"nn.MaxPool2d(kernel_size={pair(a['kernel'])}, stride={pair(a['stride'])})"
            return Emitted(f"self.{self.attrs[node.name]}({x})", module, uses_f=True)
        if a["count_include_pad"]:
            counted = ones_padded((h + t + b, w + left + right), (0, r2 - right, 0, b2 - b))
        else:
            counted = ones_padded((h, w), (left, r2, t, b2))
        module = (f"PaddedAvgPool2d({pair(a['kernel'])}, {pair(a['stride'])}, "
                  f"{(left, r2, t, b2)}, counted={counted})")
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", module, uses_f=True)

    def globalavgpool_layer(self, node: Node) -> Emitted:
        keep = ", keepdim=True" if node.attrs.get("keepdims") else ""
        return Emitted(f"torch.mean({self.src(node)}, dim=(2, 3){keep})")

    def globalmaxpool_layer(self, node: Node) -> Emitted:
        keep = ", keepdim=True" if node.attrs.get("keepdims") else ""
        return Emitted(f"torch.amax({self.src(node)}, dim=(2, 3){keep})")

    def flatten_layer(self, node: Node) -> Emitted:
        return Emitted(f"torch.flatten({self.src(node)}, 1)")

    def zeropad_layer(self, node: Node) -> Emitted:
        t, b, left, right = node.attrs["padding"]
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", f"nn.ZeroPad2d({(left, right, t, b)})")

    def dropout_layer(self, node: Node) -> Emitted:
        """nn.Dropout (mode=element), nn.Dropout2d (channel) or SampleDropout (sample, written
        into the module): each is the identity in eval mode."""
        rate, mode = node.attrs["rate"], node.attrs.get("mode", "element")
        module = f"{DROPOUTS[mode]}(p={rate!r})"
        helpers = (SAMPLE_DROPOUT,) if mode == "sample" else ()
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", module, helpers=helpers)

    def activation_layer(self, node: Node) -> Emitted:
        return Emitted(f"self.{self.attrs[node.name]}({self.src(node)})", activation_module(node.attrs))

    # --- merges ---

    def add_layer(self, node: Node) -> Emitted:
        return self.merge(node, " + ".join(self.merge_inputs(node)))

    def multiply_layer(self, node: Node) -> Emitted:
        return self.merge(node, " * ".join(self.merge_inputs(node)))

    def concat_layer(self, node: Node) -> Emitted:
        return self.merge(node, f"torch.cat([{', '.join(self.srcs(node))}], dim=1)")

    def merge(self, node: Node, call: str) -> Emitted:
        act, alpha = fused_activation(node)
        attrs = {"activation": act, "alpha": alpha}
        return Emitted(activation(call, attrs), uses_f=uses_f(attrs))

    def merge_inputs(self, node: Node) -> list[str]:
        """The inputs of add/multiply: flat ones converted to NHWC order where cnnspec.layout
        says so, and a (C,) gate of an image as (batch, C, 1, 1)."""
        convert = layout.converted_inputs(self.net, node, self.orders)
        terms = []
        for name, shape, change in zip(node.inputs, self.net.input_shapes(node), convert):
            term = self.var[name]
            if change:
                term = f"_to_nhwc({term}, {layout.order_text(self.orders[name])})"
            if len(shape) == 1 and len(node.out_shape) == 3:
                term += "[:, :, None, None]"
            terms.append(term)
        return terms

    def row_orders(self, node: Node) -> tuple[str, str]:
        """Index suffixes that reorder a layer's input-side rows: portable -> torch, and back."""
        order = self.orders.get(node.inputs[0]) if node.inputs else None
        if order is None:
            return "", ""  # not fed by a flatten, or both flatten orders coincide
        if len(order) == 1:
            dims = ", ".join(map(str, order[0][1]))
            return f"[_nchw_rows({dims})]", f"[_nhwc_rows({dims})]"
        text = layout.order_text(order)
        return f"[_flat_rows({text})]", f"[_flat_rows({text}, inverse=True)]"

def freeze_rules(nodes, attrs: dict[str, str]) -> tuple[tuple[str, ...], dict[str, float]]:
    """The attributes of the frozen layers with weights, and the trainable layers' lr scales."""
    frozen = tuple(attrs[n.name] for n in nodes[1:] if n.frozen and n.weights)
    scales = {attrs[n.name]: n.lr_scale for n in nodes[1:]
              if n.weights and not n.frozen and n.lr_scale != 1.0}
    return frozen, scales


def literal(value: tuple[str, ...] | dict[str, float]) -> str:
    """A tuple of names or a {name: number} dict as Python source, with double quotes."""
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {v!r}' for k, v in value.items()) + "}"
    names = [f'"{name}"' for name in value]
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


BATCHNORM_TENSORS = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                     ("running_var", "moving_variance"))


def symmetric_pool(a) -> str:
    kind = "MaxPool2d" if a["op"] == "max" else "AvgPool2d"
    t, _, left, _ = a["padding"]
    options = [f"kernel_size={pair(a['kernel'])}", f"stride={pair(a['stride'])}"]
    options += optional("padding", (t, left), (0, 0))
    options += ["ceil_mode=True"] if a["ceil"] else []
    if a["op"] == "avg":
        options.append(f"count_include_pad={bool(a['count_include_pad'])}")
    return f"nn.{kind}({', '.join(options)})"


def ones_padded(size: tuple[int, int], padding: tuple[int, int, int, int]) -> str:
    """Source of a (1, 1, H, W) mask: ones over `size`, zero padding (left, right, top, bottom)."""
    ones = f"torch.ones(1, 1, {size[0]}, {size[1]})"
    return f"F.pad({ones}, {padding})" if any(padding) else ones


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def comment(node: Node) -> str:
    text = shape_text(node.out_shape)
    if node.params:
        text += f", {node.params:,} params"
    if node.kind in ("flatten", "reshape") and len(node.in_shape) == 3 and len(node.out_shape) == 1:
        text += " (NCHW order)"
    if node.kind == "dropout":
        text += ", identity at inference (eval mode)"
    if node.frozen and node.params:
        text += ", frozen"
    elif node.lr_scale != 1.0 and node.params:
        text += f", lr x{node.lr_scale!r}"
    return text


FORWARD = '''
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """{signature}."""
        return self._run(x, None)

    @torch.jit.export
    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output (after its activation), keyed by layer name, in spec order."""
        outputs: dict[str, torch.Tensor] = {}
        self._run(x, outputs)
        return outputs

    def _run(self, x: torch.Tensor, keep: dict[str, torch.Tensor] | None) -> torch.Tensor:
'''

DROPOUTS = {"element": "nn.Dropout", "channel": "nn.Dropout2d", "sample": "SampleDropout"}

SAMPLE_DROPOUT = '''
class SampleDropout(nn.Module):
    """Stochastic depth (dropout mode=sample): in training, zero whole samples of the batch with
    probability p (noise shape (N, 1, 1, 1)) and scale the kept ones by 1 / (1 - p), as
    keras.layers.Dropout(p, noise_shape=(None, 1, 1, 1)) does; the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        keep = torch.rand(shape, dtype=x.dtype, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)
'''

PADDED_AVG_POOL = '''
class PaddedAvgPool2d(nn.Module):
    """Average pooling over an explicitly zero-padded input: each window's sum divided by the
    number of its cells that count (where `counted`, the padded-size mask, is 1)."""

    def __init__(self, kernel_size, stride, padding, counted: torch.Tensor) -> None:
        super().__init__()
        self.padding = padding  # (left, right, top, bottom), as F.pad takes it
        self.sum = nn.AvgPool2d(kernel_size, stride, divisor_override=1)
        self.register_buffer("count", self.sum(counted), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sum(F.pad(x, self.padding)) / self.count
'''

STAGES_DOC = '''
Built for training stage {stage}. STAGES lists every stage's rules, and
set_stage(model, name) switches to another (make a new optimizer afterwards).
'''

TRAINING_DOC = '''
Frozen layers have requires_grad=False. model.param_groups(lr) gives the optimizer its
parameter groups: the trainable parameters, each group at lr times its layers'
learning-rate scale, e.g. torch.optim.SGD(model.param_groups(0.01)).
'''

FROZEN_BATCHNORM_DOC = '''
Frozen batch norms stay in inference mode under model.train(): they normalise with their
running statistics and never update them, while the rest of the model trains.
'''

TRAIN = '''
    def train(self, mode: bool = True) -> "{cls}":
        """Set training mode, except that frozen batch norms stay in inference mode."""
        super().train(mode)
        for name in self._frozen:
            layer = getattr(self, name)
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                layer.eval()
        return self
'''

PARAM_GROUPS = '''
    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups, one per learning-rate scale: the trainable parameters
        of the layers with that scale, at lr * scale. Frozen parameters are left out."""
        groups: dict[float, list[nn.Parameter]] = {}
        for name, layer in self.named_children():
            trainable = [p for p in layer.parameters() if p.requires_grad]
            if trainable:
                groups.setdefault(self._lr_scales.get(name, 1.0), []).extend(trainable)
        return [{"params": params, "lr": lr * scale, "lr_scale": scale}
                for scale, params in groups.items()]

    def _freeze(self, frozen: tuple[str, ...], lr_scales: dict[str, float]) -> None:
        """Freeze the named layers, let every other layer train, and set the lr scales."""
        self._frozen, self._lr_scales = frozen, lr_scales
        for name, layer in self.named_children():
            layer.requires_grad_(name not in frozen){train}
'''

SET_STAGE = '''
def set_stage(model: {cls}, name: str) -> None:
    """Switch the model to training stage `name` of STAGES: its frozen layers stop training,
    every other layer trains, and model.param_groups(lr) uses its learning-rate scales."""
    if name not in STAGES:
        raise ValueError(f"no training stage {name!r}; the stages are: {', '.join(STAGES)}")
    model._freeze(**STAGES[name])
'''

HELPERS = '''
def _keep(keep: dict[str, torch.Tensor] | None, name: str, x: torch.Tensor) -> None:
    """Record a layer's output for forward_layers (forward passes keep=None: nothing kept).
    A dict rather than a callback, so that the model scripts (torch.jit.script)."""
    if keep is not None:
        keep[name] = x


def _copy(target: torch.Tensor, array: np.ndarray, key: str) -> None:
    if tuple(array.shape) != tuple(target.shape):
        raise ValueError(f"portable tensor '{key}' gives PyTorch shape {tuple(array.shape)}, "
                         f"but the model needs {tuple(target.shape)}")
    with torch.no_grad():
        target.copy_(torch.as_tensor(np.ascontiguousarray(array)))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()
'''

ROW_HELPERS = '''
def _nchw_rows(h: int, w: int, c: int) -> np.ndarray:
    """Row order for PyTorch: position (c*H + h)*W + w takes NHWC-flattened row (h*W + w)*C + c."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def _nhwc_rows(h: int, w: int, c: int) -> np.ndarray:
    """The inverse of _nchw_rows: NHWC flatten order from NCHW flatten order."""
    return np.arange(h * w * c).reshape(c, h, w).transpose(1, 2, 0).ravel()
'''

FLAT_ROWS = '''
def _flat_rows(pieces, inverse: bool = False) -> np.ndarray:
    """Row order of a flat vector made of pieces (length, (h, w, c) flattened in NCHW order,
    or None: already NHWC order) laid end to end: _nchw_rows per piece (_nhwc_rows when
    inverse), offset by the lengths before it."""
    rows, start = [], 0
    for length, image in pieces:
        if image is None:
            order = np.arange(length)
        else:
            order = _nhwc_rows(*image) if inverse else _nchw_rows(*image)
        rows.append(start + order)
        start += length
    return np.concatenate(rows)


def _to_nhwc(x: torch.Tensor, pieces) -> torch.Tensor:
    """A flat batch in PyTorch's order (pieces as for _flat_rows) put into NHWC flatten order."""
    return x[:, torch.as_tensor(_flat_rows(pieces, inverse=True), device=x.device)]
'''
