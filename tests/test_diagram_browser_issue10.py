"""`cnnspec diagram --format html` in a real headless Chromium (issue 10), and the Mermaid
output read by Mermaid itself.

The page's script places the boxes again after every fold and open; here the DOM that
Chromium dumps after the script ran is compared with what Python's layout computes for the
same folded instances (so the script and layout.py cannot drift apart), every layer and
connection of the IR must be drawn after "expand all", clicks fold and open instances, and a
screenshot must show the colours of the boxes. Mermaid's own parser and renderer (mermaid.js,
from npm: scripts/test_tools.sh installs it) must draw a node per layer and
an edge per connection."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

import cnnspec
from cnnspec.cli import main
from cnnspec.diagram import html, style

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 90


def chromium(tmp_path: Path, url: str, *flags: str) -> str:
    program = shutil.which("chromium") or shutil.which("chromium-browser")
    assert program, "Chromium is needed (apt-get install chromium)"
    argv = [program, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", *flags, url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_file(tmp_path: Path, spec: str, *options: str) -> Path:
    out = tmp_path / (Path(spec).stem + ".html")
    assert main(["diagram", str(ROOT / spec), "-o", str(out), *options]) == 0
    return out


class Drawn(HTMLParser):
    """What an SVG in a page shows: the transforms of the layers and instances not hidden
    (no ancestor with display="none"), the instances shown folded, and the edges' paths."""

    def __init__(self, text: str):
        super().__init__()
        self.stack: list[tuple[str, bool, dict]] = []
        self.layers, self.instances, self.edges = {}, {}, {}
        self.folded: set[str] = set()
        self.feed(text[text.index("<svg"):text.index("</svg>") + 6])

    def handle_starttag(self, tag, attrs):
        self._element(tag, dict(attrs), push=True)

    def handle_startendtag(self, tag, attrs):
        self._element(tag, dict(attrs), push=False)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def _element(self, tag, a, push):
        hidden = (self.stack[-1][1] if self.stack else False) or a.get("display") == "none"
        if not hidden:
            if "data-layer" in a:
                self.layers[a["data-layer"]] = a["transform"]
            if "data-instance" in a:
                self.instances[a["data-instance"]] = a["transform"]
            if a.get("class") == "fold" and self.stack:
                self.folded.add(self.stack[-1][2]["data-instance"])
            if tag == "path" and "data-from" in a:
                self.edges[(a["data-from"], a["data-to"])] = a["d"]
        if push:
            self.stack.append((tag, hidden, a))

    def geometry(self):
        return self.layers, self.instances, self.edges, self.folded


def level(network, name: str) -> int:
    parents = {i.name: i.parent for i in network.instances}
    n = 1
    while parents[name] is not None:
        name, n = parents[name], n + 1
    return n


def test_the_page_opens_as_python_placed_it_top_level_blocks_folded(tmp_path):
    spec = "specs/zoo/resnet50.cnn"
    network = cnnspec.load(ROOT / spec)
    page = page_file(tmp_path, spec)
    served = Drawn(page.read_text())
    after_script = Drawn(chromium(tmp_path, page.as_uri(), "--dump-dom"))
    assert after_script.geometry() == served.geometry()
    assert set(after_script.layers) == {n.name for n in network.nodes
                                        if not any(n.name.startswith(i.name + ".")
                                                   for i in network.instances)}
    top = {i.name for i in network.instances if i.parent is None}
    assert after_script.folded == top and set(after_script.instances) == top


def test_expand_all_draws_every_layer_and_connection_where_python_puts_them(tmp_path):
    spec = "specs/zoo/densenet121.cnn"
    network = cnnspec.load(ROOT / spec)
    page = page_file(tmp_path, spec)  # opens folded at depth 1
    drawn = Drawn(chromium(tmp_path, page.as_uri() + "#expand-all", "--dump-dom"))
    assert len(drawn.layers) == len(network.nodes)
    assert set(drawn.layers) == {n.name for n in network.nodes}
    assert set(drawn.edges) == {(s, n.name) for n in network.layers for s in n.inputs}
    assert drawn.folded == set() and set(drawn.instances) == {i.name for i in network.instances}
    expanded = Drawn(page_file(tmp_path, spec, "--expand").read_text())
    assert drawn.geometry() == expanded.geometry()


def test_clicks_open_and_fold_instances(tmp_path):
    spec = "specs/zoo/resnet50.cnn"
    network = cnnspec.load(ROOT / spec)
    page = page_file(tmp_path, spec)
    clicks = "conv3,conv3.0,conv2,conv2"  # open conv3 and conv3.0 (a projection: two branches);
    # open conv2 and fold it again
    drawn = Drawn(chromium(tmp_path, page.as_uri() + "#click=" + clicks, "--dump-dom"))
    folded = {i.name for i in network.instances} - {"conv3", "conv3.0"}
    shown_folded = {i.name for i in network.instances if i.parent in (None, "conv3")} - {
        "conv3", "conv3.0"}
    assert drawn.folded == shown_folded
    assert {name for name in drawn.layers if "." in name} == {
        n.name for n in network.nodes if n.name.startswith("conv3.0.")}
    expected = Drawn(html.render_page(html.Page(network, folded=folded)))
    assert drawn.geometry() == expected.geometry()
    assert level(network, "conv3.0") == 2


# ---- screenshots: a PNG decoder (zlib and struct: no imaging library needed) ----

def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, bits, colour, _, _, interlace = header
    assert bits == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        _unfilter(kind, line, previous, channels)
        rows.append(line)
        previous = line
    pixels = [tuple(row[x:x + 3]) for row in rows for x in range(0, stride, channels)]
    return width, height, pixels


def _unfilter(kind: int, line: bytearray, up: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        upper_left = up[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + up[i]) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + up[i]) // 2) & 255
        elif kind == 4:
            p = left + up[i] - upper_left
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upper_left)
            near = left if pa <= pb and pa <= pc else up[i] if pb <= pc else upper_left
            line[i] = (line[i] + near) & 255


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def count_near(pixels, colour: str, tolerance: int = 3) -> int:
    want = rgb(colour)
    return sum(all(abs(a - b) <= tolerance for a, b in zip(p, want)) for p in pixels)


@pytest.mark.parametrize("spec, fill", [("specs/zoo/resnet50.cnn", style.FOLDED),
                                        ("specs/transfer_finetune.cnn", style.FROZEN)])
def test_the_screenshot_shows_the_boxes_in_their_colours(spec, fill, tmp_path):
    page = page_file(tmp_path, spec)
    shot = tmp_path / "shot.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=900,1100",
             "--hide-scrollbars")
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (900, 1100)
    white = sum(p == (255, 255, 255) for p in pixels)
    assert 0.03 < 1 - white / len(pixels) < 0.9  # drawn, and not a solid block
    assert len(set(pixels)) > 40  # text, borders, fills: many distinct colours
    assert count_near(pixels, fill) > 2000  # the folded blocks' / frozen layers' fill
    assert count_near(pixels, style.INPUT) > 500  # the input box


def test_the_page_needs_no_network(tmp_path):
    text = page_file(tmp_path, "specs/zoo/resnet50.cnn").read_text()
    assert not re.search(r"https?:", text)
    assert not re.search(r"""\b(src|href)\s*=|@import|url\((?!#)""", text)
    assert text.count("<script") == 2  # the plan (JSON) and the script, both inline


# ---- Mermaid, rendered by mermaid.js itself ----

MERMAID_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="source">{source}</pre><div id="out"></div>
<script src="{script}"></script>
<script>
mermaid.initialize({{startOnLoad: false, securityLevel: "strict", maxEdges: 5000}});
(async () => {{
  const text = document.getElementById("source").textContent;
  try {{
    await mermaid.parse(text);
    const {{svg}} = await mermaid.render("graph", text);
    document.getElementById("out").innerHTML = svg;
  }} catch (e) {{ document.body.setAttribute("data-error", String(e && e.message || e)); }}
  document.body.setAttribute("data-done", "yes");
}})();
</script></body></html>
"""


def mermaid_js() -> Path:
    """mermaid.min.js: $CNNSPEC_MERMAID_JS, else where scripts/test_tools.sh installs it."""
    given = Path(os.environ.get("CNNSPEC_MERMAID_JS") or
                 ROOT / ".test-tools/node_modules/mermaid/dist/mermaid.min.js")
    if not given.is_file():
        pytest.skip(f"no mermaid.js at {given}: run scripts/test_tools.sh (CI allows no skip)")
    return given


@pytest.mark.parametrize("spec, options", [("specs/two_heads.cnn", ()),
                                           ("specs/transfer_finetune.cnn", ()),
                                           ("specs/zoo/resnet18.cnn", ("--depth", "2"))])
def test_mermaid_draws_a_node_per_layer_and_an_edge_per_connection(spec, options, tmp_path,
                                                                   capsys):
    from html import escape
    script = mermaid_js()
    assert main(["diagram", str(ROOT / spec), "--format", "mermaid", *options]) == 0
    source = capsys.readouterr().out
    page = tmp_path / "mermaid.html"
    page.write_text(MERMAID_PAGE.format(source=escape(source), script=script.as_uri()))
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom", "--virtual-time-budget=20000")
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-done="yes"' in body and "data-error" not in body, body
    ids = dict(re.findall(r"^\s*%% (\S+)\n\s*(n\d+)", source, re.MULTILINE))
    names = {v: k for k, v in ids.items()}
    nodes = set(re.findall(r'id="graph-flowchart-(n\d+)-\d+"', dom))
    edges = re.findall(r'id="graph-L_(n\d+)_(n\d+)_\d+"', dom)
    network = cnnspec.load(ROOT / spec)
    if not options:
        assert {names[n] for n in nodes} == {n.name for n in network.nodes}
        assert sorted((names[a], names[b]) for a, b in edges) == sorted(
            (s, n.name) for n in network.layers for s in n.inputs)
    else:  # folded at depth 2: one node per box of summary --depth 2
        level2 = [i for i in network.instances if i.parent is not None]
        loose = [n for n in network.nodes if not any(n.name.startswith(i.name + ".")
                                                     for i in network.instances)]
        assert len(nodes) == len(ids) == len(loose) + len(level2)
        assert len(edges) == source.count(" --> ") == len(nodes) - 1  # ResNet18 folded: a chain
    clusters = set(re.findall(r'class="cluster" id="graph-(c\d+)"', dom))
    assert len(clusters) == source.count("subgraph c") == len(
        [i for i in network.instances if i.parent is None] if options else network.instances)
