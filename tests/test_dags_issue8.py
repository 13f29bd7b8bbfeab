"""The cross-backend proof for graphs: random valid DAGs, every backend, layer by layer.

Hypothesis writes random networks as spec TEXT with branches (`from=`), merges (`add` of equal
shapes, `concat` of equal heights and widths or of flat vectors, `multiply` by a squeeze-excite
gate), parametrised blocks (a residual block whose projection exists only when the stride or
the channels change, an Inception-style block, a squeeze-excite block that reads
`in.channels`), `repeat N ... first(stride=2)`, and one to three outputs (a head that
concatenates two flattened branches, the flatten-order trap through a merge, among them). It
tracks every named value's shape itself, so every drawn network checks clean, and for each:

- the checker's shapes of the top-level values equal this file's own account;
- `check_everything` (tests/test_cross_backend.py): every node's shape in every backend equals
  the checker's, PyTorch's and Keras's parameter counts equal the checker's, and NumPy, PyTorch
  and Keras agree on every node in float64 to 1e-10 * max(1, max|a|).

The networks come from a fixed seed (CNNSPEC_HYPOTHESIS_SEED=N explores others); the test
asserts that they contained every graph feature, so a generator drifting away from one cannot
pass silently.
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from test_cross_backend import activation, check_everything, conv_layer, pool_layer, shape_keeping

import cnnspec

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
EXAMPLES = 40
SEED = int(os.environ.get("CNNSPEC_HYPOTHESIS_SEED", "1"))

BLOCKS = """\
block res(filters, stride=1)
  a: conv filters 3x3 stride=stride pad=1 bias=false
  bn: batchnorm -> relu
  b: conv filters 3x3 pad=1
  proj: conv filters 1x1 stride=stride from=in  if stride != 1 or in.channels != filters
  out: add b proj?in -> relu
end

block mixed(left, right=2)
  l: conv left 1x1
  r: conv right 3x3 pad=same from=in
  p: maxpool 3x3 stride=1 pad=same from=in
  cat: concat l r p
end

block se(ratio=2)
  squeeze: globalavgpool
  reduce: dense in.channels//ratio+1 -> relu
  excite: dense in.channels -> sigmoid
  scale: multiply in excite
end
"""


def res_out(shape, filters: int, stride: int):
    h, w, _ = shape
    return (-(-h // stride), -(-w // stride), filters)


@st.composite
def block_use(draw, shape):
    """(text after the name, output shape, features used) of a use of one of the BLOCKS."""
    h, w, c = shape
    which = draw(st.sampled_from(("res", "res", "repeat", "mixed", "se")))
    if which == "se":
        ratio = draw(st.integers(1, 3))
        return f"se ratio={ratio}", shape, {"multiply gate", "in.channels"}
    if which == "mixed":
        left, right = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        return f"mixed {left} right={right}", (h, w, left + right + c), {"concat channels"}
    filters, stride = draw(st.integers(1, 5)), draw(st.sampled_from((1, 1, 2)))
    projected = stride != 1 or c != filters
    features = {"block", "projection" if projected else "identity shortcut"}
    if which == "res":
        return f"res {filters} stride={stride}", res_out(shape, filters, stride), features
    count = draw(st.integers(2, 3))
    out = res_out(res_out(shape, filters, stride), filters, 1)
    return (f"repeat {count} res {filters} first(stride={stride})", out,
            features | {"repeat", "identity shortcut"})


@st.composite
def image_step(draw, values):
    """One top-level line reading an earlier image value: (text, shape, features)."""
    images = [name for name, shape in values.items() if len(shape) == 3]
    source = draw(st.sampled_from(images[-1:] * 3 + images))
    shape = values[source]
    origin = "" if source == images[-1] and source == list(values)[-1] else f" from={source}"
    kind = draw(st.sampled_from(("conv", "conv", "pool", "keep", "block", "block", "merge")))
    if kind == "merge":
        merged = draw(merge_of(values, source))
        if merged is not None:
            return merged
        kind = "conv"
    if kind == "block":
        text, out, features = draw(block_use(shape))
        return with_origin(text, origin), out, features | ({"from="} if origin else set())
    maker = {"conv": conv_layer, "pool": pool_layer, "keep": shape_keeping}[kind]
    text, out = draw(maker(shape))
    return with_origin(text, origin), out, {"from="} if origin else set()


def with_origin(text: str, origin: str) -> str:
    """`from=` belongs to the layer: before a fused `-> activation` (whose options follow it)."""
    layer, arrow, act = text.partition(" ->")
    return layer + origin + arrow + act


@st.composite
def merge_of(draw, values, source):
    """An add of equal shapes or a concat of equal HxW, with `source` first; None if none."""
    shape = values[source]
    same = [n for n, s in values.items() if s == shape and n != source]
    sized = [n for n, s in values.items() if len(s) == 3 and s[:2] == shape[:2] and n != source]
    if same and draw(st.booleans()):
        other = draw(st.sampled_from(same))
        return f"add {source} {other}" + draw(activation(fused=True)), shape, {"add"}
    if sized:
        others = draw(st.lists(st.sampled_from(sized), min_size=1, max_size=2, unique=True))
        channels = shape[2] + sum(values[n][2] for n in others)
        return f"concat {source} {' '.join(others)}", (*shape[:2], channels), {"concat channels"}
    return None


@st.composite
def heads(draw, values, first: int):
    """1-3 heads: (lines, {name: shape}, output names, features)."""
    images = [name for name, shape in values.items() if len(shape) == 3]
    lines, shapes, outputs, features = [], {}, [], set()
    for i in range(draw(st.integers(1, 3))):
        name = f"h{first + i}"
        form = draw(st.sampled_from(("gap", "flat2", "flatadd", "image")))
        a, b = draw(st.sampled_from(images)), draw(st.sampled_from(images))
        if form == "image" and a != "input":
            outputs.append(a)
            features.add("image output")
            continue
        if form in ("gap", "image"):
            lines.append(f"{name}_pool: globalavgpool from={a}")
            width = values[a][2]
        else:
            lines += [f"{name}_fa: flatten from={a}"]
            if form == "flatadd":  # add after a flatten: the same order on both sides
                lines += [f"{name}_fb: flatten from={a}", f"{name}_pool: add {name}_fa {name}_fb"]
                width = math.prod(values[a])
                features.add("add of flattens")
            else:  # concat of two flattened branches feeding a dense: rows from both orders
                lines += [f"{name}_fb: flatten from={b}", f"{name}_pool: concat {name}_fa {name}_fb"]
                width = math.prod(values[a]) + math.prod(values[b])
                features.add("concat of flattens")
        units = draw(st.integers(1, 4))
        lines.append(f"{name}: dense {units}" + draw(activation(fused=True)))
        shapes[f"{name}_pool"], shapes[name] = (width,), (units,)
        outputs.append(name)
    return lines, shapes, list(dict.fromkeys(outputs)), features | ({"several outputs"}
                                                                     if len(set(outputs)) > 1 else set())


@st.composite
def dags(draw):
    """(spec text, {top-level name: shape}, output names, features)."""
    shape = (draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 4)))
    lines = ["network RandomGraph", "input " + "x".join(map(str, shape)), "", BLOCKS]
    values, features = {"input": shape}, set()
    for i in range(draw(st.integers(2, 6))):
        text, out, used = draw(image_step(values))
        lines.append(f"l{i}: {text}")
        values[f"l{i}"] = out
        features |= used
    head_lines, head_shapes, outputs, used = draw(heads(values, 0))
    lines += head_lines + [f"output {', '.join(outputs)}"]
    values.update(head_shapes)
    return "\n".join(lines) + "\n", values, outputs, features | used


FEATURES = {"from=", "add", "concat channels", "multiply gate", "in.channels", "block",
            "projection", "identity shortcut", "repeat", "concat of flattens", "add of flattens",
            "several outputs", "image output"}


def test_random_graphs_agree_everywhere():
    seen: set[str] = set()

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(dags())
    def prove(case):
        text, values, outputs, features = case
        net = cnnspec.loads(text)
        assert [d for d in net.diagnostics if d.severity == "error"] == [], text
        for name, shape in values.items():
            node = net.node(name) if name == "input" or not _is_instance(net, name) else None
            got = node.out_shape if node else _instance_output(net, name).out_shape
            assert got == shape, (name, got, shape, text)
        assert [n.name for n in net.output_nodes] == [_output_node(net, o) for o in outputs]
        check_everything(net)
        seen.update(features)

    prove()
    assert FEATURES <= seen, sorted(FEATURES - seen)


def _is_instance(net, name: str) -> bool:
    return any(i.name == name for i in net.instances)


def _instance_output(net, name: str):
    return net.instance_nodes(name)[-1]


def _output_node(net, name: str) -> str:
    return _instance_output(net, name).name if _is_instance(net, name) else name
