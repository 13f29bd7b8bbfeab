"""One self-contained HTML page: the network as inline SVG, every block instance folding and
opening on a click. No network access (no CDN, no fonts fetched), no Graphviz: the boxes are
placed by layout.py, and page.js (inlined) places them again after each click.

The page opens with instances at nesting level `depth` and deeper folded (None: all open).
Its address may say what to do on load: `#expand-all`, `#fold-all`, `#depth=N`, or
`#click=NAME,NAME,...` (a click on each instance named, in turn)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from . import layout, model, style

CHAR_W, LINE_H, TEXT_PAD = 7, 14, 6  # 11px monospace: every character is 7 px wide at most
ASSETS = Path(__file__).resolve().parent


def box_size(box) -> tuple[int, int]:
    lines = box.lines()
    return (max(len(line) for line in lines) * CHAR_W + 2 * TEXT_PAD,
            len(lines) * LINE_H + 2 * TEXT_PAD)


class Page:
    """What the page draws and what its script needs, computed once."""

    def __init__(self, network, depth: int | None = 1, folded: set[str] | None = None):
        self.network = network
        self.diagram = model.build(network, None)
        self.boxes = {b.id: b for b in self.diagram.boxes}
        self.folds = model.folded_boxes(network)
        self.labels = {c.id: c.label for c in self.diagram.clusters}
        self.edges = list(self.diagram.edges)  # every connection: nothing is folded in it
        self.plan = layout.plan([(b.id, b.cluster) for b in self.diagram.boxes],
                                [(c.id, c.parent) for c in self.diagram.clusters], self.edges)
        self.sizes = {name: box_size(b) for name, b in self.boxes.items()}
        self.fold_sizes = {name: box_size(b) for name, b in self.folds.items()}
        self.folded = folded if folded is not None else {
            c.id for c in self.diagram.clusters
            if depth is not None and len(self.plan.chain(c.id)) >= depth}
        self.placed = layout.pack(self.plan, self.sizes, self.fold_sizes, self.folded)

    def data(self) -> dict:
        """The script's input: the plan, the sizes, the connections, the first state."""
        return {"rows": {"" if k is None else k: v for k, v in self.plan.rows.items()},
                "parent": self.plan.parent, "sizes": self.sizes, "foldSizes": self.fold_sizes,
                "edges": self.edges, "folded": sorted(self.folded),
                "geometry": {"gapX": layout.GAP_X, "gapY": layout.GAP_Y, "pad": layout.PAD,
                             "header": layout.HEADER, "margin": layout.MARGIN}}

    def shown_edges(self) -> list[tuple[str, str]]:
        return layout.shown_edges(self.plan, self.edges, self.folded)


def render(network, depth: int | None = 1) -> str:
    return render_page(Page(network, depth))


def render_page(page: Page) -> str:
    """The page as `page` has its instances folded (its script can change that)."""
    network = page.network
    w, h = page.placed[None][2:]
    svg = (f'<svg id="diagram" width="{w + 2 * layout.MARGIN}" height="{h + 2 * layout.MARGIN}" '
           'font-family="monospace" font-size="11">'
           f'{ARROW}<g id="root" transform="translate({layout.MARGIN},{layout.MARGIN})">'
           f'{"".join(_items(page, None))}</g>'
           f'<g id="edges">{"".join(_edges(page))}</g></svg>')  # over the block frames
    plan = json.dumps(page.data(), separators=(",", ":")).replace("</", "<\\/")
    return TEMPLATE.format(title=escape(network.name), header=_header(page), legend=_legend(page),
                           svg=svg, css=(ASSETS / "page.css").read_text(),
                           plan=plan, script=(ASSETS / "page.js").read_text())


ARROW = ('<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="6" '
         'markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#666"/></marker></defs>')


def _edges(page: Page) -> list[str]:
    out = []
    for a, b in page.shown_edges():
        d = layout.path_between(page.plan, page.placed, a, b)
        out.append(f'<path data-from="{escape(a)}" data-to="{escape(b)}" d="{d}"/>')
    return out


def _items(page: Page, container) -> list[str]:
    out = []
    for row in page.plan.rows.get(container, []):
        for item in row:
            x, y = page.placed.get(item, (0, 0))[:2]
            at = f'transform="translate({x},{y})"'
            if item in page.boxes:
                out.append(f'<g class="box" data-layer="{escape(item)}" {at}>'
                           f'{_box(page.boxes[item], page.sizes[item])}</g>')
            else:
                out.append(_instance(page, item, at))
    return out


def _instance(page: Page, name: str, at: str) -> str:
    folded = name in page.folded
    w, h = page.placed[name][2:] if name in page.placed and not folded else (0, 0)
    hide_fold, hide_body = ('' if folded else ' display="none"'), (' display="none"' if folded else '')
    return (f'<g class="instance" data-instance="{escape(name)}" {at}>'
            f'<g class="fold"{hide_fold}>{_box(page.folds[name], page.fold_sizes[name])}'
            f'<title>click to open {escape(name)}</title></g>'
            f'<g class="body"{hide_body}><rect class="frame" width="{w}" height="{h}" rx="6"/>'
            f'<text class="label" x="8" y="14">\u25be {escape(page.labels[name])}'
            f'<title>click to fold {escape(name)}</title></text>'
            f'{"".join(_items(page, name))}</g></g>')


def _box(box, size: tuple[int, int]) -> str:
    w, h = size
    double = ' stroke-width="2.5"' if box.output else ""
    dashed = ' stroke-dasharray="4 3"' if box.frozen else ""
    lines = "".join(f'<tspan x="{w // 2}" y="{layout_y(i)}"{_weight(i)}>{escape(line)}</tspan>'
                    for i, line in enumerate(box.lines()))
    return (f'<rect width="{w}" height="{h}" rx="{12 if box.is_input else 5}" '
            f'fill="{style.fill(box)}" stroke="{style.border(box)}"{double}{dashed}/>'
            f'<text text-anchor="middle">{lines}</text>')


def layout_y(line: int) -> int:
    return TEXT_PAD + LINE_H * line + 11


def _weight(line: int) -> str:
    return ' font-weight="bold"' if line == 0 else ""


def _header(page: Page) -> str:
    n = page.network
    description = f"<p>{escape(n.description)}</p>" if n.description else ""
    return (f"<h1>{escape(n.name)}</h1>{description}<p class=\"facts\">{escape(n.source.name)}: "
            f"{len(n.layers):,} layers, {n.total_params:,} params ({n.trainable_params:,} "
            f"trainable{', stage ' + escape(n.stage) if n.stage else ''}), "
            f"{len(n.instances):,} block instances</p>")


def _legend(page: Page) -> str:
    entries = style.legend([*page.boxes.values(), *page.folds.values()])
    return "".join(f'<span class="key"><span class="swatch" style="background:{fill};'
                   f'border-color:{border}"></span>{escape(words)}</span>'
                   for words, fill, border in entries)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
<header>{header}
<nav><button id="expand-all">expand all</button> <button id="fold-all">fold all</button>
<span class="legend">{legend}</span>
<span class="hint">click a folded block to open it, its label to fold it</span></nav>
</header>
<main>{svg}</main>
<script type="application/json" id="plan">{plan}</script>
<script>
{script}</script>
</body>
</html>
"""
