"""Issue 11: a generated model trains on the frameworks' own scale-out engines, and one step on
a global batch split across workers gives the weights of one worker taking the whole batch.

The runs are docs/examples/ddp_train.py (launched with torchrun: 2 processes, gloo, CPU) and
docs/examples/mirrored_train.py (MirroredStrategy over 2 logical CPUs), exactly as
docs/deployment.md shows them, in float64 so that the comparison is tight (1e-12; measured
6e-17). LeNet-5 has no batch norm: under DDP each process would normalise with its own
half-batch's statistics, and torch.nn.SyncBatchNorm, which would share them, refuses CPU
modules ("SyncBatchNorm layers only work with GPU modules", torch 2.13).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec import weights as W

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
TIMEOUT = 150


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen) -> str:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, err[-3000:]
    return out


def max_change(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def initial() -> dict:
    return W.init_weights(cnnspec.load(ROOT / "specs" / "lenet5.cnn"), seed=0, dtype="float64")


@pytest.mark.slow  # two framework processes (~20-30 s on 2 shared cores)
def test_ddp_step_on_two_processes_equals_one_process(tmp_path):
    pytest.importorskip("torch")  # conftest: in CI a skip is a failure
    ddp = start(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                 str(EXAMPLES / "ddp_train.py"), "ddp.safetensors"], tmp_path)
    single = tmp_path / "single.safetensors"
    runpy.run_path(str(EXAMPLES / "ddp_train.py"))["main"](str(single))  # no RANK: one process
    assert "2 process(es), global batch 8: wrote ddp.safetensors" in finish(ddp)
    one, two = W.load_file(single), W.load_file(tmp_path / "ddp.safetensors")
    assert max_change(one, two) <= 1e-12
    assert max_change(one, initial()) > 1e-2  # the step did move the weights


@pytest.mark.slow  # two framework processes (~20-30 s on 2 shared cores)
def test_mirrored_strategy_step_on_two_replicas_equals_one_device(tmp_path):
    """One TensorFlow process (a second would cost ~15 s more): the CPU split into two logical
    devices first, then the example's train() with the default strategy (one device) and with
    MirroredStrategy over both."""
    pytest.importorskip("tensorflow")
    code = ("import runpy, sys, tensorflow as tf\n"
            "example = runpy.run_path(sys.argv[1])\n"
            "mirrored = example['strategy_for'](2)\n"
            "example['train'](tf.distribute.get_strategy(), 'r1.safetensors')\n"
            "example['train'](mirrored, 'r2.safetensors')\n")
    out = finish(start(["-c", code, str(EXAMPLES / "mirrored_train.py")], tmp_path))
    for n in (1, 2):
        assert f"{n} replica(s), global batch 8: wrote r{n}.safetensors" in out
    one, two = (W.load_file(tmp_path / f"r{n}.safetensors") for n in (1, 2))
    assert max_change(one, two) <= 1e-12
    assert max_change(one, initial()) > 1e-2
