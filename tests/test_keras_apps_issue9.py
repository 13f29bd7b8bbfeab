"""The proof of issue 9: every Keras application of the zoo, computed by cnnspec, is Keras's.

For each of the 11 models (and the zoo's extra MobileNetV3Small, which claims to be Keras's): keras.applications.<Name>(weights=None) at the smallest input
Keras accepts (32x32x3; InceptionV3 75x75x3, Xception 71x71x3), kernels from a fixed seed and
every other weight random (batch-norm scales, offsets and moving statistics away from 1 and 0,
EfficientNet's Normalization mean and variance, biases, ConvNeXt's layer scales: see
cnnspec.interop.keras.randomise). The zoo spec is checked at that input (its input line
replaced; VGG's flatten-dense counts follow), matched to the Keras graph by structure and
given the Keras weights (cnnspec.interop.keras.from_keras); then the NumPy, PyTorch and Keras
models cnnspec builds must give the Keras application's own outputs at every matched layer
and at the output: float32, max|a-b| <= 1e-4 * max(1, max|a|), and the same argmax.

And each zoo file as shipped (224x224x3, 299x299x3 for InceptionV3 and Xception, every expect
line kept) matches the Keras model built at that input, layer for layer and tensor for tensor.

A model whose zoo spec does not exist yet fails here with the missing file: that is intended.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cnnspec.interop import keras as ik

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parent.parent
SMALLEST = {"VGG16": 32, "VGG19": 32, "ResNet50": 32, "ResNet50V2": 32, "MobileNet": 32,
            "MobileNetV2": 32, "DenseNet121": 32, "InceptionV3": 75, "Xception": 71,
            "EfficientNetB0": 32, "ConvNeXtTiny": 32,
            "MobileNetV3Small": 32}  # an extra of the zoo, which says it is Keras's exactly
TARGETS = ("numpy", "torch", "keras")


def zoo_spec(name: str) -> Path:
    """specs/zoo/<name lowercased>.cnn (the older specs/<stem>.cnn until the zoo holds it)."""
    stem = name.lower()
    for path in (ROOT / "specs" / "zoo" / f"{stem}.cnn", ROOT / "specs" / f"{stem}.cnn"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"specs/zoo/{stem}.cnn does not exist (yet)")


def application(name: str):
    size = SMALLEST[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    ik.randomise(model, seed=0)
    return model


@pytest.mark.parametrize("name", SMALLEST)
def test_cnnspec_computes_the_keras_application(name):
    spec = zoo_spec(name)
    model = application(name)
    mapping = ik.from_keras(model, spec)
    network = mapping.network
    assert network.total_params == model.count_params()
    assert network.trainable_params == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    size = SMALLEST[name]
    x = np.random.default_rng(0).standard_normal((2, size, size, 3)).astype(np.float32)
    reference = ik.keras_outputs(model, mapping, x)
    assert network.output.name in reference
    assert len(reference) >= 0.9 * len(network.layers)  # all but a nested Sequential's insides
    result = ik.compare(model, mapping, x, TARGETS, reference)
    report = {t: (c.worst, mapping.table[c.worst], f"{c.layers[c.worst]:.2e}", c.argmax_equal)
              for t, c in result.items()}
    print(f"\n{name} at {size}x{size}x3, {len(reference)} layers compared: {report}")
    for target, c in result.items():
        assert set(reference) <= set(c.layers), (target, sorted(set(reference) - set(c.layers))[:5])
        assert c.ok, f"{name} {target}: {report[target]}"


STANDARD = {name: 299 if name in ("InceptionV3", "Xception") else 224 for name in SMALLEST}


@pytest.mark.parametrize("name", STANDARD)
def test_the_shipped_spec_is_the_keras_graph_at_the_standard_input(name):
    """The zoo file as shipped (standard input, every expect line) matches the Keras model
    built at that input, layer for layer and tensor for tensor (no forward pass here)."""
    spec = zoo_spec(name)
    size = STANDARD[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    mapping = ik.from_keras(model, spec)
    assert mapping.network.source.text == spec.read_text()  # not moved to another input
    assert sum(int(v.size) for v in mapping.weights.values()) == model.count_params()
