"""Summaries as text: a Keras-like table and Markdown, computed from Network.summary()."""

from __future__ import annotations

from .shapes import shape_text


def _rows(summary: dict) -> list[tuple[str, ...]]:
    rows = [("input", "input", shape_text(summary["input_shape"]), "0", "", str(_input_line(summary)))]
    for layer in summary["layers"]:
        trainable = "frozen" if layer["frozen"] and layer["params"] else (
            f"{layer['trainable_params']:,}" if layer["params"] else "")
        if layer["lr_scale"] != 1.0 and not layer["frozen"]:
            trainable += f" (lr x{layer['lr_scale']:g})"
        rows.append((layer["name"], layer["kind"], shape_text(layer["output_shape"]),
                     f"{layer['params']:,}", trainable, str(layer["line"])))
    return rows


def _input_line(summary: dict) -> int:
    return summary.get("input_line", 0) or ""


HEADERS = ("Layer", "Kind", "Output shape", "Params", "Trainable", "Line")


def _totals(summary: dict) -> list[str]:
    return [
        f"Total params: {summary['total_params']:,}",
        f"Trainable params: {summary['trainable_params']:,}",
        f"Non-trainable params: {summary['non_trainable_params']:,}",
        f"MACs: {summary['macs']:,}",
    ]


def table(summary: dict) -> str:
    rows = [HEADERS] + _rows(summary)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    right = {3, 4, 5}

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(HEADERS))
    title = f'Network "{summary["network"]}"  ({summary["file"]})'
    if summary.get("description"):
        title += f"\n{summary['description']}"
    lines = [title, rule.replace("-", "="), fmt(HEADERS), rule]
    lines += [fmt(r) for r in rows[1:]]
    lines += [rule.replace("-", "=")] + _totals(summary)
    return "\n".join(lines)


def markdown(summary: dict) -> str:
    lines = [f"### {summary['network']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append("|" + "|".join(["---", "---", "---", "---:", "---:", "---:"]) + "|")
    for row in _rows(summary)[1:]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines.append("")
    lines += [f"- {t}" for t in _totals(summary)]
    return "\n".join(lines)
