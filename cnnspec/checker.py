"""Syntax tree -> IR, graph-first. Collects every diagnostic of a file; never stops at the first.

The expansion (expand.py) yields one entry per layer with its real inputs; each is resolved
against its inputs' shapes. A layer that fails poisons only the layers that read it (they
are not checked against a wrong shape), so independent branches are still checked.
"""

from __future__ import annotations

from functools import cached_property

from . import syntax as S
from .args import MAX_SIZE, ArgReader, did_you_mean
from .blocks import definitions, line_kind, name_lines
from .composition import Imports, resolve_import, use_entries
from .diagnostics import Diagnostics
from .expand import Entry, Expander
from .graph import edges_of, unreachable
from .ir import Network, Node, freeze_attrs
from .kinds import COMMON_OPTIONS, KINDS, NODE_KIND, Resolved, activation_advice
from .limits import MAX_LAYERS
from .names import RESERVED_LAYER_NAMES, network_name_from_file
from .shapes import shape_text
from .stages import StagePlan
from .windows import axis_arithmetic, stated_out_hint

MAX_PARAMS = 10**12  # past this no framework could allocate the weights
MAX_LISTED = 10  # names a W210 lists before "and N more"
MAX_ORIGIN_STEPS = 10_000  # nodes a hint's search for what made a vector flat visits


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
        self.blocks: list[S.Block] = []
        self.output_decl: S.OutputDecl | None = None
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.failed: set[str] = set()  # layers whose shape could not be computed
        self.defs: dict = {}
        self.line_names: list[str] = []  # every entry's name, automatic ones included
        self.expander: Expander | None = None

    def run(self) -> Network | None:
        self._sort_statements()
        if len(self.entries) > MAX_LAYERS:
            self.diags.error("E004", self.entries[MAX_LAYERS][0].span, f"more than {MAX_LAYERS:,} layers",
                             f"a spec (with the layers it uses from imports) may have at most {MAX_LAYERS:,}")
            return None
        input_node = self._input_node()
        if input_node is None:
            return None
        self._add_node(input_node)
        self._expand()
        outputs = self._outputs()
        self._check_totals()
        self._check_reachable(outputs)
        groups = {alias: tuple(n.name for n in self.nodes if n.group == alias) for alias in self.bases}
        staged = self.stages.apply(self.nodes, groups, self.failed)
        self.nodes = list(staged[self.stages.default])
        return self._network(staged, outputs)

    def _expand(self) -> None:
        """Every layer, block instances expanded, checked one by one as the expansion yields it."""
        self.defs = definitions(self.blocks, self.diags, KINDS, _node_kind)
        names = self.line_names = self._names()
        self.expander = Expander(self.defs, self.diags, self._shape_of, _is_merge, self.stages.suggest)
        layers, groups = [e[0] for e in self.entries], [e[2] for e in self.entries]
        for entry in self.expander.run(layers, names, groups):
            self._add_entry(entry)

    def _shape_of(self, name: str):
        node = self.by_name.get(name)
        return node.out_shape if node is not None else None

    def _add_node(self, node: Node) -> None:
        self.nodes.append(node)
        self.by_name[node.name] = node

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
            elif isinstance(stmt, S.Block):
                self.blocks.append(stmt)
            elif isinstance(stmt, S.OutputDecl):
                self._once("output_decl", stmt, "output")
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
            self.blocks.extend(base.blocks)
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
        forbidden = {n: "reserved" for n in RESERVED_LAYER_NAMES} | \
            {alias: "an import alias" for alias in self.bases}
        kinds = [line_kind(layer, self.defs, _node_kind) for layer, _name, _group in self.entries]
        items = [(layer, name) for layer, name, _group in self.entries]
        return name_lines(items, kinds, self.diags, forbidden)

    def _add_entry(self, e: Entry) -> None:
        if e.failed:
            self.failed.add(e.name)
            return
        diags = self.expander.sink(e.use)
        layer = e.layer
        kind = KINDS.get(layer.kind)
        if kind is None:
            diags.error("E101", layer.kind_span, f"unknown layer kind '{layer.kind}'",
                        _kind_hint(layer, self.defs))
            self.failed.add(e.name)
            return
        shapes = [self._shape_of(name) for name in e.inputs]
        if None in shapes:  # an input failed: this layer's input is unknown
            ArgReader(diags, layer.kind, (), layer.options, kind.options | COMMON_OPTIONS)
            self.failed.add(e.name)
            return
        resolved = self._resolve(kind, e, shapes, diags)
        if resolved is None:
            self.failed.add(e.name)
            return
        node = Node(e.name, NODE_KIND[layer.kind], freeze_attrs(resolved.attrs), e.inputs,
                    shapes[0], resolved.out_shape, resolved.weights, resolved.macs, layer.span,
                    group=e.group)
        self._check_params(node, diags)
        self._add_node(node)

    def _resolve(self, kind, e: Entry, shapes: list, diags) -> Resolved | None:
        layer = e.layer
        r = ArgReader(diags, layer.kind, layer.args, layer.options, kind.options | COMMON_OPTIONS,
                      activation_advice(layer, kind.fused_activation))
        r.origin = lambda: self._flat_origin(e.inputs[0])  # called only when a hint needs it
        if layer.activation is not None and not kind.fused_activation:
            r.error("E103", layer.activation, f"{layer.kind} takes no '-> activation'",
                    "add the activation as a layer of its own on the next line")
        if getattr(kind, "arity", 1) == 1:
            resolved = kind.resolve(r, layer, shapes[0])
        else:
            r.inputs = e.inputs  # the inputs' node names
            r.input_words = e.words  # and as the merge's line writes them ('bn3', 'in')
            resolved = kind.resolve(r, layer, tuple(shapes))
        r.finish()
        if resolved is not None:
            self._check_stated(r, layer, resolved, shapes[0])
        return resolved

    def _flat_origin(self, name: str) -> str | None:
        """The layer that made this input flat (following first inputs), as a hint names it."""
        node = self.by_name[name]
        for _ in range(MAX_ORIGIN_STEPS):
            if len(node.out_shape) == 3 or node.kind == "input":
                return None
            if len(node.in_shape) == 3:
                return f"the {node.kind} '{node.name}' (line {node.span.line}), which makes it flat"
            node = self.by_name[node.inputs[0]]
        return None

    def _check_stated(self, r: ArgReader, layer: S.Layer, resolved: Resolved, in_shape) -> bool:
        stated = r.value("out")
        if stated is None:
            return True
        shape = resolved.out_shape
        want = stated.value if stated.kind == "dims" else (stated.value,) if stated.kind == "int" else None
        if want is None or None in want:
            r.error("E103", stated, f"out= must be a shape such as 26x26x6, not '{stated.describe()}'")
            return False
        if tuple(want) != tuple(shape[: len(want)]) or len(want) not in (len(shape), 2):
            a = resolved.attrs
            own = getattr(KINDS[layer.kind], "stated_hint", None)  # a kind's own explanation
            why, hint = (own and own(a, in_shape, want, shape)) or \
                (_why(a, in_shape, want, shape), stated_out_hint(a, in_shape, want))
            r.error("E308", stated, f"{layer.kind} gives {shape_text(shape)}, but out= states "
                    f"{stated.describe()}{why}", hint)
            return False
        return True

    def _check_params(self, node: Node, diags) -> None:
        if node.params > MAX_PARAMS:
            diags.error("E309", node.span, f"layer '{node.name}' would have {node.params:,} "
                             "parameters", f"more than {MAX_PARAMS:,}; no framework could hold it")

    def _check_totals(self) -> None:
        total = sum(n.params for n in self.nodes)
        if total > MAX_PARAMS and not any(d.code == "E309" for d in self.diags.items):
            self.diags.error("E309", self.nodes[-1].span, f"the network has {total:,} parameters",
                             f"more than {MAX_PARAMS:,}; no framework could hold it")

    def _outputs(self) -> tuple[str, ...]:
        """The `output` line's nodes (those that checked); () for the last node."""
        if self.output_decl is None:
            return ()
        names = self.expander.resolve_outputs(self.output_decl)
        return tuple(name for name in names if name in self.by_name)

    def _check_reachable(self, outputs: tuple[str, ...]) -> None:
        """W210 at the first layer that no output depends on, naming them all."""
        if self.diags.has_errors():
            return  # a failed layer would make the layers feeding it look unused
        targets = outputs or (self.nodes[-1].name,)
        lost = [n for n in unreachable(edges_of(self.nodes), targets) if n != "input"]
        if not lost:
            return
        shown = ", ".join(f"'{n}'" for n in lost[:MAX_LISTED])
        more = f" and {len(lost) - MAX_LISTED:,} more" if len(lost) > MAX_LISTED else ""
        what = f"layer {shown} reaches" if len(lost) == 1 else f"{len(lost):,} layers reach"
        listed = "" if len(lost) == 1 else f": {shown}{more}"
        outs = ", ".join(targets)
        self.diags.warning("W210", self.by_name[lost[0]].span, f"{what} no output{listed}",
                           f"the outputs are {outs}: list every output on one line "
                           f"'output {outs}, ...', or remove the unused layers")

    def _network(self, staged: dict, outputs: tuple[str, ...]) -> Network:
        header = self.header
        name = header.name if header else network_name_from_file(self.source.name)
        return Network(name, header.description if header else "", self.nodes[0].out_shape,
                       tuple(self.nodes), self.source, tuple(self.diags.sorted()),
                       stages=staged if self.stages.names else {}, stage=self.stages.default,
                       outputs=outputs, instances=tuple(self.expander.instances))


def _why(attrs, in_shape, want, shape) -> str:
    """': height (28 - 3 + 2)/1 + 1 = 28' for the first spatial axis out= disagrees with."""
    axes = [a for a in (0, 1) if a < len(want) and len(shape) == 3 and want[a] != shape[a]]
    if "kernel" not in attrs or not axes:
        return ""
    name = ("height", "width")[axes[0]]
    return f": {name} {axis_arithmetic(in_shape[axes[0]], attrs, axes[0])}"


def _kind_hint(layer: S.Layer, blocks) -> str:
    """A missing ':' after a layer's name ('c2 conv 3x3'), a misspelt kind or block, or the list."""
    first = layer.args[0] if layer.args else None
    if layer.name is None and first is not None and first.kind == "word" and \
            (first.value in KINDS or first.value in blocks):
        return f"a layer's name is followed by ':': write '{layer.kind}: {first.value} ...'"
    listed = "layer kinds: " + ", ".join(sorted(KINDS))
    if blocks:
        listed += "; blocks: " + ", ".join(sorted(blocks)[:20])
    return did_you_mean(layer.kind, [*KINDS, *blocks]) or listed


def _node_kind(kind: str) -> str:
    return NODE_KIND.get(kind, kind)


def _is_merge(kind: str) -> bool:
    """Whether a kind takes several inputs (named positionally: `add a b`)."""
    return getattr(KINDS.get(kind), "arity", 1) != 1


def check(source, spec: S.Spec, diags: Diagnostics) -> Network | None:
    return Checker(source, spec, diags).run()
