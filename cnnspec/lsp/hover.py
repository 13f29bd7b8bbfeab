"""The hover text (Markdown) of a resolved name: the numbers of `cnnspec summary --format json`.

A layer: its kind, output shape, parameters (trainable and non-trainable), MACs, receptive
field and jump. A block instance: the same totals over its layers. A layer line of a block:
one line per instance. A block: its parameters and every use."""

from __future__ import annotations

import os

from ..shapes import shape_text
from .analysis import Analysis
from .lookup import Target


def hover_markdown(a: Analysis, target: Target) -> str | None:
    if target.kind == "node":
        data = a.layer_data(target.name)
        return _layer(a, data) if data else None
    if target.kind == "instance":
        data = a.instance_data(target.name)
        return _instance(a, data) if data else None
    if target.kind == "block":
        return _block(a, target)
    if target.kind == "block-layer":
        return _block_layer(a, target)
    if target.kind == "input":
        return f"`in`: the input of block **{target.block.name}** (each use's own input)"
    if target.kind == "alias":
        return f"**{target.name}**: the imported spec on line {target.span.line}"
    return None


def _num(n) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def _axes(values) -> str:
    return "x".join(_num(v) for v in values) if values is not None else "n/a"


def _figures(d: dict, field_of: dict | None) -> list[str]:
    lines = [f"output {shape_text(d['output_shape'])}",
             f"params {_num(d['params'])} ({_num(d['trainable_params'])} trainable, "
             f"{_num(d['non_trainable_params'])} non-trainable)" + (", frozen" if d["frozen"] else ""),
             f"MACs {_num(d['macs'])}"]
    if field_of is not None and "receptive_field" in field_of:
        lines.append(f"receptive field {_axes(field_of['receptive_field'])}, "
                     f"jump {_axes(field_of['jump'])}")
    return lines


def _where(d: dict, a: Analysis) -> str:
    if d.get("source") and d["source"] != a.source.name:
        return f"{os.path.basename(d['source'])}:{d['line']}"
    return f"line {d['line']}"


def _layer(a: Analysis, d: dict) -> str:
    head = f"**{d['name']}**: `{d['kind']}`, {_where(d, a)} (input {shape_text(d['input_shape'])})"
    return "  \n".join([head, *_figures(d, d)])


def _instance(a: Analysis, d: dict) -> str:
    what = f"repeat {d['repeat']} x `{d['block']}`" if d.get("repeat") else f"block `{d['block']}`"
    head = f"**{d['name']}**: {what}, {d['nodes']} layers (block line {d['definition_line']})"
    return "  \n".join([head, *_figures(d, a.layer_data(d["output"]))])


def _uses(a: Analysis, block: str) -> list[dict]:
    return [d for d in (a.data or {}).get("instances", ()) if d["block"] == block and not d.get("repeat")]


def _block(a: Analysis, target: Target) -> str:
    params = ", ".join(p.name if p.default is None else f"{p.name}={p.default.describe()}"
                       for p in target.block.params)
    lines = [f"**block {target.name}**({params}), line {target.span.line}"]
    for d in _uses(a, target.name):
        lines.append(f"{d['name']}: output {shape_text(d['output_shape'])}, params "
                     f"{_num(d['params'])}, MACs {_num(d['macs'])}")
    return "  \n".join(lines)


def _block_layer(a: Analysis, target: Target) -> str:
    lines = [f"**{target.name}** in block `{target.block.name}`, per use:"]
    for use in _uses(a, target.block.name):
        name = f"{use['name']}.{target.name}"
        d = a.layer_data(name) or a.instance_data(name)
        if d is None:
            lines.append(f"{name}: absent (its `if` is false)")
        else:
            lines.append(f"{name}: output {shape_text(d['output_shape'])}, params "
                         f"{_num(d['params'])}, MACs {_num(d['macs'])}")
    return "  \n".join(lines)
