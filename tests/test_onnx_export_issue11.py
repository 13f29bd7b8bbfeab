"""ONNX as a fourth target (issue 11): cnnspec.backends.onnx, `compile --target onnx`, and
`verify --targets ...,onnx`.

Every case of tests/backend_cases.py (every node kind and its options) and every zoo spec (at
a small input, its expect lines dropped) is exported; the model must pass onnx's own checker
with full_check, onnx's strict shape inference must give exactly the checker's shape for every
layer (NCHW, batch "N"), and onnxruntime, layer by layer, must agree with the NumPy backend to
the float32 tolerance of verify (1e-5 * max(1, max|a|)); a few cases are also run by onnx's
reference evaluator (onnx.reference, an implementation independent of onnxruntime) and by the
generated PyTorch code. The exported model's names and layouts are checked against the
portable weights; the CLI's behaviour without -o, with -o -, with --weights and its imports
(no torch, no tensorflow, and not even onnx's package __init__) in subprocesses; verify passes
on specs and fails on a sabotaged model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from backend_cases import CASES, block_network

import cnnspec
from cnnspec import cli, runtime
from cnnspec import weights as W
from cnnspec.backends import onnx as onnx_backend
from cnnspec.backends import onnx_kinds
from cnnspec.backends.onnx import OnnxUnsupported, export, value_shape
from cnnspec.kinds import NODE_KINDS
from cnnspec.onnx_runtime import OnnxModel, build, with_layer_outputs
from cnnspec.verify import RTOL, verify_network

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
TOL = RTOL["float32"]
SMALL = {"inceptionv3": 75, "xception": 71}  # the others at 32x32 (Keras's smallest inputs)
# every zoo spec but VGG19: VGG16's layers (the same kinds and options) with 20M more weights,
# which would double this file's time for no case the others lack
ZOO = sorted(p for p in (ROOT / "specs" / "zoo").glob("*.cnn") if p.stem != "vgg19")


def small_zoo(path: Path) -> cnnspec.Network:
    """A zoo spec at its smallest input, without its expect lines (they state 224x224 shapes)."""
    size = SMALL.get(path.stem, 32)
    text = re.sub(r"^input \d+x\d+x(\d+)", rf"input {size}x{size}x\1", path.read_text(), flags=re.MULTILINE)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("expect"))
    return cnnspec.loads(text + "\n", str(path))


def inferred_shapes(model) -> dict[str, list]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    infos = [*inferred.graph.value_info, *inferred.graph.output]
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in infos}


def worst(reference: dict, other: dict, names) -> tuple[float, str]:
    """The largest max|a - b| / max(1, max|a|) over the named layers, and its layer."""
    return max((relative_error(reference[n], other[n]), n) for n in names)


def relative_error(a, b) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b))) / max(1.0, float(np.max(np.abs(a))))


def check_network(net: cnnspec.Network, batch: int = 2) -> tuple[float, str]:
    """Export, check, infer shapes, run in onnxruntime; the worst layer against NumPy."""
    params = W.resolve(net, None, 0, "float32")
    model = build(net, params)
    onnx.checker.check_model(model.model, full_check=True)
    shapes = inferred_shapes(model.model)
    wrong = {n.name: (shapes.get(n.name), value_shape(n.out_shape)) for n in net.layers
             if shapes.get(n.name) != value_shape(n.out_shape)}
    assert not wrong, f"shape inference differs from the checker: {wrong}"
    x = np.random.default_rng(1).standard_normal((batch, *net.input_shape)).astype(np.float32)
    got = model.forward_layers(x)
    reference = runtime.build_model(net, "numpy", params).forward_layers(x)
    assert set(got) == set(reference) == {n.name for n in net.layers}
    result = worst(reference, got, reference)
    assert result[0] <= TOL, f"onnxruntime differs from NumPy at layer {result[1]}: {result[0]:.2e}"
    return result


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_case_exports_checks_and_runs_like_numpy(kind):
    check_network(CASES[kind]())


def test_the_case_table_covers_every_node_kind_and_the_emitter_has_them_all():
    assert set(NODE_KINDS) <= set(CASES)
    assert all(hasattr(onnx_backend.OnnxEmitter, f"{kind}_layer") for kind in NODE_KINDS)


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_zoo_specs_export_and_run_like_numpy(path):
    check_network(small_zoo(path), batch=1)


POOLS = [  # (input, pool line): ceil mode with an overhang and with a dropped window, padding
    # on every side and asymmetric, count_include_pad both ways (the table has none of these)
    ("5x5x3", "maxpool 2x2 stride=2 round=ceil"),
    ("5x5x3", "maxpool 2x2 stride=2 pad=1 round=ceil"),
    ("6x7x3", "maxpool 3x3 stride=2 pad=(0, 1, 1, 0) round=ceil"),
    ("5x5x3", "avgpool 2x2 stride=2 round=ceil count_include_pad=true"),
    ("5x5x3", "avgpool 2x2 stride=2 pad=1 round=ceil count_include_pad=true"),
    ("6x6x3", "avgpool 3x3 stride=2 pad=1 round=ceil count_include_pad=true"),
    ("6x6x3", "avgpool 3x3 stride=2 pad=1 round=ceil"),
    ("7x6x3", "avgpool 3x2 stride=(2, 1) pad=(1, 0, 0, 1) count_include_pad=true"),
    ("7x6x3", "avgpool 3x3 stride=2 pad=same"),
    # one axis with a ceil overhang, the other with a dropped window (ONNX has one ceil_mode)
    ("5x5x3", "maxpool 2x2 stride=2 pad=(0, 0, 1, 1) round=ceil"),
    ("5x5x3", "avgpool 2x2 stride=2 pad=(0, 0, 1, 1) round=ceil count_include_pad=true"),
    ("5x5x3", "avgpool 2x2 stride=2 pad=(1, 1, 0, 0) round=ceil"),
    # ... where the floor axis's last window (smaller than the stride) ends inside the input
    ("5x6x3", "maxpool 3x2 stride=(2, 3) pad=(1, 1, 0, 1) round=ceil"),
    ("3x5x3", "avgpool 2x2 stride=(3, 2) pad=(0, 1, 0, 0) round=ceil count_include_pad=true"),
]


@pytest.mark.parametrize(("shape", "pool"), POOLS)
def test_pool_rounding_and_padding_rules(shape, pool):
    check_network(cnnspec.loads(f"network p\ninput {shape}\nc: conv 4 1x1\np: {pool}\n"))


CONVS = [  # options the backend table leaves out, where ONNX's operators need care
    "convtranspose 4 3x3 stride=1 dilation=2 output_padding=1",  # onnxruntime refuses
    "convtranspose 4 2x2 stride=1 dilation=2 groups=2 pad=(1, 0, 0, 2) output_padding=(1, 0) bias=false",
    "convtranspose 4 3x3 stride=2 pad=same",
    "conv 4 3x3 stride=(2, 3) dilation=2 groups=2 pad=(0, 1, 2, 0)",
    "depthwise 3x3 stride=2 dilation=(1, 2) multiplier=2 pad=same",
]


@pytest.mark.parametrize("conv", CONVS)
def test_conv_options(conv):
    check_network(cnnspec.loads(f"network c\ninput 5x6x4\nc: {conv}\n"))


def test_every_shipped_spec_at_its_size():
    """specs/*.cnn: LeNet-5, the graph specs, and the transfer specs (an imported base)."""
    for name in sorted(p.stem for p in (ROOT / "specs").glob("*.cnn")):
        check_network(cnnspec.load(ROOT / "specs" / f"{name}.cnn"))


# --- an outside oracle twice over: onnx's reference evaluator and the generated PyTorch code ---

# onnx.reference's ConvTranspose cannot take groups (a reshape error), so its transposed
# convolution case is one without: explicit end crops and output_padding
REFERENCE_CASES = ["conv", "maxpool", "avgpool", "dense", "batchnorm", "add", "multiply",
                   "depthwise", "layernorm", "upsample", "reshape", "crop",
                   "convtranspose 4 3x3 stride=2 pad=(1, 0, 0, 2) output_padding=1"]


@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_onnx_reference_evaluator_agrees(case):
    from onnx.reference import ReferenceEvaluator
    net = CASES[case]() if case in CASES else cnnspec.loads(f"network c\ninput 5x6x4\nc: {case}\n")
    model = build(net, W.resolve(net, None, 0, "float32"))
    x = np.random.default_rng(2).standard_normal((2, *net.input_shape)).astype(np.float32)
    got = model.forward_layers(x)
    evaluator = ReferenceEvaluator(with_layer_outputs(model.model, net))
    names = [n.name for n in net.layers]
    values = evaluator.run(names, {net.nodes[0].name: x.transpose(0, 3, 1, 2)})
    reference = {n: np.asarray(v).transpose(0, 2, 3, 1) if np.ndim(v) == 4 else np.asarray(v)
                 for n, v in zip(names, values)}
    error, layer = worst(reference, got, names)
    assert error <= TOL, (layer, error)


@pytest.mark.parametrize("kind", ["flatten", "reshape", "concat", "separable"])
def test_pytorch_agrees_layer_by_layer(kind):
    net = CASES[kind]()
    params = W.resolve(net, None, 0, "float32")
    x = np.random.default_rng(3).standard_normal((2, *net.input_shape)).astype(np.float32)
    torch_layers = runtime.run_layers(runtime.build_model(net, "torch", params), "torch", net, x)
    onnx_layers = build(net, params).forward_layers(x)
    error, layer = worst(torch_layers, onnx_layers, torch_layers)
    assert error <= TOL, (layer, error)


# --- what the model holds: names, layouts, the symbolic batch ---

def test_names_layouts_and_the_symbolic_batch():
    net = block_network()
    params = W.resolve(net, None, 0, "float32")
    model = export(net, params)
    nodes = {n.name: n for n in model.graph.node}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    conv = nodes["layer2.0.conv1"]
    assert conv.op_type == "Conv" and list(conv.output) == ["layer2.0.conv1/Conv"]
    relu = nodes["layer2.0.conv1/Relu"]
    assert list(relu.input) == ["layer2.0.conv1/Conv"] and list(relu.output) == ["layer2.0.conv1"]
    assert list(conv.input) == ["layer1.1.out", "layer2.0.conv1.kernel", "layer2.0.conv1.bias"]
    kernel = params["layer2.0.conv1.kernel"]  # (kh, kw, in, out) -> ONNX (out, in, kh, kw)
    np.testing.assert_array_equal(inits["layer2.0.conv1.kernel"], kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(inits["fc.kernel"], params["fc.kernel"])  # Gemm's B is (in, out)
    every_layer = {n.name for n in net.layers}
    assert {n.name for n in model.graph.node} >= every_layer
    assert all(n.name in every_layer or n.name.split("/")[0] in every_layer for n in model.graph.node)
    (graph_input,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "input" and dims == ["N", 3, 8, 8]
    assert model.opset_import[0].version == onnx_backend.OPSET
    for batch in (1, 5):  # the symbolic batch runs at any size
        x = np.random.default_rng(4).standard_normal((batch, 8, 8, 3)).astype(np.float32)
        assert OnnxModel(net, model)(x).shape == (batch, 10)


def test_the_written_bytes_parse_to_exports_model():
    """compile writes the weights straight from their arrays (onnx_proto.serialize_apart):
    protobuf must parse the bytes to exactly the message export builds."""
    from cnnspec.backends.onnx import serialize
    for net in (CASES["batchnorm"](), CASES["upsample"](), block_network()):
        written = onnx.load_from_string(serialize(net, seed=3))
        assert written.SerializeToString() == export(net, seed=3).SerializeToString()


def test_flatten_order_is_nhwc_so_a_transposed_reading_would_fail():
    """The dense after a flatten reads the spec's NHWC order: the same kernel on the NCHW
    order (what a converter forgetting the transpose computes) gives other numbers."""
    net = CASES["dense"]()
    params = W.resolve(net, None, 0, "float32")
    x = np.random.default_rng(5).standard_normal((2, *net.input_shape)).astype(np.float32)
    out = build(net, params)(x)
    nchw_flat = x.transpose(0, 3, 1, 2).reshape(2, -1)
    wrong = np.tanh(nchw_flat @ params["n.kernel"] + params["n.bias"])
    right = np.tanh(x.reshape(2, -1) @ params["n.kernel"] + params["n.bias"])
    np.testing.assert_allclose(out, right, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(out - wrong)) > 1e-2


# --- what cannot be exported: a located diagnostic (E601), exit 1 ---

def test_an_inexpressible_layer_is_a_located_error(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "g.cnn"
    spec.write_text("network g\ninput 4x4x2\nc: conv 3 3x3\n  gelu\n")
    monkeypatch.delitem(onnx_kinds.ACTIVATION_OPS, "gelu")  # as if ONNX had no Gelu
    out = tmp_path / "g.onnx"
    assert cli.main(["compile", str(spec), "--target", "onnx", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:4:3: error[E601]: layer 'activation_1' cannot be exported to ONNX" in err
    assert "'gelu'" in err and not out.exists()


def test_an_unknown_kind_raises_the_located_error():
    import dataclasses
    net = CASES["dropout"]()
    odd = dataclasses.replace(net.layers[1], kind="fancy")
    net = dataclasses.replace(net, nodes=(net.nodes[0], net.nodes[1], odd, *net.nodes[3:]))
    with pytest.raises(OnnxUnsupported) as err:
        export(net)
    assert err.value.node is odd and "kind 'fancy'" in str(err.value)


# --- the command line ---

def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnspec", *args], capture_output=True,
                          env=ENV, cwd=ROOT, timeout=120, check=False, **kwargs)


def test_compile_writes_a_model_that_onnxruntime_runs_and_imports_no_framework(tmp_path):
    out = tmp_path / "lenet.onnx"
    probe = ("import sys, runpy; sys.argv = ['cnnspec', 'compile', 'specs/lenet5.cnn', '--target', "
             f"'onnx', '-o', {str(out)!r}]\ntry:\n    runpy.run_module('cnnspec', run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "heavy = sorted(m for m in ('torch', 'tensorflow', 'keras', 'onnx', 'onnxruntime', "
             "'ml_dtypes') if m in sys.modules)\nprint('imported:', heavy)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout
    assert "wrote" in done.stderr and "opset 22" in done.stderr
    net = cnnspec.load(ROOT / "specs" / "lenet5.cnn")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(6).standard_normal((3, 28, 28, 1)).astype(np.float32)
    (y,) = session.run(None, {"input": x.transpose(0, 3, 1, 2)})
    expected = runtime.build_model(net, "numpy", W.init_weights(net, 0))(x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_dash_to_a_terminal_is_refused():
    import pty
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "cnnspec", "compile", "specs/lenet5.cnn",
                               "--target", "onnx", "-o", "-"], stdout=follower, stderr=subprocess.PIPE,
                              env=ENV, cwd=ROOT, timeout=120, check=False)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and b"to the terminal" in done.stderr


def test_compile_without_output_is_a_usage_error_and_dash_writes_the_bytes(tmp_path):
    done = run_cli("compile", "specs/lenet5.cnn", "--target", "onnx")
    assert done.returncode == 2 and b"-o MODEL.onnx" in done.stderr and not done.stdout
    piped = run_cli("compile", "specs/lenet5.cnn", "--target", "onnx", "-o", "-")
    assert piped.returncode == 0, piped.stderr
    model = onnx.load_from_string(piped.stdout)
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["out"]
    done = run_cli("compile", "specs/lenet5.cnn", "--target", "numpy", "--weights", "w.safetensors")
    assert done.returncode == 2 and b"--target onnx only" in done.stderr


def test_unwritable_outputs_and_unreadable_inputs_exit_2_leaving_files_intact(tmp_path, capsys):
    """-o over the spec, into a missing folder, or a directory; a directory or a missing file
    as the spec or the weights: exit 2 with the path, no traceback, the spec unchanged."""
    spec = tmp_path / "lenet5.cnn"
    text = (ROOT / "specs/lenet5.cnn").read_text()
    spec.write_text(text)
    compile_onnx = ["compile", "--target", "onnx"]
    for out in (spec, tmp_path / "missing" / "m.onnx", tmp_path):
        assert cli.main([*compile_onnx, str(spec), "-o", str(out)]) == 2
        assert capsys.readouterr().err.startswith(f"cnnspec: error: cannot write {out}: ")
    assert spec.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.cnn"]  # no temporary left
    out = str(tmp_path / "m.onnx")
    for args in ([str(tmp_path)], [str(tmp_path / "none.cnn")], [str(spec), "--weights", str(tmp_path)],
                 [str(spec), "--weights", str(tmp_path / "none.safetensors")]):
        assert cli.main([*compile_onnx, *args, "-o", out]) == 2, args
        err = capsys.readouterr().err
        assert "cannot read" in err and "Traceback" not in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_compile_with_weights_stores_them(tmp_path):
    net = cnnspec.load(ROOT / "specs" / "lenet5.cnn")
    params = W.init_weights(net, seed=7)
    weights = tmp_path / "w.safetensors"
    W.save_file(params, weights)
    out = tmp_path / "m.onnx"
    assert cli.main(["compile", "specs/lenet5.cnn", "--target", "onnx", "-o", str(out),
                     "--weights", str(weights)]) == 0
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    np.testing.assert_array_equal(inits["c1.kernel"], params["c1.kernel"].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(inits["f5.kernel"], params["f5.kernel"])
    params["c1.bias"] = np.zeros((7,), np.float32)  # a wrong shape: exit 1, nothing written
    W.save_file(params, weights)
    out.unlink()
    assert cli.main(["compile", "specs/lenet5.cnn", "--target", "onnx", "-o", str(out),
                     "--weights", str(weights)]) == 1
    assert not out.exists()


def test_verify_cli_passes_on_specs_and_refuses_float64():
    for spec in ("specs/lenet5.cnn", "specs/inception_module.cnn"):
        done = run_cli("verify", spec, "--targets", "numpy,onnx", "--dtype", "float32")
        assert done.returncode == 0, done.stdout + done.stderr
        assert b"OK: numpy, onnx agree" in done.stdout
    done = run_cli("verify", "specs/lenet5.cnn", "--targets", "numpy,onnx")
    assert done.returncode == 2 and b"--dtype float32" in done.stderr


def test_verify_fails_on_a_sabotaged_model(monkeypatch):
    net = cnnspec.load(ROOT / "specs" / "two_heads.cnn")
    assert verify_network(net, ["numpy", "onnx"], "float32").ok
    real = onnx_backend.onnx_tensor
    victim = next(n for n in net.layers if n.weights).name

    def sabotaged(node, tensor, array):
        array = real(node, tensor, array)
        return array * np.float32(1.001) if node.name == victim and tensor == "kernel" else array

    monkeypatch.setattr(onnx_backend, "onnx_tensor", sabotaged)
    report = verify_network(net, ["numpy", "onnx"], "float32")
    assert not report.ok
    assert report.first_divergence().layer == victim


def test_the_operator_table_of_the_docs_is_what_the_exporter_writes():
    """docs/backends.md, "Operator mapping": every node kind and activation has a row, and the
    operator named after each layer of every case is one its row names."""
    from cnnspec.kinds import ACTIVATIONS
    from cnnspec.kinds.base import activation_name
    text = (ROOT / "docs/backends.md").read_text()
    section = text[text.index("### Operator mapping"):text.index("**Ceil mode.**")]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            names, operators = line[2:].split(" | ", 1)
            rows.update((name, operators) for name in re.findall(r"`(\w+)`", names))
    assert set(NODE_KINDS) - {"activation"} <= set(rows)
    assert {activation_name(a) for a in ACTIVATIONS} <= set(rows)
    for kind in sorted(CASES):
        net = CASES[kind]()
        main_ops = {n.name: n.op_type for n in export(net, seed=0).graph.node}
        for node in (n for n in net.layers if n.kind == kind):
            row = rows[node.attrs["activation"] if kind == "activation" else kind]
            assert f"`{main_ops[node.name]}" in row, (kind, node.name, main_ops[node.name], row)
