"""Shared test setup. In CI (CI=true) every backend must be importable: nothing is skipped."""

import importlib.util
import os

import pytest

# A small network with every kind of weight (conv, batch norm, dense with and without bias) and a
# flatten, shared by the weight-file tests through the fixtures below.
SMALL_SPEC = """network Small
input 6x5x2
c1: conv 4 3x3 pad=same -> relu
bn: batchnorm eps=0.001 momentum=0.9
p: maxpool 2x2 round=floor
flat: flatten
d1: dense 5 -> tanh
out: dense 3 bias=false
"""


@pytest.fixture(scope="module")
def net():
    """SMALL_SPEC's network (a module may define its own `net` instead)."""
    import cnnspec
    return cnnspec.loads(SMALL_SPEC)


@pytest.fixture
def spec_file(tmp_path) -> str:
    """SMALL_SPEC written to a file."""
    path = tmp_path / "small.cnn"
    path.write_text(SMALL_SPEC)
    return str(path)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_sessionstart(session):
    if _in_ci():
        missing = [m for m in ("torch", "keras", "tensorflow", "onnx", "safetensors", "sklearn")
                   if importlib.util.find_spec(m) is None]
        if missing:
            raise pytest.UsageError(f"CI must run every backend test, but these are missing: {missing}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: every backend test must run."""
    if _in_ci() and _SKIPPED:
        print(f"\nCI: {len(_SKIPPED)} test(s) skipped, which CI does not allow: {_SKIPPED[:5]}")
        session.exitstatus = 1
