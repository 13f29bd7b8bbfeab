"""Issue 7, "Diagnostics that mislead": each hint says what is true and what to write.

Every test compares the code, the message, the hint and the span's columns exactly.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnspec import shapes
from cnnspec.api import analyse
from cnnspec.source import SourceFile


def diags_of(text: str):
    _network, diags = analyse(SourceFile("t.cnn", text))
    return diags


def only(text: str, code: str):
    found = [d for d in diags_of(text) if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in diags_of(text)]
    return found[0]


def cols(d) -> tuple[int, int, int]:
    return d.span.line, d.span.col, d.span.end_col


# --- W301: only real input rows or columns dropped ------------------------------------------

@pytest.mark.parametrize("spec", [
    "input 32x32x3\nconv 16 3x3 stride=2 pad=1\n",      # AlexNet-style conv1 / ResNet 3x3 stems
    "input 224x224x3\nconv 64 7x7 stride=2 pad=3\n",    # ResNet's 7x7 stem
    "input 112x112x64\nmaxpool 3x3 stride=2 pad=1\n",   # ResNet's stem pool
])
def test_no_w301_when_only_padding_is_uncovered(spec):
    assert diags_of(spec) == []


def test_dropped_counts_real_rows_only():
    assert shapes.pool_output(32, 3, 2, 1, 1, False).dropped == 0  # the uncovered row is padding
    assert shapes.pool_output(28, 3, 2, 0, 0, False).dropped == 1
    assert shapes.pool_output(28, 3, 2, 0, 1, False).exact
    assert shapes.exact_padding(28, 3, 2, 0, 0) == 1


def test_w301_shows_the_arithmetic_and_an_exact_padding():
    d = only("input 28x28x3\nc: conv 16 3x3 stride=2\n", "W301")
    assert d.message == ("the output size is not exact: (28 - 3 + 0)/2 + 1 = 13.5, so 13; "
                         "1 row and 1 column of the 28x28 input are never covered")
    assert d.hint == ("write pad=(0, 1, 0, 1) to make it exact (14x14), "
                      "or round=floor to accept dropping them")
    assert cols(d) == (2, 1, 24)


def test_w301_on_a_pool_offers_ceil():
    d = only("input 28x28x1\np: maxpool 3x3\n", "W301")
    assert d.message == ("the output size is not exact: (28 - 3 + 0)/3 + 1 = 9.33, so 9; "
                         "1 row and 1 column of the 28x28 input are never covered")
    # pad=(0, 2, 0, 2) would exceed half the 3x3 window, so it is not offered
    assert d.hint == "write round=ceil to add a last window, or round=floor to accept dropping them"


def test_w301_on_one_axis():
    d = only("input 28x27x1\nc: conv 1 3x3 stride=2\n", "W301")
    assert d.message.endswith("; 1 row of the 28x27 input is never covered")
    assert d.hint.startswith("write pad=(0, 1, 0, 0) to make it exact (14x13)")


# --- E306: the solver's hints -----------------------------------------------------------------

def test_e306_same_padding_names_the_unknown_and_underlines_it():
    d = only("input 28x28x1\nc: conv 6 ?x? pad=same out=26x26x6\n", "E306")
    assert d.message == "cannot solve the kernel when padding is 'same'"
    assert d.hint == "give the padding as a number, or state the kernel"
    assert "{" not in d.hint
    assert cols(d) == (2, 11, 14)  # the ?x?


def test_e306_padding_gives_the_value_and_the_asymmetric_padding():
    d = only("input 28x28x1\nc: conv 6 3x3 pad=? out=27x27x6\n", "E306")
    assert d.message == "no integer padding gives output height 27 from input height 28"
    assert d.hint == ("P = (S(out - 1) + F - N)/2 = (1*(27 - 1) + 3 - 28)/2 = 0.5, not a whole "
                      "number; pad=(0, 1, 0, 1) gives 27x27 (top, bottom, left, right)")
    assert cols(d) == (2, 15, 20)  # pad=?


def test_e306_stride_gives_the_value():
    d = only("input 28x28x1\nc: conv 6 3x3 stride=? out=5x5x6\n", "E306")
    assert d.hint == ("S = (N + P - F)/(out - 1) = (28 + 0 - 3)/(5 - 1) = 6.25; "
                      "it must be a whole number >= 1")
    assert cols(d) == (2, 15, 23)  # stride=?


def test_e306_two_unknowns_underlines_the_second():
    d = only("input 28x28x1\nc: conv 6 ?x? stride=? out=26x26x6\n", "E306")
    assert cols(d) == (2, 15, 23)


# --- one derivation, from the code that computes the size --------------------------------------

def test_derivation_accounts_for_dilation():
    d = only("input 9x9x1\nc: conv 2 3x3 dilation=2\nexpect c.shape == 4x4x2\n", "E401")
    assert d.hint == ("height and width: (9 - 5 + 0)/1 + 1 = 5 (dilation 2 spreads the 3-wide "
                      "kernel over 2*(3 - 1) + 1 = 5); 2 kernels give 2 channels")


def test_derivation_accounts_for_ceil_and_each_axis():
    d = only("input 9x8x1\np: maxpool 2x2 round=ceil\nexpect p.shape == 4x4x1\n", "E401")
    assert d.hint == ("height: (9 - 2 + 0)/2 + 1 = 4.5, rounded up to 5; width: (8 - 2 + 0)/2 + 1 "
                      "= 4; maxpool keeps the 1 channel")


def test_stated_out_uses_the_same_derivation():
    d = only("input 9x9x1\nc: conv 2 3x3 dilation=2 pad=(0, 1, 0, 1) out=4x4x2\n", "E308")
    assert d.message == ("conv gives 6x6x2, but out= states 4x4x2: height (9 - 5 + 1)/1 + 1 = 6 "
                         "(dilation 2 spreads the 3-wide kernel over 2*(3 - 1) + 1 = 5)")


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 6), s=st.integers(1, 5), lo=st.integers(0, 3),
       hi=st.integers(0, 3), d=st.integers(1, 3), ceil=st.booleans())
def test_size_arithmetic_ends_in_the_computed_size(n, f, s, lo, hi, d, ceil):
    if shapes.effective_kernel(f, d) > n + lo + hi:
        return
    text = shapes.size_arithmetic(n, f, s, lo, hi, ceil, d)
    shown = re.match(r"\((\d+) - (\d+) \+ (\d+)\)/(\d+) \+ 1 = [\d.]+(?:, (?:so|rounded up to) (\d+))?",
                     text)
    assert shown, text
    got = int(shown.group(5) or text.split(" = ")[1].split(" ")[0])
    assert got == shapes.pool_output(n, f, s, lo, hi, ceil, d).out
    assert int(shown.group(2)) == shapes.effective_kernel(f, d)


# --- habits from Keras and PyTorch -------------------------------------------------------------

def test_quoted_padding():
    d = only('input 28x28x1\nc: conv 6 3x3 padding="same"\n', "E103")
    assert d.message == 'padding takes a word, not the string "same"'
    assert d.hint == "write padding=same without quotes"
    assert cols(d) == (2, 23, 29)


def test_activation_option():
    d = only("input 28x28x1\nc: conv 6 3x3 activation=relu\n", "E102")
    assert d.hint == "an activation follows an arrow: write '-> relu' at the end of the line"
    d = only("input 28x28x1\np: maxpool 2x2 activation=relu\n", "E102")
    assert d.hint == "maxpool takes no activation: add 'relu' as a layer of its own on the next line"


def test_activation_as_a_positional_value():
    d = only("input 28x28x1\nflatten\ndense 10 softmax\n", "E107")
    assert d.message == "unexpected value 'softmax' for dense"
    assert d.hint == "an activation follows an arrow: write '-> softmax' at the end of the line"
    assert cols(d) == (3, 10, 17)


def test_channels_first_input_warns():
    d = only("input 3x224x224\n", "W101")
    assert d.message == ("input 3x224x224 is read as 3 high, 224 wide, with 224 channels: "
                         "it looks channels-first (CxHxW)")
    assert d.hint == "cnnspec shapes are HxWxC: write 'input 224x224x3'"
    assert cols(d) == (1, 7, 16)
    assert d.severity == "warning"
    for fine in ("input 224x224x3\n", "input 28x28x1\n", "input 4x4x3\n"):
        assert diags_of(fine) == []


# --- every syntax error, one per broken line ---------------------------------------------------

BROKEN = """input 28x28x1
c1: conv 6 3x3 )
c2: conv 6 3x3
c3: conv 6 $ 3x3
c4: conv 6 (3x3
p: maxpool 2x2
f: conv 2 \\
   3x3 ) ) )
stage
"""


def test_every_broken_line_is_reported_once_in_order():
    found = diags_of(BROKEN)
    assert [(d.code, d.span.line, d.span.col) for d in found] == [
        ("E001", 2, 16), ("E001", 4, 12), ("E001", 5, 16), ("E001", 8, 8), ("E001", 9, 6)]
    assert found[1].message == "unexpected character '$'"
    assert found[2].message == "unexpected end of line; expected ')', ','"
    assert found[4].message == "unexpected end of line; expected a name"


@pytest.mark.parametrize("n", [1, 5, 40])
def test_n_broken_lines_give_n_errors(n):
    text = "input 8x8x1\n" + "c: conv 1 1x1 )\nrelu\n" * n
    found = diags_of(text)
    assert [(d.code, d.span.line) for d in found] == [("E001", 2 + 2 * i) for i in range(n)]


def test_a_broken_line_at_the_end_of_the_file():
    found = diags_of("input 8x8x1\nc: conv 1 1x1 )\nstage")
    assert [(d.code, d.span.line, d.message.split(";")[0]) for d in found] == [
        ("E001", 2, "unexpected ')'"), ("E001", 3, "unexpected end of file")]


def test_a_comment_ending_in_a_backslash_does_not_continue():
    found = diags_of("input 8x8x1 # note \\\nc: conv 1 1x1 )\nd: conv 1 1x1 )\n")
    assert [(d.code, d.span.line) for d in found] == [("E001", 2), ("E001", 3)]


# --- smaller ------------------------------------------------------------------------------------

def test_zero_input_reported_once():
    found = diags_of("input 0x0x0\n")
    assert [(d.code, d.message) for d in found] == [
        ("E106", "input height, width and channels must be positive, not 0")]
    assert cols(found[0]) == (1, 7, 12)
    d = only("input 28x0x1\n", "E106")
    assert d.message == "input width must be positive, not 0"


def test_input_takes_no_options():
    d = only("input 28x28x1 foo=1\n", "E102")
    assert d.message == "unknown option 'foo' for the input line"
    assert d.hint == "the input line takes no options"
    d = only("input 28x28x1\nc: conv 1 1x1 -> relu foo=1\n", "E102")
    assert d.hint == "relu takes no options"


def test_flat_input_names_the_layer_that_flattened_it():
    d = only("input 28x28x1\ng: globalavgpool\np: maxpool 2x2\n", "E305")
    assert d.hint == ("put it before the globalavgpool 'g' (line 2), which makes it flat, "
                      "or use dense for flat inputs")
    d = only("input 28x28x1\nflatten\nd: dense 8\nc: conv 1 1x1\n", "E305")
    assert d.hint == ("put it before the flatten 'flatten_1' (line 2), which makes it flat, "
                      "or use dense for flat inputs")
    d = only("input 10\np: maxpool 2x2\n", "E305")
    assert d.hint == "give it an HxWxC input, or use dense for flat inputs"


def test_input_as_a_layer_name_is_reserved():
    found = diags_of("input 8x8x1\ninput: conv 1 1x1\n")
    assert [(d.code, d.message) for d in found] == [("E204", "'input' is reserved")]
    assert cols(found[0]) == (2, 1, 6)


def test_a_missing_colon_after_a_name_says_so():
    d = only("input 8x8x1\nc2 conv 4 3x3\n", "E101")
    assert d.message == "unknown layer kind 'c2'"
    assert d.hint == "a layer's name is followed by ':': write 'c2: conv ...'"
    assert only("input 8x8x1\ncnv 4 3x3\n", "E101").hint == "did you mean 'conv'?"
