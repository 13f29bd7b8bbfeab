"""The composite GitHub Action (action.yml, issue 10), its shell steps run here as a runner
would run them.

action.yml is parsed with PyYAML; each `run:` step after the install is run with bash the
way GitHub runs a `shell: bash` step (`bash --noprofile --norc -eo pipefail FILE`), its
`env:` and `if:` evaluated with the inputs (their defaults from action.yml, overridden per
case), in a workspace of specs. `cnnspec` on the PATH is this checkout (the install step's
`pip install` of the action's own folder is what tests/test_precommit_issue10.py exercises
through pre-commit). An expression the test does not know fails it, so the test cannot drift
from the action.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import cnnspec
from cnnspec.formatter import format_text

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
BROKEN = "input 8x8x1\nc1: conv 4 3x3\nc2: conv 4 9x9\n"
WARNING = "input 9x9x1\np: maxpool 2x2 stride=2\n"
LENET = format_text((ROOT / "specs/lenet5.cnn").read_text())


def value(expression: str, inputs: dict) -> str:
    if expression == "github.action_path":
        return str(ROOT)
    name = re.fullmatch(r"inputs\.([\w-]+)", expression)
    assert name and name.group(1) in inputs, f"action.yml uses an unknown {expression!r}"
    return inputs[name.group(1)]


def substitute(text: str, inputs: dict) -> str:
    return EXPRESSION.sub(lambda m: value(m.group(1), inputs), text)


def condition(step: dict, inputs: dict) -> bool:
    """A step's `if:`; action.yml uses only `inputs.NAME == 'VALUE'`."""
    if "if" not in step:
        return True
    test = re.fullmatch(r"inputs\.([\w-]+) == '([^']*)'", step["if"].strip())
    assert test, f"a condition the test cannot evaluate: {step['if']!r}"
    return inputs[test.group(1)] == test.group(2)


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    """A folder with a `cnnspec` command that runs this checkout."""
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "cnnspec"
    script.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m cnnspec "$@"\n')
    script.chmod(0o755)
    return folder


def run_action(workspace: Path, shim: Path, **given: str) -> tuple[int, str]:
    """The action's shell steps in order, stopping at the first that fails, as a runner does:
    (exit code of the last step run, stdout and stderr of all)."""
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update({name.replace("_", "-"): v for name, v in given.items()})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    output, code = "", 0
    for i, step in enumerate(STEPS[2:], 2):
        if not condition(step, inputs):
            continue
        assert step["shell"] == "bash"
        script = workspace.parent / f"step_{i}.sh"
        script.write_text(substitute(step["run"], inputs))
        step_env = {**env, **{k: substitute(str(v), inputs) for k, v in step.get("env", {}).items()}}
        run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                             cwd=workspace, env=step_env, capture_output=True, text=True,
                             timeout=120, check=False)
        output += run.stdout + run.stderr
        code = run.returncode
        if code:
            break
    return code, output


def workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("::error")]


def test_setup_and_install_steps():
    setup, install = STEPS[0], STEPS[1]
    assert setup["uses"] == "actions/setup-python@v5"
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert install["env"]["CNNSPEC_SOURCE"] == "${{ github.action_path }}"
    assert re.fullmatch(r'python -m pip install .*"\$CNNSPEC_SOURCE"', install["run"].strip())
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["inputs"]["paths"]["default"] == "."


def test_good_specs_pass_without_annotations(tmp_path, shim):
    root = workspace(tmp_path, {"specs/lenet5.cnn": LENET, "models/deep/lenet.cnn": LENET,
                                "README.md": "no spec"})
    code, out = run_action(root, shim)
    assert code == 0, out
    assert "cnnspec check: 2 file(s)" in out and not errors(out)


def test_a_broken_spec_is_annotated_at_its_line_and_fails(tmp_path, shim):
    root = workspace(tmp_path, {"specs/lenet5.cnn": LENET, "specs/broken.cnn": BROKEN})
    code, out = run_action(root, shim)
    assert code == 1
    (error,) = errors(out)
    assert error.startswith("::error file=specs/broken.cnn,line=3,col=1::E303: kernel height 9")


def test_warnings_are_annotated_and_fail_only_when_strict(tmp_path, shim):
    root = workspace(tmp_path, {"specs/odd.cnn": WARNING})
    code, out = run_action(root, shim)
    assert code == 0 and "::warning file=specs/odd.cnn,line=2,col=1::W301" in out
    code, out = run_action(root, shim, strict="true")
    assert code == 1 and "::warning file=specs/odd.cnn,line=2,col=1::W301" in out


def test_paths_select_files_and_folders(tmp_path, shim):
    root = workspace(tmp_path, {"a/lenet5.cnn": LENET, "b/c/lenet5.cnn": LENET,
                                "elsewhere/broken.cnn": BROKEN})
    code, out = run_action(root, shim, paths="a/lenet5.cnn\nb")
    assert code == 0 and "cnnspec check: 2 file(s)" in out, out
    code, out = run_action(root, shim, paths="a b/c/*.cnn elsewhere")
    assert code == 1 and [e.split(",")[0] for e in errors(out)] == [
        "::error file=elsewhere/broken.cnn"]


def test_no_specs_is_a_warning(tmp_path, shim):
    root = workspace(tmp_path, {"docs/readme.md": "x"})
    code, out = run_action(root, shim)
    assert code == 0 and "::warning::cnnspec: no .cnn files in: ." in out


def test_format_check_annotates_each_file_not_in_the_layout(tmp_path, shim):
    messy = LENET.replace("c1: ", "c1:", 1).replace("input 28x28x1", "input   28x28x1")
    root = workspace(tmp_path, {"specs/lenet5.cnn": LENET, "specs/messy.cnn": messy})
    code, out = run_action(root, shim)
    assert code == 0, out  # fmt is not checked unless asked
    code, out = run_action(root, shim, format_check="true")
    assert code == 1
    message = "not in the canonical layout: run cnnspec fmt specs/messy.cnn"
    assert errors(out) == [f"::error file=specs/messy.cnn::{message}"]


# --- the documented workflow (docs/examples/cnnspec-ci.yml) ------------------------------

WORKFLOW = yaml.safe_load((ROOT / "docs/examples/cnnspec-ci.yml").read_text())
WORKFLOW_STEPS = WORKFLOW["jobs"]["specs"]["steps"]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]


def test_the_workflow_uses_the_action_with_its_inputs():
    (step,) = [s for s in WORKFLOW_STEPS if s.get("uses", "").endswith("/cnnspec@REF")]
    assert set(step["with"]) <= set(ACTION["inputs"])
    assert WORKFLOW_STEPS[0]["with"]["fetch-depth"] == 0  # the base commit must be there


def yaml_blocks(page: Path) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)


def test_the_diff_step_docs_ci_shows_is_the_workflow_s():
    shown = [yaml.safe_load(block) for block in yaml_blocks(ROOT / "docs/ci.md")]
    (step,) = [s for s in WORKFLOW_STEPS if s.get("name") == "cnnspec diff"]
    assert [step] in shown


def git_run(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def pull_request(tmp_path: Path, base: dict[str, str], head: dict[str, str]) -> Path:
    """A clone of an `origin` whose main branch has `base`, checked out on a branch with the
    `head` files committed (None deletes one): what actions/checkout gives a pull request."""
    origin = workspace(tmp_path / "origin", base)
    git_run(origin, "init", "-q", "-b", "main")
    git_run(origin, "add", "-A")
    git_run(origin, "commit", "-q", "-m", "base")
    clone = tmp_path / "clone"
    git_run(tmp_path, "clone", "-q", str(origin), str(clone))
    git_run(clone, "checkout", "-q", "-b", "change")
    for name, text in head.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
    git_run(clone, "add", "-A")
    git_run(clone, "commit", "-q", "-m", "head")
    return clone


def test_the_workflow_posts_each_changed_specs_diff_as_the_job_summary(tmp_path, shim):
    wider = (ROOT / "docs/examples/lenet5_wider.cnn").read_text()
    base = {"specs/lenet5.cnn": LENET, "specs/same.cnn": LENET, "specs/comment.cnn": LENET}
    head = {"specs/lenet5.cnn": wider, "specs/comment.cnn": LENET + "# a comment\n",
            "specs/new.cnn": LENET}
    clone = pull_request(tmp_path, base, head)
    (step,) = [s for s in WORKFLOW_STEPS if s.get("name") == "cnnspec diff"]
    assert step["if"] == "github.event_name == 'pull_request'" and step["shell"] == "bash"
    summary, runner = tmp_path / "summary.md", tmp_path / "runner"
    runner.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PATH=f"{shim}{os.pathsep}{env['PATH']}", GITHUB_STEP_SUMMARY=str(summary),
               RUNNER_TEMP=str(runner), BASE_REF="main")
    assert step["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    script = tmp_path / "diff_step.sh"
    script.write_text(step["run"])
    run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    text = summary.read_text()
    old, new = cnnspec.load(ROOT / "specs/lenet5.cnn"), cnnspec.load(clone / "specs/lenet5.cnn")
    assert text.count("### cnnspec diff:") == 1  # the comment-only and new specs add nothing
    assert "### cnnspec diff: `specs/lenet5.cnn` → `specs/lenet5.cnn`" in text
    assert f"| params | {old.total_params:,} | {new.total_params:,} | " in text
    assert str(runner) not in text
