"""Syntax tree -> IR. Collects every diagnostic of a file; never stops at the first."""

from __future__ import annotations

from functools import cached_property

from . import syntax as S
from .args import MAX_SIZE, ArgReader, did_you_mean
from .composition import Imports, resolve_import, use_entries
from .diagnostics import Diagnostics
from .ir import Network, Node, freeze_attrs
from .kinds import COMMON_OPTIONS, KINDS, NODE_KIND, Resolved, activation_advice
from .limits import MAX_LAYERS
from .names import RESERVED_LAYER_NAMES, automatic_names, network_name_from_file
from .shapes import shape_text
from .stages import StagePlan
from .windows import axis_arithmetic, stated_out_hint

MAX_PARAMS = 10**12  # past this no framework could allocate the weights


class Checker:
    def __init__(self, source, spec: S.Spec, diags: Diagnostics, imports: Imports | None = None):
        self.source = source
        self.spec = spec
        self.diags = diags
        self.imports = imports or Imports.root(source)  # the chain above, files already read
        self.header: S.NetworkDecl | None = None
        self.input: S.InputDecl | None = None
        self.entries: list = []  # (S.Layer, explicit or inherited name, group) in chain order
        self.bases: dict[str, object] = {}
        self.stages = StagePlan(diags)
        self.nodes: list[Node] = []
        self.failed: set[str] = set()  # layers whose shape could not be computed

    def run(self) -> Network | None:
        self._sort_statements()
        if len(self.entries) > MAX_LAYERS:
            self.diags.error("E004", self.entries[MAX_LAYERS][0].span, f"more than {MAX_LAYERS:,} layers",
                             f"a spec (with the layers it uses from imports) may have at most {MAX_LAYERS:,}")
            return None
        input_node = self._input_node()
        if input_node is None:
            return None
        self.nodes.append(input_node)
        names = self._names()
        for (layer, _name, group), name in zip(self.entries, names):
            self._add_layer(layer, name, group)
        self._check_totals()
        groups = {alias: tuple(n.name for n in self.nodes if n.group == alias) for alias in self.bases}
        staged = self.stages.apply(self.nodes, groups, self.failed)
        self.nodes = list(staged[self.stages.default])
        return self._network(staged)

    @cached_property
    def uses_base(self) -> bool:
        """Whether the spec takes its input from an imported base (`use`)."""
        return any(isinstance(st, S.UseDecl) for st in self.spec.statements)

    def _sort_statements(self) -> None:
        for stmt in self.spec.statements:
            if isinstance(stmt, S.NetworkDecl):
                self._once("header", stmt, "network")
            elif isinstance(stmt, S.InputDecl):
                self._once("input", stmt, "input")
            elif isinstance(stmt, S.Layer):
                if self.input is None and not self.entries and not self.uses_base:
                    self.diags.error("E002", stmt.span, "a layer comes before the 'input' line",
                                     "start the spec with e.g. 'input 28x28x1'")
                self.entries.append((stmt, stmt.name, None))
            elif isinstance(stmt, S.ImportDecl):
                self._import(stmt)
            elif isinstance(stmt, S.UseDecl):
                self._use(stmt)
            else:
                self.stages.add(stmt)

    def _import(self, decl: S.ImportDecl) -> None:
        if decl.alias in self.bases:
            self.diags.error("E203", decl.span, f"'{decl.alias}' is imported twice")
            return
        base = resolve_import(decl, self.source, self.imports, self.diags)
        self.bases[decl.alias] = base

    def _use(self, use: S.UseDecl) -> None:
        base = self.bases.get(use.alias)
        if use.alias not in self.bases:
            self.diags.error("E202", use.span, f"'{use.alias}' is not an imported spec",
                             f"import it first: import \"{use.alias}.cnn\" as {use.alias}")
            return
        if base is None:
            return  # its import already failed and said why
        if self.entries:
            self.diags.error("E207", use.span, "'use' must come before the spec's own layers",
                             "a base is the start of the chain; add new layers after it")
            return
        entries = use_entries(use, base, self.diags)
        if entries is not None:
            self.entries.extend(entries)
            if self.input is None:
                self.input = base.input

    def _once(self, attr: str, stmt, what: str) -> None:
        if getattr(self, attr) is not None:
            self.diags.error("E203", stmt.span, f"a second '{what}' line",
                             f"a spec has one '{what}' line, at line {getattr(self, attr).span.line}")
        else:
            setattr(self, attr, stmt)

    def _input_node(self) -> Node | None:
        if self.input is None and self.diags.has_errors() and self.uses_base:
            return None  # the failed import or use already said why there is no input
        if self.input is None:
            where = self.spec.statements[0].span if self.spec.statements else self.source.start()
            self.diags.error("E002", where, "the spec has no 'input' line",
                             "state the input shape, e.g. 'input 28x28x1' (height x width x channels)")
            return None
        shape = self._input_shape(self.input.value)
        if shape is None:
            return None
        return Node("input", "input", freeze_attrs({}), (), (), shape, (), 0, self.input.span)

    def _input_shape(self, value: S.Value):
        r = ArgReader(self.diags, "the input line", [], self.input.options, set())
        if value.kind == "int":
            n = r.int_of(value, "input size")
            return None if n is None else (n,)
        if value.kind == "dims" and len(value.value) == 3 and None not in value.value:
            return self._image_shape(r, value)
        self.diags.error("E103", value.span, f"the input must be HxWxC or a flat size, not '{value.describe()}'",
                         "e.g. 'input 28x28x1' for a grayscale image, 'input 224x224x3' for colour")
        return None

    def _image_shape(self, r: ArgReader, value: S.Value):
        """HxWxC, each size in range (one diagnostic naming every bad axis); warns on CxHxW."""
        dims = value.value
        bad = [(axis, d) for axis, d in zip(("height", "width", "channels"), dims)
               if not 1 <= d <= MAX_SIZE]
        if bad:
            axes = [axis for axis, d in bad if (d < 1) == (bad[0][1] < 1)]
            what = "input " + (" and ".join(axes) if len(axes) < 3 else "height, width and channels")
            r.in_range(value, bad[0][1], what, 1)
            return None
        h, w, c = dims
        if h <= 4 and w == c >= 8:
            self.diags.warning("W101", value.span, f"input {value.describe()} is read as {h} high, "
                               f"{w} wide, with {c} channels: it looks channels-first (CxHxW)",
                               f"cnnspec shapes are HxWxC: write 'input {w}x{c}x{h}'")
        return tuple(dims)

    def _names(self) -> list[str]:
        """Explicit names (checked for duplicates) and stable automatic ones for the rest."""
        seen: dict[str, S.Layer] = {}
        for layer, name, group in self.entries:
            span = layer.name_span or layer.span
            if name is None:
                continue
            if name in RESERVED_LAYER_NAMES or name in self.bases:
                what = "an import alias" if name in self.bases else "reserved"
                self.diags.error("E204", span, f"'{name}' is {what}", "choose another name")
            elif name in seen:
                where = f"line {seen[name].span.line}" if seen[name].span.file == span.file \
                    else f"{seen[name].span.file}:{seen[name].span.line}"
                self.diags.error("E201", span, f"duplicate layer name '{name}'",
                                 f"'{name}' is already the name of the layer at {where}")
            else:
                seen[name] = layer
        return self._auto_names(set(seen) | RESERVED_LAYER_NAMES)

    def _auto_names(self, taken: set[str]) -> list[str]:
        kinds = [NODE_KIND.get(layer.kind, layer.kind) for layer, _name, _group in self.entries]
        return automatic_names([name for _layer, name, _group in self.entries], kinds, taken)

    def _add_layer(self, layer: S.Layer, name: str, group: str | None) -> None:
        kind = KINDS.get(layer.kind)
        if kind is None:
            self.diags.error("E101", layer.kind_span, f"unknown layer kind '{layer.kind}'",
                             _kind_hint(layer))
            self.failed.add(name)
            return
        prev = self.nodes[-1]
        if self.failed:  # an earlier layer has no shape: this one's input is unknown
            ArgReader(self.diags, layer.kind, (), layer.options, kind.options | COMMON_OPTIONS)
            self.failed.add(name)
            return
        resolved = self._resolve(kind, layer, prev.out_shape)
        if resolved is None:
            self.failed.add(name)
            return
        node = Node(name, NODE_KIND[layer.kind], freeze_attrs(resolved.attrs), (prev.name,),
                    prev.out_shape, resolved.out_shape, resolved.weights, resolved.macs, layer.span,
                    group=group)
        self._check_params(node)
        self.nodes.append(node)

    def _resolve(self, kind, layer: S.Layer, in_shape) -> Resolved | None:
        r = ArgReader(self.diags, layer.kind, layer.args, layer.options, kind.options | COMMON_OPTIONS,
                      activation_advice(layer, kind.fused_activation))
        r.origin = self._flat_origin  # called only when a hint needs it
        if layer.activation is not None and not kind.fused_activation:
            r.error("E103", layer.activation, f"{layer.kind} takes no '-> activation'",
                    "add the activation as a layer of its own on the next line")
        resolved = kind.resolve(r, layer, in_shape)
        r.finish()
        if resolved is not None:
            self._check_stated(r, layer, resolved)
        return resolved

    def _flat_origin(self) -> str | None:
        """The layer that made the current input flat, as a hint names it."""
        for node in reversed(self.nodes):
            if len(node.out_shape) == 3 or node.kind == "input":
                return None
            if len(node.in_shape) == 3:
                return f"the {node.kind} '{node.name}' (line {node.span.line}), which makes it flat"
        return None

    def _check_stated(self, r: ArgReader, layer: S.Layer, resolved: Resolved) -> bool:
        stated = r.value("out")
        if stated is None:
            return True
        shape = resolved.out_shape
        want = stated.value if stated.kind == "dims" else (stated.value,) if stated.kind == "int" else None
        if want is None or None in want:
            r.error("E103", stated, f"out= must be a shape such as 26x26x6, not '{stated.describe()}'")
            return False
        if tuple(want) != tuple(shape[: len(want)]) or len(want) not in (len(shape), 2):
            a, in_shape = resolved.attrs, self.nodes[-1].out_shape
            why = _why(a, in_shape, want, shape)
            r.error("E308", stated, f"{layer.kind} gives {shape_text(shape)}, but out= states "
                    f"{stated.describe()}{why}", stated_out_hint(a, in_shape, want))
            return False
        return True

    def _check_params(self, node: Node) -> None:
        if node.params > MAX_PARAMS:
            self.diags.error("E309", node.span, f"layer '{node.name}' would have {node.params:,} "
                             "parameters", f"more than {MAX_PARAMS:,}; no framework could hold it")

    def _check_totals(self) -> None:
        total = sum(n.params for n in self.nodes)
        if total > MAX_PARAMS and not any(d.code == "E309" for d in self.diags.items):
            self.diags.error("E309", self.nodes[-1].span, f"the network has {total:,} parameters",
                             f"more than {MAX_PARAMS:,}; no framework could hold it")

    def _network(self, staged: dict) -> Network:
        header = self.header
        name = header.name if header else network_name_from_file(self.source.name)
        return Network(name, header.description if header else "", self.nodes[0].out_shape,
                       tuple(self.nodes), self.source, tuple(self.diags.sorted()),
                       stages=staged if self.stages.names else {}, stage=self.stages.default)


def _why(attrs, in_shape, want, shape) -> str:
    """': height (28 - 3 + 2)/1 + 1 = 28' for the first spatial axis out= disagrees with."""
    axes = [a for a in (0, 1) if a < len(want) and len(shape) == 3 and want[a] != shape[a]]
    if "kernel" not in attrs or not axes:
        return ""
    name = ("height", "width")[axes[0]]
    return f": {name} {axis_arithmetic(in_shape[axes[0]], attrs, axes[0])}"


def _kind_hint(layer: S.Layer) -> str:
    """A missing ':' after a layer's name ('c2 conv 3x3'), a misspelt kind, or the list."""
    first = layer.args[0] if layer.args else None
    if layer.name is None and first is not None and first.kind == "word" and first.value in KINDS:
        return f"a layer's name is followed by ':': write '{layer.kind}: {first.value} ...'"
    return did_you_mean(layer.kind, KINDS) or "layer kinds: " + ", ".join(sorted(KINDS))


def check(source, spec: S.Spec, diags: Diagnostics) -> Network | None:
    return Checker(source, spec, diags).run()
