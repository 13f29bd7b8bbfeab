"""Receptive field, jump and activation memory (issue 10), cnnspec/receptive.py.

The fields are checked against a brute-force computation independent of receptive.py: random
small graphs (text specs, a line kept only if it checks) run through the NumPy backend with
positive weights, one input pixel raised at a time (each perturbation one sample of a batch);
an output pixel's measured field is the extent of the input pixels whose perturbation changes
it. Known values: VGG16 (pool5: 212, jump 32) and ResNet-50 (the last block: 483, jump 32).
"""

from __future__ import annotations

import json
import random
from math import ceil
from pathlib import Path

import numpy as np
import pytest

from cnnspec import cli, kinds
from cnnspec.api import analyse, build, load
from cnnspec.receptive import MERGES, RULES, annotate, fields, peak_elements
from cnnspec.runtime import run_layers
from cnnspec.source import SourceFile
from cnnspec.weights import init_weights

SIZE = 20  # input SIZE x SIZE x 2


def test_every_node_kind_has_one_rule():
    assert set(RULES) | set(MERGES) == set(kinds.NODE_KINDS)
    assert not set(RULES) & set(MERGES)


def checks(lines: list[str]):
    text = f"input {SIZE}x{SIZE}x2\n" + "\n".join(lines) + "\n"
    net, diags = analyse(SourceFile.from_text(text, "rnd.cnn"))
    return net if net is not None and not any(d.severity == "error" for d in diags) else None


LAYERS = [
    "conv 3 {k}x{k} stride={s} pad={p} dilation={d}", "conv 2 3x3 stride=2 pad=1", "conv 2 {k}x{k} stride={s} pad=same",
    "maxpool {k}x{k} stride={s}", "avgpool {k}x{k} stride={s} pad={q}",
    "depthwise {k}x{k} stride={s} pad={p}", "separable 3 {k}x{k} dilation={d}",
    "zeropad ({p}, {q}, {q}, {p})", "crop ({q}, 0, 0, {q})", "batchnorm", "relu",
]
SCATTER = ["upsample {s}", "upsample 2 mode=bilinear", "convtranspose 2 {k}x{k} stride={s}",
           "convtranspose 2 3x3 stride=2 pad=1 output_padding=1"]


def random_lines(rng: random.Random, scatter: bool) -> list[str]:
    """A chain with a side branch merged by add or concat, each line kept if it checks."""
    lines, names = [], ["input"]
    for i in range(rng.randint(3, 6)):
        pool = LAYERS + (SCATTER if scatter else [])
        for _ in range(10):
            form = rng.choice(pool).format(k=rng.randint(1, 3), s=rng.randint(1, 2),
                                           p=rng.randint(0, 1), q=rng.randint(0, 1), d=rng.randint(1, 2))
            source = names[-1] if rng.random() < 0.7 else rng.choice(names)
            line = f"l{i}: {form} from={source}"
            if checks(lines + [line]):
                lines.append(line)
                names.append(f"l{i}")
                break
    for merge in ("add", "concat"):
        for a in names[1:]:
            line = f"m: {merge} {names[-1]} {a}"
            if a != names[-1] and checks(lines + [line]):
                return lines + [line]
    return lines


def positive(net) -> dict:
    """Positive weights (batch-norm statistics too): every path only ever adds."""
    return {k: np.abs(v) + 0.2 for k, v in init_weights(net, seed=1, dtype="float64").items()}


def measured(net) -> dict[str, np.ndarray]:
    """node -> changed[oh, ow, ih, iw]: does raising input pixel (ih, iw) change output (oh, ow)."""
    x = np.random.default_rng(0).uniform(0, 1, (1, SIZE, SIZE, 2))
    batch = np.repeat(x, SIZE * SIZE + 1, axis=0)
    for p in range(SIZE * SIZE):
        batch[p + 1, p // SIZE, p % SIZE, :] += 50.0
    layers = run_layers(build(net, "numpy", positive(net), dtype="float64"), "numpy", net, batch)
    out = {}
    for name, y in layers.items():
        if y.ndim == 4:
            diff = np.abs(y[1:] - y[:1]).max(axis=3) > 1e-9 * (1 + np.abs(y[:1]).max())
            out[name] = diff.reshape(SIZE, SIZE, *y.shape[1:3]).transpose(2, 3, 0, 1)
    return out


def extents(changed: np.ndarray, axis: int) -> list[tuple[int, int, int]]:
    """(output index, first, last) input rows (axis 0) or columns seen by each output pixel."""
    found = []
    for oh in range(changed.shape[0]):
        for ow in range(changed.shape[1]):
            hits = np.nonzero(changed[oh, ow].any(axis=1 - axis))[0]
            if len(hits):
                found.append(((oh, ow)[axis], hits[0], hits[-1]))
    return found


def compare(net, scatter: bool):
    """Every node's measured fields against receptive.fields. Without upsampling and crops an
    output pixel whose field lies inside the image sees exactly it; a crop lets a later layer's
    padding fall inside the image (an upper bound there), and after upsampling the field is the
    continuous bound rounded up: at most a pixel over, exact for one fractional layer."""
    found, seen = fields(net), measured(net)
    exact = not scatter and all(n.kind != "crop" for n in net.nodes)
    for name, changed in seen.items():
        for axis in (0, 1):
            f = found[name][axis]
            widths = [last - first + 1 for _, first, last in extents(changed, axis)]
            assert max(widths) <= ceil(f.rf), (name, axis, f)
            if f.rf <= SIZE // 2 and changed.shape[axis] > 4:
                assert ceil(f.rf) - max(widths) <= (1 if scatter else 0), (name, axis, f, max(widths))
            for i, first, last in extents(changed, axis) if exact else ():
                lo, hi = f.start + i * f.jump, f.start + i * f.jump + f.rf - 1
                if lo >= 0 and hi < SIZE:  # wholly inside the image: exactly the field
                    assert (first, last) == (lo, hi), (name, axis, i, f)
                else:  # partly in padding: a dilated kernel's holes may end it early
                    assert lo <= first and last <= hi, (name, axis, i, f)


def test_one_upsampling_layer_is_exact():
    """Exact when every output phase reads as many inputs (K a multiple of S for a
    convtranspose); convtranspose 3x3 stride=2 reads 1 or 2: the bound is a pixel over there."""
    uneven = checks(["a: convtranspose 2 3x3 stride=2 pad=1", "b: conv 2 3x3 pad=1", "c: conv 2 2x2"])
    widths = [last - first + 1 for _, first, last in extents(measured(uneven)["c"], 0)]
    assert (max(widths), ceil(fields(uneven)["c"][0].rf)) == (3, 4)
    for line in ("upsample 2", "upsample 3", "upsample 2 mode=bilinear", "convtranspose 2 4x4 stride=2",
                 "convtranspose 2 2x2 stride=2", "convtranspose 2 3x3 stride=1"):
        net = checks([f"a: {line}", "b: conv 2 3x3 pad=1", "c: conv 2 2x2"])
        seen = measured(net)
        for name in ("a", "b", "c"):
            widths = [last - first + 1 for _, first, last in extents(seen[name], 0)]
            assert max(widths) == ceil(fields(net)[name][0].rf), (line, name)


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_match_brute_force(seed):
    rng = random.Random(seed)
    net = checks(random_lines(rng, scatter=False))
    compare(net, scatter=False)


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_with_upsampling_match_brute_force(seed):
    rng = random.Random(100 + seed)
    net = checks(random_lines(rng, scatter=True))
    compare(net, scatter=True)


def test_a_merge_takes_the_union_of_its_paths():
    net = checks(["a: conv 2 5x5 pad=2", "b: conv 2 1x1 from=input", "m: add a b"])
    h, w = fields(net)["m"]
    assert (h.rf, h.jump, h.start) == (5, 1, -2) and w == h
    compare(net, scatter=False)


def layer(summary: dict, name: str) -> dict:
    return next(x for x in summary["layers"] if x["name"] == name)


def test_vgg16_known_receptive_fields():
    net = load("specs/zoo/vgg16.cnn")
    s = annotate(net, net.summary())
    known = {"block1_pool": 6, "block2_pool": 16, "block3_pool": 44, "block4_pool": 100,
             "block5_conv3": 196, "block5_pool": 212}
    for name, rf in known.items():
        assert layer(s, name)["receptive_field"] == [rf, rf], name
    assert layer(s, "block5_pool")["jump"] == [32, 32]


def test_resnet50_known_receptive_fields():
    net = load("specs/zoo/resnet50.cnn")
    s = annotate(net, net.summary())
    assert layer(s, "conv1_conv")["receptive_field"] == [7, 7]
    assert layer(s, "pool1_pool")["receptive_field"] == [11, 11]
    assert layer(s, "conv5.2.out")["receptive_field"] == [483, 483]
    assert layer(s, "conv5.2.out")["jump"] == [32, 32]
    assert layer(s, "conv4.5.out")["jump"] == [16, 16]


def test_activation_memory_of_lenet_by_hand():
    net = load("specs/lenet5.cnn")
    s = annotate(net, net.summary(), batch=4, dtype="float16")
    elements = [28 * 28, 28 * 28 * 6, 14 * 14 * 6, 10 * 10 * 16, 5 * 5 * 16, 400, 120, 84, 10]
    assert s["activation_memory_bytes"] == sum(elements) * 4 * 2
    assert layer(s, "c1")["activation_bytes"] == 28 * 28 * 6 * 8
    assert s["peak_activation_bytes"] == (28 * 28 * 6 + 14 * 14 * 6) * 8


def brute_peak(net) -> int:
    """Peak by simulation, written separately: free a value once every reader has run."""
    sizes = {n.name: int(np.prod(n.out_shape)) for n in net.nodes}
    outputs = {n.name for n in net.output_nodes}
    alive, peak = {}, 0
    for i, node in enumerate(net.nodes):
        alive[node.name] = sizes[node.name]
        peak = max(peak, sum(alive.values()))
        later = [m for m in net.nodes[i + 1:]]
        for name in list(alive):
            if name not in outputs and not any(name in m.inputs for m in later):
                del alive[name]
    return peak


@pytest.mark.parametrize("seed", range(6))
def test_peak_against_a_simulation(seed):
    net = checks(random_lines(random.Random(200 + seed), scatter=True))
    assert peak_elements(net) == brute_peak(net)


def test_inception_branches_keep_the_values_alive():
    net = load("specs/inception_module.cnn")
    assert peak_elements(net) == brute_peak(net)
    assert peak_elements(net) > max(int(np.prod(n.out_shape)) for n in net.nodes)


def run(args, capsys) -> str:
    assert cli.main(args) == 0
    return capsys.readouterr().out


def test_cli_json_keys_and_flags(capsys):
    obj = json.loads(run(["summary", "specs/lenet5.cnn", "--format", "json", "--batch", "2",
                          "--dtype", "float64"], capsys))
    assert obj["batch"] == 2 and obj["dtype"] == "float64"
    c1 = layer(obj, "c1")
    assert c1["receptive_field"] == [5, 5] and c1["jump"] == [1, 1] and c1["rf_start"] == [-2, -2]
    assert c1["activation_bytes"] == 28 * 28 * 6 * 2 * 8
    assert obj["peak_activation_bytes"] <= obj["activation_memory_bytes"]


def test_cli_table_and_markdown_columns(capsys):
    text = run(["summary", "specs/lenet5.cnn", "--receptive"], capsys)
    assert "RF" in text.splitlines()[3] and "Act. bytes" in text
    row = next(line.split() for line in text.splitlines() if line.startswith("c3 "))
    assert row[-3:] == ["14x14", "2x2", "6,400"]
    assert "Activation memory (batch 1, float32)" in text
    md = run(["summary", "specs/lenet5.cnn", "--receptive", "--format", "markdown"], capsys)
    assert "| c3 | conv | 10x10x16 | 2,416 | 2,416 | 9 | 14x14 | 2x2 | 6,400 |" in md
    plain = run(["summary", "specs/lenet5.cnn"], capsys)
    assert "RF" not in plain and "Activation memory" not in plain


def test_collapsed_instance_rows_show_the_block_output(capsys):
    text = run(["summary", "specs/zoo/resnet50.cnn", "--receptive"], capsys)
    row = next(line.split() for line in text.splitlines() if line.startswith("conv5 "))
    assert "483x483" in row and "32x32" in row


def test_bad_batch_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["summary", "specs/lenet5.cnn", "--batch", "0"])
    assert err.value.code == 2


def test_a_hand_built_ir_without_attrs_gets_memory_but_no_fields():
    from test_summary_graph_issue8 import resnet_like
    net = resnet_like()
    s = annotate(net, net.summary())
    assert all(x["receptive_field"] is None for x in s["layers"])
    assert s["peak_activation_bytes"] > 0
    assert "RF" in report_table(s)


def report_table(summary: dict) -> str:
    from cnnspec import report
    return report.table(summary, None, receptive=True)


ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.cnn"))


@pytest.mark.parametrize("path", SPECS)
def test_every_shipped_spec_gets_fields_and_memory(path):
    net = load(path)
    s = annotate(net, net.summary())
    assert all(x["receptive_field"] is not None for x in s["layers"]), path
    sizes = [int(np.prod(n.out_shape)) for n in net.nodes]
    assert max(sizes) * 4 <= s["peak_activation_bytes"] <= s["activation_memory_bytes"] == sum(sizes) * 4
    for node in net.layers:  # a field never shrinks along a path
        for i in node.inputs:
            before = [1, 1] if i == "input" else layer(s, i)["receptive_field"]
            after = layer(s, node.name)["receptive_field"]
            assert after[0] >= before[0] and after[1] >= before[1], (node.name, i)


def test_graph_markdown_keeps_connected_last_and_one_alignment_per_column(capsys):
    md = run(["summary", "specs/two_heads.cnn", "--receptive", "--format", "markdown"], capsys)
    head, rule = md.splitlines()[4:6]
    assert head.endswith("| RF | Jump | Act. bytes | Connected to |")
    assert rule.count("|") == head.count("|") and rule.endswith("---:|---|")
    assert "| pool2 | maxpool | 16x16x32 | 0 |  | 11 | 10x10 | 4x4 | 32,768 | conv2 |" in md
