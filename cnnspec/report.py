"""Summaries as text: a Keras-like table and Markdown, computed from Network.summary().

Both are safe for a terminal: the spec's own text in them (description, names, file names)
goes through terminal.printable, before the column widths are measured."""

from __future__ import annotations

from .instances import holders
from .nogc import paused
from .shapes import shape_text
from .summary_view import instance_kind, is_chain
from .summary_view import rows as view_rows
from .terminal import printable


def _rows(summary: dict, depth: int | None = 1, receptive: bool = False) -> list[tuple[str, ...]]:
    """The cells of every row, the input first; a graph's rows end with "Connected to";
    `receptive`: the receptive field, jump and activation memory columns before it."""
    graph = not is_chain(summary)
    rows = [("input", "input", shape_text(summary["input_shape"]), "0", "", str(summary["input_line"]))
            + (_input_field_cells(summary) if receptive else ()) + (("",) if graph else ())]
    fields = _FieldIndex(summary) if receptive else None
    for row in view_rows(summary, depth):
        cells = _instance_cells(row.item, summary) if row.is_instance else _layer_cells(row.item, summary)
        cells += fields.cells(row) if fields else ()
        rows.append(cells + ((_connected(row.connected),) if graph else ()))
    return rows


class _FieldIndex:
    """RF, jump and activation bytes of a row: an instance row shows its output layer's field
    and the sum of its layers' activations (sums by name prefix, one pass over the layers)."""

    def __init__(self, summary: dict):
        self.layers = {x["name"]: x for x in summary["layers"]}
        self.sums: dict[str, int] = {}
        for name, layer in self.layers.items():
            parts = name.split(".")
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                self.sums[prefix] = self.sums.get(prefix, 0) + layer["activation_bytes"]

    def cells(self, row) -> tuple[str, ...]:
        if row.is_instance:
            layer, size = self.layers[row.item["output"]], self.sums.get(row.item["name"], 0)
        else:
            layer, size = row.item, row.item["activation_bytes"]
        rf, jump = layer["receptive_field"], layer["jump"]
        if rf is None:  # an IR built without its nodes' attrs
            return ("", "", f"{size:,}")
        return (f"{rf[0]}x{rf[1]}", f"{jump[0]:g}x{jump[1]:g}", f"{size:,}")


def _input_field_cells(summary: dict) -> tuple[str, ...]:
    size = summary["activation_memory_bytes"] - sum(x["activation_bytes"] for x in summary["layers"])
    return ("1x1", "1x1", f"{size:,}")


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
FIELD_HEADERS = ("RF", "Jump", "Act. bytes")  # with receptive=True (`summary --receptive`)
CONNECTED = "Connected to"


def headers(summary: dict, receptive: bool = False) -> tuple[str, ...]:
    head = HEADERS + (FIELD_HEADERS if receptive else ())
    return head if is_chain(summary) else head + (CONNECTED,)


def _totals(summary: dict) -> list[str]:
    lines = [
        f"Total params: {summary['total_params']:,}",
        f"Trainable params: {summary['trainable_params']:,}",
        f"Non-trainable params: {summary['non_trainable_params']:,}",
        f"MACs: {summary['macs']:,}",
    ]
    for name, counts in (summary.get("stages") or {}).items():
        mark = " (shown above)" if name == summary.get("stage") else ""
        scales = ", ".join(f"{k} lr x{v:g}" for k, v in _by_instance(summary, counts["lr_scales"]))
        lines.append(f"Stage {name}{mark}: {counts['trainable_params']:,} trainable, "
                     f"{counts['non_trainable_params']:,} non-trainable"
                     + (f"; {scales}" if scales else ""))
    return lines


def _by_instance(summary: dict, scales: dict) -> list[tuple[str, float]]:
    """(name, scale) pairs, a top-level block instance whose every layer has one scale as one."""
    instances = {i["name"]: i for i in summary.get("instances", []) if i["parent"] is None}
    if not instances:
        return list(scales.items())
    groups: dict[tuple[str, float], list[str]] = {}
    for name, scale in scales.items():
        held = holders(name, instances)
        groups.setdefault((held[0] if held else name, scale), []).append(name)
    pairs = []
    for (owner, scale), names in groups.items():
        whole = owner in instances and len(names) == instances[owner]["nodes"]
        pairs += [(owner, scale)] if whole else [(name, scale) for name in names]
    return pairs


@paused
def table(summary: dict, depth: int | None = 1, receptive: bool = False) -> str:
    """The text table; `depth` as in summary_view (None: every layer); `receptive`: the
    columns of cnnspec.receptive.annotate (which must have filled the summary)."""
    head = headers(summary, receptive)
    rows = [head] + [tuple(map(printable, row)) for row in _rows(summary, depth, receptive)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {3, 4, 5} | ({6, 7, 8} if receptive else set())

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
    lines += [rule.replace("-", "=")] + _footer(summary, len(rows) - 2, receptive)
    return printable("\n".join(lines))


def _footer(summary: dict, shown: int, receptive: bool = False) -> list[str]:
    """The lines under the table: outputs (a graph's), totals, activation memory (with
    `receptive`), stages, solved unknowns, and a note when blocks are collapsed (`shown`: the
    rows shown, the input's not counted)."""
    lines = [] if is_chain(summary) else [_outputs(summary)]
    lines += _totals(summary) + (_memory(summary) if receptive else []) + _solved(summary)
    layers = len(summary["layers"])
    if shown < layers:
        lines.append(f"Blocks collapsed: {shown:,} rows for {layers:,} layers "
                     "(--expand shows every layer)")
    return lines


def _memory(summary: dict) -> list[str]:
    what = f"batch {summary['batch']:,}, {summary['dtype']}"
    line = (f"Activation memory ({what}): {summary['activation_memory_bytes']:,} bytes in all, "
            f"{summary['peak_activation_bytes']:,} bytes at the peak")
    return [line]


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


@paused
def markdown(summary: dict, depth: int | None = 1, receptive: bool = False) -> str:
    """The same as a Markdown table and a list of the lines under it."""
    lines = [f"### {summary['network']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    head = headers(summary, receptive)
    lines.append("| " + " | ".join(head) + " |")
    extra = len(head) - len(HEADERS) - (len(FIELD_HEADERS) if receptive else 0)
    lines.append("|---|---|---|---:|---:|---:|" + "---:|" * (3 if receptive else 0) + "---|" * extra)
    rows = _rows(summary, depth, receptive)[1:]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines.append("")
    lines += [f"- {t}" for t in _footer(summary, len(rows), receptive)]
    return printable("\n".join(lines))
