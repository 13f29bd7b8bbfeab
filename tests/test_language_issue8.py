"""The graph syntax of issue 8, as the parser reads it: blocks, repeat, first(...), if, a?b,
from=, output, dotted references and expressions (compact or parenthesised), with spans."""

from __future__ import annotations

import pytest

from cnnspec import syntax as S
from cnnspec.api import analyse
from cnnspec.parser import parse
from cnnspec.source import SourceFile

IN = "input 8x8x3\n"


def statements(text: str):
    spec, diags = parse(SourceFile.from_text(text))
    assert spec is not None, [(d.code, d.message) for d in diags.items]
    return spec.statements


def errors(text: str):
    _spec, diags = parse(SourceFile.from_text(text))
    return [(d.code, d.span.line, d.span.col, d.message) for d in diags.sorted()]


def layer(text: str) -> S.Layer:
    return statements(IN + text + "\n")[1]


def show(v) -> str:
    """A Value as a fully parenthesised string, to compare the tree's shape."""
    if v.kind == "expr":
        e = v.value
        if len(e.operands) == 1:
            return f"({e.op} {show(e.operands[0])})"
        return f"({show(e.operands[0])} {e.op} {show(e.operands[1])})"
    return f"{v.kind}:{v.describe()}"


def test_a_block_is_one_statement_with_params_defaults_and_body():
    text = IN + "block bottleneck(filters, stride=1)\n  c1: conv filters 1x1\n  c2: conv filters 3x3\nend\n"
    block = statements(text)[1]
    assert isinstance(block, S.Block)
    assert block.name == "bottleneck"
    assert (block.name_span.line, block.name_span.col, block.name_span.end_col) == (2, 7, 17)
    assert [(p.name, p.default and p.default.value) for p in block.params] == [("filters", None), ("stride", 1)]
    assert [(x.name, x.kind, x.span.line) for x in block.body] == [("c1", "conv", 3), ("c2", "conv", 4)]


def test_a_block_without_parameters():
    block = statements(IN + "block stem\n  conv 8 3x3\nend\n")[1]
    assert (block.name, block.params, len(block.body)) == ("stem", (), 1)
    assert statements(IN + "block stem()\n  conv 8 3x3\nend\n")[1].params == ()


def test_repeat_with_first_overrides():
    x = layer("layer2: repeat 4 bottleneck 128 first(stride=2, filters=64)")
    assert (x.name, x.kind) == ("layer2", "repeat")
    assert [a.describe() for a in x.args] == ["4", "bottleneck", "128"]
    assert [(o.key, o.value.value) for o in x.first] == [("stride", 2), ("filters", 64)]
    assert (x.first_span.line, x.first_span.col, x.first_span.end_col) == (2, 33, 60)


def test_condition_with_spaces_precedence_and_span():
    x = layer("proj: conv 8 1x1 from=in if stride != 1 or in.channels != filters*4")
    assert show(x.condition) == "((word:stride != int:1) or (ref:in.channels != (word:filters * int:4)))"
    assert (x.condition.span.col, x.condition.span.end_col) == (29, 68)
    assert [(o.key, o.value.kind, o.value.value) for o in x.options] == [("from", "word", "in")]


def test_not_and_or_precedence():
    x = layer("c: conv 8 1x1 if not a and b or c")
    assert show(x.condition) == "(((not word:a) and word:b) or word:c)"


@pytest.mark.parametrize("arg, tree", [
    ("filters*4", "(word:filters * int:4)"),
    ("a+b*2", "(word:a + (word:b * int:2))"),
    ("a-b-c", "((word:a - word:b) - word:c)"),
    ("c//2%3", "((word:c // int:2) % int:3)"),
    ("in.channels*2", "(ref:in.channels * int:2)"),
    ("(filters * 4)", "(word:filters * int:4)"),
    ("((a + 1) * (b - 2))", "((word:a + int:1) * (word:b - int:2))"),
    ("(-a)", "(neg word:a)"),
])
def test_argument_expressions(arg, tree):
    assert show(layer(f"c: conv {arg} 3x3").args[0]) == tree


def test_compact_expression_spans_each_operand():
    arg = layer("c: conv a+bb*2 3x3").args[0]
    left, right = arg.value.operands
    assert (left.span.col, left.span.end_col) == (9, 10)
    assert (right.span.col, right.span.end_col) == (11, 15)
    assert [(v.span.col, v.span.end_col) for v in right.value.operands] == [(11, 13), (14, 15)]


def test_a_lone_minus_is_still_a_negative_number_and_tuples_stay_tuples():
    x = layer("z: zeropad (0, 1, 0, 1) -1 (3) pad=(-1, 2)")
    assert [a.describe() for a in x.args] == ["(0, 1, 0, 1)", "-1", "(3)"]
    assert x.args[1].kind == "int" and x.args[1].value == -1
    assert x.args[2].kind == "tuple"
    assert [i.value for i in x.options[0].value.value] == [-1, 2]


def test_floats_and_shapes_are_not_expressions():
    x = layer("b: batchnorm eps=1.001e-5 momentum=1e-3")
    assert [(o.value.kind, o.value.value) for o in x.options] == [("float", 1.001e-5), ("float", 1e-3)]
    assert layer("c: conv 6 3x3x3").args[1].kind == "dims"


def test_alternatives_and_merge_inputs():
    x = layer("out: add bn3 proj_bn?in -> relu")
    assert [(a.kind, a.value) for a in x.args] == [("word", "bn3"), ("alt", ("proj_bn", "in"))]
    assert x.activation.name == "relu"
    assert x.args[1].describe() == "proj_bn?in"


def test_hierarchical_references():
    x = layer("aux: dense 10 from=layer2.0.conv1")
    assert (x.options[0].value.kind, x.options[0].value.value) == ("ref", "layer2.0.conv1")


def test_output_line():
    out = statements(IN + "c: conv 2 3x3\noutput fc, layer4.1, aux\n")[2]
    assert isinstance(out, S.OutputDecl)
    assert [(n, s.col) for n, s in out.names] == [("fc", 8), ("layer4.1", 12), ("aux", 22)]


def test_hierarchical_expect_freeze_and_until():
    st = statements(IN + "c: conv 2 3x3\nexpect layer3.0.shape == 14x14x1024\n"
                    "expect layer2.params == 5\nexpect params == 3\nfreeze layer1, a.0..b.1\n")
    assert [(e.layer, e.attribute) for e in st[2:5]] == [("layer3.0", "shape"), ("layer2", "params"),
                                                         (None, "params")]
    assert [(s.first, s.last) for s in st[5].selections] == [("layer1", None), ("a.0", "b.1")]
    use = statements('import "b.cnn" as b\nuse b until stage1.conv2\n')[1]
    assert use.until == "stage1.conv2"


def test_words_of_the_graph_syntax_still_name_layers():
    st = statements(IN + "output: conv 2 3x3\nend: conv 2 3x3\nblock: conv 2 3x3\nif: relu\nin: relu\n")
    assert [x.name for x in st[1:]] == ["output", "end", "block", "if", "in"]


def test_chain_lines_parse_as_before():
    x = layer("c1: conv 6 5x5 stride=2 pad=same -> leaky_relu alpha=0.1")
    assert [a.describe() for a in x.args] == ["6", "5x5"]
    assert [(o.key, o.value.describe()) for o in x.options] == [("stride", "2"), ("pad", "same")]
    assert (x.condition, x.first) == (None, None)


# --- structure errors (E214) and syntax errors, located ---

@pytest.mark.parametrize("text, expected", [
    (IN + "end\n", [("E214", 2, 1, "'end' without a 'block' line")]),
    (IN + "block b(f)\n  c: conv f 3x3\n", [("E214", 2, 7, "block 'b' has no 'end'")]),
    (IN + "block a\n  c: conv 2 3x3\nblock b\n  d: conv 2 3x3\nend\nend\n",
     [("E214", 4, 1, "a block inside block 'a' (line 2), which has no 'end' yet"),
      ("E214", 7, 1, "'end' without a 'block' line")]),
    (IN + "block b\n  c: conv 2 3x3\n  expect c.shape == 3\n  freeze c\nend\n",
     [("E214", 4, 3, "'expect' lines cannot be inside block 'b'"),
      ("E214", 5, 3, "'freeze' lines cannot be inside block 'b'")]),
    # a broken `block` line is only a syntax error: its `end` is not reported as lonely
    (IN + "block b(f\nend\n", [("E001", 2, 10, "unexpected end of line")]),
    (IN + "c: repeat 2 b first(s=2\n", [("E001", 2, 24, "unexpected end of line")]),
])
def test_structure_errors_are_located(text, expected):
    got = errors(text)
    assert [(c, line, col) for c, line, col, _m in got] == [(c, line, col) for c, line, col, _m in expected]
    for (_c, _l, _k, message), (_c2, _l2, _k2, fragment) in zip(got, expected):
        assert fragment in message


def test_syntax_errors_are_one_per_line_and_never_raise():
    text = IN + "end\nblock\nblock b(\n" + "c: conv (a+" * 50 + "\n"
    got = errors(text)
    assert [(c, line) for c, line, _col, _m in got] == [("E001", 3), ("E001", 4), ("E001", 5)]


def test_checked_spec_with_every_new_form():
    text = (IN + "block b(f, s=1)\n  c: conv f*2 1x1 stride=s if s == 1\n  d: conv (f + 1) 1x1 from=in\n"
            "end\nu: b 2\nr: repeat 2 b 3 first(s=2)\noutput u, r.1.d\n")
    net, diags = analyse(SourceFile.from_text(text))
    assert [d.code for d in diags] == ["W210"]
    assert [n.name for n in net.layers] == ["u.c", "u.d", "r.0.d", "r.1.c", "r.1.d"]
    assert net.outputs == ("u.d", "r.1.d")
