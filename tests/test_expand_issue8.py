"""Expansion (issue 8): hierarchical names, repeat and first(), if and a?b, parameters and
expressions, instances in the IR, limits, and diagnostics that say which use they came from."""

from __future__ import annotations

import time

import pytest

from cnnspec import syntax as S
from cnnspec.api import analyse
from cnnspec.expr import MISSING, Evaluator, ExprError, to_value
from cnnspec.ir import Instance
from cnnspec.limits import MAX_DEPTH, MAX_FAN_IN
from cnnspec.source import SourceFile, Span

IN = "input 8x8x4\n"
PAIR = "block pair(f, s=1)\n  a: conv f 3x3 stride=s pad=1\n  b: conv f 3x3 pad=1\nend\n"


def check(text: str):
    net, diags = analyse(SourceFile.from_text(text))
    return net, [(d.code, d.span.line, d.span.col, d.message, d.hint) for d in diags]


def clean(text: str):
    net, diags = check(text)
    assert [d for d in diags if d[0].startswith("E")] == [], diags
    return net


def layers(net):
    return [(n.name, n.inputs, n.out_shape) for n in net.layers]


# --- names and wiring ---

def test_a_use_names_its_nodes_under_the_use():
    net = clean(IN + PAIR + "p: pair 6\n")
    assert layers(net) == [("p.a", ("input",), (8, 8, 6)), ("p.b", ("p.a",), (8, 8, 6))]
    assert net.instances == (Instance("p", "pair", net.instances[0].span, net.instances[0].definition,
                                      args=(("f", 6), ("s", 1))),)
    assert (net.instances[0].span.line, net.instances[0].definition.line) == (6, 2)


def test_repeat_makes_numbered_instances_in_sequence_and_first_overrides_instance_0():
    net = clean(IN + PAIR + "r: repeat 3 pair 6 first(s=2)\n")
    names = [n.name for n in net.layers]
    assert names == ["r.0.a", "r.0.b", "r.1.a", "r.1.b", "r.2.a", "r.2.b"]
    assert net.node("r.1.a").inputs == ("r.0.b",)
    assert [net.node(f"r.{k}.a").attrs["stride"] for k in range(3)] == [(2, 2), (1, 1), (1, 1)]
    assert net.node("r.2.b").out_shape == (4, 4, 6)
    assert [(i.name, i.repeat, i.parent) for i in net.instances] == [
        ("r", 3, None), ("r.0", None, "r"), ("r.1", None, "r"), ("r.2", None, "r")]


def test_nested_blocks_give_nested_names_and_automatic_names_per_instance():
    text = IN + "block inner(f)\n  conv f 1x1\n  conv f 1x1\nend\n" \
        "block outer(f)\n  x: inner f\n  inner f*2\nend\no: outer 2\nouter 3\n"
    net = clean(text)
    assert [n.name for n in net.layers] == [
        "o.x.conv_1", "o.x.conv_2", "o.inner_1.conv_1", "o.inner_1.conv_2",
        "outer_1.x.conv_1", "outer_1.x.conv_2", "outer_1.inner_1.conv_1", "outer_1.inner_1.conv_2"]
    assert net.node("o.inner_1.conv_2").out_shape == (8, 8, 4)
    assert [(i.name, i.parent) for i in net.instances] == [
        ("o", None), ("o.x", "o"), ("o.inner_1", "o"), ("outer_1", None), ("outer_1.x", "outer_1"),
        ("outer_1.inner_1", "outer_1")]


def test_a_block_may_be_defined_after_its_use():
    net = clean(IN + "p: pair 6\n" + PAIR)
    assert [n.name for n in net.layers] == ["p.a", "p.b"]


def test_an_instance_reference_means_its_output_and_hierarchical_names_reach_inside():
    net = clean(IN + PAIR + "r: repeat 2 pair 6\nh1: conv 2 1x1 from=r\nh2: conv 3 1x1 from=r.0\n"
                "h3: conv 5 1x1 from=r.1.a\noutput h1, h2, h3\n")
    assert [net.node(h).inputs for h in ("h1", "h2", "h3")] == [("r.1.b",), ("r.0.b",), ("r.1.a",)]


def test_from_in_and_the_line_above_skip_dropped_lines():
    text = IN + "block b(f)\n  a: conv f 1x1\n  gone: conv 9 1x1 if f > 100\n  c: conv f 1x1\n" \
        "  d: conv f 1x1 from=in\nend\nu: b 2\n"
    net, diags = check(text)
    assert [n.name for n in net.layers] == ["u.a", "u.c", "u.d"]
    assert net.node("u.c").inputs == ("u.a",)
    assert net.node("u.d").inputs == ("input",)
    assert [d[0] for d in diags] == ["W210"]


def test_alternative_takes_the_first_that_exists():
    block = "block b(f)\n  a: conv f 1x1\n  p: conv f 1x1 from=in if in.channels != f\n" \
        "  m: add a p?in\nend\n"
    net = clean(IN + block + "x: b 4\ny: b 6\n")
    assert net.node("x.m").inputs == ("x.a", "input")  # 4 channels in: no projection
    assert net.node("y.m").inputs == ("y.a", "y.p")  # 4 in, 6 out: the projection exists
    assert net.node("y.m").out_shape == (8, 8, 6)


def test_an_empty_instance_stands_for_its_input():
    net = clean(IN + "block b(f)\n  c: conv f 1x1 if f > 9\nend\nu: b 2\nd: conv 3 1x1 from=u\n")
    assert net.node("d").inputs == ("input",)


# --- parameters and expressions ---

def test_expressions_over_parameters_and_shapes():
    text = IN + "block b(f, k=3, double=false)\n  c: conv f*2//k+1 k pad=(k // 2)\n" \
        "  d: conv (in.channels + c.channels) 1x1 if not double and c.height == in.height\n" \
        "  e: conv f 1x1 if double or f % 2 == 1\nend\nu: b 4\nv: b 3 k=1 double=true\n"
    net = clean(text)
    assert net.node("u.c").out_shape == (8, 8, 3)  # 4*2//3+1
    assert net.node("u.d").out_shape == (8, 8, 7)  # 4 + 3
    assert "u.e" not in [n.name for n in net.nodes]
    assert net.node("v.c").out_shape == (8, 8, 7) and net.node("v.c").attrs["kernel"] == (1, 1)
    assert "v.d" not in [n.name for n in net.nodes] and net.node("v.e").out_shape == (8, 8, 3)


def test_words_and_floats_pass_as_parameters():
    text = IN + "block b(act, rate, pad)\n  c: conv 2 3x3 pad=pad -> act\n  d: dropout rate\nend\n" \
        "u: b leaky_relu 0.25 same\n"
    net = clean(text)
    c = net.node("u.c")
    assert (c.attrs["activation"], c.out_shape) == ("leaky_relu", (8, 8, 2))
    assert net.node("u.d").attrs["rate"] == 0.25


def evaluate(text_value: S.Value, params: dict):
    ev = Evaluator(lambda n: params.get(n, MISSING), lambda ref: 7, lambda: list(params))
    return ev.value(text_value)


def v(kind, value, col=1):
    return S.Value(kind, value, Span("t", 1, col, 1, col + 1))


def e(op, *operands):
    return v("expr", S.Expr(op, operands, Span("t", 1, 1, 1, 9)))


@pytest.mark.parametrize("tree, expected", [
    (e("+", v("int", 2), e("*", v("word", "f"), v("int", 3))), 14),
    (e("//", v("int", -7), v("int", 2)), -4),
    (e("%", v("word", "f"), v("int", 3)), 1),
    (e("and", v("word", "true"), e("<", v("int", 1), v("float", 1.5))), True),
    (e("or", v("word", "yes"), e("//", v("int", 1), v("int", 0))), True),  # short-circuit
    (e("==", v("word", "act"), v("word", "relu")), True),
    (e("neg", v("ref", "in.channels")), -7),
])
def test_evaluator(tree, expected):
    assert evaluate(tree, {"f": 4, "yes": True, "act": "relu"}) == expected


@pytest.mark.parametrize("tree, code, col, fragment", [
    (e("//", v("int", 1), v("int", 0, col=5)), "E221", 5, "division by zero"),
    (e("+", v("word", "act", col=3), v("int", 1)), "E222", 3, "needs a number, not 'relu'"),
    (e("+", v("word", "flag", col=3), v("int", 1)), "E222", 3, "needs a number, not true"),
    (e("and", v("int", 1, col=2), v("word", "true")), "E222", 2, "needs true or false, not 1"),
    (e("//", v("float", 1.5), v("int", 2)), "E222", 1, "needs integers"),
    (e("*", v("word", "filtres", col=4), v("int", 2)), "E220", 4, "unknown name 'filtres'"),
])
def test_evaluator_errors(tree, code, col, fragment):
    with pytest.raises(ExprError) as err:
        evaluate(tree, {"filters": 4, "flag": True, "act": "relu"})
    assert (err.value.code, err.value.span.col) == (code, col)
    assert fragment in err.value.message


def test_unknown_name_suggests_the_parameter():
    with pytest.raises(ExprError) as err:
        evaluate(e("*", v("word", "filtres"), v("int", 2)), {"filters": 4})
    assert err.value.hint == "did you mean 'filters'?"


def test_to_value_keeps_the_span_of_the_expression():
    span = Span("t", 3, 5, 3, 9)
    assert [to_value(x, span) for x in (2, 0.5, True, "same")] == [
        S.Value("int", 2, span), S.Value("float", 0.5, span), S.Value("word", "true", span),
        S.Value("word", "same", span)]


def test_a_non_integer_where_an_integer_is_needed_is_located_at_the_expression():
    _net, diags = check(IN + "block b(f)\n  c: conv f*1.5 3x3\nend\nu: b 3\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E104", 3, 3), ("E107", 3, 11)]
    assert diags[1][3] == "unexpected value '4.5' for conv"
    assert diags[1][4] == "in u, a use of b at line 5"
    _net, diags = check("input 10\nblock b(f)\n  c: dense units=f*1.5\nend\nu: b 3\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E103", 3, 18)]
    assert "must be an integer, not '4.5'" in diags[0][3]


def test_shape_attributes_of_a_flat_vector():
    _net, diags = check("input 10\nblock b\n  d: dense in.width\nend\nu: b\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E222", 3, 12)]
    assert "has no width" in diags[0][3]
    net = clean("input 10\nblock b\n  d: dense in.channels*2\nend\nu: b\n")
    assert net.node("u.d").out_shape == (20,)


# --- diagnostics inside blocks ---

def test_one_diagnostic_per_block_line_and_problem_naming_the_first_use():
    text = IN + "block b(f)\n  c: conv f 3x3 pad=1 strde=2\nend\nr: repeat 3 b 2\nu: b 5\n"
    _net, diags = check(text)
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E102", 3, 23)]
    assert diags[0][4].endswith("(in r.0, a use of b at line 5)")


def test_different_problems_in_different_instances_are_each_reported():
    text = "input 8x8x1\nblock b(k)\n  c: conv 2 k\nend\nu: b 3x3\nv: b 9x9\nw: b 11x11 from=input\n"
    _net, diags = check(text)
    assert [(c, line) for c, line, _col, _m, _h in diags] == [("E303", 3), ("E303", 3)]
    assert [h.rsplit("(", 1)[1] for *_x, h in diags] == [
        "in v, a use of b at line 6)", "in w, a use of b at line 7)"]


def test_an_error_at_a_use_is_at_the_use():
    _net, diags = check(IN + PAIR + "r: repeat 2 pair 4 first(t=2)\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E216", 6, 26)]
    assert diags[0][4] == "block pair(f, s=1) is defined at line 2"


@pytest.mark.parametrize("use, col, fragment", [
    ("u: pair", 1, "needs a value for 'f'"),
    ("u: pair 2 1 3", 13, "takes 2 argument(s), not 3"),
    ("u: pair 2 f=3", 11, "'f' is given twice"),
    ("u: pair 2 s=1 s=2", 15, "'s' is given twice"),
])
def test_argument_errors(use, col, fragment):
    _net, diags = check(IN + PAIR + use + "\n")
    assert [(c, line, col2) for c, line, col2, _m, _h in diags] == [("E216", 6, col)]
    assert fragment in diags[0][3]
    assert diags[0][4] == "block pair(f, s=1) is defined at line 2"


# --- limits: bounded and fast ---

def timed(text: str):
    """(check's result, the CPU seconds it took: other work on the machine disturbs it less)."""
    start = time.process_time()
    result = check(text)
    return result, time.process_time() - start


def test_repeat_ten_million_is_an_instant_diagnostic():
    (net, diags), seconds = timed(IN + PAIR + "r: repeat 10000000 pair 4\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E004", 6, 11)]
    assert seconds < 0.5
    assert net.instances == ()


def test_a_repeat_over_the_node_limit_is_refused_before_expanding():
    (_net, diags), seconds = timed(IN + PAIR + "r: repeat 60000 pair 4\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E004", 6, 1)]
    assert "60,000 x 2" in diags[0][3]
    assert seconds < 0.5


def test_nested_repeats_multiply_against_the_limit():
    text = IN + "block a\n  conv 2 1x1\nend\nblock b\n  r: repeat 1000 a\nend\nx: repeat 1000 b\n"
    (_net, diags), seconds = timed(text)
    assert [(c, line) for c, line, _col, _m, _h in diags] == [("E004", 8)]
    assert seconds < 0.5


def test_a_self_using_block_is_an_instant_diagnostic():
    (_net, diags), seconds = timed(IN + "block b(f)\n  c: conv f 3x3\n  x: b f\nend\nu: b 4\n")
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E213", 4, 6)]
    assert seconds < 0.5


def test_an_indirect_cycle_names_the_chain_once():
    text = IN + "block a(f)\n  x: repeat 2 c f\nend\nblock c(f)\n  y: a f\nend\nu: a 4\n"
    _net, diags = check(text)
    assert [(c, line, col, m) for c, line, col, m, _h in diags] == [
        ("E213", 6, 6, "block 'a' uses itself indirectly: a -> c -> a")]


def test_nesting_depth_is_bounded():
    n = MAX_DEPTH + 3
    text = IN + "".join(f"block b{i}\n  x: b{i + 1}\nend\n" for i in range(n)) + \
        f"block b{n}\n  conv 2 1x1\nend\nu: b0\n"
    _net, diags = check(text)
    assert [(c, line, col) for c, line, col, _m, _h in diags] == [("E004", 3 * MAX_DEPTH, 3)]
    assert f"more than {MAX_DEPTH} deep" in diags[0][3]


def test_merge_fan_in_is_bounded():
    names = " ".join(["input"] * (MAX_FAN_IN + 1))
    (_net, diags), seconds = timed(IN + f"m: add {names}\n")
    col = len("m: add ") + 6 * MAX_FAN_IN + 1
    assert [(c, line, col2) for c, line, col2, _m, _h in diags] == [("E004", 2, col)]
    assert seconds < 0.5


def test_many_bad_references_stay_near_linear():
    lines = "".join(f"c{i}: conv 2 1x1 from=nope{i}\n" for i in range(20000))
    (_net, diags), seconds = timed(IN + lines)
    assert len(diags) == 20000 and {d[0] for d in diags} == {"E210"}
    assert seconds < 15  # about 4 s, most of it parsing; each hint searched ~1,000 names: ~70 s


def test_an_unknown_part_of_an_instance_suggests_its_parts():
    _net, diags = check(IN + PAIR + "r: repeat 2 pair 4\nd: conv 2 1x1 from=r.1.bb\ne: conv 2 1x1 from=r.7\n")
    assert [(c, line, col, h) for c, line, col, _m, h in diags] == [
        ("E210", 7, 20, "did you mean 'r.1.b'?"), ("E210", 8, 20, "did you mean 'r.1'?")]


def test_top_level_lines_after_a_use_count_against_the_node_limit():
    from cnnspec.limits import MAX_LAYERS
    lines = "".join("relu\n" for _ in range(MAX_LAYERS - 1))
    (_net, diags), _seconds = timed(IN + PAIR + "r: pair 4\n" + lines)
    assert located_codes(diags) == [("E004", 6, 1)]


def located_codes(diags):
    return [(c, line, col) for c, line, col, _m, _h in diags]
