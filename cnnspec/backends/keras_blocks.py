"""Keras code per block definition: one function per block (variant), called once per use.

``def res(x, name, in_channels, dtype="float32")`` builds one instance of block ``res`` on the
tensor ``x`` and returns its output; every layer it makes is named ``f"{name}.<layer>"``, so
Keras layer names stay the spec's hierarchical names (Keras allows dots) and ``WEIGHTS``,
``load_portable`` and ``get_layer`` are those of flat code. The builder calls it per use:
``x = res(x, "layer1.0", 8, dtype=dtype)``. Which instances share a function, what its
parameters are (the numbers that differ between instances, named after the block's own
parameters where they are their values) and when an instance stays flat follow
cnnspec.backends.torch_blocks: lines present in some instances only run under a flag,
``if conv0:`` (``conv0=False`` in the signature, ``conv0=True`` in the calls that have them),
``else:`` passing their input through; where the instances' code differs otherwise (a stride-2
conv with an explicit ZeroPadding2D in some only), function names are the block's name, ``_2``,
``_3``... for the variants.
"""

from __future__ import annotations

import re

from ..names import BUILTINS, KERAS_MODULE_GLOBALS, KEYWORDS, unique
from . import torch_blocks as tb

LINE = re.compile(r"^    (\w+) = (.+?\))\((.+)\)  # .*$")
NAME = re.compile(r'name="([^"]*)"')


def function_lines(sub_writer) -> dict[str, list[tuple[str, str, str, str]]] | None:
    """node -> (target, constructor, argument, layer name) per line of its code, layer names
    made f"{name}.<layer>"; None when a line is not of that form."""
    out = {}
    for node in sub_writer.network.layers:
        sub_writer.lines = []
        sub_writer.layer(node)
        out[node.name] = []
        for line in sub_writer.lines:
            match = LINE.match(line)
            if match is None:
                return None
            target, ctor, arg = match.groups()
            found = NAME.search(ctor)
            leaf = found.group(1) if found else target
            out[node.name].append((target, NAME.sub(lambda m: f'name=f"{{name}}.{m.group(1)}"', ctor),
                                   arg, leaf))
    return out


def make_function(network, block, uses, writer_class, counters, taken):
    """The source of one block function and the parameter values of each use, or None. Lines
    present in some uses only run under a flag (``conv0=False``), as in torch_blocks."""
    plan = tb.optional_plan(network, uses)
    if plan is None:
        return None
    full, runs = plan
    writers = [writer_class(tb.sub_network(network, use)) for use in uses]
    per_use = [function_lines(w) for w in writers]
    if any(lines is None for lines in per_use):
        return None
    in_channels = [str(network.node(u.source).out_shape[-1]) for u in uses]
    bound = [dict(u.instance.args) for u in uses]
    params: dict[str, list[str]] = {}
    first = writers[full]
    nodes = {n.name: n for n in first.network.layers}
    starts = {run.nodes[0]: run for run in runs}
    ends = {run.nodes[-1]: run for run in runs}
    body, indent = [], "    "
    for node in first.network.layers:
        here = [k for k in range(len(uses)) if node.name in per_use[k]]
        mine = per_use[full][node.name]
        if any(len(per_use[k][node.name]) != len(mine) for k in here):
            return None
        if node.name in starts:
            body.append(f"    if {starts[node.name].flag}:")
            indent = "        "
        for i, (target, _, arg, leaf) in enumerate(mine):
            if any(tb.normal(per_use[k][node.name][i][0], writers[k]) != tb.normal(target, first) or
                   tb.normal(per_use[k][node.name][i][2], writers[k]) != tb.normal(arg, first)
                   for k in here):
                return None
            ctor = tb.parametrise(leaf, [per_use[k][node.name][i][1] for k in here], in_channels,
                                  params, bound, here)
            if ctor is None:
                return None
            body.append(f"{indent}{target} = {ctor}({arg})")
        if node.name in ends:
            indent = "    "
            passed, dest = first.src(nodes[ends[node.name].nodes[0]]), first.dest(node)
            if passed != dest:
                body += ["    else:", f"        {dest} = {passed}"]
    taken_params = set(params) | tb.KEYWORDS | tb.BUILTINS | tb.RESERVED | {"in_channels"}
    if any(r.flag in taken_params for r in runs) or len({r.flag for r in runs}) != len(runs):
        return None  # a flag named like a parameter: keep it simple, use variants
    counters[block] = counters.get(block, 0) + 1
    name = unique(block + (f"_{counters[block]}" if counters[block] > 1 else ""), taken)
    used = ", ".join(u.instance.name for u in uses)
    signature = [*params, *(f"{r.flag}=False" for r in runs)]
    head = [f"def {name}(x, name{''.join(', ' + p for p in signature)}, dtype=\"float32\"):",
            f'    """Block {block} (line {uses[0].instance.definition.line}), used as {used}.', "",
            '    Its output on x; its layers are named "<name>.<layer>".', '    """']
    if first.input_var != "x":
        head.append(f"    {first.input_var} = x")
    last = first.dest(first.network.layers[-1])
    source = "\n".join([*head, *body, f"    return {last}"]) + "\n"
    calls = [[params[p][j] for p in params] + [f"{r.flag}=True" for r in runs if r.present[j]]
             for j in range(len(uses))]
    return name, source, calls


def reserved_function_names(builder: str) -> set[str]:
    return {builder} | set(KERAS_MODULE_GLOBALS) | KEYWORDS | BUILTINS | {"keras", "np"}
