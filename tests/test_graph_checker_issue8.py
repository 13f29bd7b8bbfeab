"""The graph-first checker (issue 8): real inputs, outputs, references, poisoning of
descendants only, W210, instances, and every new diagnostic code located, inside and outside
blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnspec.api import analyse
from cnnspec.source import SourceFile

SPECS = Path(__file__).resolve().parent.parent / "specs"
IN = "input 8x8x4\n"

RESNET = """\
network tiny_resnet
input 15x15x3

block basic(filters, stride=1)
  c1:  conv filters 3x3 stride=stride pad=1 bias=false
  bn1: batchnorm -> relu
  c2:  conv filters 3x3 pad=1 bias=false
  bn2: batchnorm
  proj:    conv filters 1x1 stride=stride bias=false from=in  if stride != 1 or in.channels != filters
  proj_bn: batchnorm                                          if stride != 1 or in.channels != filters
  out: add bn2 proj_bn?in -> relu
end

stem:   conv 8 3x3 pad=1 bias=false
layer1: repeat 2 basic 8
layer2: repeat 2 basic 16 first(stride=2)
gap:    globalavgpool
fc:     dense 10 -> softmax
aux_pool: globalavgpool from=layer1
aux:    dense 2
output fc, aux
"""


def check(text: str):
    net, diags = analyse(SourceFile.from_text(text))
    return net, [(d.code, d.span.line, d.span.col, d.message, d.hint) for d in diags]


def located(diags):
    return [(c, line, col) for c, line, col, _m, _h in diags]


def test_a_resnet_style_spec_has_the_right_nodes_inputs_shapes_and_counts():
    net, diags = check(RESNET)
    assert diags == []
    block = ["c1", "bn1", "c2", "bn2", "out"]
    expected = ["stem", *[f"layer1.{k}.{n}" for k in (0, 1) for n in block],
                *[f"layer2.0.{n}" for n in ("c1", "bn1", "c2", "bn2", "proj", "proj_bn", "out")],
                *[f"layer2.1.{n}" for n in block], "gap", "fc", "aux_pool", "aux"]
    assert [n.name for n in net.layers] == expected
    assert net.node("layer1.0.out").inputs == ("layer1.0.bn2", "stem")  # identity shortcut
    assert net.node("layer1.1.out").inputs == ("layer1.1.bn2", "layer1.0.out")
    assert net.node("layer2.0.proj").inputs == ("layer1.1.out",)
    assert net.node("layer2.0.out").inputs == ("layer2.0.bn2", "layer2.0.proj_bn")
    assert net.node("layer2.1.c1").inputs == ("layer2.0.out",)
    assert net.node("aux_pool").inputs == ("layer1.1.out",)
    assert net.node("layer2.0.out").out_shape == (8, 8, 16)
    assert net.node("layer2.0.out").attrs["activation"] == "relu"
    assert net.outputs == ("fc", "aux")
    assert [n.name for n in net.output_nodes] == ["fc", "aux"]
    # by hand: kernels kh*kw*cin*cout (no bias), batch norms 4 vectors of c, dense (in+1)*out
    stem = 3 * 3 * 3 * 8
    basic8 = 2 * (3 * 3 * 8 * 8) + 2 * 4 * 8
    down = 3 * 3 * 8 * 16 + 3 * 3 * 16 * 16 + 2 * 4 * 16 + 8 * 16 + 4 * 16
    basic16 = 2 * (3 * 3 * 16 * 16) + 2 * 4 * 16
    heads = (16 + 1) * 10 + (8 + 1) * 2
    assert net.total_params == stem + 2 * basic8 + down + basic16 + heads == 11_348
    assert net.total_params - net.trainable_params == 2 * 8 * 2 * 2 + 2 * 16 * 3 + 2 * 16 * 2
    assert [(i.name, i.block, i.repeat, i.parent) for i in net.instances] == [
        ("layer1", "basic", 2, None), ("layer1.0", "basic", None, "layer1"),
        ("layer1.1", "basic", None, "layer1"), ("layer2", "basic", 2, None),
        ("layer2.0", "basic", None, "layer2"), ("layer2.1", "basic", None, "layer2")]
    assert [n.name for n in net.instance_nodes("layer2.0")][-1] == "layer2.0.out"


def test_two_independent_branches_each_report_their_error_and_the_merge_is_poisoned():
    text = IN + "a1: conv 4 3x3 strde=2 pad=1\na2: conv 4 30x30\nb1: conv 4 3x3 pad=1 from=input\n" \
        "b2: maxpool 3x3 pad=2\nm: add a2 b2\nfine: conv 4 1x1 from=b1\noutput m, fine\n"
    net, diags = check(text)
    assert located(diags) == [("E102", 2, 16), ("E303", 3, 1), ("E106", 5, 1)]
    assert [n.name for n in net.layers] == ["a1", "b1", "fine"]  # m is poisoned, not reported


def test_a_poisoned_layer_is_not_checked_against_a_wrong_shape():
    text = IN + "a: conv 4 99x99\nb: dense 3\nc: conv 2 1x1 from=input\n"
    net, diags = check(text)
    assert located(diags) == [("E303", 2, 1)]  # b (dense on an image) is not reported
    assert [n.name for n in net.layers] == ["c"]


def test_a_condition_on_a_failed_layer_is_not_an_error_of_its_own():
    text = IN + "block b\n  x: conv 4 99x99\n  y: conv 4 1x1 if x.channels == 4\n  z: conv 2 1x1 from=in\nend\nu: b\n"
    net, diags = check(text)
    assert located(diags) == [("E303", 3, 3)]
    assert [n.name for n in net.layers] == ["u.z"]


def test_w210_names_every_layer_no_output_needs_at_the_first():
    text = IN + "".join(f"d{i}: conv 2 1x1 from=input\n" for i in range(12)) + "keep: conv 2 1x1 from=input\n"
    _net, diags = check(text)
    assert located(diags) == [("W210", 2, 1)]
    assert diags[0][3] == "12 layers reach no output: " + ", ".join(f"'d{i}'" for i in range(10)) + \
        " and 2 more"
    assert "the outputs are keep" in diags[0][4]


def test_w210_inside_a_block_names_the_hierarchical_node():
    _net, diags = check(IN + "block b\n  dead: conv 2 1x1\n  live: conv 3 1x1 from=in\nend\nu: b\n")
    assert [(c, line, col, m) for c, line, col, m, _h in diags] == [
        ("W210", 3, 3, "layer 'u.dead' reaches no output")]


CHAIN_SPECS = ("bottleneck_1x1", "digits_base", "lenet5", "mnist_tutorial", "multichannel",
               "multichannel_stacked", "transfer_feature_extraction", "transfer_finetune", "zoo/vgg16")


def test_every_chain_spec_still_reads_the_line_above():
    for path in [SPECS / f"{name}.cnn" for name in CHAIN_SPECS]:
        net, diags = analyse(SourceFile.read(path))
        assert net is not None and not any(d.severity == "error" for d in diags), path
        assert net.outputs == () and net.instances == ()
        for before, node in zip(net.nodes, net.layers):
            assert node.inputs == (before.name,), (path, node.name)


def test_outputs_may_name_instances_and_hierarchical_nodes():
    net, diags = check(IN + "block b\n  c: conv 2 1x1\n  d: conv 3 1x1\nend\nr: repeat 2 b\n"
                       "output r.0.c, r, r.0\n")
    assert net.outputs == ("r.0.c", "r.1.d", "r.0.d")
    assert located(diags) == []


# --- every new code, with line and column, inside and outside blocks ---

def blocked(body: str, use: str = "u: b 4") -> str:
    """A spec with one block b(f) whose body is `body` (lines 3..), then `use`."""
    return IN + "block b(f)\n" + body + "end\n" + use + "\n"


CODES = [
    # (id, spec, code, line, col, message fragment, whether the hint names the use)
    ("E210-top", IN + "c: conv 2 1x1 from=nope\n", "E210", 2, 20, "unknown reference 'nope'", False),
    ("E210-block", blocked("  c: conv f 1x1 from=nope\n"), "E210", 3, 22, "unknown reference 'nope'", True),
    ("E210-in-top", IN + "c: conv 2 1x1 from=in\n", "E210", 2, 20, "unknown reference 'in'", False),
    ("E210-input-block", blocked("  c: conv f 1x1 from=input\n"), "E210", 3, 22, "unknown reference 'input'", True),
    ("E210-inside", IN + "block b\n  c: conv 2 1x1\nend\nu: b\nd: conv 2 1x1 from=u.x\n", "E210", 6, 20,
     "unknown reference 'u.x'", False),
    ("E210-dropped", blocked("  c: conv f 1x1 if f > 9\n  d: conv f 1x1 from=c\n"), "E210", 4, 22,
     "does not exist in this instance", True),
    ("E210-output", IN + "c: conv 2 1x1\noutput cc\n", "E210", 3, 8, "unknown reference 'cc'", False),
    ("E211-top", IN + "a: conv 2 1x1 from=z\nz: conv 2 1x1\n", "E211", 2, 20, "defined later, at line 3", False),
    ("E211-block", blocked("  a: add in z\n  z: conv f 1x1\n"), "E211", 3, 13, "defined later, at line 4", True),
    ("E212-top", IN + "a: conv 2 1x1 from=a\n", "E212", 2, 20, "reads itself", False),
    ("E212-block", blocked("  a: add in a\n"), "E212", 3, 13, "reads itself", True),
    ("E213-self", blocked("  x: b f\n"), "E213", 3, 6, "uses itself: b -> b", False),
    ("E213-repeat", blocked("  x: repeat 2 b f\n"), "E213", 3, 3, "uses itself: b -> b", False),
    ("E214-end", IN + "end\n", "E214", 2, 1, "'end' without", False),
    ("E214-open", IN + "block b\n  c: conv 2 1x1\n", "E214", 2, 7, "has no 'end'", False),
    ("E215-twice", IN + "block b\nend\nblock b\nend\n", "E215", 4, 7, "defined twice", False),
    ("E215-kind", IN + "block dense\nend\n", "E215", 2, 7, "it is a layer kind", False),
    ("E216-param", IN + "block b(f, f)\nend\n", "E216", 2, 12, "parameter 'f' is given twice", False),
    ("E216-top", blocked("  c: conv f 1x1\n", "u: b 4 g=1"), "E216", 5, 8, "no parameter 'g'", False),
    ("E216-nested", IN + "block a(f)\n  c: conv f 1x1\nend\nblock b(f)\n  x: a\nend\nu: b 4\n", "E216", 6, 3,
     "needs a value for 'f'", True),
    ("E216-activation", blocked("  c: conv f 1x1\n", "u: b 4 -> relu"), "E216", 5, 8, "takes no '-> activation'",
     False),
    ("E217-one", IN + "m: add input\n", "E217", 2, 4, "at least 2 inputs, not 1", False),
    ("E217-from", blocked("  m: add in in from=in\n"), "E217", 3, 16, "not from=", True),
    ("E217-value", IN + "m: add input 3\n", "E217", 2, 14, "'3' is not a layer name", False),
    ("E217-alt", IN + "c: conv 2 1x1 a?input\n", "E217", 2, 15, "only merges", False),
    ("E218", IN + "c: conv 2 1x1\noutput c, c\n", "E218", 3, 11, "listed twice", False),
    ("E220-top", IN + "c: conv ff*2 1x1\n", "E220", 2, 9, "unknown name 'ff'", False),
    ("E220-block", blocked("  c: conv ff*2 1x1\n"), "E220", 3, 11, "unknown name 'ff'", True),
    ("E220-attr", blocked("  c: conv in.depth 1x1\n"), "E220", 3, 11, "no attribute 'depth'", True),
    ("E221-top", IN + "c: conv (8 // 0) 1x1\n", "E221", 2, 15, "division by zero", False),
    ("E221-block", blocked("  c: conv (f % (f - 4)) 1x1\n"), "E221", 3, 17, "division by zero", True),
    ("E222-top", IN + "c: conv 2 1x1 if 3\n", "E222", 2, 18, "must be true or false, not 3", False),
    ("E222-block", blocked("  c: conv 2 1x1 if f and true\n"), "E222", 3, 20, "needs true or false, not 4", True),
    ("E223-top", blocked("  c: conv f 1x1\n", "r: repeat 2"), "E223", 5, 4, "a count and a block name", False),
    ("E223-block", IN + "block a\n  c: conv 2 1x1\nend\nblock b(n)\n  r: repeat n a\nend\nu: b 0\n", "E223", 6, 13,
     "positive integer, not 0 (n)", True),
    ("E223-first", blocked("  c: conv f 1x1\n", "u: b 4 first(f=2)"), "E223", 5, 8, "belongs to a repeat", False),
    ("E004-repeat", blocked("  c: conv f 1x1\n", "r: repeat 100001 b 4"), "E004", 5, 11, "more than 100,000", False),
    ("E004-repeat-block", IN + "block a\n  c: conv 2 1x1\nend\nblock b(n)\n  r: repeat n a\nend\nu: b 200000\n",
     "E004", 6, 13, "more than 100,000", True),
    ("W210-top", IN + "a: conv 2 1x1\nb: conv 2 1x1 from=input\n", "W210", 2, 1, "layer 'a' reaches no output", False),
]


@pytest.mark.parametrize("spec, code, line, col, fragment, in_use", [c[1:] for c in CODES],
                         ids=[c[0] for c in CODES])
def test_code_line_col(spec, code, line, col, fragment, in_use):
    _net, diags = check(spec)
    found = [d for d in diags if d[0] == code]
    assert found, diags
    assert (found[0][1], found[0][2]) == (line, col), found
    assert fragment in found[0][3]
    hint = found[0][4] or ""
    assert (", a use of " in hint) == in_use, hint


def test_the_use_context_gives_instance_block_and_line():
    _net, diags = check(blocked("  c: conv f 1x1 from=nope\n", "stage1: repeat 2 b 4"))
    assert diags[0][4].endswith("(in stage1.0, a use of b at line 5)")


# --- `use base until X` on a graph base ---

BASE = """\
input 8x8x3
block unit(f)
  c: conv f 3x3 pad=1
  r: relu
end
stem: conv 4 1x1
aux: conv 2 1x1 from=input
s1: repeat 2 unit 4 from=stem
flatten
head: dense 3
output head, aux
"""


def with_base(tmp_path, text: str):
    (tmp_path / "base.cnn").write_text(BASE)
    spec = tmp_path / "top.cnn"
    spec.write_text('import "base.cnn" as base\n' + text)
    net, diags = analyse(SourceFile.read(spec))
    return net, [(d.code, d.span.line, d.span.col, d.message, d.hint) for d in diags]


def test_use_until_an_instance_keeps_its_ancestors_and_the_blocks(tmp_path):
    net, diags = with_base(tmp_path, "use base until s1\ngap: globalavgpool\nfc: dense 5\n")
    assert diags == []
    assert [(n.name, n.inputs, n.group) for n in net.layers] == [
        ("stem", ("input",), "base"), ("s1.0.c", ("stem",), "base"), ("s1.0.r", ("s1.0.c",), "base"),
        ("s1.1.c", ("s1.0.r",), "base"), ("s1.1.r", ("s1.1.c",), "base"),
        ("gap", ("s1.1.r",), None), ("fc", ("gap",), None)]
    assert [i.name for i in net.instances] == ["s1", "s1.0", "s1.1"]


def test_use_until_inside_an_instance_is_refused_with_a_hint(tmp_path):
    _net, diags = with_base(tmp_path, "use base until s1.0.c\n")
    assert located(diags) == [("E202", 2, 1)]
    assert "e.g. 's1'" in diags[0][4]


def test_use_a_whole_graph_base(tmp_path):
    net, diags = with_base(tmp_path, "use base\n")
    assert located(diags) == [("W210", 7, 1)]  # aux (base.cnn line 7): this spec has no 'output'
    assert diags[0][3] == "layer 'aux' reaches no output"
    assert [n.name for n in net.layers][-2:] == ["flatten_1", "head"]
