"""Shared test setup. In CI (CI=true) every backend must be importable: nothing is skipped."""

import importlib.util
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_sessionstart(session):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        missing = [m for m in ("torch", "keras", "tensorflow", "onnx", "safetensors", "sklearn")
                   if importlib.util.find_spec(m) is None]
        if missing:
            raise pytest.UsageError(f"CI must run every backend test, but these are missing: {missing}")
