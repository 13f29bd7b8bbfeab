"""`cnnspec import` (issue 11): ONNX graphs -> specs and portable weights, proven on outputs.

The oracles are outside cnnspec: a small ResNet written here in PyTorch (conv-bn-relu stem, a
max pool, a basic block with an identity shortcut and one with a 1x1 projection, a flatten
and a dense head), given random weights and random batch-norm statistics, exported with
`torch.onnx.export`; its own outputs are what the imported spec's NumPy model must give
(NCHW -> NHWC on the input) within 1e-4, with the batch norms kept and folded. Graphs built
with onnx.helper cover the rest of the operator table against onnxruntime's outputs, and
the refusals (an LSTM, a Transpose, a broken file) are checked by their messages and exit
statuses.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import cnnspec
from cnnspec.cli import main
from cnnspec.formatter import format_text

TOLERANCE = 1e-4


# -- the hand-written ResNet ----------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class SmallResNet(nn.Module):
    """16x16x3 -> stem 16x16x8 -> pool 8x8x8 -> block 8x8x8 -> block 4x4x16 -> 256 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 16, 2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(x, 1))


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, and batch-norm scales, offsets and running statistics away from 1 and 0
    (a wrong epsilon, order or layout shows in the outputs)."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def export(model: nn.Module, path, x, dynamo: bool = False) -> None:
    """torch.onnx.export: the legacy TorchScript exporter (dynamo=False), with the batch norms
    kept in the graph (training=PRESERVE stops its Conv+BatchNormalization fusion), and the
    batch axis symbolic; or the dynamo exporter, torch 2.13's default, which folds them."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=True,
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, verbose=False)
        else:
            torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False,
                              training=torch.onnx.TrainingMode.PRESERVE,
                              dynamic_axes={"x": {0: "batch"}})


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def assert_close(theirs: np.ndarray, ours: np.ndarray) -> float:
    """max|a - b| / max(1, max|a|) within TOLERANCE (a: the outside oracle); returns it."""
    ours = np.asarray(ours).reshape(theirs.shape)
    diff = float(np.abs(ours.astype(np.float64) - theirs).max()) / max(1.0, float(np.abs(theirs).max()))
    assert diff <= TOLERANCE, diff
    return diff


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resnet")
    model = randomised(SmallResNet())
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    export(model, folder / "resnet.onnx", x[:1])
    with torch.no_grad():
        y = model(x).numpy()
    return folder, model, x.numpy(), y


def imported(folder, *options):
    spec, weights = folder / "resnet.cnn", folder / "resnet.safetensors"
    code, out, err = run("import", folder / "resnet.onnx", "-o", spec, "--weights-out", weights, *options)
    assert code == 0, err
    return spec, weights, out


def torch_counts(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters())
    stats = sum(m.running_mean.numel() + m.running_var.numel()
                for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return trainable + stats, trainable


def test_resnet_round_trip_keeps_batch_norm(resnet):
    folder, model, x, y = resnet
    spec, weights, _ = imported(folder)
    network = cnnspec.load(spec)  # checks, and its expect lines hold
    text = spec.read_text()
    kinds = [n.kind for n in network.layers]
    assert kinds.count("batchnorm") == 6 and kinds.count("add") == 2 and "flatten" in kinds
    assert "layer2_downsample_0: conv 16 1x1 stride=2" in text  # the projection, named by PyTorch
    assert "layer1:              add layer1_bn2 maxpool -> relu" in text  # the identity shortcut
    assert "bias=false from=layer1" in text  # the projection reads the block's input
    assert format_text(text) == text  # written in `cnnspec fmt`'s canonical layout
    total, trainable = torch_counts(model)
    assert f"expect params == {total}\n" in text and f"expect trainable_params == {trainable}\n" in text
    numpy_model = cnnspec.build(network, "numpy", weights=str(weights))
    assert_close(y, numpy_model(x.transpose(0, 2, 3, 1)))


def test_resnet_round_trip_with_folded_batch_norm(resnet):
    folder, model, x, y = resnet
    spec, weights, _ = imported(folder, "--fold-bn")
    network = cnnspec.load(spec)
    assert [n.kind for n in network.layers].count("batchnorm") == 0
    total, _ = torch_counts(model)
    bn = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert sum(n.params for n in network.nodes) == total - 4 * bn + bn  # each bn: a conv bias
    numpy_model = cnnspec.build(network, "numpy", weights=str(weights))
    assert_close(y, numpy_model(x.transpose(0, 2, 3, 1)))


def test_verify_passes_on_the_imported_files(resnet):
    folder, *_ = resnet
    spec, weights, _ = imported(folder)
    code, out, err = run("verify", spec, "--weights", weights, "--targets", "numpy,torch")
    assert code == 0, out + err


def test_the_dynamo_exporter_folds_batch_norm_itself_and_imports(tmp_path):
    """torch 2.13's default exporter (dynamo=True, onnxscript's optimiser) writes no
    BatchNormalization: it folds each into its conv, and those import as plain convs."""
    model = randomised(SmallResNet(), seed=3)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    export(model, tmp_path / "dynamo.onnx", x[:1], dynamo=True)
    code, _, err = run("import", tmp_path / "dynamo.onnx", "-o", tmp_path / "d.cnn",
                       "--weights-out", tmp_path / "d.safetensors")
    assert code == 0, err
    network = cnnspec.load(tmp_path / "d.cnn")
    assert "batchnorm" not in [n.kind for n in network.layers]
    with torch.no_grad():
        y = model(x).numpy()
    numpy_model = cnnspec.build(network, "numpy", weights=str(tmp_path / "d.safetensors"))
    assert_close(y, numpy_model(x.numpy().transpose(0, 2, 3, 1)))


class Activations(nn.Module):
    """PyTorch's activations and plumbing as its exporters write them: Gelu, x * Sigmoid(x)
    (SiLU), HardSwish, x * HardSigmoid(x), Resize, ConvTranspose, Clip (ReLU6), adaptive
    pooling, LayerNorm, ELU, Dropout, Softmax."""

    def __init__(self):
        super().__init__()
        self.c1, self.a1 = nn.Conv2d(3, 8, 3, padding=1), nn.GELU()
        self.dw, self.a2 = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.SiLU()
        self.c2, self.a3 = nn.Conv2d(8, 8, 1), nn.Hardswish()
        self.hs, self.up, self.lr = nn.Hardsigmoid(), nn.Upsample(scale_factor=2), nn.LeakyReLU(0.1)
        self.ct, self.a4 = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.ReLU6()
        self.pool, self.fc1, self.ln, self.a5 = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 16), nn.LayerNorm(16), nn.ELU(0.5)
        self.drop, self.fc2, self.sm = nn.Dropout(0.3), nn.Linear(16, 5), nn.Softmax(dim=1)

    def forward(self, x):
        x = self.a3(self.c2(self.a2(self.dw(self.a1(self.c1(x))))))
        x = self.a4(self.ct(self.lr(self.up(x * self.hs(x)))))
        x = self.drop(self.a5(self.ln(self.fc1(torch.flatten(self.pool(x), 1)))))
        return self.sm(self.fc2(x))


def test_pytorch_activations_and_plumbing_through_the_exporter(tmp_path):
    torch.manual_seed(0)
    model = Activations().eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    export(model, tmp_path / "acts.onnx", x[:1])
    code, _, err = run("import", tmp_path / "acts.onnx", "-o", tmp_path / "a.cnn",
                       "--weights-out", tmp_path / "a.safetensors")
    assert code == 0, err
    text = (tmp_path / "a.cnn").read_text()
    for line in ("c1:           conv 8 3x3 pad=1 -> gelu", "dw:           depthwise 3x3 pad=1 -> swish",
                 "c2:           conv 8 1x1 -> hard_swish", "hard_swish_1: hard_swish",
                 "up:           upsample 2", "lr:           leaky_relu alpha=0.1",
                 "ct:           convtranspose 4 4x4 stride=2 pad=1 -> relu6",
                 "pool:         globalavgpool  ", "ln:           layernorm eps=1e-05 -> elu alpha=0.5",
                 "fc2:          dense 5 -> softmax"):
        assert line in text, line
    with torch.no_grad():
        y = model(x).numpy()
    ours = cnnspec.build(cnnspec.load(tmp_path / "a.cnn"), "numpy", weights=str(tmp_path / "a.safetensors"))
    assert_close(y, ours(x.numpy().transpose(0, 2, 3, 1)))


# -- graphs built with onnx.helper, against onnxruntime -----------------------------------------

def tensor(name: str, rng, *shape, low=-1.0, high=1.0):
    return numpy_helper.from_array(rng.uniform(low, high, shape).astype(np.float32), name)


def output(rank: int):
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *"HWC"[:rank - 1]])


def model_of(nodes, initializers, input_shape, opset: int = 20, name: str = "g", rank: int = 4):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_shape])],
        [output(rank)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    return model


def round_trip(tmp_path, model, *options) -> tuple[cnnspec.Network, str, float]:
    """Import the model; its NumPy model against onnxruntime on 2 random inputs."""
    import onnxruntime as ort
    path = tmp_path / f"{model.graph.name}.onnx"
    onnx.save(model, str(path))
    spec, weights = tmp_path / f"{model.graph.name}.cnn", tmp_path / f"{model.graph.name}.safetensors"
    code, _, err = run("import", path, "-o", spec, "--weights-out", weights, *options)
    assert code == 0, err
    network = cnnspec.load(spec)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(5).standard_normal((2, *dims)).astype(np.float32)
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = cnnspec.build(network, "numpy", weights=str(weights))(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)
    if theirs.ndim == 4:
        theirs = theirs.transpose(0, 2, 3, 1)
    return network, spec.read_text(), assert_close(theirs, ours)


def test_convolutions_pads_and_gated_activations(tmp_path):
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Pad", ["x", "pads"], ["p"], name="pad", mode="constant"),
        n("Conv", ["p", "w1", "b1"], ["c1"], name="stem", kernel_shape=[3, 3], strides=[2, 2]),
        n("Sigmoid", ["c1"], ["s1"], name="stem_sig"),
        n("Mul", ["c1", "s1"], ["a1"], name="stem_swish"),
        n("Conv", ["a1", "w2"], ["c2"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
        n("Clip", ["c2", "zero", "six"], ["a2"], name="dw_relu6"),
        n("Conv", ["a2", "w3", "b3"], ["c3"], name="grouped", kernel_shape=[1, 1], group=2),
        n("HardSigmoid", ["c3"], ["h3"], name="hs", alpha=1 / 6, beta=0.5),
        n("Mul", ["c3", "h3"], ["a3"], name="hswish"),
        n("ConvTranspose", ["a3", "w4", "b4"], ["t4"], name="up", kernel_shape=[2, 2], strides=[2, 2]),
        n("LeakyRelu", ["t4"], ["y"], name="up_act", alpha=0.2),
    ]
    inits = [numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64), "pads"),
             tensor("w1", rng, 4, 3, 3, 3), tensor("b1", rng, 4),
             tensor("w2", rng, 8, 1, 3, 3), numpy_helper.from_array(np.float32(0), "zero"),
             numpy_helper.from_array(np.float32(6), "six"),
             tensor("w3", rng, 6, 4, 1, 1), tensor("b3", rng, 6),
             tensor("w4", rng, 6, 5, 2, 2), tensor("b4", rng, 5)]
    network, text, _ = round_trip(tmp_path, model_of(nodes, inits, [3, 13, 12], name="convs"))
    assert "stem:    conv 4 3x3 stride=2 pad=(1, 2, 0, 1) round=floor -> swish" in text  # Pad merged
    assert "depthwise 3x3 multiplier=2 pad=1 bias=false -> relu6" in text
    assert "conv 6 1x1 groups=2 -> hard_swish" in text
    assert "convtranspose 5 2x2 stride=2 -> leaky_relu alpha=0.2" in text
    assert len(network.layers) == 4


def test_pools_merges_and_a_squeeze_excite_gate(tmp_path):
    rng = np.random.default_rng(1)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"], name="conv1_relu"),
        n("AveragePool", ["r1"], ["p1"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
        n("MaxPool", ["r1"], ["p2"], name="max", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        n("Concat", ["p1", "p2"], ["cat"], name="joined", axis=1),
        n("GlobalAveragePool", ["cat"], ["g"], name="squeeze"),
        n("Conv", ["g", "w2", "b2"], ["e"], name="excite", kernel_shape=[1, 1]),
        n("Sigmoid", ["e"], ["gate"], name="gate"),
        n("Mul", ["cat", "gate"], ["scaled"], name="scaled"),
        n("Resize", ["scaled", "", "scales"], ["up"], name="up", mode="linear",
          coordinate_transformation_mode="half_pixel"),
        n("Elu", ["up"], ["y"], name="elu", alpha=0.5),
    ]
    inits = [tensor("w1", rng, 4, 2, 3, 3), tensor("b1", rng, 4), tensor("w2", rng, 8, 8, 1, 1),
             tensor("b2", rng, 8),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    _, text, _ = round_trip(tmp_path, model_of(nodes, inits, [2, 9, 9], name="pools"))
    for line in ("avgpool 3x3 stride=2 pad=1 count_include_pad=true",
                 "maxpool 2x2 stride=2 round=ceil from=conv1", "concat avg max",
                 "globalavgpool keepdims=true", "excite:  conv 8 1x1 -> sigmoid",
                 "multiply joined excite",
                 "upsample 2 mode=bilinear", "elu alpha=0.5"):
        assert line in text, line


def test_a_dense_head_after_an_onnx_flatten_permutes_its_rows(tmp_path):
    """Flatten (C,H,W order) -> BatchNormalization -> Gemm: the 1-D batch norm's vectors and
    the dense rows are permuted to the spec's H,W,C order; then MatMul + Add, LayerNorm,
    Gelu, Softmax; with --fold-bn the batch norm stays (no dense alone feeds it)."""
    rng = np.random.default_rng(2)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1"], ["c1"], name="conv", kernel_shape=[1, 1]),
        n("Flatten", ["c1"], ["f"], name="flat", axis=1),
        n("BatchNormalization", ["f", "g", "b", "m", "v"], ["bn"], name="bn", epsilon=1e-3),
        n("Gemm", ["bn", "w2", "b2"], ["d1"], name="fc1", transB=1, alpha=0.5, beta=2.0),
        n("Tanh", ["d1"], ["t1"], name="fc1_tanh"),
        n("MatMul", ["t1", "w3"], ["m3"], name="fc2"),
        n("Add", ["m3", "b3"], ["d3"], name="fc2_bias"),
        n("LayerNormalization", ["d3", "ln_g", "ln_b"], ["ln"], name="ln", epsilon=1e-5),
        n("Gelu", ["ln"], ["ge"], name="gelu"),
        n("Dropout", ["ge"], ["dr"], name="drop"),
        n("Softmax", ["dr"], ["y"], name="probs", axis=-1),
    ]
    inits = [tensor("w1", rng, 3, 2, 1, 1), tensor("g", rng, 48, low=0.5, high=1.5),
             tensor("b", rng, 48), tensor("m", rng, 48), tensor("v", rng, 48, low=0.5, high=1.5),
             tensor("w2", rng, 7, 48), tensor("b2", rng, 7), tensor("w3", rng, 7, 6),
             tensor("b3", rng, 6), tensor("ln_g", rng, 6), tensor("ln_b", rng, 6)]
    model = model_of(nodes, inits, [2, 4, 4], name="head", rank=2)
    _, text, _ = round_trip(tmp_path, model)
    assert "flatten" in text and "batchnorm eps=0.001" in text and "layernorm eps=1e-05 -> gelu" in text
    _, folded, _ = round_trip(tmp_path, model, "--fold-bn")
    assert "batchnorm eps=0.001" in folded


def test_folding_batch_norm_into_a_conv_changes_outputs_by_rounding_only(tmp_path):
    rng = np.random.default_rng(3)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             n("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn", epsilon=1e-5)]
    inits = [tensor("w", rng, 5, 3, 3, 3), tensor("g", rng, 5, low=0.5, high=1.5),
             tensor("b", rng, 5), tensor("m", rng, 5), tensor("v", rng, 5, low=0.5, high=1.5)]
    model = model_of(nodes, inits, [3, 8, 8], name="fold")
    kept, _, _ = round_trip(tmp_path, model)
    folded, text, diff = round_trip(tmp_path, model, "--fold-bn")
    assert [n.kind for n in kept.layers] == ["conv", "batchnorm"]
    assert [n.kind for n in folded.layers] == ["conv"] and "bias=false" not in text
    assert diff < 1e-5


def keras_residual(keras):
    inp = keras.Input((12, 12, 3), name="x")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="branch")(x)
    x = keras.layers.Add(name="join")([x, y])
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inp, keras.layers.Dense(5, activation="softmax", name="fc")(x))


def keras_gated(keras):
    inp = keras.Input((10, 10, 3), name="x")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)  # after a conv with a bias: tf2onnx's Mul, Add
    x = keras.layers.Activation("swish", name="act")(x)
    x = keras.layers.SeparableConv2D(12, 3, padding="same", name="sep")(x)
    x = keras.layers.AveragePooling2D(2, name="ap")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    s = keras.layers.Conv2D(12, 1, activation="sigmoid", name="gate")(s)
    x = keras.layers.Multiply(name="se")([x, s])
    x = keras.layers.Concatenate(name="cat")([x, x])
    x = keras.layers.GlobalMaxPooling2D(name="gmp")(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inp, keras.layers.Dense(4, activation="tanh", name="fc")(x))


KERAS_LINES = {
    keras_residual: ("stem:   conv 8 3x3 pad=1 -> relu", "join:   add pool branch",
                     "dw:     depthwise 3x3 pad=1", "flat:   flatten", "fc:     dense 5 -> softmax"),
    keras_gated: ("c1:    conv 8 3x3 stride=2 pad=(0, 1, 0, 1)", "bn:    rescale (", "act:   swish",
                  "sep:   depthwise 3x3 pad=1 bias=false", "sep_2: conv 12 1x1",
                  "gate:  conv 12 1x1 -> sigmoid", "se:    multiply ap gate", "cat:   concat se se",
                  "gmp:   globalmaxpool", "fc:    dense 4 -> tanh"),
}


def test_keras_through_tf2onnx_round_trips(tmp_path):
    """Keras 3 -> tf2onnx 1.17 (NHWC input transposed to NCHW, batch norm folded into the conv
    or written as Mul and Add, Flatten as a Reshape of the NHWC tensor with a shape computed
    from its Shape) -> cnnspec import: Keras's own outputs."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf
    import tf2onnx

    from cnnspec.interop.keras import randomise
    for build, lines in KERAS_LINES.items():
        keras.utils.set_random_seed(0)
        model = build(keras)
        randomise(model, 0)
        shape = tuple(model.inputs[0].shape[1:])
        path = tmp_path / f"{build.__name__}.onnx"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            tf2onnx.convert.from_keras(model, input_signature=(tf.TensorSpec((None, *shape), tf.float32, name="x"),),
                                       opset=17, output_path=str(path))
        spec, weights = path.with_suffix(".cnn"), path.with_suffix(".safetensors")
        code, _, err = run("import", path, "-o", spec, "--weights-out", weights)
        assert code == 0, err
        text = spec.read_text()
        for line in lines:
            assert line in text, line
        x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
        ours = cnnspec.build(cnnspec.load(spec), "numpy", weights=str(weights))(x)
        assert_close(np.asarray(model(x)), ours)


# -- spec -> ONNX -> spec -----------------------------------------------------------------------

def summary_rows(network: cnnspec.Network) -> list[tuple]:
    return [(n.name.replace(".", "_"), n.kind, tuple(n.out_shape), n.params, n.macs)
            for n in network.nodes]


@pytest.mark.parametrize("spec", ["specs/inception_module.cnn", "specs/two_heads.cnn",
                                  "docs/examples/residual_blocks.cnn"])
def test_spec_to_onnx_to_spec_gives_the_same_summary(tmp_path, spec):
    from cnnspec.weights import init_weights, save_file
    original = cnnspec.load(spec)
    save_file(init_weights(original, seed=4), tmp_path / "w.safetensors")
    code, _, err = run("compile", spec, "--target", "onnx", "-o", tmp_path / "m.onnx",
                       "--weights", tmp_path / "w.safetensors")
    assert code == 0, err
    code, _, err = run("import", tmp_path / "m.onnx", "-o", tmp_path / "back.cnn",
                       "--weights-out", tmp_path / "back.safetensors")
    assert code == 0, err
    back = cnnspec.load(tmp_path / "back.cnn")
    assert summary_rows(back) == summary_rows(original)
    x = np.random.default_rng(6).standard_normal((2, *original.input_shape)).astype(np.float32)
    theirs = cnnspec.build(original, "numpy", weights=str(tmp_path / "w.safetensors"))(x)
    ours = cnnspec.build(back, "numpy", weights=str(tmp_path / "back.safetensors"))(x)
    for a, b in zip(*(v if isinstance(v, (list, tuple)) else [v] for v in (theirs, ours))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- refusals -------------------------------------------------------------------------------------

def test_unsupported_operators_are_listed_and_nothing_is_written(tmp_path):
    rng = np.random.default_rng(4)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             n("Transpose", ["c"], ["t"], name="swap_hw", perm=[0, 1, 3, 2]),
             n("Reshape", ["t", "shape"], ["s"], name="to_seq"),
             n("LSTM", ["s", "W", "R"], ["y"], name="rnn", hidden_size=4)]
    inits = [tensor("w", rng, 2, 3, 1, 1), numpy_helper.from_array(np.array([4, 1, 4], np.int64), "shape"),
             tensor("W", rng, 1, 16, 4), tensor("R", rng, 1, 16, 4)]
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [output(4)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(tmp_path / "bad.onnx"))
    code, out, err = run("import", tmp_path / "bad.onnx", "-o", tmp_path / "bad.cnn",
                         "--weights-out", tmp_path / "bad.safetensors")
    assert code == 1 and out == ""
    assert "node 'swap_hw' (Transpose): a transpose [0, 1, 3, 2] of a NCHW image" in err
    assert "node 'rnn' (LSTM): the operator LSTM has no cnnspec layer" in err
    assert not (tmp_path / "bad.cnn").exists() and not (tmp_path / "bad.safetensors").exists()
    assert "Traceback" not in err


def test_broken_files_and_bad_arguments_exit_2_with_one_line(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a protobuf at all \xff\xfe")
    rng = np.random.default_rng(5)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1, 1])
    graph = helper.make_graph([conv], "open", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [output(4)], [tensor("w", rng, 2, 3, 1, 1)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(tmp_path / "open.onnx"))
    cases = [(tmp_path / "junk.onnx", "is not an ONNX model"), (tmp_path / "none.onnx", "cannot read"),
             (tmp_path / "open.onnx", "give it with --input HxWxC")]
    for path, message in cases:
        code, _, err = run("import", path, "-o", tmp_path / "o.cnn")
        assert code == 2 and message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run("import", tmp_path / "open.onnx", "-o", tmp_path / "open.onnx", "--input", "5x6x3")
    assert code == 2 and "refusing to overwrite" in err
    code, _, err = run("import", tmp_path / "open.onnx", "-o", tmp_path / "o.cnn", "--input", "5x6x3")
    assert code == 0, err
    assert cnnspec.load(tmp_path / "o.cnn").layers[-1].out_shape == (5, 6, 2)


def test_auto_pad_same_upper_and_lower(tmp_path):
    """SAME_UPPER is the spec's pad=same; SAME_LOWER (the extra pixel before) explicit pads."""
    rng = np.random.default_rng(6)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1"], ["c1"], name="upper", kernel_shape=[4, 4], strides=[2, 2],
               auto_pad="SAME_UPPER"),
             n("MaxPool", ["c1"], ["y"], name="lower", kernel_shape=[2, 2], strides=[1, 1],
               auto_pad="SAME_LOWER")]
    model = model_of(nodes, [tensor("w1", rng, 3, 2, 4, 4)], [2, 9, 8], name="same")
    _, text, _ = round_trip(tmp_path, model)
    assert "conv 3 4x4 stride=2 pad=same bias=false" in text
    assert "maxpool 2x2 stride=1 pad=(1, 0, 1, 0)" in text


def test_a_node_without_a_required_attribute_is_named_not_a_traceback(tmp_path):
    """A MaxPool without its required kernel_shape: onnx.checker's message, exit 2."""
    rng = np.random.default_rng(7)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             n("MaxPool", ["c"], ["y"], name="pool")]
    graph = helper.make_graph(nodes, "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [output(4)], [tensor("w", rng, 2, 3, 1, 1)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(tmp_path / "odd.onnx"))
    code, _, err = run("import", tmp_path / "odd.onnx", "-o", tmp_path / "odd.cnn")
    assert code == 2 and "Traceback" not in err, err
    assert "'kernel_shape' is missing" in err and "Name: pool" in err
    assert not (tmp_path / "odd.cnn").exists()


def test_a_slice_of_h_and_w_is_a_crop(tmp_path):
    rng = np.random.default_rng(8)
    n = helper.make_node
    ints = (lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name))
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             n("Slice", ["c", "starts", "ends", "axes"], ["y"], name="trim")]
    inits = [tensor("w", rng, 4, 2, 3, 3), ints("starts", [1, 0]), ints("ends", [-1, 5]),
             ints("axes", [2, 3])]
    _, text, _ = round_trip(tmp_path, model_of(nodes, inits, [2, 9, 10], name="crop"))
    assert "crop (1, 1, 0, 3)" in text  # H 7 -> rows 1..5, W 8 -> columns 0..4
