"""`cnnspec compile FILE --target T [-o OUT]`: the file, its bytes, its lint, its behaviour.

The CLI runs as a process here (it imports no framework, so it starts fast): what a user or a
Makefile sees, including the exit status and that no traceback escapes.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnspec
from cnnspec.weights import init_weights

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "specs" / "lenet5.cnn"
TARGETS = ("numpy", "torch", "keras")
BAD_SPEC = "network Bad\ninput 5x5x3\nc: conv 4 7x7\n"


def cnnspec_cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=cwd, env=env,
                          check=False, capture_output=True, text=True, timeout=120)


def import_path(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, Path]:
    """LeNet5 compiled once per target through the CLI."""
    out = tmp_path_factory.mktemp("compiled")
    paths = {}
    for target in TARGETS:
        paths[target] = out / f"lenet5_{target}.py"
        proc = cnnspec_cli("compile", LENET, "--target", target, "-o", paths[target])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr == f"wrote {paths[target]} ({target}, 8 layers)\n"
    return paths


def test_the_written_file_is_the_compiled_source(compiled):
    net = cnnspec.load(LENET)
    for target, path in compiled.items():
        assert path.read_text() == cnnspec.compile(net, target)
        assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_deterministic_bytes_across_runs(compiled, tmp_path):
    for target, path in compiled.items():
        again = tmp_path / f"again_{target}.py"
        assert cnnspec_cli("compile", LENET, "--target", target, "-o", again).returncode == 0
        assert again.read_bytes() == path.read_bytes()


def test_stdout_without_output(compiled):
    for args in ((), ("-o", "-")):
        proc = cnnspec_cli("compile", LENET, "--target", "torch", *args)
        assert proc.returncode == 0 and proc.stderr == ""
        assert proc.stdout == compiled["torch"].read_text()


def test_ruff_clean_with_default_rules(compiled):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", *map(str, compiled.values())],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_code_names_the_network_and_shapes(compiled):
    for path in compiled.values():
        text = path.read_text()
        assert "LeNet5" in text.split('"""')[1] and "cnnspec" in text.split('"""')[1]
        assert "28x28x6, 156 params" in text and "5x5x16" in text
        assert "LeNet-5 (1998)" not in text  # the spec's description is never copied
        assert str(ROOT) not in text


def test_numpy_module_runs_with_numpy_alone(compiled):
    code = (f"import sys, numpy as np, importlib.util as u\n"
            f"s = u.spec_from_file_location('m', {str(compiled['numpy'])!r}); m = u.module_from_spec(s)\n"
            f"s.loader.exec_module(m)\n"
            f"assert not {{'torch', 'tensorflow', 'keras'}} & set(sys.modules), sys.modules.keys()\n"
            f"print(m.INPUT_SHAPE)")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(28, 28, 1)"


def test_the_written_modules_compute_what_build_does(compiled):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    import torch
    net = cnnspec.load(LENET)
    params = init_weights(net, seed=9, dtype="float32")
    x = np.random.default_rng(1).standard_normal((3, 28, 28, 1)).astype(np.float32)
    outputs = {}
    for target, path in compiled.items():
        module = import_path(path, f"written_{target}")
        reference = cnnspec.build(net, target, weights=params)
        if target == "numpy":
            outputs[target] = (module.forward(x, params), reference(x))
        elif target == "torch":
            model = module.LeNet5()
            module.load_portable(model, params)
            model.eval()
            with torch.no_grad():
                nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
                outputs[target] = (model(nchw).numpy(), reference(nchw).numpy())
        else:
            model = module.build_le_net5()
            module.load_portable(model, params)
            outputs[target] = (np.asarray(model(x, training=False)),
                               np.asarray(reference(x, training=False)))
    for target, (written, built) in outputs.items():
        np.testing.assert_array_equal(written, built, err_msg=target)
    # and the three written modules agree with each other (float32 tolerance)
    ref = outputs["numpy"][0]
    for target in ("torch", "keras"):
        assert np.abs(outputs[target][0] - ref).max() <= 1e-5 * max(1, np.abs(ref).max())


@pytest.mark.parametrize("target", TARGETS)
def test_errors_exit_1_and_leave_the_output_untouched(tmp_path, target):
    spec = tmp_path / "bad.cnn"
    spec.write_text(BAD_SPEC)
    out = tmp_path / "model.py"
    out.write_bytes(b"# my hand-written model\n\x00keep me\n")
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    proc = cnnspec_cli("compile", spec, "--target", target, "-o", out)
    assert proc.returncode == 1
    assert "bad.cnn:3:1: error[E303]" in proc.stderr and "Traceback" not in proc.stderr
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cnn", "model.py"]


def test_compile_imports_no_framework(tmp_path):
    code = ("import sys\nfrom cnnspec.cli import main\n"
            f"for t in ('numpy', 'torch', 'keras'):\n"
            f"    assert main(['compile', {str(LENET)!r}, '--target', t, '-o', {str(tmp_path / 'm.py')!r}]) == 0\n"
            "print(sorted({'torch', 'tensorflow', 'keras', 'jax'} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("where", ["missing directory", "a directory", "under a file"])
def test_an_unwritable_output_exits_2_with_a_message(tmp_path, where):
    (tmp_path / "file.txt").write_text("x")
    out = {"missing directory": tmp_path / "no" / "such" / "m.py", "a directory": tmp_path,
           "under a file": tmp_path / "file.txt" / "m.py"}[where]
    proc = cnnspec_cli("compile", LENET, "--target", "numpy", "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"cnnspec: error: cannot write {out}: ")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no temporary file left


def test_usage_errors_exit_2():
    assert cnnspec_cli("compile", LENET, "--target", "jax").returncode == 2
    assert cnnspec_cli("compile", LENET).returncode == 2  # --target is required
    proc = cnnspec_cli("compile", ROOT / "specs" / "nope.cnn", "--target", "numpy")
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = cnnspec_cli("compile", ROOT / "specs" / "transfer_finetune.cnn", "--target", "torch",
                       "--stage", "nope")
    assert proc.returncode == 2 and "no stage named 'nope'" in proc.stderr
