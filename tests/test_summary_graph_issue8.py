"""Summaries of graphs (issue 8): the "Connected to" column, outputs, collapsed block rows.

The networks here are IR Networks built by hand with Node and Instance (cnnspec/ir.py), so
the tests do not depend on the language frontend; chains are the shipped specs, compared with
what main's code printed before issue 8 (tests/fixtures/summary_chain/, written by that code).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cnnspec import cli, report
from cnnspec.api import analyse
from cnnspec.instances import holders
from cnnspec.ir import Instance, Network, Node, Weight, freeze_attrs
from cnnspec.source import SourceFile, Span
from cnnspec.summary_view import is_chain
from cnnspec.summary_view import rows as view_rows

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "summary_chain"
FILE = "net.cnn"


def span(line: int) -> Span:
    return Span(FILE, line, 1, line, 2)


def conv(name, inputs, shape, c_in, line, frozen=False):
    """A 3x3 conv with bias: 9 * c_in * c_out + c_out parameters."""
    c = shape[-1]
    weights = (Weight("kernel", (3, 3, c_in, c)), Weight("bias", (c,)))
    return Node(name, "conv", freeze_attrs({}), tuple(inputs), shape, shape, weights,
                shape[0] * shape[1] * c * 9 * c_in, span(line), frozen=frozen)


def plain(name, kind, inputs, shape, line, units_in=None):
    """A weightless node, or a dense of `units_in` inputs when that is given."""
    weights, macs = (), 0
    if units_in:
        weights = (Weight("kernel", (units_in, shape[0])), Weight("bias", shape))
        macs = units_in * shape[0]
    return Node(name, kind, freeze_attrs({}), tuple(inputs), shape, shape, weights, macs, span(line))


def network(nodes, outputs=(), instances=()) -> Network:
    source = SourceFile.from_text("\n" * 40, FILE)
    return Network("net", "", (8, 8, 4), (plain("input", "input", (), (8, 8, 4), 2), *nodes),
                   source, outputs=tuple(outputs), instances=tuple(instances))


def residual(prefix, line, block_line=30):
    """One instance of `block res`: conv1, conv2, out = add conv2 in."""
    first = f"{prefix}.conv1"
    reads = {"layer1.0": "stem", "layer1.1": "layer1.0.out"}[prefix]
    return [conv(first, [reads], (8, 8, 4), 4, block_line + 1),
            conv(f"{prefix}.conv2", [first], (8, 8, 4), 4, block_line + 2),
            plain(f"{prefix}.out", "add", [f"{prefix}.conv2", reads], (8, 8, 4), block_line + 3)]


def resnet_like(frozen_stem=False) -> Network:
    """stem -> layer1 (repeat 2 res) -> gap -> fc, and aux from gap: two outputs."""
    nodes = [conv("stem", ["input"], (8, 8, 4), 4, 3, frozen=frozen_stem),
             *residual("layer1.0", 4), *residual("layer1.1", 4),
             plain("gap", "globalavgpool", ["layer1.1.out"], (4,), 5),
             plain("fc", "dense", ["gap"], (10,), 6, units_in=4),
             plain("aux", "dense", ["gap"], (5,), 7, units_in=4)]
    use, block = span(4), span(30)
    instances = [Instance("layer1", "res", use, block, repeat=2),
                 Instance("layer1.0", "res", use, block, parent="layer1"),
                 Instance("layer1.1", "res", use, block, parent="layer1")]
    return network(nodes, ["fc", "aux"], instances)


def diamond() -> Network:
    """stem -> left, right -> join (add) -> head."""
    return network([conv("stem", ["input"], (8, 8, 4), 4, 3),
                    conv("left", ["stem"], (8, 8, 4), 4, 4),
                    conv("right", ["stem"], (8, 8, 4), 4, 5),
                    plain("join", "add", ["left", "right"], (8, 8, 4), 6),
                    plain("head", "flatten", ["join"], (256,), 7)])


# --- connected to ------------------------------------------------------------------------------

def test_diamond_has_a_connected_to_column_naming_each_input_in_order():
    text = report.table(diamond().summary())
    head = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert head.split("  ")[-1] == "Connected to"
    connected = {name: line[head.index("Connected to"):].strip()
                 for line in text.splitlines() if (name := line.split(" ")[0]) in
                 {"input", "stem", "left", "right", "join", "head"}}
    assert connected == {"input": "", "stem": "input", "left": "stem", "right": "stem",
                         "join": "left, right", "head": "join"}
    assert "Output: head 256" in text.splitlines()


def test_markdown_of_a_diamond_has_the_column_and_the_output():
    text = report.markdown(diamond().summary())
    assert "| Layer | Kind | Output shape | Params | Trainable | Line | Connected to |" in text
    assert "|---|---|---|---:|---:|---:|---|" in text
    assert "| join | add | 8x8x4 | 0 |  | 6 | left, right |" in text
    assert "| left | conv | 8x8x4 | 148 | 148 | 4 | stem |" in text
    assert "- Output: head 256" in text


def test_two_outputs_are_listed_in_text_and_markdown_and_json():
    net = resnet_like()
    text = report.table(net.summary(), depth=None)
    assert "Outputs: fc 10, aux 5" in text.splitlines()
    assert "- Outputs: fc 10, aux 5" in report.markdown(net.summary()).splitlines()
    assert net.summary()["outputs"] == [{"name": "fc", "shape": [10]}, {"name": "aux", "shape": [5]}]
    cut = text.splitlines()
    head = next(line for line in cut if line.startswith("Layer"))
    at = head.index("Connected to")
    row = {line.split(" ")[0]: line[at:].strip() for line in cut if line[:1].isalpha()}
    assert (row["fc"], row["aux"], row["layer1.0.out"]) == ("gap", "gap", "layer1.0.conv2, stem")


# --- collapsed and expanded views -------------------------------------------------------------

def table_rows(text: str) -> list[list[str]]:
    """The body rows between the header rule and the closing rule, split on runs of 2 spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Layer")) + 2
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("="))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start:end]]


def test_collapsed_view_has_one_row_per_top_level_instance_with_its_nodes_totals():
    net = resnet_like()
    rows = table_rows(report.table(net.summary()))
    assert [r[0] for r in rows] == ["input", "stem", "layer1", "gap", "fc", "aux"]
    layer1 = next(r for r in rows if r[0] == "layer1")
    nodes = net.instance_nodes("layer1")
    assert len(nodes) == 6
    params = sum(n.params for n in nodes)
    assert params == 4 * (9 * 4 * 4 + 4)
    assert layer1 == ["layer1", "res x2", "8x8x4", f"{params:,}", f"{params:,}", "4", "stem"]
    gap = next(r for r in rows if r[0] == "gap")
    assert gap[-1] == "layer1"  # reads layer1.1.out: shown as the collapsed instance


def test_collapsed_totals_equal_the_sum_of_the_instances_nodes_in_json():
    net = resnet_like(frozen_stem=True)
    summary = net.summary()
    assert [i["name"] for i in summary["instances"]] == ["layer1", "layer1.0", "layer1.1"]
    for inst in summary["instances"]:
        nodes = net.instance_nodes(inst["name"])
        assert inst["params"] == sum(n.params for n in nodes)
        assert inst["trainable_params"] == sum(n.trainable_params for n in nodes)
        assert inst["non_trainable_params"] == 0
        assert inst["macs"] == sum(n.macs for n in nodes)
        assert inst["nodes"] == len(nodes) and inst["output"] == nodes[-1].name
        assert inst["output_shape"] == list(nodes[-1].out_shape)
    one = summary["instances"][2]
    assert {k: one[k] for k in ("block", "line", "definition_line", "repeat", "parent", "inputs",
                                "source", "frozen")} == {
        "block": "res", "line": 4, "definition_line": 30, "repeat": None, "parent": "layer1",
        "inputs": ["layer1.0.out"], "source": FILE, "frozen": False}
    assert summary["instances"][0]["repeat"] == 2 and summary["instances"][0]["inputs"] == ["stem"]


def test_depth_2_shows_the_instances_of_a_repeat():
    rows = table_rows(report.table(resnet_like().summary(), depth=2))
    assert [r[0] for r in rows] == ["input", "stem", "layer1.0", "layer1.1", "gap", "fc", "aux"]
    by_name = {r[0]: r for r in rows}
    assert by_name["layer1.0"][1:4] == ["res", "8x8x4", f"{2 * 148:,}"]
    assert by_name["layer1.1"][-1] == "layer1.0" and by_name["gap"][-1] == "layer1.1"


def test_expanded_view_lists_every_node_in_order():
    net = resnet_like()
    for depth in (None, 3, 99):
        rows = table_rows(report.table(net.summary(), depth=depth))
        assert [r[0] for r in rows] == [n.name for n in net.nodes]
    md = report.markdown(net.summary(), None).splitlines()
    assert [line.split(" | ")[0][2:] for line in md if line.startswith("| ")][1:] == \
        [n.name for n in net.layers]


def test_frozen_instance_and_collapse_note():
    net = resnet_like()
    frozen = [replace(n, frozen=True) if n.name.startswith("layer1.") else n for n in net.layers]
    summary = network(frozen, net.outputs, net.instances).summary()
    assert [i["frozen"] for i in summary["instances"]] == [True, True, True]
    rows = {r[0]: r for r in table_rows(report.table(summary))}
    assert rows["layer1"][4] == "frozen"
    text = report.table(summary)
    assert "Blocks collapsed: 5 rows for 10 layers (--expand shows every layer)" in text
    assert "Blocks collapsed" not in report.table(summary, depth=None)


def test_nested_instances_fold_at_their_level():
    """A use inside a block instance: layer1.0.se holds two nodes of its own."""
    net = resnet_like()
    nodes = list(net.layers)
    at = [n.name for n in nodes].index("layer1.0.out")
    nodes[at:at] = [plain("layer1.0.se.pool", "globalavgpool", ["layer1.0.conv2"], (4,), 41),
                    plain("layer1.0.se.gate", "dense", ["layer1.0.se.pool"], (4,), 42, units_in=4)]
    extra = Instance("layer1.0.se", "se", span(33), span(40), parent="layer1.0")
    instances = [*net.instances[:2], extra, net.instances[2]]
    summary = network(nodes, net.outputs, instances).summary()
    assert holders("layer1.0.se.gate", {i["name"] for i in summary["instances"]}) == \
        ["layer1", "layer1.0", "layer1.0.se"]
    rows = [r[0] for r in table_rows(report.table(summary, depth=3))]
    assert rows == ["input", "stem", "layer1.0.conv1", "layer1.0.conv2", "layer1.0.se",
                    "layer1.0.out", "layer1.1.conv1", "layer1.1.conv2", "layer1.1.out",
                    "gap", "fc", "aux"]
    se = next(i for i in summary["instances"] if i["name"] == "layer1.0.se")
    assert (se["nodes"], se["params"], se["inputs"]) == (2, 20, ["layer1.0.conv2"])
    assert next(i for i in summary["instances"] if i["name"] == "layer1")["params"] == 4 * 148 + 20


# --- what a chain is ---------------------------------------------------------------------------

def test_a_chain_is_a_line_of_layers_with_the_last_as_output():
    chain = network([conv("a", ["input"], (8, 8, 4), 4, 3), conv("b", ["a"], (8, 8, 4), 4, 4)])
    assert is_chain(chain.summary())
    assert is_chain(network(chain.layers, ["b"]).summary())
    assert not is_chain(network(chain.layers, ["a"]).summary())  # b reaches no output
    skip = network([conv("a", ["input"], (8, 8, 4), 4, 3), conv("b", ["input"], (8, 8, 4), 4, 4)])
    assert not is_chain(skip.summary())
    assert "Connected to" not in report.table(chain.summary())
    assert "Connected to" in report.table(skip.summary())


SHIPPED = sorted(p.stem.split(".")[0] for p in GOLDEN.glob("*.table.txt")
                 if p.name.count(".") == 2)


def shipped_path(name: str) -> str:
    """Where a golden chain spec lives now: vgg16 moved to specs/zoo/ (issue 9)."""
    return f"specs/zoo/{name}.cnn" if name == "vgg16" else f"specs/{name}.cnn"


@pytest.mark.parametrize("name", SHIPPED)
def test_a_chain_prints_what_main_printed_before_graphs(name, capsys):
    path = shipped_path(name)
    for args, golden in (([], "table.txt"), (["--format", "markdown"], "md.txt"),
                         (["--expand"], "table.txt"), (["--depth", "3"], "table.txt")):
        assert cli_output(["summary", path, *args], capsys) == (GOLDEN / f"{name}.{golden}").read_text()


def test_a_chain_stage_table_is_unchanged(capsys):
    out = cli_output(["summary", "specs/transfer_finetune.cnn", "--stage", "finetune"], capsys)
    assert out == (GOLDEN / "transfer_finetune.finetune.table.txt").read_text()


def within(old, new) -> bool:
    """Every key of `old` is in `new` with the same value (lists: same length, item by item)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and within(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(map(within, old, new))
    return old == new


@pytest.mark.parametrize("name", SHIPPED)
def test_json_keys_are_only_added(name, capsys):
    new = json.loads(cli_output(["summary", shipped_path(name), "--format", "json"], capsys))
    old = json.loads((GOLDEN / f"{name}.json").read_text())
    assert within(old, new)  # every old key, with its old value, layer by layer
    assert new["instances"] == [] and "instances" not in old


def test_json_of_an_unreadable_network_has_the_new_keys_too(tmp_path, capsys):
    path = tmp_path / "bad.cnn"
    path.write_text("input 28x28x1\nconv 6 3x3 )\n")
    obj = json.loads(cli_output(["summary", str(path), "--format", "json"], capsys))
    assert obj["instances"] == [] and obj["outputs"] == [] and obj["network"] is None


# --- the command line -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def cli_output(argv, capsys) -> str:
    capsys.readouterr()
    cli.main(argv)
    return capsys.readouterr().out


@pytest.fixture
def hand_built(monkeypatch):
    """`cnnspec summary` of any file shows the hand-built ResNet-like network."""
    net = resnet_like()
    monkeypatch.setattr(cli, "analyse", lambda source: (net, []))
    return net


def test_cli_collapses_by_default_and_expands_on_request(hand_built, capsys):
    collapsed = table_rows(cli_output(["summary", "specs/lenet5.cnn"], capsys))
    assert [r[0] for r in collapsed] == ["input", "stem", "layer1", "gap", "fc", "aux"]
    expanded = table_rows(cli_output(["summary", "specs/lenet5.cnn", "--expand"], capsys))
    assert [r[0] for r in expanded] == [n.name for n in hand_built.nodes]
    two = table_rows(cli_output(["summary", "specs/lenet5.cnn", "--depth", "2"], capsys))
    assert [r[0] for r in two][2:4] == ["layer1.0", "layer1.1"]
    md = cli_output(["summary", "specs/lenet5.cnn", "--format", "markdown", "--expand"], capsys)
    assert "| layer1.1.out | add | 8x8x4 | 0 |  | 33 | layer1.1.conv2, layer1.0.out |" in md
    obj = json.loads(cli_output(["summary", "specs/lenet5.cnn", "--format", "json", "--depth", "1"],
                                capsys))
    assert len(obj["layers"]) == len(hand_built.layers)  # JSON always has every layer


@pytest.mark.parametrize("argv, message", [
    (["--depth", "0"], "argument --depth: expected a whole number from 1, not '0'"),
    (["--depth", "two"], "argument --depth: expected a whole number from 1, not 'two'"),
    (["--depth", "2", "--expand"], "argument --expand: not allowed with argument --depth"),
])
def test_bad_view_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["summary", "specs/lenet5.cnn", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_check_line_lists_every_output(hand_built, capsys):
    out = cli_output(["check", "specs/lenet5.cnn"], capsys)
    params = 148 + 4 * 148 + (4 * 10 + 10) + (4 * 5 + 5)
    assert hand_built.total_params == params
    assert out.strip() == f"specs/lenet5.cnn: ok, net: 10 layers, {params:,} params, outputs 10, 5"


def test_shipped_specs_are_chains():
    for name in SHIPPED:
        network_, _ = analyse(SourceFile.read(ROOT / shipped_path(name)))
        assert is_chain(network_.summary()), name


def test_a_wide_merge_shows_its_first_inputs_and_their_number():
    branches = [conv(f"b{i}", ["input"], (8, 8, 4), 4, 3 + i) for i in range(12)]
    join = plain("join", "concat", [b.name for b in branches], (8, 8, 48), 20)
    rows = {r[0]: r for r in table_rows(report.table(network([*branches, join]).summary()))}
    assert rows["join"][-1] == "b0, b1, b2, b3, b4, b5, b6, ... (12 inputs)"
    eight = network([*branches[:8], replace(join, inputs=tuple(f"b{i}" for i in range(8)))])
    rows = {r[0]: r for r in table_rows(report.table(eight.summary()))}
    assert rows["join"][-1] == ", ".join(f"b{i}" for i in range(8))


# --- random nested blocks: every view accounts for every layer once ------------------------------

def random_network(seed: int) -> Network:
    """Nodes in nested instances (uses and repeats up to 3 deep), each reading 1-3 earlier nodes."""
    rng = random.Random(seed)
    nodes, instances = [], []

    def fill(prefix: str, parent: str | None, level: int) -> None:
        for i in range(rng.randint(1, 4)):
            name = f"{prefix}u{i}" if prefix == "" else f"{prefix}{i}"
            if level < 3 and rng.random() < 0.4:
                repeat = rng.choice([None, 2, 3])
                instances.append(Instance(name, f"blk{level}", span(3 + level), span(30),
                                          repeat=repeat, parent=parent))
                fill(f"{name}.", name, level + 1)
                continue
            earlier = ["input"] + [n.name for n in nodes]
            inputs = rng.sample(earlier, min(len(earlier), rng.randint(1, 3)))
            nodes.append(conv(name, inputs, (8, 8, 4), 4, 3 + len(nodes), frozen=rng.random() < 0.2))

    fill("", None, 0)
    return network(nodes, instances=[i for i in instances if any(
        n.name.startswith(i.name + ".") for n in nodes)])


@pytest.mark.parametrize("seed", range(40))
def test_every_view_of_random_nested_blocks_shows_each_layer_once(seed):
    net = random_network(seed)
    summary = net.summary()
    by_name = {i["name"]: i for i in summary["instances"]}
    for depth in (1, 2, 3, 4, None):
        rows = view_rows(summary, depth)
        covered = [n.name for r in rows for n in (
            net.instance_nodes(r.item["name"]) if r.is_instance else [net.node(r.item["name"])])]
        assert covered == [n.name for n in net.layers], depth
        assert sum(r.item["params"] for r in rows) == net.total_params
        assert sum(r.item["trainable_params"] for r in rows) == net.trainable_params
        shown = {r.item["name"] for r in rows} | {n.name for n in net.nodes}
        assert all(name in shown for r in rows for name in r.connected)
        if depth is None:
            assert not any(r.is_instance for r in rows)
        for r in rows:
            if r.is_instance:
                assert len(holders(r.item["output"], by_name)) >= (depth or 0)


def test_learning_rate_scales_of_a_collapsed_instance():
    net = resnet_like()
    scaled = [replace(n, lr_scale=0.1) if n.name.startswith("layer1.") else n for n in net.layers]
    summary = network(scaled, net.outputs, net.instances).summary()
    assert [i["lr_scale"] for i in summary["instances"]] == [0.1, 0.1, 0.1]
    assert {r[0]: r for r in table_rows(report.table(summary))}["layer1"][4] == "592 (lr x0.1)"
    mixed = [replace(n, lr_scale=0.5) if n.name == "layer1.1.conv1" else n for n in scaled]
    summary = network(mixed, net.outputs, net.instances).summary()
    assert [i["lr_scale"] for i in summary["instances"]] == [None, 0.1, None]
    rows = {r[0]: r for r in table_rows(report.table(summary, depth=2))}
    assert (rows["layer1.0"][4], rows["layer1.1"][4]) == ("296 (lr x0.1)", "296 (lr mixed)")
    assert [i["lr_scale"] for i in resnet_like().summary()["instances"]] == [1.0, 1.0, 1.0]


# --- the shipped graph specs (through the frontend) ---------------------------------------------

def test_resnet50_collapsed_one_row_per_stage(capsys):
    text = cli_output(["summary", "specs/zoo/resnet50.cnn"], capsys)
    rows = table_rows(text)
    assert [r[0] for r in rows] == ["input", "conv1_pad", "conv1_conv", "conv1_bn", "pool1_pad",
                                    "pool1_pool", "conv2", "conv3", "conv4", "conv5", "avg_pool",
                                    "predictions"]
    stages = {r[0]: (r[1], r[2], r[-1]) for r in rows if r[0].startswith("conv") and "_" not in r[0]}
    assert stages == {"conv2": ("bottleneck x3", "56x56x256", "pool1_pool"),
                      "conv3": ("bottleneck x4", "28x28x512", "conv2"),
                      "conv4": ("bottleneck x6", "14x14x1024", "conv3"),
                      "conv5": ("bottleneck x3", "7x7x2048", "conv4")}
    assert sum(int(r[3].replace(",", "")) for r in rows) == 25_636_712
    assert "Blocks collapsed: 11 rows for 127 layers (--expand shows every layer)" in text


def test_resnet50_expanded_and_json_instances(capsys):
    net, _ = analyse(SourceFile.read(ROOT / "specs" / "zoo" / "resnet50.cnn"))
    rows = table_rows(cli_output(["summary", "specs/zoo/resnet50.cnn", "--expand"], capsys))
    assert [r[0] for r in rows] == [n.name for n in net.nodes] and len(rows) == 128
    obj = json.loads(cli_output(["summary", "specs/zoo/resnet50.cnn", "--format", "json"], capsys))
    stages = [i for i in obj["instances"] if i["parent"] is None]
    assert [(i["name"], i["repeat"], i["nodes"]) for i in stages] == [
        ("conv2", 3, 23), ("conv3", 4, 30), ("conv4", 6, 44), ("conv5", 3, 23)]
    for inst in obj["instances"]:
        nodes = net.instance_nodes(inst["name"])
        assert inst["params"] == sum(n.params for n in nodes)
        assert inst["output"] == nodes[-1].name
    assert next(i for i in obj["instances"] if i["name"] == "conv3.0")["inputs"] == ["conv2.2.out"]


def test_two_heads_lists_both_outputs_and_the_branch(capsys):
    text = cli_output(["summary", "specs/two_heads.cnn"], capsys)
    assert "Outputs: classes 10, box 4" in text.splitlines()
    rows = {r[0]: r for r in table_rows(text)}
    assert (rows["flat"][-1], rows["gap"][-1], rows["box"][-1]) == ("pool2", "pool2", "flat")
    assert cli_output(["check", "specs/two_heads.cnn"], capsys).strip() == \
        "specs/two_heads.cnn: ok, TwoHeads: 8 layers, 38,190 params, outputs 10, 4"


def test_summaries_pause_the_collector_and_restore_it():
    import gc

    from cnnspec.nogc import paused

    seen = []
    probe = paused(lambda: seen.append(gc.isenabled()))
    assert gc.isenabled()
    probe()
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        probe()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError):
        paused(lambda: 1 // 0)()
    assert gc.isenabled()


def test_a_stage_line_names_a_whole_instance_once():
    net = resnet_like()
    scaled = (net.nodes[0], *[replace(n, lr_scale=0.1) if n.name.startswith("layer1.") else n
                              for n in net.layers])
    some = (net.nodes[0], *[replace(n, lr_scale=0.1) if n.name.startswith("layer1.1.") else n
                            for n in net.layers])
    staged = replace(net, stages={"ft": scaled, "some": some})
    lines = report.table(staged.summary()).splitlines()
    assert "Stage ft: 815 trainable, 0 non-trainable; layer1 lr x0.1" in lines
    assert ("Stage some: 815 trainable, 0 non-trainable; layer1.1.conv1 lr x0.1, "
            "layer1.1.conv2 lr x0.1, layer1.1.out lr x0.1") in lines
