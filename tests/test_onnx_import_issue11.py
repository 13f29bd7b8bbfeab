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
import pytest
import torch
from torch import nn

import cnnspec
from cnnspec.cli import main

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
