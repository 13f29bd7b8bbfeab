"""PyTorch code per block definition: one ``nn.Module`` class per block, instantiated per use.

A block instance (``Network.instances``) becomes a submodule named like it: a use ``b1`` is
``self.b1``; a ``repeat`` ``layer1`` is ``self.layer1 = nn.ModuleList([...])`` whose items
are its instances, so state_dict keys are the portable keys with PyTorch's tensor names
(``layer1.0.conv1.weight`` for ``layer1.0.conv1.kernel``). The class of a block is named in
CamelCase (``bottleneck`` -> ``Bottleneck``); instances of one definition whose layers differ
(an optional projection present in some only) get one class per variant, numbered
(``Bottleneck``, ``Bottleneck2``), each listing its instances in its docstring.

A class's constructor takes the values that differ between its instances, found by comparing
the instances' layers number by number: the input channels (``in_channels``); a value that is
one of the block's own parameters in every instance (``Instance.args``) is named after it
(``filters``, ``stride``; Keras's pairs become ``(stride, stride)``); any other is
``<layer>_<argument>`` (``conv3_out`` for ``filters*4``); one parameter per distinct value
vector, and values equal in every instance stay literals. Each block's ``forward(x, keep=None)`` returns the block's output and reports every
layer's value to ``keep`` under its name inside the block (the network's ``forward_layers``
prefixes the instance's name).

Flat code instead, with a comment saying why, when an instance cannot be a module: a nested
block, a layer outside the instance reading anything but its output, an input in PyTorch's
flatten order, instances whose code differs other than in constructor numbers, or a network
with freeze rules or training stages (their rules name top-level attributes).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field

from ..graph import consumers, edges_of
from ..ir import Instance, Network, Node
from ..names import BUILTINS, KEYWORDS, TORCH_MODULE_GLOBALS, unique
from .base import python_name

# Constructor keywords the generators leave out at their default (PyTorch, then Keras).
DEFAULTS = {"stride": "1", "padding": "0", "dilation": "1", "groups": "1", "bias": "True",
            "strides": "(1, 1)", "dilation_rate": "(1, 1)", "use_bias": "True"}
# What the positional numbers of a constructor are (PyTorch, then Keras): parameter names.
POSITIONAL = {"nn.Conv2d": ("in", "out"), "nn.Linear": ("in", "out"),
              "nn.BatchNorm2d": ("channels",), "nn.BatchNorm1d": ("channels",),
              "keras.layers.Conv2D": ("filters",), "keras.layers.Dense": ("units",)}
NUMBER = re.compile(r"^-?\d+$|^\(\d+, \d+\)$")
PAIR = re.compile(r"^\((\d+), (\d+)\)$")
# Names a constructor or block function already uses for other things.
RESERVED = frozenset({"self", "x", "name", "dtype", "keep", "p"})


@dataclass
class Use:
    """One block instance generated as a submodule."""

    instance: Instance
    nodes: tuple[Node, ...]
    source: str          # the node the instance reads (its `in`)
    path: str = ""       # attribute path from the model: "b1", "layer1[0]"
    cls: str = ""
    args: list[str] = field(default_factory=list)


@dataclass
class BlockClass:
    name: str
    block: str
    uses: list[Use]
    params: list[str]
    source: str


def leaf(use_name: str, name: str) -> str:
    return name[len(use_name) + 1:]


def usable(network: Network, inst: Instance, readers, orders, outputs) -> Use | None:
    """The instance as a Use, or None when it must stay flat."""
    nodes = network.instance_nodes(inst.name)
    inside = {n.name for n in nodes}
    if not nodes or any("." in leaf(inst.name, n.name) for n in nodes):
        return None
    sources = {i for n in nodes for i in n.inputs if i not in inside}
    if len(sources) != 1 or next(iter(sources)) in orders:
        return None
    for n in nodes[:-1]:
        if n.name in outputs or any(r not in inside for r in readers[n.name]):
            return None
    return Use(inst, nodes, next(iter(sources)))


def find_uses(network: Network, orders) -> tuple[list[list[Use]], list[str]]:
    """Groups of uses (a single use, or a repeat's instances in order) and the flat ones' notes."""
    readers = consumers(edges_of(network.nodes))
    outputs = {n.name for n in network.output_nodes}
    children: dict[str | None, list[Instance]] = {}
    for inst in network.instances:
        children.setdefault(inst.parent, []).append(inst)
    groups, notes = [], []
    for inst in children.get(None, []):
        members = children.get(inst.name, [])
        if inst.repeat is None:
            use = None if members else usable(network, inst, readers, orders, outputs)
            found = [use] if use else None
        else:
            found = [usable(network, m, readers, orders, outputs) for m in members]
            if any(u is None or children.get(u.instance.name) for u in found) or \
                    not chained(found, readers, outputs):
                found = None
        if found is None:
            notes.append(f"{inst.name} ({inst.block}, line {inst.span.line})")
            continue
        for i, use in enumerate(found):
            use.path = python_name(inst.name) + (f"[{i}]" if inst.repeat is not None else "")
        groups.append(found)
    return groups, notes


def chained(uses: list[Use], readers, outputs) -> bool:
    """Whether each use reads the previous one's output, which nothing else reads."""
    for before, after in itertools.pairwise(uses):
        last, inside = before.nodes[-1].name, {n.name for n in after.nodes}
        if after.source != last or last in outputs or any(r not in inside for r in readers[last]):
            return False
    return bool(uses)


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Block"


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call's argument text."""
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return args + ([tail] if tail else [])


def parse_ctor(ctor: str) -> tuple[str, list[str], dict[str, str]]:
    head, _, rest = ctor.partition("(")
    positional, keywords = [], {}
    for arg in split_args(rest[:-1]):
        key, eq, value = arg.partition("=")
        if eq and key.isidentifier():
            keywords[key] = value
        else:
            positional.append(arg)
    return head, positional, keywords


def parametrise(leaf_name: str, ctors: list[str], in_channels: list[str], params: dict,
                bound: list[dict] | None = None):
    """One constructor line for every use, numbers that differ replaced by parameters; params:
    parameter name -> its values per use (filled here). None when the ctors differ otherwise."""
    parsed = [parse_ctor(c) for c in ctors]
    heads = {p[0] for p in parsed}
    counts = {len(p[1]) for p in parsed}
    if len(heads) != 1 or len(counts) != 1:
        return None
    head = parsed[0][0]
    keys = list(dict.fromkeys(k for p in sorted(parsed, key=lambda p: -len(p[2])) for k in p[2]))
    out = []
    slots = [(i, None) for i in range(counts.pop())] + [(None, k) for k in keys]
    for index, key in slots:
        if key is None:
            values = [p[1][index] for p in parsed]
        else:
            if any(key not in p[2] for p in parsed) and key not in DEFAULTS:
                return None
            values = [p[2].get(key, DEFAULTS.get(key)) for p in parsed]
        if len(set(values)) == 1:
            value = values[0]
            if key is not None and value == DEFAULTS.get(key) and any(key not in p[2] for p in parsed):
                continue
        elif all(NUMBER.match(v) for v in values):
            role = key or (POSITIONAL.get(head, ()) + tuple(f"arg{j}" for j in range(9)))[index]
            value = param_name(f"{leaf_name}_{role}", values, in_channels, params, bound)
        else:
            return None
        out.append(value if key is None else f"{key}={value}")
    return f"{head}({', '.join(out)})"


def param_name(candidate: str, values: list[str], in_channels: list[str], params: dict,
               bound: list[dict] | None = None) -> str:
    """The parameter (as an expression) for a value vector: an existing one with the same
    values, `in_channels` when they are the uses' input channels, the block's own parameter
    whose value it is in every use (`filters`, `stride`; `(stride, stride)` for a pair), else
    `candidate`. bound: the block's arguments per use (Instance.args)."""
    for name, known in params.items():
        if known == values:
            return name
    singles = [v[1:].split(",")[0] for v in values] if all(
        PAIR.match(v) and PAIR.match(v).group(1) == PAIR.match(v).group(2) for v in values) else None
    own = block_parameters(bound, len(values))
    for name, known in own.items():
        if singles is not None and known == singles and params.get(name, known) == known:
            params[name] = known
            return f"({name}, {name})"
    if values == in_channels:
        name = "in_channels"
    else:
        name = next((n for n, known in own.items() if known == values), None) or python_name(candidate)
    name = unique(name, set(params) | KEYWORDS | BUILTINS | RESERVED)
    params[name] = values
    return name


def block_parameters(bound: list[dict] | None, uses: int) -> dict[str, list[str]]:
    """The block's integer parameters as value vectors over the uses (definition order), those
    bound in every use."""
    if not bound or len(bound) != uses:
        return {}
    out = {}
    for name in bound[0]:
        values = [b.get(name) for b in bound]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values) and \
                python_name(name) == name and name not in KEYWORDS | BUILTINS | RESERVED | {"in_channels"}:
            out[name] = [str(v) for v in values]
    return out


def prepare(network: Network) -> tuple[list[list[Use]], list[str]]:
    """The uses generated as modules (after checking each definition's code), and notes on the
    instances left flat."""
    from .. import layout
    if any(n.frozen or n.lr_scale != 1.0 for n in network.nodes) or network.stages:
        return [], [f"{inst.name} (the network freezes layers or has training stages)"
                    for inst in network.instances if inst.parent is None]
    return find_uses(network, layout.flat_orders(network))


def sub_network(network: Network, use: Use) -> Network:
    """The instance's nodes as a network of their own: input `in`, names inside the block."""
    name = use.instance.name
    inside = {n.name for n in use.nodes}
    source = network.node(use.source)
    first = dataclasses.replace(network.nodes[0], name="in", out_shape=source.out_shape)
    nodes = [first] + [dataclasses.replace(
        n, name=leaf(name, n.name),
        inputs=tuple(leaf(name, i) if i in inside else "in" for i in n.inputs)) for n in use.nodes]
    return dataclasses.replace(network, nodes=tuple(nodes), outputs=(), instances=(), stages={},
                               stage=None)


def build_classes(network: Network, groups: list[list[Use]], generator, taken: set[str]):
    """One BlockClass per (definition, variant); uses whose code cannot be shared are dropped
    from `groups` (returned: the classes, and notes on what stayed flat)."""
    classes, failed = [], set()
    counters: dict[str, int] = {}
    for sig, uses in variants(groups).items():
        made = make_class(network, sig[0], uses, generator, counters, taken)
        if made is None:
            failed |= {u.instance.name for u in uses}
        else:
            classes.append(made)
    return classes, failed


def variants(groups) -> dict[tuple, list[Use]]:
    """The uses grouped by block definition and layer structure (names, kinds, inputs)."""
    found: dict[tuple, list[Use]] = {}
    for group in groups:
        for use in group:
            sig = (use.instance.block,) + tuple(
                (leaf(use.instance.name, n.name), n.kind,
                 tuple("in" if i == use.source else leaf(use.instance.name, i) for i in n.inputs))
                for n in use.nodes)
            found.setdefault(sig, []).append(use)
    return found


def make_class(network, block, uses, generator, counters, taken) -> BlockClass | None:
    gens = [generator(sub_network(network, use)) for use in uses]
    first = gens[0]
    in_channels = [str(network.node(u.source).out_shape[-1]) for u in uses]
    params: dict[str, list[str]] = {}
    init = []
    for i, (node, emitted) in enumerate(first.layers):
        others = [g.layers[i][1] for g in gens]
        if any(e.call != emitted.call for e in others):
            return None
        if emitted.module:
            line = parametrise(node.name, [e.module for e in others], in_channels, params,
                               [dict(u.instance.args) for u in uses])
            if line is None:
                return None
            init.append(f"        self.{first.attrs[node.name]} = {line}")
    counters[block] = counters.get(block, 0) + 1
    base = camel(block) + (str(counters[block]) if counters[block] > 1 else "")
    name = unique(base, taken)
    for j, use in enumerate(uses):
        use.cls, use.args = name, [params[p][j] for p in params]
    return BlockClass(name, block, uses, list(params), class_source(name, block, uses, first,
                                                                     list(params), init))


def class_source(name, block, uses, gen, params, init) -> str:
    where = uses[0].instance.definition.line
    used = ", ".join(u.instance.name for u in uses)
    signature = "".join(f", {p}: int" for p in params)
    lines = [f"class {name}(nn.Module):",
             f'    """Block {block} (line {where}), used as {used}."""', "",
             f"    def __init__(self{signature}) -> None:", "        super().__init__()", *init, "",
             "    def forward(self, x: torch.Tensor, keep=None) -> torch.Tensor:",
             '        """The block\'s output; keep(name, value) gets every layer\'s value."""',
             "        keep = keep or _skip"]
    if gen.input_var != "x":
        lines.append(f"        {gen.input_var} = x")
    for node, emitted in gen.layers:
        lines.append(f"        {gen.dest(node)} = {emitted.call}")
        lines.append(f'        keep("{node.name}", {gen.dest(node)})')
    lines.append(f"        return {gen.dest(gen.layers[-1][0])}")
    return "\n".join(lines) + "\n"


def reserved_class_names(network: Network, cls: str) -> set[str]:
    return {cls} | set(TORCH_MODULE_GLOBALS) | KEYWORDS | BUILTINS | {"PaddedAvgPool2d", "_scoped"}


# --- the top level seen as items: the nodes outside blocks, and one item per group ---

def owners(groups) -> dict[str, list[Use]]:
    """node name -> the group (list of uses) generating it, for the nodes inside blocks."""
    return {n.name: g for g in groups for u in g for n in u.nodes}


def items(network: Network, groups) -> list[tuple[object, str, tuple[str, ...]]]:
    """(node or group, its value's node name, inputs) in order; a group is read as its last
    node's value."""
    owner = owners(groups)
    out, seen = [], set()
    for node in network.nodes:
        group = owner.get(node.name)
        if group is None:
            inputs = tuple(i if i not in owner else owner[i][-1].nodes[-1].name for i in node.inputs)
            out.append((node, node.name, inputs))
        elif id(group) not in seen:
            seen.add(id(group))
            out.append((group, group[-1].nodes[-1].name, (group[0].source,)))
    return out


def plain_values(network: Network, groups) -> set[str]:
    """The values that stay `x` at the top level (base.x_values over the items); the nodes
    inside blocks need no top-level name."""
    from .base import x_values
    listed = items(network, groups)
    plain = x_values([(name, inputs) for _, name, inputs in listed],
                     {n.name for n in network.output_nodes})
    item_names = {name for _, name, _ in listed}
    return plain | {n for n in owners(groups) if n not in item_names}


def group_name(group) -> str:
    """The top-level instance a group generates: the use, or the repeat of its uses."""
    inst = group[0].instance
    return inst.parent if looped(group) else inst.name


def looped(group) -> bool:
    """Whether the group is the instances of a repeat (a ModuleList / a loop of calls)."""
    return group[0].instance.parent is not None
