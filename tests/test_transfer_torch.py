"""Transfer learning in the PyTorch backend, proved numerically on the 8x8 digits.

Freeze rules (requires_grad, frozen batch norms kept in inference mode), learning-rate scales
(one plain SGD step checked against gradients computed here), training stages, the counts
against the live model, the weight-file report and refusals, and the transfer accuracy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec import weights as W
from cnnspec.backends.torch import generate
from cnnspec.runtime import exec_module

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the examples package

from examples.digits_data import base_task, transfer_task
from examples.transfer_digits_torch import (
    accuracy,
    layer_state,
    loss_of,
    non_trainable_count,
    per_class,
    tensors,
    train,
    trainable_count,
)

SPECS = ROOT / "specs"
FE, FT = SPECS / "transfer_feature_extraction.cnn", SPECS / "transfer_finetune.cnn"
FROZEN_BASE = ("conv1", "bn1", "conv2")


def spec(body: str, name: str = "Net"):
    return cnnspec.loads(f"network {name}\n{body}")


def module_of(net):
    return exec_module(generate(net), net.name)


def batch(n: int = 16, seed: int = 0, dtype=torch.float32):
    data = transfer_task(seed)
    x, y = tensors(data.x_train[:n], data.y_train[:n])
    return x.to(dtype), y


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster than several contending on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> Path:
    """DigitsBase trained on the digits 0-4, saved as a portable weight file."""
    torch.manual_seed(0)
    model = cnnspec.build(cnnspec.load(SPECS / "digits_base.cnn"), "torch")
    train(model, base_task(), epochs=15)
    path = tmp_path_factory.mktemp("base") / "digits_base.safetensors"
    W.save_file(model.cnnspec_module.to_portable(model), path)
    return path


# --- counts: the spec's summary against the live model ---

@pytest.mark.parametrize("path, stage", [(FE, None), (FT, "feature_extraction"), (FT, "finetune")])
def test_counts_equal_the_live_model(path, stage):
    net = cnnspec.load(path)
    net = net.with_stage(stage) if stage else net
    summary = net.summary()
    model = cnnspec.build(net, "torch")
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == summary["trainable_params"]
    assert non_trainable_count(model) == summary["non_trainable_params"] > 0
    groups = model.param_groups(0.1)
    assert sum(p.numel() for g in groups for p in g["params"]) == summary["trainable_params"]


def test_counts_follow_set_stage():
    net = cnnspec.load(FT)
    model = cnnspec.build(net, "torch")
    for stage, counts in net.summary()["stages"].items():
        model.cnnspec_module.set_stage(model, stage)
        assert trainable_count(model) == counts["trainable_params"], stage
        assert non_trainable_count(model) == counts["non_trainable_params"], stage
    assert (trainable_count(model), non_trainable_count(model)) == (8933, 224)


# --- generated code: stages, the built stage, only when needed ---

def test_stages_dict_matches_the_spec_and_compile_builds_the_stage():
    net = cnnspec.load(FT)
    stages = net.summary()["stages"]
    for name in stages:
        module = module_of(net.with_stage(name))
        assert {k: {"frozen": list(v["frozen"]), "lr_scales": v["lr_scales"]}
                for k, v in module.STAGES.items()} == {
            k: {"frozen": v["frozen"], "lr_scales": v["lr_scales"]} for k, v in stages.items()}
        model = getattr(module, net.name)()
        assert model.conv2.weight.requires_grad == (name == "finetune")
        assert not model.conv1.weight.requires_grad and model.hidden.weight.requires_grad
    assert module.STAGES["finetune"] == {"frozen": ("conv1", "bn1"), "lr_scales": {"conv2": 0.1}}
    with pytest.raises(ValueError, match="feature_extraction, finetune"):
        module.set_stage(model, "warmup")


def test_machinery_only_where_the_network_needs_it():
    plain = generate(cnnspec.load(SPECS / "lenet5.cnn"))
    assert "param_groups" not in plain and "STAGES" not in plain and "def train" not in plain
    scaled = generate(spec("input 4x4x2\nc: conv 2 3x3\nflatten\nd: dense 2\nunfreeze c lr=0.5\n"))
    assert "def param_groups" in scaled and "def train" not in scaled and "STAGES" not in scaled
    assert 'lr_scales={"c": 0.5}' in scaled and "# 2x2x2, 38 params, lr x0.5" in scaled
    fe = generate(cnnspec.load(FE))
    assert "def train" in fe and "STAGES" not in fe
    assert 'self._freeze(frozen=("conv1", "bn1", "conv2"), lr_scales={})' in fe


def test_generated_transfer_code_is_ruff_clean(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    nets = [cnnspec.load(FE), *(cnnspec.load(FT).with_stage(s) for s in ("feature_extraction", "finetune")),
            spec("input 4x4x2\nc: conv 2 3x3\nflatten\nd: dense 2\nunfreeze c lr=0.5\n"),
            spec("input 4x4x2\nflatten\nb: batchnorm\nd: dense 2\nfreeze b\n")]
    for i, net in enumerate(nets):
        (tmp_path / f"model_{i}.py").write_text(generate(net))
    result = subprocess.run([ruff, "check", "--isolated", "--no-cache", str(tmp_path)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_renamed_layer_is_frozen_and_param_groups_stays_a_method():
    net = spec("input 4x4x2\nparam_groups: conv 2 3x3\nflatten\nd: dense 2\nfreeze param_groups\n")
    model = cnnspec.build(net, "torch")
    assert not model.param_groups_.weight.requires_grad and model.d.weight.requires_grad
    assert [p.shape for g in model.param_groups(1.0) for p in g["params"]] == [(2, 8), (2,)]


# --- frozen batch norm: inference mode while the rest trains ---

def bn_buffers(bn) -> list:
    return [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]


def test_frozen_batchnorm_statistics_do_not_drift_under_train():
    model = cnnspec.build(cnnspec.load(FE), "torch").train()
    assert not model.bn1.training and model.hidden.training and model.training
    before = bn_buffers(model.bn1)
    x, _ = batch(32)
    for i in range(3):
        model(x * (i + 2) + 1)  # batches far from the running statistics
    assert all(torch.equal(a, b) for a, b in zip(before, bn_buffers(model.bn1)))
    model.eval().train()
    assert not model.bn1.training


def test_unfrozen_batchnorm_does_drift_so_the_check_can_fail():
    model = cnnspec.build(cnnspec.load(SPECS / "digits_base.cnn"), "torch").train()
    before = bn_buffers(model.bn1)
    model(batch(32)[0] * 2 + 1)
    assert model.bn1.training and not torch.equal(before[0], model.bn1.running_mean)


def test_set_stage_moves_batchnorm_between_training_and_inference():
    net = spec("input 4x4x2\nc: conv 3 3x3 pad=1\nb: batchnorm\nflatten\nf: batchnorm\nd: dense 2\n"
               "freeze c\nstage head\nfreeze b, f\nstage all\nunfreeze c lr=0.5\n")
    model = cnnspec.build(net, "torch").train()
    assert not model.b.training and not model.f.training and not model.c.weight.requires_grad
    model.cnnspec_module.set_stage(model, "all")
    assert model.b.training and model.f.training and model.c.weight.requires_grad
    assert [g["lr"] for g in model.param_groups(0.2)] == [0.1, 0.2]
    model.cnnspec_module.set_stage(model.eval(), "head")
    assert not model.training and not model.b.training
    before = bn_buffers(model.f)
    model.train()(torch.randn(8, 2, 4, 4))
    assert not model.f.training and all(torch.equal(a, b) for a, b in zip(before, bn_buffers(model.f)))


# --- the learning-rate scale, exactly ---

def sgd_step(model, groups) -> tuple[dict, dict, dict]:
    """One plain SGD step; returns parameters before, gradients, parameters after."""
    x, y = batch(16, dtype=torch.float64)
    model.train()
    model.zero_grad()
    loss_of(model, x, y).backward()
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    torch.optim.SGD(groups, lr=123.0, momentum=0.0).step()  # the groups' lrs must win
    return before, grads, {k: p.detach().clone() for k, p in model.named_parameters()}


def finetune_model(base_file):
    net = cnnspec.load(FT).with_stage("finetune")
    return cnnspec.build(net, "torch", weights=base_file, dtype="float64")


def test_one_sgd_step_moves_each_layer_by_its_scaled_learning_rate(base_file):
    lr = 0.5
    model = finetune_model(base_file)
    groups = model.param_groups(lr)
    assert [(g["lr"], g["lr_scale"], sum(p.numel() for p in g["params"])) for g in groups] == [
        (lr * 0.1, 0.1, 4640), (lr, 1.0, 4293)]
    before, grads, after = sgd_step(model, groups)
    assert sorted(grads) == sorted(f"{n}.{t}" for n in ("conv2", "hidden", "digits")
                                   for t in ("weight", "bias"))
    for key, grad in grads.items():
        scale = 0.1 if key.startswith("conv2") else 1.0
        assert float(grad.abs().max()) > 0, key
        np.testing.assert_allclose(after[key] - before[key], -lr * scale * grad, rtol=1e-6,
                                   atol=1e-12, err_msg=key)
    for key in ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"):
        assert torch.equal(before[key], after[key]), key


def test_the_scale_check_fails_when_the_scale_is_ignored(base_file):
    lr = 0.5
    model = finetune_model(base_file)
    plain = [p for p in model.parameters() if p.requires_grad]  # every layer at lr
    before, grads, after = sgd_step(model, [{"params": plain, "lr": lr}])
    step = after["conv2.weight"] - before["conv2.weight"]
    assert not np.allclose(step, -lr * 0.1 * grads["conv2.weight"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(step, -lr * grads["conv2.weight"], rtol=1e-6, atol=1e-12)


# --- weight files ---

def test_load_report_names_taken_initialised_and_unused(base_file):
    net = cnnspec.load(FE)
    given = W.load_file(base_file)
    params, report = W.assemble(net, given)
    assert report.initialised == ["hidden", "digits"]
    assert report.unused == ["classifier.bias", "classifier.kernel"]
    assert sorted(report.taken) == sorted(k for k in given if not k.startswith("classifier"))
    model = cnnspec.build(net, "torch", weights=base_file)
    portable = model.cnnspec_module.to_portable(model)
    assert all(np.array_equal(portable[k], given[k]) for k in report.taken)
    assert all(np.array_equal(portable[k], params[k]) for k in portable)


def test_wrong_shape_base_file_is_refused(base_file, tmp_path):
    given = W.load_file(base_file)
    given["conv2.kernel"] = np.zeros((3, 3, 16, 16), np.float32)
    bad = tmp_path / "bad.safetensors"
    W.save_file(given, bad)
    with pytest.raises(W.WeightError) as err:
        cnnspec.build(cnnspec.load(FE), "torch", weights=bad)
    message = str(err.value)
    assert "conv2" in message and "(3, 3, 16, 16)" in message and "(3, 3, 16, 32)" in message


# --- training on real data ---

def frozen_state(model):
    return layer_state(model, FROZEN_BASE)


def test_feature_extraction_keeps_the_base_bit_identical_and_transfers(base_file):
    torch.manual_seed(0)
    model = cnnspec.build(cnnspec.load(FE), "torch", weights=base_file)
    base, head = frozen_state(model), layer_state(model, ("hidden", "digits"))
    data = transfer_task()
    train(model, data, epochs=20)
    after = frozen_state(model)
    assert len(after) == 9 and all(torch.equal(base[k], after[k]) for k in base)
    moved = layer_state(model, ("hidden", "digits"))
    assert all(not torch.equal(head[k], moved[k]) for k in head)
    assert accuracy(model, data) >= 0.93  # measured 0.981 (random frozen base: 0.970)


def test_pretrained_base_beats_a_random_base_with_little_data(base_file):
    few = per_class(transfer_task(), 10)
    results = []
    for weights in (base_file, None):  # the same head initialisation in both
        torch.manual_seed(0)
        model = cnnspec.build(cnnspec.load(FE), "torch", weights=weights)
        results.append(accuracy(train(model, few, epochs=20), few))
    assert results[0] >= 0.8 and results[0] > results[1]  # measured 0.903 vs 0.825


def test_finetune_moves_conv2_only(base_file):
    start = cnnspec.build(cnnspec.load(FE), "torch", weights=base_file)
    net = cnnspec.load(FT).with_stage("finetune")
    model = cnnspec.build(net, "torch", weights=start.cnnspec_module.to_portable(start))
    fixed, conv2 = layer_state(model, ("conv1", "bn1")), model.conv2.weight.detach().clone()
    train(model, per_class(transfer_task(), 20), epochs=2)
    after = layer_state(model, ("conv1", "bn1"))
    assert len(after) == 7 and all(torch.equal(fixed[k], after[k]) for k in fixed)
    assert float((model.conv2.weight.detach() - conv2).abs().max()) > 1e-4
