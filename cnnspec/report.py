"""Summaries as text: a Keras-like table and Markdown, computed from Network.summary().

Both are safe for a terminal: the spec's own text in them (description, names, file names)
goes through terminal.printable, before the column widths are measured."""

from __future__ import annotations

from .shapes import shape_text
from .terminal import printable


def _rows(summary: dict) -> list[tuple[str, ...]]:
    rows = [("input", "input", shape_text(summary["input_shape"]), "0", "", str(summary["input_line"]))]
    for layer in summary["layers"]:
        trainable = "frozen" if layer["frozen"] and layer["params"] else (
            f"{layer['trainable_params']:,}" if layer["params"] else "")
        if layer["lr_scale"] != 1.0 and not layer["frozen"]:
            trainable += f" (lr x{layer['lr_scale']:g})"
        line = str(layer["line"])
        if layer.get("source") not in (None, summary["file"]):
            line = f"{layer['source'].replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"
        rows.append((layer["name"], layer["kind"], shape_text(layer["output_shape"]),
                     f"{layer['params']:,}", trainable, line))
    return rows


HEADERS = ("Layer", "Kind", "Output shape", "Params", "Trainable", "Line")


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


def table(summary: dict) -> str:
    rows = [HEADERS] + [tuple(map(printable, row)) for row in _rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    right = {3, 4, 5}

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(HEADERS))
    title = f'Network "{summary["network"]}"  ({summary["file"]})'
    if summary.get("stage"):
        title += f"  stage: {summary['stage']}"
    if summary.get("description"):
        title += f"\n{summary['description']}"
    lines = [title, rule.replace("-", "="), fmt(HEADERS), rule]
    lines += [fmt(r) for r in rows[1:]]
    lines += [rule.replace("-", "=")] + _totals(summary) + _solved(summary)
    return printable("\n".join(lines))


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


def markdown(summary: dict) -> str:
    lines = [f"### {summary['network']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append("|---|---|---|---:|---:|---:|")
    for row in _rows(summary)[1:]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines.append("")
    lines += [f"- {t}" for t in _totals(summary)]
    return printable("\n".join(lines))
