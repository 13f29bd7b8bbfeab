"""Keras code per block definition: one function per block (variant), called once per use.

``def res(x, name, in_channels, dtype="float32")`` builds one instance of block ``res`` on the
tensor ``x`` and returns its output; every layer it makes is named ``f"{name}.<layer>"``, so
Keras layer names stay the spec's hierarchical names (Keras allows dots) and ``WEIGHTS``,
``load_portable`` and ``get_layer`` are those of flat code. The builder calls it per use:
``x = res(x, "layer1.0", 8, dtype=dtype)``. Which instances share a function, what its
parameters are (the numbers that differ between instances) and when an instance stays flat
follow cnnspec.backends.torch_blocks; function names are the block's name, ``_2``, ``_3``...
for further variants.
"""

from __future__ import annotations

import re

from ..names import BUILTINS, KERAS_MODULE_GLOBALS, KEYWORDS, unique
from . import torch_blocks as tb

LINE = re.compile(r"^    (\w+) = (.+?\))\((.+)\)  # .*$")
NAME = re.compile(r'name="([^"]*)"')


def function_lines(sub_writer, use) -> list[tuple[str, str, str]] | None:
    """(target, constructor, argument) per line of the block's code, layer names made
    f"{name}.<layer>"; None when a line is not of that form."""
    sub_writer.lines = []
    for node in sub_writer.network.layers:
        sub_writer.layer(node)
    out = []
    for line in sub_writer.lines:
        match = LINE.match(line)
        if match is None:
            return None
        target, ctor, arg = match.groups()
        found = NAME.search(ctor)
        leaf = found.group(1) if found else target
        out.append((target, NAME.sub(lambda m: f'name=f"{{name}}.{m.group(1)}"', ctor), arg, leaf))
    return out


def make_function(network, block, uses, writer_class, counters, taken):
    """The source of one block function and the parameter values of each use, or None."""
    writers = [writer_class(tb.sub_network(network, use)) for use in uses]
    per_use = [function_lines(w, u) for w, u in zip(writers, uses)]
    if any(lines is None or len(lines) != len(per_use[0]) for lines in per_use):
        return None
    in_channels = [str(network.node(u.source).out_shape[-1]) for u in uses]
    params: dict[str, list[str]] = {}
    body = []
    for i, (target, _, arg, leaf) in enumerate(per_use[0]):
        if any(lines[i][0] != target or lines[i][2] != arg for lines in per_use):
            return None
        ctor = tb.parametrise(leaf, [lines[i][1] for lines in per_use], in_channels, params,
                              [dict(u.instance.args) for u in uses])
        if ctor is None:
            return None
        body.append(f"    {target} = {ctor}({arg})")
    counters[block] = counters.get(block, 0) + 1
    name = unique(block + (f"_{counters[block]}" if counters[block] > 1 else ""), taken)
    first = writers[0]
    used = ", ".join(u.instance.name for u in uses)
    head = [f"def {name}(x, name{''.join(', ' + p for p in params)}, dtype=\"float32\"):",
            f'    """Block {block} (line {uses[0].instance.definition.line}), used as {used}.', "",
            '    Its output on x; its layers are named "<name>.<layer>".', '    """']
    if first.input_var != "x":
        head.append(f"    {first.input_var} = x")
    last = first.dest(first.network.layers[-1])
    source = "\n".join([*head, *body, f"    return {last}"]) + "\n"
    calls = [[params[p][j] for p in params] for j in range(len(uses))]
    return name, source, calls


def reserved_function_names(builder: str) -> set[str]:
    return {builder} | set(KERAS_MODULE_GLOBALS) | KEYWORDS | BUILTINS | {"keras", "np"}
