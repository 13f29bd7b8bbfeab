"""Every spec in specs/ checks clean, and its summary carries the totals worked out by hand.

The expected numbers are written as the arithmetic a person would do (the seed's formulas:
conv K*K*C*N + N params and H*W*K*K*C*N MACs, dense in*out + out and in*out), not copied
from cnnspec's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.api import analyse
from cnnspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "specs" / "zoo"
# Every spec of the repository, the model zoo (specs/zoo/, issue 9) included, by name.
SPECS = sorted([*(ROOT / "specs").glob("*.cnn"), *ZOO.glob("*.cnn")], key=lambda p: p.stem)
# The graph specs of issue 8: their figures come from Keras and PyTorch, in tests/test_zoo_issue8.py.
GRAPH_SPECS = ("inception_module", "two_heads")
# The zoo's names (team brief of issue 9); the figures of those not in EXPECTED come from
# Keras and PyTorch, in tests/test_zoo_issue8.py, test_zoo_issue9.py and test_zoo_extras_issue9.py.
ZOO_NAMES = ("vgg16", "vgg19", "resnet50", "resnet50v2", "densenet121", "inceptionv3", "xception",
             "mobilenet", "mobilenetv2", "efficientnetb0", "convnexttiny", "resnet18",
             "mobilenetv3small", "squeezenet", "unet")


def conv(h, w, k, c, n, bias=True):
    """(params, MACs) of a conv with output h x w, k x k kernels over c channels, n kernels."""
    return k * k * c * n + (n if bias else 0), h * w * k * k * c * n


def dense(n_in, n_out):
    return n_in * n_out + n_out, n_in * n_out


def totals(*layers):
    return sum(p for p, _ in layers), sum(m for _, m in layers)


VGG_CONVS = [(224, 3, 64), (224, 64, 64), (112, 64, 128), (112, 128, 128), (56, 128, 256),
             (56, 256, 256), (56, 256, 256), (28, 256, 512), (28, 512, 512), (28, 512, 512),
             (14, 512, 512), (14, 512, 512), (14, 512, 512)]
# VGG-19 (configuration E): blocks 3, 4 and 5 have one more conv each.
VGG19_CONVS = [*VGG_CONVS[:7], (56, 256, 256), *VGG_CONVS[7:10], (28, 512, 512),
               *VGG_CONVS[10:], (14, 512, 512)]
VGG_HEAD = [dense(7 * 7 * 512, 4096), dense(4096, 4096), dense(4096, 1000)]
DIGITS_BASE = [conv(8, 8, 3, 1, 16), (4 * 16, 0), conv(4, 4, 3, 16, 32)]  # conv1, bn1, conv2
TRANSFER_HEAD = [dense(128, 32), dense(32, 5)]

# spec stem: network, (total params, MACs), non-trainable params, output shape
EXPECTED = {
    "lenet5": ("LeNet5", totals(conv(28, 28, 5, 1, 6), conv(10, 10, 5, 6, 16), dense(400, 120),
                                dense(120, 84), dense(84, 10)), 0, [10]),
    "mnist_tutorial": ("MnistTutorial", totals(conv(26, 26, 3, 1, 32), conv(11, 11, 3, 32, 64),
                                               conv(3, 3, 3, 64, 64), dense(576, 64),
                                               dense(64, 10)), 0, [10]),
    "vgg16": ("VGG16", totals(*[conv(s, s, 3, c, n) for s, c, n in VGG_CONVS], *VGG_HEAD),
              0, [1000]),
    "vgg19": ("VGG19", totals(*[conv(s, s, 3, c, n) for s, c, n in VGG19_CONVS], *VGG_HEAD),
              0, [1000]),
    "multichannel": ("MultiChannel", totals(conv(2, 2, 2, 2, 1, bias=False)), 0, [2, 2, 1]),
    "multichannel_stacked": ("StackedKernels", totals(conv(2, 2, 2, 3, 2)), 0, [2, 2, 2]),
    "bottleneck_1x1": ("Bottleneck", totals(conv(28, 28, 1, 256, 64), conv(28, 28, 3, 64, 64),
                                            conv(28, 28, 1, 64, 256), dense(256, 10)), 0, [10]),
    "digits_base": ("DigitsBase", totals(*DIGITS_BASE, dense(128, 5)), 2 * 16, [5]),
    "transfer_feature_extraction": ("DigitsFeatureExtraction",
                                    totals(*DIGITS_BASE, *TRANSFER_HEAD),
                                    totals(*DIGITS_BASE)[0], [5]),
    "transfer_finetune": ("DigitsFineTune", totals(*DIGITS_BASE, *TRANSFER_HEAD),
                          totals(*DIGITS_BASE)[0], [5]),
}


HAND_SPECS = [p for p in SPECS if p.stem in EXPECTED]  # figures worked out above


def test_every_spec_has_expected_totals():
    """Outside the zoo every spec has its figures here; the zoo holds only the brief's names."""
    top = [p.stem for p in SPECS if p.parent != ZOO]
    assert sorted(top) == sorted([*(set(EXPECTED) - set(ZOO_NAMES)), *GRAPH_SPECS])
    assert {p.stem for p in SPECS if p.parent == ZOO} <= set(ZOO_NAMES)
    assert {"vgg16", "vgg19"} <= {p.stem for p in ZOO.glob("*.cnn")}


def test_the_seeds_figures():
    assert EXPECTED["lenet5"][1] == (61_706, 416_520)
    assert EXPECTED["mnist_tutorial"][1][0] == 93_322
    assert EXPECTED["vgg16"][1][0] == 138_357_544
    assert EXPECTED["vgg19"][1][0] == 143_667_240  # keras.applications.VGG19's count (issue 9)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_checks_clean(path):
    network, diags = analyse(SourceFile.read(path))
    assert network is not None
    assert [(d.code, d.span.line, d.message) for d in diags] == []


@pytest.mark.parametrize("path", HAND_SPECS, ids=[p.stem for p in HAND_SPECS])
def test_summary_totals(path):
    name, (params, macs), non_trainable, output = EXPECTED[path.stem]
    network, _ = analyse(SourceFile.read(path))
    summary = json.loads(json.dumps(network.summary()))
    assert summary["network"] == name
    assert summary["total_params"] == params
    assert summary["macs"] == macs
    assert summary["non_trainable_params"] == non_trainable
    assert summary["trainable_params"] == params - non_trainable
    assert summary["output_shape"] == output
    assert sum(layer["params"] for layer in summary["layers"]) == params
    assert sum(layer["macs"] for layer in summary["layers"]) == macs


def test_finetune_stages():
    network, _ = analyse(SourceFile.read(ROOT / "specs" / "transfer_finetune.cnn"))
    stages = network.summary()["stages"]
    conv2 = conv(4, 4, 3, 16, 32)[0]
    head = totals(*TRANSFER_HEAD)[0]
    assert stages["feature_extraction"]["trainable_params"] == head
    assert stages["finetune"]["trainable_params"] == head + conv2
    assert stages["finetune"]["lr_scales"] == {"conv2": 0.1}


def test_cli_checks_every_spec_strictly():
    run = subprocess.run([sys.executable, "-m", "cnnspec", "check", "--strict", "--format", "json",
                          *[str(p.relative_to(ROOT)) for p in SPECS]], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    objects = [json.loads(line) for line in run.stdout.splitlines()]
    assert [Path(o["file"]).stem for o in objects] == [p.stem for p in SPECS]
    for obj in objects:
        assert obj["diagnostics"] == []
        if Path(obj["file"]).stem in EXPECTED:
            assert obj["total_params"] == EXPECTED[Path(obj["file"]).stem][1][0]


def test_the_language_docs_first_example_checks_clean():
    text = (ROOT / "docs" / "language.md").read_text()
    example = text.split("```\n", 2)[1]
    network, diags = analyse(SourceFile("example.cnn", example))
    assert diags == [] and network.total_params == 93_322
