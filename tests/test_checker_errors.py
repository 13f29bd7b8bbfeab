"""Every diagnostic code the checker can emit, triggered by a small spec, with line and column.

One row per case: (spec text, code, line, col, a fragment of the message). The codes in the
table are compared with the codes found in cnnspec's sources, so that a new code without a
test fails here. The seed's own mistakes (NOTES.md) get learner-quality messages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cnnspec
from cnnspec.api import analyse
from cnnspec.source import SourceFile

PACKAGE = Path(cnnspec.__file__).resolve().parent
IN = "input 28x28x1\n"  # the common first line

CASES = [
    # id, spec, code, line, col, message fragment
    ("syntax-token", IN + "c: conv 6 3x3 )\n", "E001", 2, 15, "unexpected ')'"),
    ("syntax-char", IN + "c: conv 6 3x3 $\n", "E001", 2, 15, "unexpected character '$'"),
    ("syntax-eol", IN + "c: conv 6 3x3 ->\n", "E001", 2, 17, "expected a name"),
    ("syntax-eof", IN + "stage", "E001", 2, 1, "unexpected end of file"),
    ("no-input", "# only a comment\n", "E002", 1, 1, "no 'input' line"),
    ("empty", "", "E002", 1, 1, "no 'input' line"),
    ("layer-first", "conv 6 3x3\n" + IN, "E002", 1, 1, "before the 'input' line"),
    ("nul", IN + "c: conv\x00 6 3x3\n", "E003", 2, 1, "NUL"),
    ("too-many-stages", IN + "d: dense 4\n" + "".join(f"stage s{i}\n" for i in range(33)), "E004", 35, 1,
     "more than 32 stages"),
    # parentheses nest in expressions since issue 8; an expression's depth is bounded (E004)
    ("nested", IN + "zeropad " + "(1+" * 3000 + "1" + ")" * 3000 + "\n", "E004", 2, 10, "nested more than 100"),
    ("unknown-kind", IN + "c: convv 6 3x3\n", "E101", 2, 4, "unknown layer kind 'convv'"),
    ("unknown-activation", IN + "c: conv 6 3x3 -> rellu\n", "E101", 2, 15, "unknown activation"),
    ("unknown-option", IN + "c: conv 6 3x3 strde=2\n", "E102", 2, 15, "unknown option 'strde'"),
    ("input-option", "input 28x28x1 foo=1\n", "E102", 1, 15, "unknown option 'foo' for the input line"),
    ("bad-bool", IN + "c: conv 6 3x3 bias=maybe\n", "E103", 2, 20, "true or false"),
    ("bad-padding", IN + "c: conv 6 3x3 pad=foo\n", "E103", 2, 19, "padding must be"),
    ("bad-kernel", IN + "c: conv 6 3x3x3x3\n", "E103", 2, 11, "KxKxDepth"),
    ("bad-input", "input 28x28\n", "E103", 1, 7, "HxWxC"),
    ("no-fused-act", IN + "flatten -> relu\n", "E103", 2, 9, "takes no '-> activation'"),
    ("bad-round", IN + "p: maxpool 2x2 round=up\n", "E103", 2, 22, "round must be one of"),
    ("bad-out", IN + "c: conv 6 3x3 out=foo\n", "E103", 2, 19, "out= must be a shape"),
    ("zeropad-same", IN + "zeropad same\n", "E103", 2, 9, "explicit sizes"),
    ("conv-missing", IN + "c: conv 6\n", "E104", 2, 1, "number of kernels and a kernel size"),
    ("dropout-missing", IN + "d: dropout\n", "E104", 2, 1, "needs a rate"),
    ("dense-missing", IN + "flatten\nd: dense\n", "E104", 3, 1, "number of units"),
    ("twice", IN + "c: conv 6 3x3 pad=0 pad=0\n", "E105", 2, 21, "given twice"),
    ("zero-kernels", IN + "c: conv 0 3x3\n", "E106", 2, 9, "must be positive, not 0"),
    ("negative-stride", IN + "c: conv 6 3x3 stride=-1\n", "E106", 2, 22, "positive, not -1"),
    ("huge", IN + "c: conv 1" + "0" * 30 + " 3x3\n", "E106", 2, 9, "absurdly large"),
    ("huge-input", "input 99999999999x2x1\n", "E106", 1, 7, "absurdly large"),
    ("rate", IN + "d: dropout 1.5\n", "E106", 2, 12, "dropout rate"),
    ("pool-pad", IN + "p: maxpool 2x2 pad=2\n", "E106", 2, 1, "more than half the window"),
    ("lr-zero", IN + "c: conv 6 3x3\nunfreeze c lr=0\n", "E106", 3, 15, "learning-rate"),
    ("extra-value", IN + "c: conv 6 3x3 7\n", "E107", 2, 15, "unexpected value '7'"),
    ("duplicate", IN + "c: conv 6 3x3\nc: conv 6 3x3\n", "E201", 3, 1, "duplicate layer name 'c'"),
    ("expect-unknown", IN + "c: conv 6 3x3\nexpect cc.shape == 3\n", "E202", 3, 8, "no layer named 'cc'"),
    ("freeze-unknown", IN + "c: conv 6 3x3\nfreeze nope\n", "E202", 3, 8, "no layer named 'nope'"),
    ("use-unknown", IN + "use base\n", "E202", 2, 1, "not an imported spec"),
    ("second-input", IN + IN, "E203", 2, 1, "a second 'input' line"),
    ("second-network", "network A\nnetwork B\n" + IN, "E203", 2, 1, "a second 'network' line"),
    ("stage-twice", IN + "stage a\nstage a\n", "E203", 3, 1, "declared twice"),
    ("missing-import", IN + 'import "no_such_file.cnn" as b\n', "E205", 2, 1, "cannot read"),
    ("depth", IN + "c: conv 6 3x3x4\n", "E301", 2, 11, "kernel depth 4 does not match the 1"),
    ("groups", IN + "c: conv 6 3x3 groups=4\n", "E302", 2, 1, "not divisible by groups=4"),
    ("kernel-large", IN + "c: conv 6 30x30\n", "E303", 2, 1, "larger than its padded input"),
    ("dilated-large", "input 5x5x1\nc: conv 1 3x3 dilation=3\n", "E303", 2, 1, "dilated kernel"),
    ("conv-after-flatten", IN + "flatten\nc: conv 6 3x3\n", "E305", 3, 1, "flat vector 784"),
    ("dense-on-image", IN + "d: dense 10\n", "E305", 2, 1, "needs a flat input"),
    ("pool-after-flatten", IN + "flatten\np: maxpool 2x2\n", "E305", 3, 1, "HxWxC input"),
    ("solve-same", IN + "c: conv 6 ?x? pad=same out=26x26x6\n", "E306", 2, 11, "'same'"),
    ("solve-two", IN + "c: conv 6 ?x? stride=? out=26x26x6\n", "E306", 2, 15, "only one unknown"),
    ("solve-unstated", IN + "c: conv 6 ?x?\n", "E306", 2, 11, "no output shape is stated"),
    ("solve-none", IN + "c: conv 6 3x3 pad=? out=27x27x6\n", "E306", 2, 15, "no integer padding"),
    ("solve-ambiguous", "input 3x3x1\nc: conv 6 3x3 stride=? out=1x1x6\n", "E307", 2, 15, "ambiguous"),
    ("stated", IN + "c: conv 6 3x3 out=24x24x6\n", "E308", 2, 19, "conv gives 26x26x6"),
    ("stated-transposed", IN + "c: convtranspose 4 3x3 stride=2 out=50x50x4\n", "E308", 2, 37,
     "height (28-1)*2 - 0 - 0 + 1*(3-1) + 0 + 1 = 57"),
    ("stated-depthwise", IN + "c: depthwise 3x3 out=26x26x5\n", "E308", 2, 22,
     "depthwise gives 26x26x1"),
    # merges (cnnspec/kinds/merge.py): E311-E313 need the graph checker's wiring of inputs
    ("merge-rank", IN + "c: conv 6 3x3\nf: flatten\nm: add c f\n", "E311", 4, 1,
     "all images (HxWxC) or all flat"),
    ("merge-channels", IN + "a: conv 6 3x3\nb: conv 8 3x3 from=input\nm: add a b\n", "E312", 4, 1,
     "'a' 26x26x6 and 'b' 26x26x8"),
    ("merge-spatial", IN + "a: conv 6 3x3\nb: conv 6 5x5 from=input\nm: concat a b\n", "E313", 4, 1,
     "one height and width"),
    ("too-many-params", IN + "flatten\nd: dense 1000000\ne: dense 1000000\n", "E309", 4, 1,
     "parameters"),
    ("expect-failed", IN + "c: conv 6 3x3\nexpect c.params == 61\n", "E401", 3, 1,
     "c.params is 60, expected == 61"),
    ("expect-attr", IN + "c: conv 6 3x3\nexpect c.foo == 3\n", "E402", 3, 8, "no 'foo'"),
    ("expect-global", IN + "c: conv 6 3x3\nexpect foo == 3\n", "E402", 3, 8, "unknown expectation"),
    ("expect-value", IN + "c: conv 6 3x3\nexpect c.shape == relu\n", "E402", 3, 19, "not 'relu'"),
    ("expect-op", IN + "c: conv 6 3x3\nexpect c.shape < 3x3x3\n", "E402", 3, 1, "== or !="),
    ("range-backwards", IN + "c: conv 6 3x3\nd: conv 6 3x3\nfreeze d..c\n", "E502", 4, 8, "backwards"),
    ("selected-twice", IN + "c: conv 6 3x3\nfreeze c, c\n", "E502", 3, 11, "selected twice"),
    # graphs (issue 8): references, blocks, repeats, expressions, outputs
    ("ref-unknown", IN + "c: conv 6 3x3 from=nope\n", "E210", 2, 20, "unknown reference 'nope'"),
    ("ref-forward", IN + "a: conv 6 3x3 from=z\nz: conv 6 3x3\n", "E211", 2, 20, "defined later, at line 3"),
    ("ref-self", IN + "a: conv 6 3x3 from=a\n", "E212", 2, 20, "reads itself"),
    ("block-cycle", IN + "block b(f)\n  x: b f\nend\nu: b 4\n", "E213", 3, 6, "uses itself: b -> b"),
    ("end-alone", IN + "end\n", "E214", 2, 1, "'end' without a 'block'"),
    ("block-twice", IN + "block b\n  c: conv 2 3x3\nend\nblock b\nend\n", "E215", 5, 7, "defined twice"),
    ("block-arg", IN + "block b(f)\n  c: conv f 3x3\nend\nu: b 4 g=2\n", "E216", 5, 8,
     "no parameter 'g'"),
    ("not-a-merge", IN + "a: conv 6 3x3\nc: conv 6 3x3 a?input\n", "E217", 3, 15, "only merges"),
    ("output-twice", IN + "a: conv 6 3x3\noutput a, a\n", "E218", 3, 11, "listed twice"),
    ("expr-name", IN + "block b(f)\n  c: conv ff*2 3x3\nend\nu: b 4\n", "E220", 3, 11, "unknown name 'ff'"),
    ("expr-zero", IN + "block b(f)\n  c: conv f//0 3x3\nend\nu: b 4\n", "E221", 3, 14, "division by zero"),
    ("expr-type", IN + "block b(f)\n  c: conv f 3x3 if f\nend\nu: b 4\n", "E222", 3, 20, "true or false"),
    ("repeat-count", IN + "block b(f)\n  c: conv f 3x3\nend\nr: repeat 0 b 4\n", "E223", 5, 11,
     "positive integer"),
    ("unreachable", IN + "a: conv 6 3x3\nb: conv 2 3x3 from=input\noutput b\n", "W210", 2, 1,
     "layer 'a' reaches no output"),
    ("inexact", IN + "c: conv 6 3x3 stride=2\n", "W301", 2, 1, "1 row and 1 column"),
    ("channels-first", "input 3x224x224\n", "W101", 1, 7, "looks channels-first"),
    ("freeze-no-params", IN + "c: conv 6 3x3\np: maxpool 2x2\nfreeze p\n", "W501", 4, 1,
     "without parameters"),
    ("frozen-twice", IN + "c: conv 6 3x3\nfreeze c\nfreeze c\n", "W502", 4, 1, "already frozen"),
    ("unfreeze-unfrozen", IN + "c: conv 6 3x3\nunfreeze c\n", "W503", 3, 1, "no earlier rule froze"),
]


def diagnostics(text: str, name: str = "t.cnn"):
    _network, diags = analyse(SourceFile(name, text))
    return diags


@pytest.mark.parametrize("spec, code, line, col, fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_code_line_col(spec, code, line, col, fragment):
    diags = diagnostics(spec)
    found = [d for d in diags if d.code == code]
    assert found, f"no {code} among {[(d.code, d.message) for d in diags]}"
    d = found[0]
    assert (d.span.line, d.span.col) == (line, col), d
    assert fragment in d.message, d.message
    assert d.severity == ("warning" if code.startswith("W") else "error")


# --- codes that need files: imports -------------------------------------------------------

@pytest.fixture
def imports(tmp_path):
    (tmp_path / "base.cnn").write_text("input 8x8x1\nc1: conv 2 3x3\nflatten\nd: dense 3\n")
    (tmp_path / "bad.cnn").write_text("input 8x8x1\nc1: conv 2 3x3x5\n")
    (tmp_path / "cycle.cnn").write_text('import "cycle.cnn" as me\nuse me\n')

    def run(text: str):
        return diagnostics(text, str(tmp_path / "main.cnn"))
    return run


@pytest.mark.parametrize("spec, code, line, col, fragment", [
    ('import "base.cnn" as base\nuse base\nbase: dense 3\n', "E204", 3, 1, "import alias"),
    ('import "cycle.cnn" as me\nuse me\n', "E206", 1, 1, "cannot import itself"),
    ('import "bad.cnn" as b\nuse b\n', "E206", 1, 1, "kernel depth 5"),
    ('import "base.cnn" as b\nimport "base.cnn" as b\nuse b\n', "E203", 2, 1, "imported twice"),
    ('import "base.cnn" as b\nuse b until zz\n', "E202", 2, 1, "no layer named 'zz'"),
    ('import "base.cnn" as b\ninput 8x8x1\nc: conv 2 3x3\nuse b\n', "E207", 4, 1, "before"),
])
def test_import_codes(imports, spec, code, line, col, fragment):
    found = [d for d in imports(spec) if d.code == code]
    assert found and (found[0].span.line, found[0].span.col) == (line, col), found
    assert fragment in found[0].message


def test_use_until_an_automatic_name(imports):
    assert imports('import "base.cnn" as b\nuse b until flatten_1\nd2: dense 4\n') == []


def test_every_code_in_the_sources_has_a_case():
    emitted = set()
    for path in PACKAGE.rglob("*.py"):
        emitted |= set(re.findall(r'"([EW]\d{3})"', path.read_text()))
    tested = {c[2] for c in CASES} | {"E204", "E206", "E207"}  # these three: test_import_codes
    tested |= {"E601"}  # an export error, not a checker's: tests/test_onnx_export_issue11.py
    assert emitted - tested == set()
    assert tested - emitted == set()


# --- the seed's mistakes, with messages a learner understands -----------------------------

SEED_TABLE_AS_WRITTEN = """\
input 28x28x1
conv1: conv 32 3x3 -> relu
pool1: maxpool 2x2
conv2: conv 64 3x3 -> relu
flat: flatten
fc1: dense 64 -> relu
fc2: dense 10 -> softmax
expect conv2.shape == 11x11x64
expect flat.shape == 576
"""


def test_seed_table_without_its_two_missing_rows():
    diags = diagnostics(SEED_TABLE_AS_WRITTEN)
    assert [(d.code, d.span.line) for d in diags] == [("E401", 9)]
    d = diags[0]
    assert "7744" in d.message and "576" in d.message
    assert "11 x 11 x 64 = 7,744" in d.hint


def test_seed_padding_one_for_28_to_26():
    diags = diagnostics("input 28x28x1\nc1: conv 6 3x3 pad=1 out=26x26x6\n")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E308", 2, 26)]
    d = diags[0]
    assert "gives 28x28x6" in d.message and "26x26x6" in d.message
    assert "(28 - 3 + 2)/1" in d.message  # the arithmetic, with the padding counted
    assert "pad=0 gives 26x26" in d.hint


def test_seed_padding_zero_for_28_to_26_is_right():
    assert diagnostics("input 28x28x1\nc1: conv 6 3x3 pad=0 out=26x26x6\n") == []


@pytest.mark.parametrize("spec, hint", [
    (IN + "c: conv 6 3x3 out=26x26x8\n", "the number of kernels sets the output channels"),
    ("input 26x26x1\nc: conv 6 4x4 out=28x28x6\n", "pad=(2, 3, 2, 3) gives 28x28"),
    ("input 23x23x6\np: maxpool 2x2 out=10x10x6\n", "a 5x5 kernel with stride=2 gives 10x10"),
    (IN + "c: conv 6 5x5 out=28x28x6\n", "pad=2 gives 28x28"),  # P = (F - 1)/2
])
def test_stated_output_hints(spec, hint):
    d = next(d for d in diagnostics(spec) if d.code == "E308")
    assert hint in d.hint


def test_input_channels_do_not_equal_the_number_of_filters():
    # The note once says "input channels equal the number of filters": a learner following it
    # writes the kernel depth as the number of kernels. The depth must equal the input channels.
    diags = diagnostics("input 28x28x3\nc: conv 6 3x3x6\n")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E301", 2, 11)]
    assert "kernel depth 6 does not match the 3 input channels" in diags[0].message
    assert "number of kernels sets the output channels" in diags[0].hint
    assert diagnostics("input 28x28x3\nc: conv 6 3x3x3\n") == []


def test_kernel_depth_per_group():
    d = diagnostics("input 8x8x4\nc: conv 4 3x3x4 groups=2\n")[0]
    assert d.code == "E301" and "per group" in d.message


# --- all errors of a file, not only the first ---------------------------------------------

def test_all_errors_of_a_file_are_reported():
    text = """\
input 28x28x1
a: conv 6 3x3x4 strde=1
a: conv 16 3x3
b: conv 6 3x3 groups=4
flatten
d: dense 10 foo=1 -> relu
expect nothing.shape == 3
expect a.params == 1
freeze zz
"""
    got = [(d.code, d.span.line) for d in diagnostics(text)]
    assert got == [("E301", 2), ("E102", 2), ("E201", 3), ("E302", 4), ("E102", 6),
                   ("E202", 7), ("E401", 8), ("E202", 9)]


def test_layers_after_a_failed_layer_are_not_checked_against_a_wrong_shape():
    text = "input 28x28x1\na: conv 6 30x30\nb: conv 8 3x3x3 strid=2\nflatten\nexpect flatten_1.shape == 1\n"
    got = [(d.code, d.span.line) for d in diagnostics(text)]
    # b's input is unknown (a failed): no depth error quoting a wrong channel count, no
    # expectation on a shape the spec never had; b's unknown option is still reported
    assert got == [("E303", 2), ("E102", 3)]


def test_diagnostics_are_sorted_and_located():
    diags = diagnostics(IN + "c: conv 6 3x3 stride=2 stride=1\n")
    assert [d.code for d in diags] == ["W301", "E105"]  # by line, then column
    for d in diags:
        assert d.span.end_line >= d.span.line and d.span.end_col > d.span.col


def test_load_raises_spec_error_with_every_diagnostic():
    with pytest.raises(cnnspec.SpecError) as err:
        cnnspec.loads(IN + "c: conv 6 3x3x4\nd: conv 6 3x3 groups=4\n")
    assert [d.code for d in err.value.diagnostics] == ["E301", "E302"]
    assert "<string>:2:11: error[E301]" in str(err.value)


def test_a_partly_unknown_kernel_keeps_its_given_axis():
    net = cnnspec.loads(IN + "c: conv 6 3x? out=26x24x6\n")
    assert net.node("c").attrs["kernel"] == (3, 5)
    # the given height 5 is kept (not silently re-solved to 3), so the stated 26 is wrong
    d = diagnostics(IN + "c: conv 6 5x? out=26x24x6\n")
    assert [(x.code, x.span.line, x.span.col) for x in d] == [("E308", 2, 19)]
    assert "gives 24x24x6" in d[0].message


def test_every_code_is_documented():
    table = (PACKAGE.parent / "docs" / "cli.md").read_text()
    documented = set(re.findall(r"^\| ([EW]\d{3}) \|", table, re.MULTILINE))
    assert documented == {c[2] for c in CASES} | {"E204", "E206", "E207", "E601"}  # import codes; E601: onnx export


def test_a_failed_import_is_the_only_error_of_the_spec_using_it(tmp_path):
    spec = tmp_path / "t.cnn"
    spec.write_text('import "nope.cnn" as base\nuse base until pool2\nhead: dense 3\nfreeze base\n')
    from cnnspec.api import analyse
    from cnnspec.source import SourceFile
    _network, diags = analyse(SourceFile.read(spec))
    assert [(d.code, d.span.line) for d in diags] == [("E205", 1)]


def test_a_pooling_window_with_a_depth_is_refused():
    from cnnspec.api import analyse
    from cnnspec.source import SourceFile
    _network, diags = analyse(SourceFile("p.cnn", "input 8x8x3\np: maxpool 2x2x3\n"))
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E103", 2, 12)]
