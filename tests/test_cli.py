"""The `cnnspec check` and `cnnspec summary` commands, run as real processes.

The output formats and exit codes are design.md section 5's contract: text diagnostics with
the source line, a caret underline and help; one JSON object per file; GitHub annotations;
exit 0 ok, 1 errors (or --strict and warnings), 2 bad usage or unreadable file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LENET = "specs/lenet5.cnn"
BAD = "input 28x28x1\nc1: conv 6 3x3 pad=1 out=26x26x6\nc2: conv 6 3x3x4\n"
WARN = "input 28x28x1\nc: conv 6 3x3 stride=2\n"


def cnnspec(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnspec", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def spec(tmp_path):
    def write(text: str, name: str = "net.cnn") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


# --- check: text ---------------------------------------------------------------------------

def test_check_clean_spec_exits_0():
    run = cnnspec("check", LENET)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"{LENET}: ok, LeNet5: 8 layers, 61,706 params, output 10"


def test_check_text_diagnostics(spec):
    path = spec(BAD)
    run = cnnspec("check", path)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[0] == (f"{path}:2:26: error[E308]: conv gives 28x28x6, but out= states 26x26x6: "
                        "height (28 - 3 + 2)/1 + 1 = 28")
    assert lines[1] == "2 | c1: conv 6 3x3 pad=1 out=26x26x6"
    assert lines[2] == " " * len("2 | ") + " " * 25 + "^" * len("26x26x6")
    assert lines[3].startswith("  help: pad=0 gives 26x26")
    assert lines[4] == f"{path}:3:12: error[E301]: kernel depth 4 does not match the 6 input channels"
    assert lines[5] == "3 | c2: conv 6 3x3x4"
    assert lines[6] == " " * (4 + 11) + "^^^^^"
    assert lines[7].startswith("  help: a kernel's depth must equal")
    assert lines[-1] == f"{path}: 2 error(s), 0 warning(s)"
    assert "Traceback" not in run.stdout + run.stderr


def test_check_several_files_reports_each(spec):
    bad = spec(BAD, "bad.cnn")
    run = cnnspec("check", LENET, bad, "specs/zoo/vgg16.cnn")
    assert run.returncode == 1
    assert re.findall(r"^(\S+): (ok|\d+ error)", run.stdout, re.MULTILINE) == [
        (LENET, "ok"), (bad, "2 error"), ("specs/zoo/vgg16.cnn", "ok")]


def test_warnings_pass_unless_strict(spec):
    path = spec(WARN)
    run = cnnspec("check", path)
    assert run.returncode == 0
    assert f"{path}:2:1: warning[W301]:" in run.stdout and "1 warning(s)" in run.stdout
    assert cnnspec("check", "--strict", path).returncode == 1
    assert cnnspec("check", "--strict", LENET).returncode == 0


# --- check: json and github ----------------------------------------------------------------

DESIGN_KEYS = {"file", "network", "input_shape", "layers", "total_params", "trainable_params",
               "non_trainable_params", "macs", "diagnostics"}
LAYER_KEYS = {"name", "kind", "line", "output_shape", "params", "trainable_params", "macs"}
LENET_LAYERS = [  # name, kind, line, output shape, params, MACs (computed by hand)
    ("c1", "conv", 7, [28, 28, 6], 5 * 5 * 1 * 6 + 6, 28 * 28 * 6 * 5 * 5 * 1),
    ("s2", "avgpool", 8, [14, 14, 6], 0, 0),
    ("c3", "conv", 9, [10, 10, 16], 5 * 5 * 6 * 16 + 16, 10 * 10 * 16 * 5 * 5 * 6),
    ("s4", "avgpool", 10, [5, 5, 16], 0, 0),
    ("flatten_1", "flatten", 11, [400], 0, 0),
    ("f5", "dense", 12, [120], 400 * 120 + 120, 400 * 120),
    ("f6", "dense", 13, [84], 120 * 84 + 84, 120 * 84),
    ("out", "dense", 14, [10], 84 * 10 + 10, 84 * 10),
]


def check_lenet_object(obj: dict) -> None:
    assert DESIGN_KEYS <= set(obj)
    assert obj["file"] == LENET and obj["network"] == "LeNet5"
    assert obj["input_shape"] == [28, 28, 1]
    got = [(x["name"], x["kind"], x["line"], x["output_shape"], x["params"], x["macs"])
           for x in obj["layers"]]
    assert got == LENET_LAYERS
    assert all(LAYER_KEYS <= set(x) and x["trainable_params"] == x["params"] for x in obj["layers"])
    assert obj["total_params"] == obj["trainable_params"] == 61_706
    assert obj["non_trainable_params"] == 0
    assert obj["macs"] == 416_520 == sum(row[5] for row in LENET_LAYERS)
    assert obj["diagnostics"] == []


def test_check_json_one_object_per_file(spec):
    bad = spec(BAD)
    run = cnnspec("check", "--format", "json", LENET, bad)
    assert run.returncode == 1
    objects = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(objects) == 2
    check_lenet_object(objects[0])
    diags = objects[1]["diagnostics"]
    assert [(d["code"], d["severity"], d["line"], d["col"], d["end_line"], d["end_col"])
            for d in diags] == [("E308", "error", 2, 26, 2, 33), ("E301", "error", 3, 12, 3, 17)]
    assert all(d["message"] for d in diags)


def test_check_json_of_a_syntax_error(spec):
    run = cnnspec("check", "--format", "json", spec("input 28x28x1\nconv 6 3x3 )\n"))
    assert run.returncode == 1
    obj = json.loads(run.stdout)
    assert DESIGN_KEYS <= set(obj)
    assert obj["network"] is None and obj["layers"] == []
    assert [(d["code"], d["line"], d["col"]) for d in obj["diagnostics"]] == [("E001", 2, 12)]


def test_check_github(spec):
    path = spec(BAD)
    run = cnnspec("check", "--format", "github", path, spec(WARN, "warn.cnn"))
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    pattern = re.compile(r"^::(error|warning) file=([^,]+),line=(\d+),col=(\d+)::(\w+): (.+)$")
    parsed = [pattern.match(line).groups()[:5] for line in lines]
    assert parsed == [("error", path, "2", "26", "E308"), ("error", path, "3", "12", "E301"),
                      ("warning", path.replace("net.cnn", "warn.cnn"), "2", "1", "W301")]
    assert cnnspec("check", "--format", "github", LENET).stdout == ""


def test_github_escapes_newlines_and_percent(spec):
    path = spec("input 28x28x1\nc: conv 6 3x3 -> rellu\n", "a,b:c.cnn")
    line = cnnspec("check", "--format", "github", path).stdout.strip()
    assert "\n" not in line
    assert "file=" + path.replace(",", "%2C").replace(":", "%3A") + ",line=2,col=15::" in line


# --- exit code 2 -----------------------------------------------------------------------------

def in_process(*args: str, capsys) -> tuple[int, str, str]:
    """main() in this process (quicker than a subprocess): exit code, stdout, stderr."""
    from cnnspec.cli import main
    try:
        code = main(list(args))
    except SystemExit as done:  # argparse exits for --help and bad usage
        code = done.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args", [
    ("check", "no_such_file.cnn"),
    ("check", "specs"),                  # a directory
    ("summary", "no_such_file.cnn"),
    ("check", "--format", "yaml", LENET),
    ("check", "--bogus", LENET),
    ("check",),                          # no file
    ("summary", LENET, "--format", "json", "extra.cnn"),
    ("frobnicate",),
    (),
])
def test_usage_errors_exit_2(args, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = in_process(*args, capsys=capsys)
    assert code == 2, out + err
    assert "Traceback" not in out + err


def test_usage_error_as_a_process():
    run = cnnspec("check", "--format", "yaml", LENET)
    assert run.returncode == 2 and "invalid choice: 'yaml'" in run.stderr


def test_unreadable_file_says_why():
    run = cnnspec("check", "no_such_file.cnn")
    assert run.stderr.strip() == "cnnspec: error: cannot read no_such_file.cnn: No such file or directory"


# --- summary -------------------------------------------------------------------------------

def test_summary_table():
    run = cnnspec("summary", LENET)
    assert run.returncode == 0
    out = run.stdout
    header = next(line for line in out.splitlines() if line.startswith("Layer"))
    assert header.split() == ["Layer", "Kind", "Output", "shape", "Params", "Trainable", "Line"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in {r[0] for r in LENET_LAYERS}}
    assert rows["c1"] == ["c1", "conv", "28x28x6", "156", "156", "7"]
    assert rows["f5"] == ["f5", "dense", "120", "48,120", "48,120", "12"]
    assert rows["s4"] == ["s4", "avgpool", "5x5x16", "0", "10"]
    for total in ("Total params: 61,706", "Trainable params: 61,706", "Non-trainable params: 0",
                  "MACs: 416,520"):
        assert total in out


def test_summary_json_matches_check_json():
    run = cnnspec("summary", "--format", "json", LENET)
    assert run.returncode == 0
    check_lenet_object(json.loads(run.stdout))


def test_summary_markdown():
    out = cnnspec("summary", "--format", "markdown", LENET).stdout
    assert "| Layer | Kind | Output shape | Params | Trainable | Line |" in out
    assert "| c1 | conv | 28x28x6 | 156 | 156 | 7 |" in out
    assert "- Total params: 61,706" in out and "- MACs: 416,520" in out


def test_summary_of_a_bad_spec_exits_1_with_diagnostics_on_stderr(spec):
    path = spec(BAD)
    run = cnnspec("summary", path)
    assert run.returncode == 1 and run.stdout == ""
    assert f"{path}:2:26: error[E308]" in run.stderr
    run = cnnspec("summary", "--format", "json", path)
    assert run.returncode == 1
    assert [d["code"] for d in json.loads(run.stdout)["diagnostics"]] == ["E308", "E301"]


def test_summary_with_frozen_layers(spec):
    path = spec("input 8x8x1\nc: conv 4 3x3\nbn: batchnorm\nflatten\nd: dense 2\nfreeze c\n")
    obj = json.loads(cnnspec("summary", "--format", "json", path).stdout)
    assert obj["total_params"] == 40 + 16 + 144 * 2 + 2
    assert obj["non_trainable_params"] == 40 + 8  # c frozen; batch norm's moving statistics
    assert obj["trainable_params"] == obj["total_params"] - 48
    assert "frozen" in cnnspec("summary", path).stdout


# --- help and imports ----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["", "check", "summary", "compile", "verify"])
def test_help(command, capsys):
    code, out, _ = in_process(*([command] if command else []), "--help", capsys=capsys)
    assert code == 0
    assert out.startswith("usage: cnnspec")


def test_help_as_a_process():
    run = cnnspec("check", "--help")
    assert run.returncode == 0
    for flag in ("{text,json,github}", "--strict", "FILE"):
        assert flag in run.stdout
    assert "{table,json,markdown}" in cnnspec("summary", "--help").stdout


PROBE = """
import sys
from cnnspec.cli import main
main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras"))
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["check", LENET, "specs/zoo/vgg16.cnn"],
                                  ["summary", "--format", "json", LENET],
                                  ["summary", "specs/transfer_finetune.cnn"]])
def test_check_and_summary_import_no_framework(args):
    run = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert "HEAVY []" in run.stderr, run.stderr


def test_console_script_entry_point():
    from cnnspec.cli import main
    assert main(["check", str(ROOT / LENET)]) == 0
