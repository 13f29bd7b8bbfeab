"""`expect` on graphs (issue 8): hierarchical layer names, whole block instances, outputs.

An instance's shape is its output's (its last layer's); its params, trainable_params,
non_trainable_params and macs are sums over its layers. Networks are hand-built IR nodes
(tests/graph_ir.py) checked through StagePlan, the interface the checker calls.
"""

from __future__ import annotations

from graph_ir import expect, freeze, instance, network, sel
from graph_specs import RESNET, RULES_LINE, block_params

from cnnspec.api import analyse
from cnnspec.diagnostics import Diagnostics
from cnnspec.expectations import check_expectations
from cnnspec.source import SourceFile
from cnnspec.stages import StagePlan

# every conv node: kernel 1x1x4xC + bias C = 5C params (C = 4: 20), macs 8*8*4*4 = 1024
NODES = network(
    ("stem", ["input"]),
    ("layer1.0.conv1", ["stem"]), ("layer1.0.proj", ["stem"]),
    ("layer1.0.out", ["layer1.0.conv1", "layer1.0.proj"], False),
    ("layer1.1.conv1", ["layer1.0.out"]), ("layer1.1.out", ["layer1.1.conv1", "layer1.0.out"], False),
    ("gap", ["layer1.1.out"]), ("aux", ["stem"]))
INSTANCES = (instance("layer1", repeat=2), instance("layer1.0", "layer1"), instance("layer1.1", "layer1"))


def check(*expects, rules=(), nodes=NODES, failed=(), outputs=()):
    diags = Diagnostics()
    plan = StagePlan(diags)
    for stmt in (*rules, *expects):
        plan.add(stmt)
    plan.apply(nodes, {}, set(failed), INSTANCES, outputs)
    return diags.sorted()


def test_expectations_on_hierarchical_layer_names_hold():
    assert check(expect("layer1.0.conv1.shape", "==", (8, 8, 4)),
                 expect("layer1.1.conv1.params", "==", 20),
                 expect("layer1.0.out.params", "==", 0)) == []


def test_an_instance_sums_its_layers():
    assert check(expect("layer1.0.params", "==", 40), expect("layer1.params", "==", 60),
                 expect("layer1.macs", "==", 3 * 1024), expect("layer1.1.non_trainable_params", "==", 0)) == []


def test_a_failed_instance_sum_says_what_was_summed():
    [d] = check(expect("layer1.params", "==", 61, line=7))
    assert (d.code, d.span.line) == ("E401", 7)
    assert d.message == "expectation failed: layer1.params is 60, expected == 61"
    assert d.hint == "the sum over its 5 layers"


def test_an_instance_shape_is_its_last_layer_shape():
    [d] = check(expect("layer1.0.shape", "==", (4, 4, 4)))
    assert d.message == "expectation failed: layer1.0.shape is 8x8x4, expected == 4x4x4"
    assert d.hint == "the shape of layer1.0 is that of its last layer, 'layer1.0.out'"
    assert check(expect("layer1.shape", "==", (8, 8, 4))) == []


def test_trainable_params_of_a_frozen_instance():
    rules = (freeze(sel("layer1.0")),)
    assert check(expect("layer1.0.trainable_params", "==", 0), expect("layer1.trainable_params", "==", 20),
                 expect("layer1.non_trainable_params", "==", 40), rules=rules) == []


def test_an_unknown_instance_is_e202_with_a_suggestion():
    [d] = check(expect("layer2.0.params", "==", 1, line=9))
    assert (d.code, d.span.line, d.span.col) == ("E202", 9, 8)
    assert d.message == "no layer or block instance named 'layer2.0'"
    assert d.hint == "did you mean 'layer1.0'?"


def test_an_unknown_attribute_of_an_instance_is_e402():
    [d] = check(expect("layer1.trainable", "==", 1))
    assert d.code == "E402" and d.message == "a block instance has no 'trainable'"
    assert d.hint == "did you mean 'trainable_params'?"


def test_a_failed_layer_inside_an_instance_silences_its_expectations():
    nodes = [n for n in NODES if n.name != "layer1.1.conv1"]
    assert check(expect("layer1.params", "==", 1), expect("layer1.1.shape", "==", (1,)),
                 expect("layer1.1.conv1.shape", "==", (1,)), nodes=nodes,
                 failed={"layer1.1.conv1"}) == []
    # ... but an expectation on another, complete instance is still checked
    assert [d.code for d in check(expect("layer1.0.params", "==", 1), nodes=nodes,
                                  failed={"layer1.1.conv1"})] == ["E401"]


def test_output_is_the_first_output_of_a_multi_output_network():
    assert check(expect("output.shape", "==", (8, 8, 4)), outputs=("gap", "aux")) == []
    [d] = check(expect("output.params", "==", 0), outputs=("aux", "gap"))
    assert d.message == "expectation failed: aux.params is 20, expected == 0"


def test_without_a_layout_instances_come_from_dotted_names():
    diags = Diagnostics()
    check_expectations([expect("layer1.1.params", "==", 20)], NODES, set(), diags)
    assert diags.sorted() == []


def test_a_chain_keeps_its_messages():
    chain = network(("c", ["input"]), ("d", ["c"]))
    diags = Diagnostics()
    check_expectations([expect("cc.shape", "==", (3,))], chain, set(), diags)
    [d] = diags.sorted()
    assert d.message == "no layer named 'cc'" and d.hint == "did you mean 'c'?"


# --- through cnnspec.loads, once the graph checker is merged ----------------------------------

def test_instance_expectations_through_loads():
    layer2 = block_params(16, 32, True) + block_params(32, 32, False)
    text = RESNET + (f"expect layer2.0.shape == 16x16x32\nexpect layer2.params == {layer2}\n"
                     f"expect layer1.0.conv1.params == {9 * 16 * 16}\nexpect layer1.macs == "
                     f"{4 * 32 * 32 * 9 * 16 * 16}\n")
    _net, diags = analyse(SourceFile("e.cnn", text))
    assert [d for d in diags if d.severity == "error"] == []


def test_a_failed_instance_expectation_through_loads_is_located():
    _net, diags = analyse(SourceFile("e.cnn", RESNET + "expect layer2.params == 1\n"))
    [d] = [d for d in diags if d.code == "E401"]
    assert (d.span.line, d.span.col) == (RULES_LINE, 1)
    layer2 = block_params(16, 32, True) + block_params(32, 32, False)
    assert d.message == f"expectation failed: layer2.params is {layer2:,}, expected == 1"
    assert d.hint == "the sum over its 11 layers"
