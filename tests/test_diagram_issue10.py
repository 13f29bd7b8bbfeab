"""`cnnspec diagram` (issue 10): DOT read back by Graphviz (dot -Tjson0), SVG made by the real Graphviz, Mermaid
read line by line, all compared with the checked IR itself (names, shapes, parameter counts,
node.inputs, instances, outputs, freeze flags): never with our own earlier output.
The HTML page is tested in a real browser in tests/test_diagram_browser_issue10.py."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from graph_specs import RESNET

import cnnspec
from cnnspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["specs/lenet5.cnn", "specs/zoo/resnet50.cnn", "specs/transfer_finetune.cnn",
         "specs/two_heads.cnn", "specs/inception_module.cnn", "graph_specs.RESNET", "twice"]
INLINE = {"graph_specs.RESNET": RESNET,  # merges reading one layer twice: an edge per input
          "twice": "network Twice\ninput 8x8x3\nc: conv 4 1x1\ns: add c c\nd: concat s c s\n"
                   "r: leaky_relu alpha=0.2\n"}  # and an activation layer of its own


def spec_path(spec: str, tmp_path: Path) -> str:
    if spec in INLINE:
        path = tmp_path / "inline.cnn"
        path.write_text(INLINE[spec])
        return str(path)
    return str(ROOT / spec)


def diagram(capsys, *argv) -> str:
    status = main(["diagram", *argv])
    out = capsys.readouterr().out
    assert status == 0, out
    return out


def hwc(shape) -> str:
    return "x".join(str(d) for d in shape)


# ---- what the IR says (the oracle) ----

def innermost_instance(network, name: str) -> str | None:
    """The longest instance name that is a dotted prefix of `name`."""
    found = [i.name for i in network.instances if name.startswith(i.name + ".")]
    return max(found, key=len, default=None)


def ir_edges(network) -> Counter:
    return Counter((src, node.name) for node in network.layers for src in node.inputs)


# ---- DOT, read back by Graphviz itself (dot -Tjson0) ----

def unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def read_dot(text: str):
    """(nodes: name -> (label, attrs, innermost cluster), edges Counter, clusters: name ->
    the cluster holding it), as Graphviz parses the DOT."""
    done = subprocess.run(["dot", "-Tjson0"], input=text, capture_output=True, text=True,
                          timeout=60, check=True)
    graph = json.loads(done.stdout)
    objects = graph["objects"]
    clusters = {o["_gvid"]: o for o in objects if "nodes" in o or "subgraphs" in o}
    holder: dict[int, int] = {}  # child cluster -> its parent cluster
    for gvid, c in clusters.items():
        holder.update((child, gvid) for child in c.get("subgraphs") or [])
    depth = {g: len(list(_up(g, holder))) for g in clusters}
    innermost: dict[int, int] = {}
    for gvid in sorted(clusters, key=depth.get):  # outer first: inner ones overwrite
        innermost.update((n, gvid) for n in clusters[gvid].get("nodes") or [])
    def name_of(gvid):
        return clusters[gvid]["name"].removeprefix("cluster_") if gvid is not None else None
    nodes = {o["name"]: (unescape(o.get("label", "")), o, name_of(innermost.get(o["_gvid"])))
             for o in objects if o["_gvid"] not in clusters}
    names = {o["_gvid"]: o["name"] for o in objects}
    edges = Counter((names[e["tail"]], names[e["head"]]) for e in graph.get("edges", []))
    tree = {name_of(g): name_of(holder.get(g)) for g in clusters}
    legend = {n for n, (_, _, c) in nodes.items() if c == "legend"}
    assert legend and all(n.startswith("legend_") for n in legend) and tree.pop("legend") is None
    return {n: v for n, v in nodes.items() if n not in legend}, edges, tree


def _up(gvid, holder):
    while gvid in holder:
        gvid = holder[gvid]
        yield gvid


@pytest.mark.parametrize("spec", SPECS)
def test_dot_has_every_layer_edge_and_instance_of_the_ir(spec, tmp_path, capsys):
    path = spec_path(spec, tmp_path)
    network = cnnspec.load(path)
    nodes, edges, clusters = read_dot(diagram(capsys, path, "--format", "dot"))
    assert set(nodes) == {n.name for n in network.nodes}
    for node in network.nodes:
        label, attrs, cluster = nodes[node.name]
        lines = label.split("\n")
        assert lines[0] == node.name and hwc(node.out_shape) in lines
        if node.kind != "input":
            kind, *fused = lines[1].split(" -> ")
            assert kind.split(" ")[0] == node.kind
            act = node.attrs.get("activation", "linear")
            if node.kind == "activation":  # a layer of its own: its function, no arrow
                assert (kind, fused) == (f"activation {act}", [])
            else:
                assert fused == ([] if act == "linear" else [act])
            assert f"{node.params:,} params" in label
        assert cluster == innermost_instance(network, node.name)
        assert (attrs.get("peripheries") == "2") == (node.name in network.outputs or (
            not network.outputs and node is network.nodes[-1]))
    assert edges == ir_edges(network)
    assert clusters == {i.name: i.parent for i in network.instances}


def test_dot_marks_the_frozen_layers_of_the_stage_asked_for(tmp_path, capsys):
    path = str(ROOT / "specs/transfer_finetune.cnn")
    shown = {}
    for stage in ("feature_extraction", "finetune"):
        network = cnnspec.load(path).with_stage(stage)
        nodes, _, _ = read_dot(diagram(capsys, path, "--stage", stage))
        shown[stage] = {name for name, (label, _, _) in nodes.items() if label.endswith(", frozen")}
        assert shown[stage] == {n.name for n in network.nodes if n.frozen and n.params}
    assert shown["feature_extraction"] - shown["finetune"] == {"conv2"}  # unfrozen in finetune
    assert shown["finetune"]  # conv1, bn1 stay frozen
    text = diagram(capsys, path)
    assert 'label="frozen: not trained"' in text  # the legend explains the mark


@pytest.mark.parametrize("depth", [1, 2])
def test_dot_depth_folds_instances_into_boxes_with_their_totals(depth, capsys):
    path = str(ROOT / "specs/zoo/resnet50.cnn")
    network = cnnspec.load(path)
    nodes, edges, clusters = read_dot(diagram(capsys, path, "--depth", str(depth)))
    levels = {}
    for i in network.instances:  # nesting level from the parents, 1 for the top level
        levels[i.name] = 1 if i.parent is None else levels[i.parent] + 1
    folded = {name for name, lv in levels.items() if lv == depth}

    def box(name):
        return next((f for f in folded if name.startswith(f + ".")), name)

    assert set(nodes) == {box(n.name) for n in network.nodes}
    for name in folded:
        inside = [n for n in network.nodes if n.name.startswith(name + ".")]
        label = nodes[name][0]
        assert hwc(inside[-1].out_shape) in label.split("\n")
        assert f"{sum(n.params for n in inside):,} params, {len(inside):,} layers" in label
    expected = Counter()
    for node in network.layers:
        for src in node.inputs:
            a, b = box(src), box(node.name)
            if a != b and (a not in folded and b not in folded or not expected[(a, b)]):
                expected[(a, b)] += 1
    assert edges == expected
    assert set(clusters) == {name for name, lv in levels.items() if lv < depth}


def test_dot_is_deterministic_and_reads_a_spec_with_imports(capsys):
    path = str(ROOT / "specs/transfer_feature_extraction.cnn")
    assert diagram(capsys, path) == diagram(capsys, path)
    resnet = str(ROOT / "specs/zoo/resnet50.cnn")
    for fmt in ("mermaid", "html"):
        assert diagram(capsys, resnet, "--format", fmt) == diagram(capsys, resnet, "--format", fmt)


def test_the_spec_can_come_from_standard_input(monkeypatch, capsys):
    text = (ROOT / "specs/lenet5.cnn").read_text()
    from_file = diagram(capsys, str(ROOT / "specs/lenet5.cnn"), "--format", "mermaid")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert diagram(capsys, "-", "--format", "mermaid") == from_file


# ---- SVG by the real Graphviz ----

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text for t in root.iter(SVG + "text")]


def svg_paint(svg: str) -> list[tuple[str, str | None, str | None]]:
    """The shapes' kinds and colours, in order (the coordinates depend on Graphviz's version)."""
    root = ET.fromstring(svg)
    return [(e.tag, e.get("fill"), e.get("stroke")) for e in root.iter()
            if e.tag in (SVG + "polygon", SVG + "path", SVG + "ellipse")]


def test_svg_through_graphviz_shows_every_layer_name(tmp_path, capsys):
    path = str(ROOT / "specs/zoo/resnet50.cnn")
    out = tmp_path / "r50.svg"
    assert main(["diagram", path, "-o", str(out)]) == 0  # the format from the suffix
    texts = svg_texts(out.read_text())
    network = cnnspec.load(path)
    assert {n.name for n in network.nodes} <= set(texts)
    assert {f"{i.name}: {i.block}" + (f" x{i.repeat}" if i.repeat else "")
            for i in network.instances} <= set(texts)
    assert "wrote" in capsys.readouterr().err


DOCS_IMAGES = {"lenet5.svg": ["specs/lenet5.cnn"],  # docs/cli.md
               "transfer_finetune.svg": ["specs/transfer_finetune.cnn", "--stage", "finetune"]}  # ci.md


@pytest.mark.parametrize("image", DOCS_IMAGES)
def test_docs_image_is_current(tmp_path, monkeypatch, image):
    """Each docs/images/ SVG is what `cnnspec diagram SPEC ... -o ...svg` makes now
    (compared by its text and shapes, which do not depend on Graphviz's version)."""
    out = tmp_path / image
    monkeypatch.chdir(ROOT)
    assert main(["diagram", *DOCS_IMAGES[image], "-o", str(out)]) == 0
    committed = (ROOT / "docs/images" / image).read_text()
    assert svg_texts(committed) == svg_texts(out.read_text())
    assert svg_paint(committed) == svg_paint(out.read_text())
    assert sorted(p.name for p in (ROOT / "docs/images").glob("*.svg")) == sorted(DOCS_IMAGES)


# ---- Mermaid ----

NODE = re.compile(r'\s*(n\d+)(?:\(\[|\[)"([^"]*)"(?:\]\)|\])$')
EDGE = re.compile(r"\s*(n\d+) --> (n\d+)$")


def read_mermaid(text: str):
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    names, labels, edges, comment = {}, {}, Counter(), None
    for line in lines[1:]:
        if line.strip().startswith("%% "):
            comment = line.strip()[3:]
        elif m := NODE.fullmatch(line):
            names[m.group(1)], labels[comment] = comment, m.group(2).split("<br>")
            comment = None
        elif m := EDGE.fullmatch(line):
            edges[(names[m.group(1)], names[m.group(2)])] += 1
    return labels, edges


@pytest.mark.parametrize("spec", SPECS)
def test_mermaid_has_a_node_per_layer_and_an_edge_per_connection(spec, tmp_path, capsys):
    path = spec_path(spec, tmp_path)
    network = cnnspec.load(path)
    text = diagram(capsys, path, "--format", "mermaid")
    labels, edges = read_mermaid(text)
    assert set(labels) == {n.name for n in network.nodes}
    for node in network.nodes:
        assert labels[node.name][0] == node.name and hwc(node.out_shape) in labels[node.name]
    assert edges == ir_edges(network)
    assert text.count("subgraph c") == len(network.instances)


def test_mermaid_labels_escape_what_would_end_them():
    from cnnspec.diagram.mermaid import label
    quoted = label(['say "hi" <b>', "a & b #1"])
    assert quoted.count('"') == 2 and "<b>" not in quoted and "&" not in quoted
    assert quoted == '"say #34;hi#34; #60;b><br>a #38; b #35;1"'


# ---- errors ----

def test_a_broken_spec_exits_1_with_located_diagnostics_writing_nothing(tmp_path, capsys):
    spec = tmp_path / "broken.cnn"
    spec.write_text("input 28x28x1\nc1: conv 6 5x5\nd: dense 10 from=nowhere\n")
    out = tmp_path / "out.svg"
    assert main(["diagram", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(spec))}:3:\d+: error", err), err
    assert not out.exists()


def test_svg_without_graphviz_exits_2_saying_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot there
    monkeypatch.chdir(ROOT)
    out = tmp_path / "x.svg"
    assert main(["diagram", "specs/lenet5.cnn", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert "conda install graphviz" in err and "--format dot, mermaid and html" in err
    shown = [line.strip() for line in (ROOT / "docs/cli.md").read_text().splitlines()
             if line.strip().startswith("cnnspec: error: Graphviz")]
    assert shown and shown[0] in err.splitlines()  # docs/cli.md shows this very line
    assert not out.exists()
    assert main(["diagram", "specs/lenet5.cnn", "--format", "mermaid"]) == 0  # needs nothing


def test_unwritable_outputs_exit_2_and_leave_files_intact(tmp_path, capsys):
    spec = tmp_path / "lenet5.cnn"
    text = (ROOT / "specs/lenet5.cnn").read_text()
    spec.write_text(text)
    assert main(["diagram", str(spec), "-o", str(spec), "--format", "dot"]) == 2  # over the spec
    assert spec.read_text() == text
    assert main(["diagram", str(spec), "-o", str(tmp_path / "missing" / "x.dot")]) == 2
    assert main(["diagram", str(spec), "-o", str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err
    assert err.count("cannot write") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.cnn"]  # no temporary left


def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["diagram", str(tmp_path / "none.cnn")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["diagram", "specs/transfer_finetune.cnn", "--stage", "nope"]) == 2
    assert main(["diagram", str(tmp_path)]) == 2  # a directory as the spec
    assert "not a regular file" in capsys.readouterr().err
    out = tmp_path / "lenet5.png"  # a suffix that names no format: not DOT text in a .png
    assert main(["diagram", "specs/lenet5.cnn", "-o", str(out)]) == 2
    assert "names no diagram format" in capsys.readouterr().err and not out.exists()
    assert main(["diagram", "specs/lenet5.cnn", "-o", str(out), "--format", "dot"]) == 0
    assert out.read_text().startswith("digraph")
    with pytest.raises(SystemExit) as exit_:
        main(["diagram", "specs/lenet5.cnn", "--depth", "0"])
    assert exit_.value.code == 2


def test_a_closed_stdout_is_no_traceback(tmp_path):
    """Started with stdout closed (`>&-`): -o still writes the file, exit 0, and stderr says so
    (before, every command died of an AttributeError on sys.stdout None)."""
    out = tmp_path / "x.mmd"
    done = subprocess.run([sys.executable, "-m", "cnnspec", "diagram", "specs/lenet5.cnn", "-o", str(out)],
                          cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1),
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == f"wrote {out} (mermaid, 8 layers)\n", done.stderr
    assert out.read_text().startswith("flowchart TD")


def test_diagram_imports_no_framework():
    code = ("import sys; from cnnspec.cli import main; "
            "[main(['diagram', 'specs/zoo/resnet50.cnn', '--format', f]) for f in "
            "('dot', 'mermaid', 'html')]; "
            "bad = {'torch', 'tensorflow', 'keras', 'pydantic'} & set(sys.modules); "
            "sys.exit(f'imported {bad}' if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


# ---- the HTML page's layout (pure Python; the browser test checks the page's script) ----

LAYOUT_SPECS = ["specs/zoo/resnet50.cnn", "specs/zoo/densenet121.cnn", "specs/inception_module.cnn",
                "specs/two_heads.cnn", "specs/zoo/unet.cnn"]


@pytest.mark.parametrize("spec", LAYOUT_SPECS)
def test_layout_ranks_every_connection_downwards_and_no_boxes_overlap(spec):
    from cnnspec.diagram import html, layout
    network = cnnspec.load(ROOT / spec)
    page = html.Page(network, None)
    row = {item: r for rows in page.plan.rows.values() for r, items in enumerate(rows)
           for item in items}
    for source, target in page.edges:
        a, b = source, target
        chain_a, chain_b = page.plan.chain(a), page.plan.chain(b)
        i = next(k for k, (x, y) in enumerate(zip(chain_a, chain_b)) if x != y)
        assert row[chain_a[i]] < row[chain_b[i]], (source, target)  # longest path: strictly down
    for container, rows in page.plan.rows.items():
        cw, ch = page.placed[container][2:]
        boxes = [page.placed[item] for items in rows for item in items]
        for x, y, w, h in boxes:
            assert layout.PAD <= x and x + w <= cw - layout.PAD and y + h <= ch - layout.PAD
        for k, (x, y, w, h) in enumerate(boxes):
            for (x2, y2, w2, h2) in boxes[k + 1:]:
                assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


@pytest.mark.parametrize("depth", [1, 2, 3, None])
def test_the_page_shows_at_depth_n_the_boxes_and_edges_of_dot_at_depth_n(depth):
    from cnnspec.diagram import html, model
    network = cnnspec.load(ROOT / "specs/zoo/resnet50.cnn")
    page = html.Page(network, depth)
    expected = model.build(network, depth)
    shown = {item for item in page.placed if item is not None} - (
        {c.id for c in page.diagram.clusters} - page.folded)
    assert shown == {b.id for b in expected.boxes}
    assert set(page.shown_edges()) == set(expected.edges)


def path_points(d: str) -> list[tuple[float, float]]:
    """Points along an SVG path of M, V, H and C commands (as the page draws edges)."""
    tokens, points, i, at = re.findall(r"[MVHC]|-?\d+", d), [], 0, (0, 0)
    while i < len(tokens):
        op = tokens[i]
        args = [int(t) for t in tokens[i + 1:i + 7] if t not in "MVHC"]
        if op == "M":
            at, i = (args[0], args[1]), i + 3
            points.append(at)
            continue
        if op == "C":
            (x0, y0), c = at, args
            points += [((1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * c[0] + 3 * (1 - t) * t * t * c[2]
                        + t ** 3 * c[4], (1 - t) ** 3 * y0 + 3 * (1 - t) ** 2 * t * c[1]
                        + 3 * (1 - t) * t * t * c[3] + t ** 3 * c[5]) for t in (k / 32 for k in range(33))]
            at, i = (c[4], c[5]), i + 7
            continue
        end = (at[0], args[0]) if op == "V" else (args[0], at[1])
        points += [(at[0] + (end[0] - at[0]) * k / 16, at[1] + (end[1] - at[1]) * k / 16)
                   for k in range(17)]
        at, i = end, i + 2
    return points


@pytest.mark.parametrize("spec", ["specs/zoo/resnet50.cnn", "specs/inception_module.cnn",
                                  "specs/zoo/unet.cnn", "specs/two_heads.cnn"])
def test_no_edge_of_the_page_runs_through_a_box(spec):
    """Edges that would skip rows detour along a block's side (known exception, documented:
    a curve between neighbouring rows of unequal heights, as in InceptionV3's mixed9)."""
    from cnnspec.diagram import html, layout
    page = html.Page(cnnspec.load(ROOT / spec), None)
    boxes = {item: layout.absolute(page.plan, page.placed, item) for item in page.boxes}
    for a, b in page.shown_edges():
        points = path_points(layout.path_between(page.plan, page.placed, a, b))
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        for item, (x, y, w, h) in boxes.items():
            if item in (a, b) or x > max(xs) or x + w < min(xs) or y > max(ys) or y + h < min(ys):
                continue
            assert not any(x < px < x + w and y < py < y + h for px, py in points), (a, b, item)
