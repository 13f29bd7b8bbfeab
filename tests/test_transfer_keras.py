"""Transfer learning in the Keras backend, proved numerically on the 8x8 digits.

Counts against the live model; frozen layers (batch norm in inference mode) bit-identical after
model.fit; learning-rate scales checked on one SGD step against gradients taken here with
tf.GradientTape, and on Adam's first step; training stages; the generated machinery's shape.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec import weights as W
from cnnspec.backends.keras import generate
from cnnspec.runtime import exec_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the examples package

from examples.digits_data import base_task, transfer_task
from examples.transfer_digits_keras import (
    accuracy,
    fine_tune,
    frozen_tensors,
    live_counts,
    train,
    train_base,
    unchanged,
)

SPECS = ROOT / "specs"
FE, FT = SPECS / "transfer_feature_extraction.cnn", SPECS / "transfer_finetune.cnn"
LR = 0.5  # exact in float32, so the optimizer's learning-rate variable holds it exactly
# Test accuracy (digits 5-9) of the head on the pretrained frozen base after 15 epochs:
# measured 0.96-0.97 with seeds 0-2 (a random frozen base: 0.93-0.94). Leaves margin.
FE_ACCURACY = 0.93


def spec(body: str, name: str = "Net"):
    return cnnspec.loads(f"network {name}\n{body}")


def batch(n: int = 32, dtype: str = "float64"):
    data = transfer_task()
    return data.x_train[:n].astype(dtype), data.y_train[:n]


def gradients(model, x, y) -> dict[str, np.ndarray]:
    """d(mean cross-entropy)/d(weight) per variable path, taken here with tf.GradientTape."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    return {w.path: g.numpy() for w, g in zip(model.trainable_weights, grads)}


def one_step(network, optimizer, scales=None, x=None, y=None, dtype="float64"):
    """Build (deterministic weights), compile with scaled_optimizer, one train_on_batch.
    Returns (gradients at the start, {variable path: value after - value before})."""
    model = cnnspec.build(network, "keras", dtype=dtype)
    module = model.cnnspec_module
    grads = gradients(model, x, y)
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    scaled = module.scaled_optimizer(optimizer, module.LR_SCALES if scales is None else scales)
    # Keras computes losses in float32 unless told: float64 keeps the comparison at 1e-6
    model.compile(optimizer=scaled, loss=keras.losses.SparseCategoricalCrossentropy(dtype=dtype))
    model.train_on_batch(x, y)
    return grads, {w.path: w.numpy() - before[w.path] for w in model.trainable_weights}


# --- counts: the spec's summary against the live model ---

@pytest.mark.parametrize("path, stage, trainable, non_trainable", [
    (FE, None, 4293, 4864), (FT, "feature_extraction", 4293, 4864), (FT, "finetune", 8933, 224)])
def test_counts_equal_the_live_model(path, stage, trainable, non_trainable):
    network = cnnspec.load(path).with_stage(stage)
    summary = network.summary()
    assert (summary["trainable_params"], summary["non_trainable_params"]) == (trainable, non_trainable)
    model = cnnspec.build(network, "keras")
    assert sum(w.numpy().size for w in model.trainable_weights) == trainable
    assert live_counts(model) == (trainable, non_trainable)


def test_set_stage_switches_the_flags_and_returns_the_scales():
    network = cnnspec.load(FT)  # built in its first stage, feature_extraction
    model = cnnspec.build(network, "keras")
    module = model.cnnspec_module
    assert module.LR_SCALES == {}
    assert module.set_stage(model, "finetune") == {"conv2": 0.1}
    assert live_counts(model) == (8933, 224)
    assert [model.get_layer(n).trainable for n in ("conv1", "bn1", "conv2")] == [False, False, True]
    module.set_stage(model, "feature_extraction")
    assert live_counts(model) == (4293, 4864)
    with pytest.raises(KeyError, match="feature_extraction, finetune"):
        module.set_stage(model, "warmup")


# --- frozen layers ---

def test_frozen_batchnorm_runs_in_inference_mode():
    model = cnnspec.build(cnnspec.load(FE), "keras")
    bn = model.get_layer("bn1")
    x = np.random.default_rng(0).normal(2.0, 3.0, (8, 8, 8, 16)).astype("float32")
    mean, var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    expected = bn.gamma.numpy() * (x - mean) / np.sqrt(var + 1e-5) + bn.beta.numpy()
    np.testing.assert_allclose(np.asarray(bn(x, training=True)), expected, rtol=1e-5, atol=1e-5)
    bn.trainable = True  # the contrast: a trainable batch norm normalises with the batch's stats
    assert not np.allclose(np.asarray(bn(x, training=True)), expected, atol=1e-2)


@pytest.fixture(scope="module")
def base_weights(tmp_path_factory) -> Path:
    """DigitsBase trained on the digits 0-4, saved as a portable weight file."""
    keras.utils.set_random_seed(0)
    _, model = train_base(base_task(), epochs=15)
    path = tmp_path_factory.mktemp("base") / "digits_base.safetensors"
    W.save_file(model.cnnspec_module.to_portable(model), path)
    return path


@pytest.fixture(scope="module")
def extracted(base_weights):
    """The feature-extraction model after training its head: (network, model, start, report)."""
    network = cnnspec.load(FE)
    params, report = W.assemble(network, W.load_file(base_weights))
    model = cnnspec.build(network, "keras", weights=params)
    start = model.cnnspec_module.to_portable(model)
    keras.utils.set_random_seed(0)
    train(model, transfer_task(), keras.optimizers.Adam(3e-3), epochs=15)
    return network, model, start, report


def test_weight_file_report(extracted):
    _, _, _, report = extracted
    assert report.initialised == ["hidden", "digits"]
    assert report.unused == ["classifier.bias", "classifier.kernel"]
    assert len(report.taken) == 8


def test_feature_extraction_keeps_the_base_bit_identical(extracted, base_weights):
    network, model, start, _ = extracted
    base = W.load_file(base_weights)
    frozen = frozen_tensors(model, network)
    assert sorted(frozen) == sorted(k for k in base if not k.startswith("classifier."))
    for key, value in frozen.items():  # what fit left equals the file, bit for bit
        assert np.array_equal(value, base[key]), key
    now = model.cnnspec_module.to_portable(model)
    for key in ("hidden.kernel", "hidden.bias", "digits.kernel", "digits.bias"):
        assert not np.array_equal(now[key], start[key]), key


def test_transfer_accuracy(extracted):
    _, model, _, _ = extracted
    assert accuracy(model, transfer_task()) > FE_ACCURACY


def test_fine_tuning_moves_conv2_only_among_the_base(extracted):
    _, model, _, _ = extracted
    start = model.cnnspec_module.to_portable(model)
    _, tuned = fine_tune(start, transfer_task(), epochs=2)
    assert unchanged({k: v for k, v in start.items() if k.split(".")[0] in ("conv1", "bn1")},
                     tuned) == []
    assert sorted(unchanged(start, tuned)) == sorted(
        k for k in start if k.split(".")[0] in ("conv2", "hidden", "digits"))


# --- learning-rate scales ---

def test_one_sgd_step_scales_conv2_exactly():
    x, y = batch()
    grads, moved = one_step(cnnspec.load(FT).with_stage("finetune"), keras.optimizers.SGD(LR),
                            x=x, y=y)
    assert sorted(moved) == ["conv2/bias", "conv2/kernel", "digits/bias", "digits/kernel",
                             "hidden/bias", "hidden/kernel"]
    for path, delta in moved.items():
        scale = 0.1 if path.startswith("conv2/") else 1.0
        np.testing.assert_allclose(delta, -LR * scale * grads[path], rtol=1e-6, atol=1e-12,
                                   err_msg=path)
    # were the scale ignored, conv2 would have moved by the full step
    assert not np.allclose(moved["conv2/kernel"], -LR * grads["conv2/kernel"], rtol=1e-3)


def test_the_unscaled_step_is_the_full_step():
    """The expectation above is Keras's own SGD step: with no scales, conv2 takes -lr * grad."""
    x, y = batch()
    grads, moved = one_step(cnnspec.load(FT).with_stage("finetune"), keras.optimizers.SGD(LR),
                            scales={}, x=x, y=y)
    np.testing.assert_allclose(moved["conv2/kernel"], -LR * grads["conv2/kernel"], rtol=1e-6)


def test_scales_reach_helper_named_layers():
    """conv + leaky_relu is two Keras layers (c_conv, c): the scale follows WEIGHTS to c_conv."""
    net = spec("input 6x6x1\nc: conv 2 3x3 -> leaky_relu alpha=0.1\nflatten\nd: dense 3 -> softmax\n"
               "unfreeze c lr=0.25\n")
    x, y = batch(8)
    x, y = x[:, 1:7, 1:7], y % 3
    grads, moved = one_step(net, keras.optimizers.SGD(LR), x=x, y=y)
    np.testing.assert_allclose(moved["c_conv/kernel"], -LR * 0.25 * grads["c_conv/kernel"], rtol=1e-6)
    np.testing.assert_allclose(moved["d/kernel"], -LR * grads["d/kernel"], rtol=1e-6)


def test_adam_first_step_is_a_tenth_for_conv2():
    """Adam's step does not depend on the gradient's scale, only on the learning rate's."""
    network = cnnspec.load(FT).with_stage("finetune")
    x, y = batch()
    _, scaled = one_step(network, keras.optimizers.Adam(1e-3), x=x, y=y)
    _, full = one_step(network, keras.optimizers.Adam(1e-3), scales={}, x=x, y=y)
    np.testing.assert_allclose(scaled["conv2/kernel"], 0.1 * full["conv2/kernel"], rtol=1e-6)
    np.testing.assert_allclose(scaled["hidden/kernel"], full["hidden/kernel"], rtol=1e-6)
    assert np.abs(full["conv2/kernel"]).mean() > 1e-4


def adam_step_on_conv2(gradient_scale: float) -> float:
    """Mean |change| of conv2's kernel after Adam's first step with its gradient scaled."""
    model = cnnspec.build(cnnspec.load(FT).with_stage("finetune"), "keras", dtype="float64")
    grads = gradients(model, *batch())
    before = model.get_layer("conv2").kernel.numpy()
    scaled = [grads[w.path] * (gradient_scale if w.path.startswith("conv2/") else 1.0)
              for w in model.trainable_weights]
    keras.optimizers.Adam(1e-3).apply_gradients(zip(scaled, model.trainable_weights))
    return float(np.abs(model.get_layer("conv2").kernel.numpy() - before).mean())


def test_gradient_scaling_would_not_do_for_adam():
    """Why the learning rate is scaled: Adam undoes a 0.1 on conv2's gradients."""
    assert adam_step_on_conv2(0.1) > 0.9 * adam_step_on_conv2(1.0)


def test_scaled_optimizer_refusals():
    model = cnnspec.build(cnnspec.load(FT).with_stage("finetune"), "keras")
    module = model.cnnspec_module
    with pytest.raises(KeyError, match="pool2"):
        module.scaled_optimizer(keras.optimizers.SGD(), {"pool2": 0.5})
    used = keras.optimizers.SGD()
    used.build(model.trainable_weights)
    with pytest.raises(ValueError, match="not been used"):
        module.scaled_optimizer(used)


# --- the generated machinery ---

def test_machinery_only_where_the_spec_needs_it():
    plain = generate(cnnspec.load(SPECS / "lenet5.cnn"))
    frozen = generate(cnnspec.load(FE))
    for code in (plain, frozen):
        assert "scaled_optimizer" not in code and "STAGES" not in code and "LR_SCALES" not in code
    assert "trainable=False" in frozen and "trainable=False" not in plain
    staged = generate(cnnspec.load(FT).with_stage("finetune"))
    assert 'LR_SCALES = STAGES["finetune"]["lr_scales"]' in staged
    assert '"finetune": {"frozen": ("conv1", "bn1"), "lr_scales": {"conv2": 0.1}},' in staged
    assert "lr x0.1 (scaled_optimizer)" in staged
    scaled = generate(spec("input 4x4x1\nc: conv 2 3x3\nflatten\nd: dense 2\nunfreeze c lr=0.5\n"))
    assert 'LR_SCALES = {"c": 0.5}' in scaled and "STAGES" not in scaled


STAGE_ONLY = ("input 6x6x1\nc: conv 2 3x3\nflatten\nd: dense 2\nstage warm\nfreeze c\n"
              "stage all\n")


def test_stages_without_scales_have_set_stage_only():
    code = generate(spec(STAGE_ONLY))
    assert "def set_stage(" in code and "scaled_optimizer" not in code
    module = exec_module(code, "StageOnly")
    assert module.STAGES == {"warm": {"frozen": ("c",), "lr_scales": {}},
                             "all": {"frozen": (), "lr_scales": {}}}


def test_training_modules_are_ruff_clean(tmp_path):
    nets = [cnnspec.load(FT).with_stage("finetune"), spec(STAGE_ONLY),
            spec("input 4x4x1\nc: conv 2 3x3 -> leaky_relu alpha=0.1\nflatten\nd: dense 2\n"
                 "unfreeze c lr=0.5\n")]
    for i, net in enumerate(nets):
        (tmp_path / f"net_{i}.py").write_text(generate(net))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
