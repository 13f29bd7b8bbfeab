"""The pre-commit hooks (.pre-commit-hooks.yaml, issue 10), run by pre-commit itself.

A temporary git repository holds a copy of this checkout's working tree, committed: the hook
repository. A second one, the project, names it in its .pre-commit-config.yaml (`repo:` its
path, `rev:` its commit), as a user's project names cnnspec's repository. pre-commit installs
the hook repository into a virtual environment of its own (a real `pip install`, no editable
install and no PYTHONPATH), once for the module, and runs the hooks on the project's files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnspec.formatter import format_text

ROOT = Path(__file__).resolve().parent.parent
GIT_USER = ["-c", "user.name=cnnspec tests", "-c", "user.email=tests@cnnspec.invalid",
            "-c", "commit.gpgsign=false"]
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
BROKEN = "input 8x8x1\nc1: conv 4 3x3\nc2: conv 4 9x9\n"  # c2: the kernel outgrows 6x6
UNFORMATTED = ("network Tiny\ninput   8x8x1\nc1:conv 4 3x3   pad=1 # same size\n\n\n\n   flatten\n"
               "d: dense 10\n")


def git(cwd: Path, *args: str) -> str:
    run = subprocess.run(["git", *GIT_USER, *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def working_tree_files() -> list[str]:
    """This checkout's files as they are now (tracked or new, not ignored, not deleted)."""
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def hook_repository(folder: Path) -> str:
    """A git repository at `folder` holding the working tree, committed; its commit sha."""
    for name in working_tree_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "cnnspec as a hook repository")
    return git(folder, "rev-parse", "HEAD")


def environment(home: Path) -> dict:
    """pre-commit's environment: its own cache, and no PYTHONPATH (the hooks must run the
    cnnspec that pre-commit installed, not this checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    """(hook repository path, its sha, the pre-commit environment), hooks installed once."""
    folder = tmp_path_factory.mktemp("hook_repo")
    sha = hook_repository(folder)
    env = environment(tmp_path_factory.mktemp("pre_commit_home"))
    project = new_project(tmp_path_factory.mktemp("warmup"), folder, sha, {})
    start = time.perf_counter()
    run = subprocess.run([*PRE_COMMIT, "install-hooks"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    print(f"pre-commit installed the hook environment in {time.perf_counter() - start:.1f} s")
    return folder, sha, env


def documented_config(repo: Path, sha: str) -> str:
    """The .pre-commit-config.yaml docs/ci.md shows, its repo and rev made this checkout's."""
    (block,) = [b for b in re.findall(r"^```yaml\n(.*?)^```", (ROOT / "docs/ci.md").read_text(),
                                      re.MULTILINE | re.DOTALL) if b.startswith("repos:")]
    block, count = re.subn(r"repo: \S+\n(\s*)rev: \S+", f"repo: {repo}\n\\1rev: {sha}", block)
    assert count == 1 and "id: cnnspec-check" in block and "id: cnnspec-fmt" in block
    return block


def new_project(folder: Path, repo: Path, sha: str, files: dict[str, str]) -> Path:
    """A git repository using the hook repository as docs/ci.md configures it, with `files`
    added (not committed)."""
    (folder / ".pre-commit-config.yaml").write_text(documented_config(repo, sha))
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    return folder


def run_hooks(hooks, folder: Path, files: dict[str, str]) -> tuple[int, str, Path]:
    repo, sha, env = hooks
    project = new_project(folder, repo, sha, files)
    run = subprocess.run([*PRE_COMMIT, "run", "--all-files"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr, project


def hook_result(output: str, name: str) -> str:
    """`Passed` or `Failed` (or `(no files to check)Skipped`) of one hook's line."""
    line = next(ln for ln in output.splitlines() if ln.startswith(name + "."))
    return line.rstrip(".").rsplit(".", 1)[-1]


def canonical(text: str) -> str:
    formatted = format_text(text)
    assert formatted is not None
    return formatted


def test_a_good_spec_passes_both_hooks(hooks, tmp_path):
    good = canonical((ROOT / "specs/lenet5.cnn").read_text())
    code, out, project = run_hooks(hooks, tmp_path, {"models/lenet5.cnn": good, "notes.txt": "x"})
    assert code == 0, out
    assert hook_result(out, "cnnspec check") == "Passed"
    assert hook_result(out, "cnnspec fmt") == "Passed"
    assert (project / "models/lenet5.cnn").read_text() == good


def test_a_broken_spec_fails_check_with_its_location(hooks, tmp_path):
    good = canonical((ROOT / "specs/lenet5.cnn").read_text())
    code, out, _ = run_hooks(hooks, tmp_path, {"specs/broken.cnn": BROKEN, "specs/ok.cnn": good})
    assert code == 1
    assert hook_result(out, "cnnspec check") == "Failed"
    assert "specs/broken.cnn:3:1: error[E303]: kernel height 9" in out
    assert "specs/ok.cnn: ok, LeNet5" in out  # every file is checked, the good one too


def test_a_badly_formatted_spec_is_rewritten_as_black_does(hooks, tmp_path):
    code, out, project = run_hooks(hooks, tmp_path, {"tiny.cnn": UNFORMATTED})
    assert code == 1
    assert hook_result(out, "cnnspec check") == "Passed"
    assert hook_result(out, "cnnspec fmt") == "Failed"
    assert "files were modified by this hook" in out
    assert (project / "tiny.cnn").read_text() == canonical(UNFORMATTED) != UNFORMATTED
    git(project, "add", "-A")  # the user stages the rewrite: the next run passes
    again = subprocess.run([*PRE_COMMIT, "run", "--all-files"], cwd=project, env=hooks[2],
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout


def test_the_installed_package_ships_the_schemas(hooks):
    """The hook environment holds cnnspec as pip installed it from the hook repository (a
    built wheel): `cnnspec schema` there prints the shipped files."""
    home = Path(hooks[2]["PRE_COMMIT_HOME"])
    (script,) = home.glob("repo*/py_env-*/bin/cnnspec")
    env = {k: v for k, v in hooks[2].items() if k != "PYTHONPATH"}
    for name in ("check", "summary", "diff", "verify"):
        run = subprocess.run([str(script), "schema", name], capture_output=True, text=True,
                             timeout=60, check=False, env=env, cwd=home)
        assert run.returncode == 0, run.stderr
        assert run.stdout == (ROOT / f"cnnspec/schemas/{name}.schema.json").read_text()
