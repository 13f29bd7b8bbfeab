"""A Mermaid `flowchart TD` of a diagram, as GitHub renders in Markdown (```mermaid blocks).

Node ids are `n<i>` (the box's place in the network's order) and cluster ids `c<i>`, so that
no layer name can clash with Mermaid's syntax (`end`, dots, dashes); a `%%` comment before
each node names its layer. Labels are always quoted, with `"`, `<`, `&` and `#` written
as Mermaid's `#<code>;` entities and the lines joined by `<br>`."""

from __future__ import annotations

from . import style

ENTITIES = {c: f"#{ord(c)};" for c in '"<&#'}


def label(lines) -> str:
    """A quoted Mermaid label of these lines."""
    return '"' + "<br>".join("".join(ENTITIES.get(c, c) for c in line) for line in lines) + '"'


def render(diagram) -> str:
    ids = {box.id: f"n{i}" for i, box in enumerate(diagram.boxes)}
    cluster_ids = {c.id: f"c{i}" for i, c in enumerate(diagram.clusters)}
    out = ["flowchart TD"]
    children, members = diagram.nesting()
    _contents(out, None, children, members, ids, cluster_ids, "  ")
    out.extend(f"  {ids[a]} --> {ids[b]}" for a, b in diagram.edges)
    out.extend(_legend(diagram))
    out.extend(_classes(diagram, ids))
    return "\n".join(out) + "\n"


def _contents(out, cluster, children, members, ids, cluster_ids, indent) -> None:
    for box in members.get(cluster, ()):
        out.append(f"{indent}%% {box.id}")
        shape = ("([", "])") if box.is_input else ("[", "]")
        out.append(f"{indent}{ids[box.id]}{shape[0]}{label(box.lines())}{shape[1]}")
    for child in children.get(cluster, ()):
        out.append(f"{indent}subgraph {cluster_ids[child.id]} [{label([child.label])}]")
        _contents(out, child.id, children, members, ids, cluster_ids, indent + "  ")
        out.append(f"{indent}end")


def _legend(diagram) -> list[str]:
    out = [f'  subgraph legend [{label(["legend"])}]']
    for i, (words, fill, border) in enumerate(style.legend(diagram.boxes)):
        out.append(f"    legend{i}[{label([words])}]")
        out.append(f"    style legend{i} fill:{fill},stroke:{border}")
    out.append("  end")
    return out


def _classes(diagram, ids) -> list[str]:
    out = [f"  classDef layer fill:{style.LAYER},stroke:{style.BORDER}",
           f"  classDef input fill:{style.INPUT},stroke:{style.BORDER}",
           f"  classDef folded fill:{style.FOLDED},stroke:{style.BORDER}",
           f"  classDef frozen fill:{style.FROZEN},stroke:{style.FROZEN_BORDER},stroke-dasharray:4 3",
           f"  classDef output stroke:{style.OUTPUT_BORDER},stroke-width:3px"]
    groups: dict[str, list[str]] = {}
    for box in diagram.boxes:
        kind = "input" if box.is_input else "frozen" if box.frozen else (
            "folded" if box.folded else "layer")
        groups.setdefault(kind, []).append(ids[box.id])
        if box.output:
            groups.setdefault("output", []).append(ids[box.id])
    out.extend(f"  class {','.join(members)} {kind}" for kind, members in groups.items())
    return out
