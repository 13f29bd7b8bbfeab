"""Freeze rules on graphs (issue 8): by layer, by block instance, by range a..b over paths.

Networks are built by hand as IR nodes (tests/graph_ir.py) and go through StagePlan, the
interface the checker calls: plan.add(rule) for each statement, then plan.apply(...).
"""

from __future__ import annotations

from graph_ir import freeze, instance, network, sel, unfreeze
from graph_specs import RESNET, RULES_LINE, block_params

import cnnspec
from cnnspec.api import analyse
from cnnspec.diagnostics import Diagnostics
from cnnspec.selection import Layout
from cnnspec.source import SourceFile
from cnnspec.stages import StagePlan
from cnnspec.suggestions import Suggester


def run(nodes, *rules, instances=(), failed=()):
    diags = Diagnostics()
    plan = StagePlan(diags)
    for rule in rules:
        plan.add(rule)
    staged = plan.apply(nodes, {}, set(failed), instances)
    return staged[None], diags.sorted()


def frozen(nodes) -> list[str]:
    return [n.name for n in nodes if n.frozen]


# input -> a -> b1 -> b2 ----\
#          |-> side (a head no later layer reads)
#          \-> c1 ------------ m (add b2 c1) -> d
DIAMOND = network(("a", ["input"]), ("b1", ["a"]), ("side", ["a"]), ("b2", ["b1"]),
                  ("c1", ["a"]), ("m", ["b2", "c1"], False), ("d", ["m"]))


def test_a_range_across_a_diamond_takes_both_arms_and_not_the_side_branch():
    nodes, diags = run(DIAMOND, freeze(sel("a", "d")))
    assert diags == []
    assert frozen(nodes) == ["a", "b1", "b2", "c1", "m", "d"]


def test_a_range_inside_one_arm():
    nodes, diags = run(DIAMOND, freeze(sel("b1", "m")))
    assert diags == [] and frozen(nodes) == ["b1", "b2", "m"]


def test_a_range_between_two_branches_is_located_e502():
    _nodes, diags = run(DIAMOND, freeze(sel("b2", "c1", line=7, col=8)))
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E502", 7, 8)]
    assert "'c1' does not depend on 'b2'" in diags[0].message
    assert "one by one: 'b2, c1'" in diags[0].hint


def test_a_backwards_range_keeps_its_chain_message():
    _nodes, diags = run(DIAMOND, freeze(sel("d", "a")))
    assert [d.code for d in diags] == ["E502"] and "runs backwards" in diags[0].message
    assert diags[0].hint == "write a..d"


def test_a_chain_range_is_one_run_without_a_walk():
    chain = network(("a", ["input"]), ("b", ["a"]), ("c", ["b"]), ("d", ["c"]))
    layout = Layout(chain, {}, Suggester())
    assert layout.chain_start == [0, 0, 0, 0, 0]
    assert layout.between([(1, 1)], [(3, 3)]) == [(1, 3)]
    assert layout._readers is None  # the chain needed no walk
    nodes, _ = run(chain, freeze(sel("b", "c")))
    assert frozen(nodes) == ["b", "c"]


def test_chain_starts_break_at_merges_and_branches():
    layout = Layout(DIAMOND, {}, Suggester())
    # input a b1 side b2 c1 m d: side reads a (not b1), b2 reads b1 (not side), c1 reads a
    assert layout.chain_start == [0, 0, 0, 3, 4, 5, 6, 6]


# --- block instances ------------------------------------------------------------------------

BLOCKS = network(
    ("stem", ["input"]),
    ("layer1.0.conv1", ["stem"]), ("layer1.0.conv2", ["layer1.0.conv1"]),
    ("layer1.0.proj", ["stem"]), ("layer1.0.out", ["layer1.0.conv2", "layer1.0.proj"], False),
    ("layer1.1.conv1", ["layer1.0.out"]), ("layer1.1.out", ["layer1.1.conv1", "layer1.0.out"], False),
    ("layer2.0.conv1", ["layer1.1.out"]), ("layer2.0.out", ["layer2.0.conv1", "layer1.1.out"], False),
    ("head", ["layer2.0.out"]))
INSTANCES = (instance("layer1", repeat=2), instance("layer1.0", "layer1"), instance("layer1.1", "layer1"),
             instance("layer2", repeat=1), instance("layer2.0", "layer2"))


def names_of(prefix):
    return [n.name for n in BLOCKS if n.name.startswith(prefix + ".")]


def test_freezing_an_instance_freezes_all_its_nodes():
    nodes, diags = run(BLOCKS, freeze(sel("layer1")), instances=INSTANCES)
    assert diags == [] and frozen(nodes) == names_of("layer1")
    assert len(frozen(nodes)) == 6


def test_freezing_one_instance_of_a_repeat():
    nodes, diags = run(BLOCKS, freeze(sel("layer1.1")), instances=INSTANCES)
    assert diags == [] and frozen(nodes) == ["layer1.1.conv1", "layer1.1.out"]


def test_instances_are_found_from_dotted_names_without_the_list():
    nodes, diags = run(BLOCKS, freeze(sel("layer1.0")))
    assert diags == [] and frozen(nodes) == names_of("layer1.0")


def test_a_range_of_instances_takes_them_whole_side_branches_too():
    nodes, diags = run(BLOCKS, freeze(sel("layer1", "layer2")), instances=INSTANCES)
    assert diags == []
    assert frozen(nodes) == names_of("layer1") + names_of("layer2")
    assert "layer1.0.proj" in frozen(nodes)  # reads the stem, not layer1.0.conv1


def test_a_range_from_a_layer_to_an_instance():
    nodes, _ = run(BLOCKS, freeze(sel("stem", "layer1.0")), instances=INSTANCES)
    assert frozen(nodes) == ["stem", *names_of("layer1.0")]


def test_unfreeze_the_last_instance_after_freezing_everything():
    nodes, diags = run(BLOCKS, freeze(sel("stem", "head")), unfreeze(sel("layer2.0")),
                       instances=INSTANCES)
    assert diags == []
    assert frozen(nodes) == ["stem", *names_of("layer1"), "head"]


def test_an_unknown_instance_gets_a_suggestion():
    _nodes, diags = run(BLOCKS, freeze(sel("layr1", line=9, col=8)), instances=INSTANCES)
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E202", 9, 8)]
    assert diags[0].message == "no layer or block instance named 'layr1'"
    assert diags[0].hint == "did you mean 'layer1'?"


def test_a_failed_layer_or_instance_is_not_reported_again():
    nodes = [n for n in BLOCKS if not n.name.startswith("layer2")]
    _nodes, diags = run(nodes, freeze(sel("layer2")), freeze(sel("layer2.0.out")),
                        failed={"layer2.0.conv1", "layer2.0.out"}, instances=INSTANCES)
    assert diags == []


def test_an_instance_without_layers_selects_nothing_w501():
    _nodes, diags = run(BLOCKS, freeze(sel("layer9")), instances=(*INSTANCES, instance("layer9")))
    assert [d.code for d in diags] == ["W501"]


def test_overlap_of_an_instance_and_its_layer_is_selected_twice():
    _nodes, diags = run(BLOCKS, freeze(sel("layer1"), sel("layer1.0.conv2", col=16)), instances=INSTANCES)
    assert [(d.code, d.span.col) for d in diags] == [("E502", 16)]
    assert "'layer1.0.conv2' is selected twice" in diags[0].message


def test_a_rule_on_an_instance_of_weightless_nodes_warns():
    nodes = network(("a", ["input"]), ("blk.m", ["a", "input"], False))
    _nodes, diags = run(nodes, freeze(sel("blk")))
    assert [d.code for d in diags] == ["W501"]


# --- through cnnspec.loads, once the graph checker is merged ----------------------------------

def test_freeze_an_instance_through_loads():
    net = cnnspec.loads(RESNET + "freeze layer1\n")
    assert frozen(net.nodes) == [n.name for n in net.nodes if n.name.startswith("layer1.")]
    layer2_moving_stats = 2 * 2 * (2 * 32)  # two blocks, two batchnorms, mean and variance
    assert net.total_params - net.trainable_params == 2 * block_params(16, 16, False) + layer2_moving_stats


def test_a_range_of_instances_through_loads_takes_the_projection():
    net = cnnspec.loads(RESNET + "freeze layer1..layer2.0\n")
    assert net.node("layer2.0.proj").frozen and net.node("layer1.0.conv1").frozen
    assert not net.node("stem").frozen and not net.node("layer2.1.conv1").frozen


def test_a_range_across_the_two_arms_of_a_block_is_e502_through_loads():
    _net, diags = analyse(SourceFile("r.cnn", RESNET + "freeze layer2.0.conv1..layer2.0.proj\n"))
    [d] = [d for d in diags if d.code == "E502"]
    assert (d.span.line, d.span.col) == (RULES_LINE, 8)
    assert "'layer2.0.proj' does not depend on 'layer2.0.conv1'" in d.message


def test_range_walks_off_the_chain_are_bounded_per_analysis():
    layout = Layout(DIAMOND, {}, Suggester(), range_work=10)
    assert layout.between([(1, 1)], [(7, 7)]) == [(1, 2), (4, 7)]  # walks 7 layers
    assert layout.between([(1, 1)], [(7, 7)]) is None  # 7 more would pass 10
    assert layout.between([(2, 2)], [(4, 4)]) == [(2, 2), (4, 4)]  # 3 still fit


def test_a_range_past_the_budget_is_e004_at_the_selection(monkeypatch):
    from cnnspec import selection
    monkeypatch.setattr(selection, "MAX_RANGE_WORK", 10)
    _nodes, diags = run(DIAMOND, freeze(sel("a", "d")), freeze(sel("a", "m", line=41, col=8)))
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E004", 41, 8)]
    assert "more than 10 layers" in diags[0].message
