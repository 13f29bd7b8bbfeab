"""`cnnspec diff` as text and Markdown, from the dict that spec_diff.diff returns.

Both are safe for a terminal: every line goes through terminal.printable (spec names and
descriptions are the spec author's text).
"""

from __future__ import annotations

from .shapes import shape_text
from .spec_diff import is_empty
from .terminal import printable

# ---- text -----------------------------------------------------------------------------------


def value_text(field: str, value) -> str:
    if value is None:
        return "-"
    if field == "output_shape":
        return shape_text(value)
    if isinstance(value, list):
        return "(" + ", ".join(str(v) for v in value) + ")" if field != "inputs" else \
            ", ".join(value) or "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def change_text(field: str, pair: list) -> str:
    label = field.removeprefix("options.")
    return f"{label} {value_text(field, pair[0])} -> {value_text(field, pair[1])}"


def signed(n: int) -> str:
    return f"{n:+,}"


def _layer_line(entry: dict, mark: str) -> str:
    return (f"  {mark} {entry['name']}  {entry['kind']}  {shape_text(entry['output_shape'])}  "
            f"params {signed(entry['params'] * (1 if mark == '+' else -1))}  "
            f"(line {entry['line']})")


def shown_fields(entry: dict) -> list[str]:
    """The changes worth a word, options first; counts only where the deltas don't say it."""
    ch = entry["changes"]
    order = sorted(ch, key=lambda f: (not f.startswith("options."), f == "output_shape"))
    trainable = ch.get("trainable_params")
    same = trainable is None or trainable[1] - trainable[0] == entry["params_delta"]
    return [f for f in order if f not in ("params", "macs") and
            not (f == "trainable_params" and same)]


def _changed_line(entry: dict) -> str:
    shown = shown_fields(entry)
    parts = [change_text(f, entry["changes"][f]) for f in shown]
    parts += [f"{what} {signed(entry[key])}" for what, key in
              (("params", "params_delta"), ("MACs", "macs_delta")) if entry[key]]
    return f"  ~ {entry['name']}  " + "; ".join(parts)


def _instance_line(entry: dict) -> str:
    parts = [f"{entry['status']}"]
    if entry["params_delta"]:
        parts.append(f"params {signed(entry['params_delta'])}")
    if entry["macs_delta"]:
        parts.append(f"MACs {signed(entry['macs_delta'])}")
    if "output_shape" in entry["changes"]:
        parts.append(change_text("output_shape", entry["changes"]["output_shape"]))
    return f"  {entry['name']}  " + "; ".join(parts)


def _totals_lines(result: dict) -> list[str]:
    lines = [f"  {k.replace('_', ' ')}: {v[0]:,} -> {v[1]:,} ({signed(v[2])})"
             for k, v in result["totals"].items()]
    for name, (a, b, d) in result["stages"].items():
        lines.append(f"  stage {name} trainable: {value_text('', a)} -> {value_text('', b)} "
                     f"({signed(d)})")
    return lines


def text(result: dict) -> str:
    """A readable report; one line when the networks are the same."""
    head = f"--- {result['old']}\n+++ {result['new']}"
    if is_empty(result):
        return printable(f"{head}\nno differences")
    lines = [head]
    lines += [f"network {change_text(k, v)}" for k, v in result["network"].items()]
    sections = (("Added", result["added"], lambda e: _layer_line(e, "+")),
                ("Removed", result["removed"], lambda e: _layer_line(e, "-")),
                ("Changed", result["changed"], _changed_line),
                ("Block instances changed", result["instances"], _instance_line))
    for title, entries, show in sections:
        if entries:
            lines.append(f"{title} ({len(entries):,}):")
            lines += [show(e) for e in entries]
    lines.append("Totals:")
    lines += _totals_lines(result)
    return printable("\n".join(lines))


# ---- markdown -------------------------------------------------------------------------------


def _cell(text_: str) -> str:
    return text_.replace("|", "\\|")


def _md_rows(result: dict) -> list[tuple[str, ...]]:
    rows = []
    for e in result["added"]:
        rows.append((e["name"], f"added ({e['kind']})", shape_text(e["output_shape"]),
                     signed(e["params"]), signed(e["macs"])))
    for e in result["removed"]:
        rows.append((e["name"], f"removed ({e['kind']})", shape_text(e["output_shape"]),
                     signed(-e["params"]), signed(-e["macs"])))
    for e in result["changed"]:
        ch = e["changes"]
        shown = [f for f in shown_fields(e) if f != "output_shape"]
        shape = " → ".join(shape_text(s) for s in ch["output_shape"]) if "output_shape" in ch else ""
        what = "; ".join(change_text(f, ch[f]) for f in shown) or ("shape" if shape else "counts")
        rows.append((e["name"], what,
                     shape, signed(e["params_delta"]), signed(e["macs_delta"])))
    return rows


FOLD_ROWS = 15  # a longer table of layers or instances is folded in a <details> element


def _md_table(head: str, rule: str, rows: list[str], what: str) -> list[str]:
    """A table; folded (GitHub's <details>) when it is long, so the totals stay in view."""
    table = [head, rule, *rows, ""]
    if len(rows) <= FOLD_ROWS:
        return table
    return [f"<details><summary>{len(rows):,} {what}</summary>", "", *table, "</details>", ""]


def _md_totals(result: dict) -> list[str]:
    lines = ["| Total | Old | New | Δ |", "|---|---:|---:|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {a:,} | {b:,} | {signed(d)} |"
              for k, (a, b, d) in result["totals"].items()]
    lines += [f"| stage {_cell(str(k))} trainable | {value_text('', a)} | {value_text('', b)} | "
              f"{signed(d)} |" for k, (a, b, d) in result["stages"].items()]
    return lines + [""]


def markdown(result: dict) -> str:
    """A Markdown report for a pull request: the totals, then the layers and block instances."""
    lines = [f"### cnnspec diff: `{result['old']}` → `{result['new']}`", ""]
    if is_empty(result):
        return printable("\n".join(lines + ["No differences."]))
    facts = [f"- network {change_text(k, v)}" for k, v in result["network"].items()]
    lines += facts + ([""] if facts else []) + _md_totals(result)
    rows = ["| " + " | ".join(_cell(c) for c in (f"`{r[0]}`",) + r[1:]) + " |"
            for r in _md_rows(result)]
    if rows:
        lines += _md_table("| Layer | Change | Output shape | Params Δ | MACs Δ |",
                           "|---|---|---|---:|---:|", rows, "layers changed")
    rows = [f"| `{_cell(e['name'])}` | {e['status']} | {signed(e['params_delta'])} | "
            f"{signed(e['macs_delta'])} |" for e in result["instances"]]
    if rows:
        lines += _md_table("| Block instance | Status | Params Δ | MACs Δ |", "|---|---|---:|---:|",
                           rows, "block instances changed")
    return printable("\n".join(lines).rstrip("\n"))
