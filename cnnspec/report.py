"""Summaries as text: a Keras-like table and Markdown, computed from Network.summary().

Both are safe for a terminal: the spec's own text in them (description, names, file names)
goes through terminal.printable, before the column widths are measured."""

from __future__ import annotations

from .shapes import shape_text
from .summary_view import instance_kind, is_chain
from .summary_view import rows as view_rows
from .terminal import printable


def _rows(summary: dict, depth: int | None = 1) -> list[tuple[str, ...]]:
    """The cells of every row, the input first; a graph's rows end with "Connected to"."""
    graph = not is_chain(summary)
    rows = [("input", "input", shape_text(summary["input_shape"]), "0", "", str(summary["input_line"]))
            + (("",) if graph else ())]
    for row in view_rows(summary, depth):
        cells = _instance_cells(row.item, summary) if row.is_instance else _layer_cells(row.item, summary)
        rows.append(cells + ((_connected(row.connected),) if graph else ()))
    return rows


SHOWN_INPUTS = 8  # a merge of up to 1,000 inputs shows the first ones and how many more


def _connected(names: tuple[str, ...]) -> str:
    if len(names) <= SHOWN_INPUTS:
        return ", ".join(names)
    return ", ".join(names[:SHOWN_INPUTS - 1]) + f", ... ({len(names):,} inputs)"


def _layer_cells(layer: dict, summary: dict) -> tuple[str, ...]:
    trainable = "frozen" if layer["frozen"] and layer["params"] else (
        f"{layer['trainable_params']:,}" if layer["params"] else "")
    if layer["lr_scale"] != 1.0 and not layer["frozen"]:
        trainable += f" (lr x{layer['lr_scale']:g})"
    return (layer["name"], layer["kind"], shape_text(layer["output_shape"]),
            f"{layer['params']:,}", trainable, _line(layer, summary))


def _instance_cells(instance: dict, summary: dict) -> tuple[str, ...]:
    """A block instance folded into one row: its output's shape and its nodes' totals."""
    trainable = "frozen" if instance["frozen"] else (
        f"{instance['trainable_params']:,}" if instance["params"] else "")
    scale = instance.get("lr_scale", 1.0)
    if not instance["frozen"] and scale != 1.0:
        trainable += " (lr mixed)" if scale is None else f" (lr x{scale:g})"
    return (instance["name"], instance_kind(instance), shape_text(instance["output_shape"]),
            f"{instance['params']:,}", trainable, _line(instance, summary))


def _line(item: dict, summary: dict) -> str:
    """The spec line; `base.cnn:12` for one written in another file than the summary's."""
    line = str(item["line"])
    if item.get("source") not in (None, summary["file"]):
        line = f"{item['source'].replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"
    return line


HEADERS = ("Layer", "Kind", "Output shape", "Params", "Trainable", "Line")
CONNECTED = "Connected to"


def headers(summary: dict) -> tuple[str, ...]:
    return HEADERS if is_chain(summary) else HEADERS + (CONNECTED,)


def _totals(summary: dict) -> list[str]:
    lines = [
        f"Total params: {summary['total_params']:,}",
        f"Trainable params: {summary['trainable_params']:,}",
        f"Non-trainable params: {summary['non_trainable_params']:,}",
        f"MACs: {summary['macs']:,}",
    ]
    for name, counts in (summary.get("stages") or {}).items():
        mark = " (shown above)" if name == summary.get("stage") else ""
        scales = ", ".join(f"{k} lr x{v:g}" for k, v in counts["lr_scales"].items())
        lines.append(f"Stage {name}{mark}: {counts['trainable_params']:,} trainable, "
                     f"{counts['non_trainable_params']:,} non-trainable"
                     + (f"; {scales}" if scales else ""))
    return lines


def table(summary: dict, depth: int | None = 1) -> str:
    """The text table; `depth` as in summary_view (None: every layer)."""
    head = headers(summary)
    rows = [head] + [tuple(map(printable, row)) for row in _rows(summary, depth)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {3, 4, 5}

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(head))
    title = f'Network "{summary["network"]}"  ({summary["file"]})'
    if summary.get("stage"):
        title += f"  stage: {summary['stage']}"
    if summary.get("description"):
        title += f"\n{summary['description']}"
    lines = [title, rule.replace("-", "="), fmt(head), rule]
    lines += [fmt(r) for r in rows[1:]]
    lines += [rule.replace("-", "=")] + _footer(summary, len(rows) - 2)
    return printable("\n".join(lines))


def _footer(summary: dict, shown: int) -> list[str]:
    """The lines under the table: outputs (a graph's), totals, stages, solved unknowns, and a
    note when blocks are collapsed (`shown`: the rows shown, the input's not counted)."""
    lines = [] if is_chain(summary) else [_outputs(summary)]
    lines += _totals(summary) + _solved(summary)
    layers = len(summary["layers"])
    if shown < layers:
        lines.append(f"Blocks collapsed: {shown:,} rows for {layers:,} layers "
                     "(--expand shows every layer)")
    return lines


def _outputs(summary: dict) -> str:
    outputs = summary.get("outputs") or []
    listed = ", ".join(f"{o['name']} {shape_text(o['shape'])}" for o in outputs)
    return f"Output{'s' if len(outputs) > 1 else ''}: {listed}"


def _solved(summary: dict) -> list[str]:
    """A line for each unknown the checker solved from a stated output shape."""
    lines = []
    for layer in summary["layers"]:
        what = layer.get("config", {}).get("solved")
        if what:
            value = layer["config"][what]
            shown = f"{value[0]}x{value[1]}" if what != "padding" else \
                "(" + ", ".join(map(str, value)) + ")"
            lines.append(f"Solved: {layer['name']} {what} = {shown} (line {layer['line']})")
    return lines


def markdown(summary: dict, depth: int | None = 1) -> str:
    """The same as a Markdown table and a list of the lines under it."""
    lines = [f"### {summary['network']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    head = headers(summary)
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|---|---|---|---:|---:|---:|" + "---|" * (len(head) - len(HEADERS)))
    rows = _rows(summary, depth)[1:]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines.append("")
    lines += [f"- {t}" for t in _footer(summary, len(rows))]
    return printable("\n".join(lines))
