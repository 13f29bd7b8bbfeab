"""Graphviz DOT source of a diagram: deterministic text, no Graphviz needed to make it.

Node ids are the layer names, quoted; block instances are `cluster_<name>` subgraphs, nested
as the instances are; the legend is the subgraph `cluster_legend` (nodes `legend_<i>`)."""

from __future__ import annotations

from . import style

HEADER = """\
  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.3, label={title}, labelloc=t];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, penwidth=1.2];
  edge [color="#555555", arrowsize=0.6];"""


def quote(text: str) -> str:
    """A DOT string: quotes and backslashes escaped, line ends as DOT's \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render(diagram) -> str:
    lines = [f"digraph {quote(diagram.name)} {{", HEADER.format(title=quote(diagram.name))]
    children, members = diagram.nesting()
    _contents(lines, None, children, members, "  ")
    lines.extend(f"  {quote(a)} -> {quote(b)};" for a, b in diagram.edges)
    lines.extend(_legend(diagram))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _contents(lines: list, cluster, children: dict, members: dict, indent: str) -> None:
    """The boxes of one cluster (None: the top level), then its nested clusters."""
    lines.extend(indent + _node(box) for box in members.get(cluster, ()))
    for child in children.get(cluster, ()):
        lines.append(f"{indent}subgraph {quote('cluster_' + child.id)} {{")
        lines.append(f'{indent}  graph [label={quote(child.label)}, style="rounded,filled", '
                     f'fillcolor="{style.CLUSTER_FILL}", color="{style.CLUSTER_BORDER}", '
                     'labeljust=l, fontsize=10];')
        _contents(lines, child.id, children, members, indent + "  ")
        lines.append(f"{indent}}}")


def _node(box) -> str:
    extra = ", peripheries=2" if box.output else ""
    extra += ', style="filled"' if box.folded else ""
    extra += ", shape=oval" if box.is_input else ""
    return (f'{quote(box.id)} [label={quote(chr(10).join(box.lines()))}, '
            f'fillcolor="{style.fill(box)}", color="{style.border(box)}"{extra}];')


def _legend(diagram) -> list[str]:
    lines = ['  subgraph "cluster_legend" {',
             '    graph [label="legend", style=dashed, color="#bbbbbb", fontsize=10];']
    for i, (words, fill, border) in enumerate(style.legend(diagram.boxes)):
        double = ", peripheries=2" if border == style.OUTPUT_BORDER else ""
        lines.append(f'    "legend_{i}" [label={quote(words)}, fillcolor="{fill}", '
                     f'color="{border}"{double}];')
    lines.append("  }")
    return lines
