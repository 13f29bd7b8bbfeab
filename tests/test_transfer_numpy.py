"""Feature extraction with no framework: the NumPy module computes the frozen base's features."""

import numpy as np
import pytest
import torch

import cnnspec
from cnnspec import weights as W
from cnnspec.runtime import exec_module, run_layers

SPECS = ["specs/transfer_feature_extraction.cnn", "specs/transfer_finetune.cnn"]


def numpy_module(net):
    return exec_module(cnnspec.compile(net, "numpy"), "numpy_" + net.name)


@pytest.mark.parametrize("path", SPECS)
def test_features_need_only_the_base_tensors(path):
    net = cnnspec.load(path)
    params = W.init_weights(net, seed=3, dtype="float64")
    base = {k: v for k, v in params.items() if net.node(k.split(".")[0]).group == "base"}
    assert len(base) < len(params)
    x = np.random.default_rng(0).random((4, 8, 8, 1))
    module = numpy_module(net)
    features = module.features(x, base)
    assert module.FROZEN_FEATURES == "features"
    np.testing.assert_array_equal(features, module.forward_layers(x, params)["features"])


def test_features_equal_the_torch_models_layer_output():
    net = cnnspec.load(SPECS[0])
    params = W.init_weights(net, seed=5, dtype="float64")
    x = np.random.default_rng(1).random((3, 8, 8, 1))
    model = cnnspec.build(net, "torch", weights=params, dtype="float64")
    torch_features = run_layers(model, "torch", net, x)["features"]
    np.testing.assert_allclose(numpy_module(net).features(x, params), torch_features, rtol=0, atol=1e-12)
    assert torch.is_tensor(model.hidden.weight)


def test_features_end_before_the_first_trained_layer():
    finetune = cnnspec.load(SPECS[1]).with_stage("finetune")
    module = numpy_module(finetune)
    assert module.FROZEN_FEATURES == "pool1"  # conv2 trains in this stage


def test_no_features_function_without_frozen_layers():
    module = numpy_module(cnnspec.load("specs/lenet5.cnn"))
    assert not hasattr(module, "features")
