"""The merge kinds add, concat and multiply: shape rules, attrs and errors (E311-E313).

Each case parses a real layer line (so that spans are the parser's), strips the positional
input names as the checker does, and calls the kind's resolve() with the inputs' shapes.
"""

from __future__ import annotations

import pytest

import cnnspec
from cnnspec import kinds
from cnnspec import syntax as S
from cnnspec.api import analyse
from cnnspec.args import ArgReader
from cnnspec.diagnostics import Diagnostics
from cnnspec.kinds import KINDS, MANY, NODE_KINDS, merge
from cnnspec.parser import parse
from cnnspec.source import SourceFile


def merge_line(line: str) -> S.Layer:
    spec, diags = parse(SourceFile.from_text("input 8x8x3\n" + line + "\n"))
    assert not diags.has_errors(), diags.sorted()
    return next(st for st in spec.statements if isinstance(st, S.Layer))


def resolve(line: str, shapes, names=None):
    """(Resolved or None, diagnostics) for a merge line fed the given input shapes."""
    layer = merge_line(line)
    names = names or tuple(v.value for v in layer.args)
    kind = KINDS[layer.kind]
    diags = Diagnostics()
    rest = [v for v in layer.args if v.kind != "word" or v.value not in names]
    r = ArgReader(diags, layer.kind, rest, layer.options, kind.options | kinds.COMMON_OPTIONS)
    r.inputs = tuple(names)
    out = kind.resolve(r, layer, tuple(shapes))
    r.finish()
    return out, diags.sorted()


def only_error(line, shapes, names=None):
    out, diags = resolve(line, shapes, names)
    assert out is None
    assert len(diags) == 1, diags
    return diags[0]


# --- what every kind declares ------------------------------------------------------------

def test_every_kind_declares_arity_and_flat_order():
    for name, kind in KINDS.items():
        assert kind.arity in (1, MANY), name
        assert kind.flat_order in kinds.FLAT_ORDERS, name
        assert isinstance(kind.fused_activation, bool), name
    assert {n for n, k in NODE_KINDS.items() if k.arity is MANY} == {"add", "concat", "multiply"}
    assert [NODE_KINDS[n].flat_order for n in ("add", "multiply", "concat", "flatten", "batchnorm",
                                                 "dropout", "activation", "dense", "conv")] == \
        ["elementwise", "elementwise", "concat", "makes", "keeps", "keeps", "keeps", "new", "new"]


def test_node_kinds_cover_every_node_kind_once():
    assert set(NODE_KINDS) == set(kinds.NODE_KIND.values())
    assert NODE_KINDS["activation"] is KINDS["activation"]
    assert kinds.NODE_KIND["relu"] == "activation" and kinds.NODE_KIND["add"] == "add"


# --- good shapes ---------------------------------------------------------------------------

@pytest.mark.parametrize("line, shapes, out, attrs", [
    ("s: add a b", [(8, 8, 16), (8, 8, 16)], (8, 8, 16), {}),
    ("s: add a b c", [(10,), (10,), (10,)], (10,), {}),
    ("s: concat a b", [(8, 8, 16), (8, 8, 32)], (8, 8, 48), {"axis": "channels"}),
    ("s: concat a b c", [(5,), (7,), (1,)], (13,), {"axis": "flat"}),
    ("s: multiply a b", [(8, 8, 16), (8, 8, 16)], (8, 8, 16), {}),
    ("s: multiply a g", [(14, 14, 64), (64,)], (14, 14, 64), {}),
    ("s: multiply g a", [(1, 1, 64), (14, 14, 64)], (14, 14, 64), {}),
    ("s: multiply a b", [(32,), (32,)], (32,), {}),
])
def test_good_shapes(line, shapes, out, attrs):
    res, diags = resolve(line, shapes)
    assert diags == []
    assert res.out_shape == out
    assert res.attrs == {**attrs, "activation": "linear", "alpha": None}
    assert res.weights == () and res.macs == 0


def test_fused_activation():
    res, diags = resolve("s: add a b -> leaky_relu alpha=0.2", [(4, 4, 2), (4, 4, 2)])
    assert diags == [] and res.attrs["activation"] == "leaky_relu" and res.attrs["alpha"] == 0.2
    assert resolve("s: concat a b -> relu", [(3,), (4,)])[0].attrs["activation"] == "relu"


def test_unknown_fused_activation_is_located():
    d = only_error("s: add a b -> relux", [(4,), (4,)])
    assert (d.code, d.span.line, d.span.col) == ("E101", 2, 12)


# --- bad shapes: every input's name and shape in the message, and the fix ------------------

def test_add_channels_mismatch_says_the_projection():
    d = only_error("out: add bn3 shortcut", [(56, 56, 256), (56, 56, 64)])
    assert (d.code, d.span.line, d.span.col) == ("E312", 2, 1)
    assert "'bn3' 56x56x256 and 'shortcut' 56x56x64" in d.message
    assert "conv 256 1x1 from=shortcut" in d.hint


def test_add_spatial_and_channels_mismatch_says_the_strided_projection():
    d = only_error("out: add bn3 x", [(28, 28, 512), (56, 56, 256)])
    assert d.code == "E313"
    assert "'bn3' 28x28x512 and 'x' 56x56x256" in d.message
    assert "conv 512 1x1 stride=2 from=x" in d.hint


def test_odd_sizes_take_the_ceil_of_a_stride():
    d = only_error("out: add a b", [(4, 4, 8), (7, 7, 8)])
    assert "stride=2" in d.hint and "4x4x8" in d.hint


def test_add_smaller_input_gets_the_zeropad():
    d = only_error("out: add a b", [(32, 32, 8), (29, 30, 8)])
    assert d.code == "E313"
    assert "'a' 32x32x8 and 'b' 29x30x8" in d.message
    assert "zeropad (1, 2, 1, 1) from=b" in d.hint


def test_mixed_sizes_pad_both():
    d = only_error("out: add a b", [(30, 32, 8), (32, 30, 8)])
    assert "zeropad (1, 1, 0, 0) from=a" in d.hint and "zeropad (0, 0, 1, 1) from=b" in d.hint


def test_larger_not_a_stride_multiple_pads_the_first():
    d = only_error("out: add a b", [(10, 10, 8), (11, 12, 8)])
    assert "zeropad 'a' by (0, 1, 1, 1) to 11x12" in d.hint


def test_add_image_and_flat_says_flatten_or_pool():
    d = only_error("out: add a b", [(8, 8, 16), (1024,)])
    assert d.code == "E311"
    assert "'a' 8x8x16 and 'b' 1024" in d.message
    assert "'flatten from=a' gives 1,024 values" in d.hint and "'globalavgpool from=a' gives 16" in d.hint


def test_add_flat_lengths():
    d = only_error("out: add a b c", [(10,), (10,), (12,)])
    assert d.code == "E312"
    assert "'a' 10, 'b' 10 and 'c' 12" in d.message
    assert "dense 10 from=c" in d.hint


def test_concat_heights_differ_channels_may():
    d = only_error("m: concat a b", [(8, 8, 16), (4, 4, 32)])
    assert d.code == "E313"
    assert "one height and width" in d.message and "'a' 8x8x16 and 'b' 4x4x32" in d.message
    assert "'zeropad (2, 2, 2, 2) from=b'" in d.hint
    assert "shrink 'a' to 4x4: 'conv 16 1x1 stride=2 from=a'" in d.hint  # keeps a's own channels


def test_concat_image_and_flat():
    d = only_error("m: concat a b", [(7,), (2, 2, 3)])
    assert d.code == "E311" and "'flatten from=b' gives 12 values" in d.hint


def test_multiply_gate_of_the_wrong_width():
    d = only_error("m: multiply x g", [(14, 14, 64), (32,)])
    assert d.code == "E312"
    assert "'x' 14x14x64 and 'g' 32" in d.message
    assert "dense 64 -> sigmoid" in d.hint


def test_multiply_images_of_other_sizes():
    d = only_error("m: multiply x y", [(14, 14, 64), (7, 7, 64)])
    assert d.code == "E313" and "zeropad (3, 4, 3, 4) from=y" in d.hint


def test_one_input_follows_the_rules_the_checker_refuses_it_first():
    res, diags = resolve("m: add a", [(4, 4, 2)])  # the checker says E217 before resolving
    assert diags == [] and res.out_shape == (4, 4, 2)


def test_a_lone_shape_from_a_chain_caller_is_one_input_not_a_crash():
    layer = merge_line("m: concat")
    diags = Diagnostics()
    out = KINDS["concat"].resolve(ArgReader(diags, "concat", [], [], set()), layer, (8, 8, 3))
    assert out.out_shape == (8, 8, 3) and diags.sorted() == []


def test_many_inputs_list_the_two_that_disagree():
    shapes = [(4,)] * 40 + [(5,)]
    d = only_error("m: add " + " ".join(f"i{k}" for k in range(41)), shapes)
    assert "'i0' 4 and 'i40' 5 (and 39 more inputs)" in d.message
    assert len(d.message) < 200


# --- through cnnspec.loads --

IN = "input 28x28x3\n"


def test_a_residual_add_through_loads():
    net = cnnspec.loads(IN + "a: conv 8 3x3 pad=1\nb: conv 8 3x3 pad=1\ns: add a b -> relu\n")
    s = net.node("s")
    assert (s.kind, s.inputs, s.out_shape, s.params, s.macs) == ("add", ("a", "b"), (28, 28, 8), 0, 0)
    assert s.attrs["activation"] == "relu"


def test_concat_and_a_squeeze_excite_gate_through_loads():
    net = cnnspec.loads(IN + "x: conv 16 3x3 pad=1\ny: conv 8 1x1 from=input\nc: concat x y\n"
                        "g: globalavgpool\ngd: dense 24 -> sigmoid\nm: multiply c gd\n")
    assert net.node("c").out_shape == (28, 28, 24) and net.node("c").attrs["axis"] == "channels"
    assert net.node("m").out_shape == (28, 28, 24) and net.node("m").inputs == ("c", "gd")


def test_a_merge_mismatch_through_loads_is_located():
    _net, diags = analyse(SourceFile("t.cnn", IN + "a: conv 8 3x3\nb: conv 4 3x3 from=input\nm: add a b\n"))
    [d] = [d for d in diags if d.code.startswith("E3")]
    assert (d.code, d.span.line, d.span.col) == ("E312", 4, 1)
    assert "'a' 26x26x8 and 'b' 26x26x4" in d.message and "conv 8 1x1 from=b" in d.hint


def test_fixes_use_the_names_as_the_line_writes_them():
    """In a block, messages list the nodes' hierarchical names; fixes say what the line writes."""
    layer = merge_line("m: add c1 c2")
    diags = Diagnostics()
    r = ArgReader(diags, "add", [], [], set())
    r.inputs = ("x.c1", "x.c2")
    r.input_words = merge.written_names(r.inputs, "x.m")
    assert KINDS["add"].resolve(r, layer, ((14, 14, 8), (14, 14, 4))) is None
    [d] = diags.sorted()
    assert "'x.c1' 14x14x8 and 'x.c2' 14x14x4" in d.message
    assert d.hint == "give 'c2' 8 channels with a 1x1 conv: 'conv 8 1x1 from=c2'"


def test_written_names():
    assert merge.written_names(("layer2.0.bn3", "layer1.2.out"), "layer2.0.out", "layer1.2.out") == \
        ("bn3", "in")
    assert merge.written_names(("a.b.c", "stem"), "a.b.m") == ("c", "stem")
    assert merge.written_names(("a", "b"), "m") == ("a", "b")  # top level: as they are


def test_a_1x1xc_gate_of_the_wrong_width_is_made_by_a_conv():
    d = only_error("m: multiply g x", [(1, 1, 16), (14, 14, 64)])
    assert d.code == "E312" and "'conv 64 1x1 -> sigmoid'" in d.hint and "dense" not in d.hint


def test_multiply_by_a_flattened_image_is_a_rank_problem_not_a_gate():
    d = only_error("m: multiply x f", [(12, 12, 4), (576,)])
    assert d.code == "E311" and "'flatten from=x' gives 576 values" in d.hint
