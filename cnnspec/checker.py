"""Syntax tree -> IR. Collects every diagnostic of a file; never stops at the first."""

from __future__ import annotations

from functools import cached_property

from . import syntax as S
from .args import ArgReader, did_you_mean
from .composition import Imports, resolve_import, use_entries
from .diagnostics import Diagnostics
from .ir import Network, Node, freeze_attrs
from .layers import COMMON_OPTIONS, KINDS, NODE_KIND, Resolved
from .limits import MAX_LAYERS
from .shapes import shape_text
from .stages import StagePlan
from .windows import size_arithmetic, stated_out_hint

MAX_PARAMS = 10**12  # past this no framework could allocate the weights
RESERVED = {"input"}
# a network's name becomes a class or function name next to these imports in generated code
GENERATED_MODULE_NAMES = {"torch", "nn", "F", "np", "numpy", "keras", "math"}


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
                self._check_network_name(stmt)
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

    def _check_network_name(self, decl: S.NetworkDecl) -> None:
        import keyword
        if keyword.iskeyword(decl.name) or decl.name in GENERATED_MODULE_NAMES:
            self.diags.error("E204", decl.span, f"'{decl.name}' cannot name a network: generated "
                             "code would use it as a class name next to Python's own names",
                             "choose another name, e.g. one in CamelCase")

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
        r = ArgReader(self.diags, "input", [], self.input.options, set())  # input takes none
        if value.kind == "int":
            n = r.int_of(value, "input size")
            return None if n is None else (n,)
        if value.kind == "dims" and len(value.value) == 3 and None not in value.value:
            dims = [r.in_range(value, d, "input size", 1) for d in value.value]
            return None if None in dims else tuple(dims)
        self.diags.error("E103", value.span, f"the input must be HxWxC or a flat size, not '{value.describe()}'",
                         "e.g. 'input 28x28x1' for a grayscale image, 'input 224x224x3' for colour")
        return None

    def _names(self) -> list[str]:
        """Explicit names (checked for duplicates) and stable automatic ones for the rest."""
        seen: dict[str, S.Layer] = {}
        for layer, name, group in self.entries:
            span = layer.name_span or layer.span
            if name is None:
                continue
            if name in RESERVED or name in self.bases:
                what = "an import alias" if name in self.bases else "reserved"
                self.diags.error("E204", span, f"'{name}' is {what}", "choose another name")
            elif name in seen:
                where = f"line {seen[name].span.line}" if seen[name].span.file == span.file \
                    else f"{seen[name].span.file}:{seen[name].span.line}"
                self.diags.error("E201", span, f"duplicate layer name '{name}'",
                                 f"'{name}' is already the name of the layer at {where}")
            else:
                seen[name] = layer
        return self._auto_names(set(seen) | RESERVED)

    def _auto_names(self, taken: set[str]) -> list[str]:
        counters: dict[str, int] = {}
        names = []
        for layer, name, _group in self.entries:
            if name is not None:
                names.append(name)
                continue
            kind = NODE_KIND.get(layer.kind, layer.kind)
            while True:
                counters[kind] = counters.get(kind, 0) + 1
                candidate = f"{kind}_{counters[kind]}"
                if candidate not in taken:
                    break
            taken.add(candidate)
            names.append(candidate)
        return names

    def _add_layer(self, layer: S.Layer, name: str, group: str | None) -> None:
        kind = KINDS.get(layer.kind)
        if kind is None:
            hint = did_you_mean(layer.kind, KINDS) or "layer kinds: " + ", ".join(sorted(KINDS))
            self.diags.error("E101", layer.kind_span, f"unknown layer kind '{layer.kind}'", hint)
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
        r = ArgReader(self.diags, layer.kind, layer.args, layer.options, kind.options | COMMON_OPTIONS)
        if layer.activation is not None and not kind.fused_activation:
            r.error("E103", layer.activation, f"{layer.kind} takes no '-> activation'",
                    "add the activation as a layer of its own on the next line")
        resolved = kind.resolve(r, layer, in_shape)
        r.finish()
        if resolved is not None:
            self._check_stated(r, layer, resolved)
        return resolved

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
            why = f": {size_arithmetic(in_shape[0], a)}" if "kernel" in a and want[:1] != shape[:1] else ""
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
        name = header.name if header else _default_name(self.source.name)
        return Network(name, header.description if header else "", self.nodes[0].out_shape,
                       tuple(self.nodes), self.source, tuple(self.diags.sorted()),
                       stages=staged if self.stages.names else {}, stage=self.stages.default)


def _default_name(file: str) -> str:
    stem = file.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
    ident = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in stem) or "Network"
    return ident if not ident[0].isdigit() else "Net_" + ident


def check(source, spec: S.Spec, diags: Diagnostics) -> Network | None:
    return Checker(source, spec, diags).run()
