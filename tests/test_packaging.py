"""Packaging: an SPDX licence with its file, an sdist that carries tests, specs and docs, and
dependencies that match what the code imports (pydantic only for the report models;
scikit-learn for the examples).

The sdist is built with setuptools' own PEP 517 hook in a subprocess, in a copy of the tree,
so no `build` package and no network are needed.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".hypothesis",
                                ".pytest_cache", ".ruff_cache", ".venv", "out")
BUILD_SDIST = ("import sys; from setuptools import build_meta; "
               "print(build_meta.build_sdist(sys.argv[1]))")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> tuple[list[str], str, str]:
    """(the sdist's member names without the top folder, its PKG-INFO, the build's output)."""
    tree = tmp_path_factory.mktemp("tree") / "cnnspec"
    shutil.copytree(ROOT, tree, ignore=IGNORE)
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-c", BUILD_SDIST, str(out)], cwd=tree, check=False,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    with tarfile.open(out / run.stdout.strip().splitlines()[-1]) as tar:
        names = [m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name]
        info = next(tar.extractfile(m) for m in tar.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")).read().decode()
    return names, info, run.stdout + run.stderr


def test_licence_is_an_spdx_expression_with_its_file(sdist):
    _, info, log = sdist
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) cnnspec contributors" in licence
    headers = email.message_from_string(info)
    assert headers["License-Expression"] == "MIT" and headers["License-File"] == "LICENSE"
    assert "deprecated" not in log.lower()  # the TOML-table licence made setuptools warn


def test_sdist_carries_tests_specs_docs_and_examples(sdist):
    names = set(sdist[0])
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=False).stdout.split()
    wanted = {n for n in tracked if n.split("/")[0] in
              ("tests", "specs", "docs", "examples", "scripts", "benchmarks", "cnnspec", "grammars")}
    wanted |= {"LICENSE", "README.md", "pyproject.toml", "tests/test_docs.py", "scripts/fuzz.py",
               "docs/examples/first.cnn", "specs/lenet5.cnn", "grammars/cnnspec.lark"}
    assert wanted - names == set()
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def requirements(info: str, extra: str | None = None) -> set[str]:
    """The distribution names the built metadata requires (for one extra, or unconditionally)."""
    names = set()
    for line in email.message_from_string(info).get_all("Requires-Dist") or []:
        name, _, marker = line.partition(";")
        if (extra is None and not marker) or (extra and f'extra == "{extra}"' in marker):
            names.add(re.match(r"[A-Za-z0-9_.-]+", name).group(0).lower())
    return names


def test_dependencies_are_what_the_code_imports(sdist):
    assert requirements(sdist[1]) == {"lark", "numpy"}
    assert "pydantic" in requirements(sdist[1], "schema")  # only the report models need it
    importers = [p.name for p in (ROOT / "cnnspec").rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+pydantic", p.read_text(), re.MULTILINE)]
    assert importers == ["report_models.py"]  # imported by nothing a command runs (issue 10)


def test_examples_extra_installs_what_the_examples_import(sdist):
    assert "scikit-learn" in requirements(sdist[1], "examples")
    assert "scikit-learn" in requirements(sdist[1], "test")  # the tests train on the digits
    data = (ROOT / "examples" / "digits_data.py").read_text()
    assert "sklearn" in data
    readme = (ROOT / "README.md").read_text()
    assert "-e '.[all,examples]' && python examples/transfer_digits_torch.py" in readme
    assert "-e '.[all,test]' && python -m pytest -q" in readme
