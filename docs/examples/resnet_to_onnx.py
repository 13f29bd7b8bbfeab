"""A small ResNet written in PyTorch, exported to ONNX (docs/import.md's tutorial).

Random weights and random batch-norm statistics (seed 0), the legacy TorchScript exporter
(dynamo=False) with training=PRESERVE so that the batch norms stay in the graph, and a
symbolic batch axis. It also saves an input batch and the model's own outputs, to compare
the imported spec with.
"""

import contextlib
import io
import warnings

import numpy as np
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
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
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class SmallResNet(nn.Module):
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
        return self.fc(torch.flatten(self.layer2(self.layer1(x)), 1))


torch.manual_seed(0)
model = SmallResNet()
for m in model.modules():
    if isinstance(m, nn.BatchNorm2d):
        with torch.no_grad():
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
model.eval()
x = torch.randn(4, 3, 16, 16)
with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
    warnings.simplefilter("ignore")
    torch.onnx.export(model, (x[:1],), "resnet.onnx", input_names=["x"], dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE, dynamic_axes={"x": {0: "batch"}})
with torch.no_grad():
    np.save("resnet_output.npy", model(x).numpy())
np.save("resnet_input.npy", x.numpy())
print("wrote resnet.onnx, resnet_input.npy (NCHW) and resnet_output.npy (PyTorch's outputs)")
