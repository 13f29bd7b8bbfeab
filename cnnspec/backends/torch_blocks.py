"""PyTorch code per block definition: one ``nn.Module`` class per block, instantiated per use.

A block instance (``Network.instances``) becomes a submodule named like it: a use ``b1`` is
``self.b1``; a ``repeat`` ``layer1`` is ``self.layer1 = nn.ModuleList([...])`` whose items
are its instances, so state_dict keys are the portable keys with PyTorch's tensor names
(``layer1.0.conv1.weight`` for ``layer1.0.conv1.kernel``). The class of a block is named in
CamelCase (``bottleneck`` -> ``Bottleneck``) and lists its instances in its docstring. Lines
present in some instances only (an ``if`` projection) are optional submodules, as torchvision
writes ``downsample=None``: a flag named after the run's first line (``conv0: bool = False``,
passed as ``conv0=True``), ``self.conv0 = nn.Conv2d(...) if conv0 else None``, and forward runs
them under ``if self.conv0 is not None:`` with ``else:`` passing their input through -- the
spec's ``bn0?in`` (``optional_plan`` checks that every instance's graph is exactly that). Where
it is not (a fallback other than the skipped lines' input, a merge among them), instances of
one definition whose layers differ get one class per variant, numbered (``Bottleneck``,
``Bottleneck2``).

A class's constructor takes the values that differ between its instances, found by comparing
the instances' layers number by number: the input channels (``in_channels``); a value that is
one of the block's own parameters in every instance (``Instance.args``) is named after it
(``filters``, ``stride``; Keras's pairs become ``(stride, stride)``); any other is
``<layer>_<argument>`` (``conv3_out`` for ``filters*4``); one parameter per distinct value
vector, and values equal in every instance stay literals. Each block's ``forward(x, keep=None, prefix="")`` returns the block's output and, when given a
dict ``keep``, records every layer's value in it under ``prefix`` + its name inside the block
(the network passes the instance's name as the prefix; a dict, not a callback, so it scripts).

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
RESERVED = frozenset({"self", "x", "name", "dtype", "keep", "p", "prefix"})


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
                bound: list[dict] | None = None, here: list[int] | None = None):
    """One constructor line for every use, numbers that differ replaced by parameters; params:
    parameter name -> its values per use (filled here). `here`: the uses the ctors are of (an
    optional line's), default all. None when the ctors differ otherwise."""
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
            value = param_name(f"{leaf_name}_{role}", values, in_channels, params, bound, here)
            if value is None:
                return None
        else:
            return None
        out.append(value if key is None else f"{key}={value}")
    return f"{head}({', '.join(out)})"


def param_name(candidate: str, values: list[str], in_channels: list[str], params: dict,
               bound: list[dict] | None = None, here: list[int] | None = None) -> str | None:
    """The parameter (as an expression) for a value vector: an existing one with the same
    values, `in_channels` when they are the uses' input channels, the block's own parameter
    whose value it is in every use (`filters`, `stride`; `(stride, stride)` for a pair), else
    `candidate`. bound: the block's arguments per use (Instance.args); here: the uses `values`
    are of (default all; None comes back when a new parameter would be needed for some only)."""
    here = list(range(len(in_channels))) if here is None else here

    def part(full):
        return [full[k] for k in here]
    for name, known in params.items():
        if part(known) == values:
            return name
    singles = [v[1:].split(",")[0] for v in values] if all(
        PAIR.match(v) and PAIR.match(v).group(1) == PAIR.match(v).group(2) for v in values) else None
    own = block_parameters(bound, len(in_channels))
    for name, known in own.items():
        if singles is not None and part(known) == singles and params.get(name, known) == known:
            params[name] = known
            return f"({name}, {name})"
    if part(in_channels) == values:
        name, full = "in_channels", in_channels
    else:
        name = next((n for n, known in own.items() if part(known) == values), None)
        full = own.get(name)
        if name is None:
            if len(here) != len(in_channels):
                return None
            name, full = python_name(candidate), values
    name = unique(name, set(params) | KEYWORDS | BUILTINS | RESERVED)
    params[name] = full
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
    """One BlockClass per definition (its optional lines as optional submodules, see
    `optional_plan`), else per (definition, variant); uses whose code cannot be shared are
    dropped from `groups` (returned: the classes, and the names of the uses left flat)."""
    classes, failed = [], set()
    counters: dict[str, int] = {}
    for block, tries in per_definition(groups):
        if len(tries) > 1:
            made = make_class(network, block, tries[0], generator, counters, taken)
            if made is not None:
                classes.append(made)
                continue
            tries = tries[1:]  # no one class for the definition: one per variant
        for uses in tries:
            made = make_class(network, block, uses, generator, counters, taken)
            if made is None:
                failed |= {u.instance.name for u in uses}
            else:
                classes.append(made)
    return classes, failed


def per_definition(groups):
    """(block, the uses to try as one class or function): all of the definition's uses in spec
    order, then (when there are several variants) each variant's, to try where that fails."""
    by_block: dict[str, list[list[Use]]] = {}
    for sig, uses in variants(groups).items():
        by_block.setdefault(sig[0], []).append(uses)
    order = {id(u): k for k, u in enumerate(u for g in groups for u in g)}
    for block, parts in by_block.items():
        if len(parts) == 1:
            yield block, parts
        else:
            yield block, [sorted((u for p in parts for u in p), key=lambda u: order[id(u)]), *parts]


@dataclass
class Optional:
    """Lines present in some uses only: a run of nodes generated under one flag."""

    flag: str                 # the constructor's bool parameter (the run's first line)
    nodes: list[str]          # leaf names, in order; each reads the one before
    present: list[bool]       # per use


def optional_plan(network: Network, uses: list[Use]):
    """(the use whose sub-network has every line, the runs of optional lines) when the uses'
    graphs are that one's with the absent lines skipped (each absent run passes its input
    through: the spec's `a?b` where b is what a's run reads); else None."""
    leaves = [[leaf(u.instance.name, n.name) for n in u.nodes] for u in uses]
    union = set().union(*map(set, leaves))
    full = next((k for k, names in enumerate(leaves) if set(names) == union), None)
    if full is None:
        return None
    sup = sub_network(network, uses[full])
    inputs = {n.name: n.inputs for n in sup.layers}
    kinds = {n.name: n.kind for n in sup.layers}
    readers = consumers(edges_of(sup.nodes))
    for k, use in enumerate(uses):
        here = set(leaves[k])
        if [n for n in leaves[full] if n in here] != leaves[k]:
            return None

        def resolve(name, here=here):
            while name != "in" and name not in here:
                if len(inputs[name]) != 1:
                    return None
                name = inputs[name][0]
            return name
        for node in sub_network(network, use).layers:
            if kinds[node.name] != node.kind or \
                    tuple(resolve(i) for i in inputs[node.name]) != node.inputs:
                return None
    runs: list[Optional] = []
    for name in leaves[full]:
        present = [name in set(names) for names in leaves]
        if all(present):
            continue
        last = runs[-1] if runs else None
        if last and last.present == present and inputs[name] == (last.nodes[-1],) and \
                leaves[full].index(name) == leaves[full].index(last.nodes[-1]) + 1 and \
                set(readers[last.nodes[-1]]) == {name}:
            last.nodes.append(name)
        else:
            if len(inputs[name]) != 1:
                return None
            runs.append(Optional(python_name(name), [name], present))
    return full, runs


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
    plan = optional_plan(network, uses)
    if plan is None:
        return None
    full, runs = plan
    from .torch import attribute_names
    gens = [generator(sub_network(network, use)) for use in uses]
    first = gens[full]
    attrs = [attribute_names(g.net) for g in gens]
    by_name = [{n.name: e for n, e in g.layers} for g in gens]
    in_channels = [str(network.node(u.source).out_shape[-1]) for u in uses]
    bound = [dict(u.instance.args) for u in uses]
    params: dict[str, list[str]] = {}
    flags = {name: run for run in runs for name in run.nodes}
    init = []
    for node, emitted in first.layers:
        here = [k for k in range(len(gens)) if node.name in by_name[k]]
        others = [by_name[k][node.name] for k in here]
        if any(normal(e.call, gens[k]) != normal(emitted.call, first) or
               attrs[k][node.name] != attrs[full][node.name] for k, e in zip(here, others)):
            return None
        if emitted.module:
            line = parametrise(node.name, [e.module for e in others], in_channels, params, bound,
                               here)
            if line is None:
                return None
            run = flags.get(node.name)
            init.append(f"        self.{first.attrs[node.name]} = {line}" +
                        (f" if {run.flag} else None" if run else ""))
    flag_names = {}
    for run in runs:
        flag_names[id(run)] = unique(run.flag, set(params) | set(flag_names.values()) | KEYWORDS |
                                     BUILTINS | RESERVED | {"in_channels"})
    if any(flag_names[id(r)] != r.flag for r in runs):
        return None  # a flag named like a parameter: keep it simple, use variants
    counters[block] = counters.get(block, 0) + 1
    base = camel(block) + (str(counters[block]) if counters[block] > 1 else "")
    name = unique(base, taken)
    for j, use in enumerate(uses):
        use.cls = name
        use.args = [params[p][j] for p in params] + [f"{r.flag}=True" for r in runs if r.present[j]]
    signature = [f"{p}: int" for p in params] + [f"{r.flag}: bool = False" for r in runs]
    return BlockClass(name, block, uses, list(params), class_source(name, block, uses, first,
                                                                     signature, init, runs))


def normal(call: str, gen) -> str:
    """A call with the generator's variable names replaced by one placeholder."""
    names = sorted(set(gen.var.values()), key=len, reverse=True)
    if not names:
        return call
    return re.sub(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")\b", "_v_", call)


BLOCK_FORWARD = ("    def forward(self, x: torch.Tensor, keep: dict[str, torch.Tensor] | None = None, "
                 'prefix: str = "") -> torch.Tensor:')
BLOCK_FORWARD_DOC = ('        """The block\'s output; keep, when given, gets every layer\'s value under '
                     'prefix + its name."""')


def class_source(name, block, uses, gen, signature, init, runs=()) -> str:
    where = uses[0].instance.definition.line
    used = ", ".join(u.instance.name for u in uses)
    lines = [f"class {name}(nn.Module):",
             f'    """Block {block} (line {where}), used as {used}."""', "",
             f"    def __init__(self{''.join(', ' + p for p in signature)}) -> None:",
             "        super().__init__()", *init, "",
             BLOCK_FORWARD, BLOCK_FORWARD_DOC]
    if gen.input_var != "x":
        lines.append(f"        {gen.input_var} = x")
    starts = {run.nodes[0]: run for run in runs}
    ends = {run.nodes[-1]: run for run in runs}
    nodes = {n.name: n for n, _ in gen.layers}
    indent = "        "
    for node, emitted in gen.layers:
        run = starts.get(node.name)
        if run is not None:
            lines.append(f"        if self.{gen.attrs[node.name]} is not None:")
            indent = "            "
        lines.append(f"{indent}{gen.dest(node)} = {emitted.call}")
        lines.append(f'{indent}_keep(keep, prefix + "{node.name}", {gen.dest(node)})')
        run = ends.get(node.name)
        if run is not None:
            indent = "        "
            passed, dest = gen.src(nodes[run.nodes[0]]), gen.dest(node)
            if passed != dest:
                lines += ["        else:", f"            {dest} = {passed}"]
    lines.append(f"        return {gen.dest(gen.layers[-1][0])}")
    return "\n".join(lines) + "\n"


def reserved_class_names(network: Network, cls: str) -> set[str]:
    return {cls} | set(TORCH_MODULE_GLOBALS) | KEYWORDS | BUILTINS | {"PaddedAvgPool2d", "_scoped", "_keep"}


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
