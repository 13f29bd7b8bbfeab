"""The cross-backend proof for the layer kinds of issue 9: random networks, every backend, layer
by layer.

Hypothesis writes random specs as TEXT from the new kinds and their options (depthwise and
separable with strides, dilations, multipliers and every padding form; transposed
convolutions with explicit, `same` and `valid` padding, output padding, dilation and groups;
nearest and bilinear upsampling in both align modes; crop; reshape to a vector and back (the
flatten-order trap in PyTorch); layer norm, Normalization with fixed numbers and with
weights, Rescaling, layer scale, batch norm without gamma or beta; the new activations fused
and as layers; dropout modes; squeeze-excite gates through keepdims pooling or a reshape; and
per-pixel dense). Each line is kept only if the spec still checks clean (the checker's shapes
are what the backends are compared with), so the networks need no shape book-keeping here.
For each network, `check_everything` (tests/test_cross_backend.py) asserts that every node's
shape in NumPy, PyTorch and Keras equals the checker's, the frameworks' parameter counts equal
the checker's, and the three agree on every node in float64 to 1e-10 * max(1, max|a|). The
test also asserts that the networks used every kind (a generator drifting away from one fails).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from test_cross_backend import check_everything

from cnnspec.api import analyse
from cnnspec.source import SourceFile

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
EXAMPLES = 30
SEED = int(os.environ.get("CNNSPEC_HYPOTHESIS_SEED", "9"))
ACTS = ("relu6", "swish", "silu", "hard_sigmoid", "hard_swish", "gelu", "gelu_tanh", "elu",
        "elu alpha=0.5", "softmax", "relu")
KINDS = ("depthwise", "separable", "convtranspose", "upsample", "crop", "reshape", "layernorm",
         "normalize", "rescale", "layerscale", "batchnorm", "activation", "dropout", "gate",
         "dense")
MOST = 14  # the largest height or width kept, and channel count, so the networks stay small


def fused(draw) -> str:
    return draw(st.sampled_from(("",) + tuple(f" -> {a}" for a in ACTS)))


def window(draw) -> str:
    """The stride, padding and dilation options of a depthwise or separable layer."""
    stride = draw(st.sampled_from(("", " stride=2", " stride=(1, 2)")))
    pad = draw(st.sampled_from(("", " pad=same", " pad=1", " pad=(0, 1, 1, 0)")))
    dilation = draw(st.sampled_from(("", "", " dilation=2")))
    return stride + pad + dilation + " round=floor"


def numbers(draw, c: int, low: float, high: float) -> str:
    values = [draw(st.floats(low, high)) for _ in range(c)]
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def transposed(draw, c: int) -> str:
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    filters = groups * draw(st.integers(1, 3))
    stride = draw(st.sampled_from((1, 2, 3)))
    pad = draw(st.sampled_from(("explicit", "same", "valid")))
    text = f"convtranspose {filters} {draw(st.integers(1, 4))}x{draw(st.integers(1, 3))}"
    text += f" stride={stride}" + (f" groups={groups}" if groups > 1 else "")
    text += draw(st.sampled_from(("", " dilation=2")))
    if pad == "explicit":
        text += f" pad={draw(st.integers(0, 1))}"
        text += f" output_padding={draw(st.integers(0, stride - 1))}" if stride > 1 else ""
    else:
        text += f" pad={pad}"
    return text + fused(draw)


def layer(draw, kind: str, shape, prev: str, i: int) -> list[str]:
    """The lines of one step of `kind` after the value `prev` of `shape` (an image)."""
    h, w, c = shape
    if kind == "depthwise":
        m = draw(st.sampled_from(("", " multiplier=2")))
        return [f"l{i}: depthwise {draw(st.integers(1, 3))}x{draw(st.integers(1, 3))}{m}"
                f"{window(draw)}" + draw(st.sampled_from(("", " bias=false"))) + fused(draw)]
    if kind == "separable":
        return [f"l{i}: separable {draw(st.integers(1, 5))} {draw(st.integers(1, 3))}x"
                f"{draw(st.integers(1, 3))}{window(draw)}"
                + draw(st.sampled_from(("", " multiplier=2", " bias=false"))) + fused(draw)]
    if kind == "convtranspose":
        return [f"l{i}: {transposed(draw, c)}"]
    if kind == "upsample":
        factor = draw(st.sampled_from(("2", "2x1", "1x3")))
        mode = draw(st.sampled_from(("", " mode=bilinear", " mode=bilinear align_corners=true")))
        return [f"l{i}: upsample {factor}{mode}"]
    if kind == "crop":
        return [f"l{i}: crop {draw(st.sampled_from(('1', '(1, 0)', '(0, 1, 1, 0)')))}"]
    if kind == "reshape":  # to a vector, a dense on it, and back to an image
        return [f"l{i}_flat: reshape {h * w * c}", f"l{i}_fc: dense {h * w * 2}" + fused(draw),
                f"l{i}: reshape {h}x{w}x2"]
    if kind == "layernorm":
        options = draw(st.sampled_from(("", " eps=1e-6", " scale=false", " center=false")))
        return [f"l{i}: layernorm{options}" + fused(draw)]
    if kind == "normalize":
        fixed = f" mean={numbers(draw, c, -1, 1)} variance={numbers(draw, c, 0.2, 4)}"
        return [f"l{i}: normalize" + draw(st.sampled_from(("", fixed)))]
    if kind == "rescale":
        offset = draw(st.sampled_from(("", " offset=-1", f" offset={numbers(draw, c, -1, 1)}")))
        return [f"l{i}: rescale {draw(st.sampled_from(('0.5', numbers(draw, c, -2, 2))))}{offset}"]
    if kind == "layerscale":
        return [f"l{i}: layerscale" + draw(st.sampled_from(("", " init=0.1")))]
    if kind == "batchnorm":
        options = draw(st.sampled_from((" scale=false", " center=false", " scale=false center=false")))
        return [f"l{i}: batchnorm{options}" + fused(draw)]
    if kind == "activation":
        return [f"l{i}: {draw(st.sampled_from(ACTS))}"]
    if kind == "dropout":
        return [f"l{i}: dropout 0.3 mode={draw(st.sampled_from(('element', 'channel', 'sample')))}"]
    if kind == "gate":
        return gate(draw, prev, c, i)
    return [f"l{i}: dense {draw(st.integers(1, 6))} per_pixel=true" + fused(draw)]


def gate(draw, prev: str, c: int, i: int) -> list[str]:
    """A squeeze-excite gate of `prev`: keepdims pooling, or pooling and a reshape."""
    squeeze = draw(st.sampled_from(("keepdims", "reshape")))
    pool = draw(st.sampled_from(("globalavgpool", "globalmaxpool")))
    lines = [f"l{i}_pool: {pool} keepdims=true from={prev}"] if squeeze == "keepdims" else \
        [f"l{i}_pool: {pool} from={prev}", f"l{i}_shape: reshape 1x1x?"]
    act = draw(st.sampled_from(("sigmoid", "hard_sigmoid")))
    return lines + [f"l{i}_gate: conv {c} 1x1 -> {act}", f"l{i}: multiply {prev} l{i}_gate"]


def checks(text: str):
    """The network, or None when the spec has an error."""
    net, diagnostics = analyse(SourceFile.from_text(text, "modern.cnn"))
    return None if net is None or any(d.severity == "error" for d in diagnostics) else net


@st.composite
def networks(draw):
    """(spec text, kinds used): a chain of steps, each kept only if the spec still checks."""
    shape = (draw(st.integers(4, 9)), draw(st.integers(4, 9)), draw(st.integers(1, 4)))
    text = "network Modern\ninput " + "x".join(map(str, shape)) + "\n"
    used, prev, net = set(), "input", None
    order = draw(st.permutations(KINDS))  # every kind is as likely at every step
    for i, kind in enumerate(order[:draw(st.integers(4, 8))]):
        candidate = text + "\n".join(layer(draw, kind, shape, prev, i)) + "\n"
        grown = checks(candidate)
        if grown is None or len(grown.nodes[-1].out_shape) != 3 or max(grown.nodes[-1].out_shape) > MOST:
            continue
        text, net, prev, shape = candidate, grown, f"l{i}", grown.nodes[-1].out_shape
        used.add(kind)
    if draw(st.booleans()):
        text += "head_pool: globalavgpool\nhead: dense 3 -> softmax\n"
        net = checks(text)
    return text, net, used


def test_random_modern_networks_agree_everywhere():
    seen: set[str] = set()

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(networks())
    def prove(case):
        _text, net, used = case
        if net is None:  # no step was kept: nothing to prove
            return
        check_everything(net)
        seen.update(used)

    prove()
    assert set(KINDS) <= seen, sorted(set(KINDS) - seen)
