"""Issue 10's Python API and standard input: `check -` / `summary -`, `cnnspec.load` taking
paths only, and `cnnspec.summary(...)`, the object that prints `cnnspec summary`'s table.

The summary object is compared with the command run as a real process (its stdout, byte for
byte) and, for every shipped spec, with `cli.main` in-process; the totals with a hand count
and with sums over the layers of the JSON."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnnspec
from cnnspec import cli

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "specs" / "lenet5.cnn"
SHIPPED = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "zoo").glob("*.cnn"))
CLEAN = "network t\ninput 8x8x1\nc: conv 4 3x3\nflatten\nd: dense 3\n"
BROKEN = "network t\ninput 8x8x1\ncc: bogus 3\nd: conv 2 3x3x5\n"  # unknown kind at 3:5


def run(*args: str, stdin: str | bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "cnnspec", *args], cwd=cwd, input=data,
                          capture_output=True, timeout=120, check=False)


def main_with_stdin(args: list[str], stdin, monkeypatch) -> tuple[int, str, str]:
    """cli.main in-process with sys.stdin replaced; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", stdin)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


def text_stdin(text: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")


# --- check - and summary - -------------------------------------------------------------------

def test_check_reads_a_clean_spec_from_stdin():
    done = run("check", "-", stdin=CLEAN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "<stdin>: ok, t: 3 layers, 475 params, output 3\n"


def test_check_of_a_broken_spec_on_stdin_is_located_and_exits_1():
    done = run("check", "-", stdin=BROKEN)
    out = done.stdout.decode()
    assert done.returncode == 1
    assert out.startswith("<stdin>:3:5: error[E101]: unknown layer kind 'bogus'\n3 | cc: bogus 3\n")
    assert out.rstrip().endswith("<stdin>: 1 error(s), 0 warning(s)")
    assert b"Traceback" not in done.stderr


def test_stdin_reads_the_same_as_the_file(tmp_path):
    (tmp_path / "t.cnn").write_text(BROKEN)
    from_file = run("check", "t.cnn", "--format", "json", cwd=tmp_path)
    from_stdin = run("check", "-", "--format", "json", stdin=BROKEN, cwd=tmp_path)
    assert from_file.returncode == from_stdin.returncode == 1
    want, got = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
    assert got["file"] == "<stdin>" and {d["file"] for d in got["diagnostics"]} == {"<stdin>"}
    for d in want["diagnostics"]:
        d["file"] = "<stdin>"
    assert got == want | {"file": "<stdin>"}


def test_stdin_among_files_in_their_order_and_the_worst_exit_code():
    done = run("check", str(LENET), "-", "specs/two_heads.cnn", "--format", "github", stdin=BROKEN)
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("::error file=<stdin>,line=3,col=5::E101: unknown layer kind")
    done = run("check", "-", str(LENET), stdin=CLEAN)
    assert done.returncode == 0
    assert done.stdout.decode().splitlines()[0].startswith("<stdin>: ok, t:")
    assert done.stdout.decode().splitlines()[1].startswith(f"{LENET}: ok, LeNet5:")


def test_stdin_may_be_given_once(monkeypatch):
    code, out, err = main_with_stdin(["check", "-", str(LENET), "-"], text_stdin(CLEAN), monkeypatch)
    assert code == 2 and out == ""
    assert err.startswith("cnnspec: error: '-' (standard input) can be given only once")


@pytest.mark.parametrize("stdin", [b"", b"\x00\xff\xfe binary \x89PNG", b"\xef\xbb\xbf" + CLEAN.encode()])
def test_odd_stdin_gets_diagnostics_never_a_traceback(stdin):
    done = run("check", "-", stdin=stdin)
    assert b"Traceback" not in done.stderr
    assert done.returncode == (0 if stdin.endswith(CLEAN.encode()) else 1)
    assert done.stdout.decode().splitlines()[-1].startswith("<stdin>: ")


def test_a_closed_stdin_is_a_usage_error(monkeypatch):
    code, out, err = main_with_stdin(["check", "-"], None, monkeypatch)
    assert (code, out) == (2, "")
    assert err == "cnnspec: error: cannot read <stdin>: there is no standard input\n"


def test_main_reads_a_text_stdin_without_a_buffer(monkeypatch):
    code, out, _ = main_with_stdin(["check", "-"], io.StringIO(BROKEN), monkeypatch)
    assert code == 1 and out.startswith("<stdin>:3:5: error[E101]")
    code, out, _ = main_with_stdin(["summary", "-", "--format", "json"], io.StringIO(CLEAN), monkeypatch)
    assert code == 0 and json.loads(out)["total_params"] == 475


def test_summary_reads_stdin(monkeypatch):
    code, out, err = main_with_stdin(["summary", "-"], text_stdin(LENET.read_text()), monkeypatch)
    assert (code, err) == (0, "")
    assert out == str(cnnspec.summary(LENET)).replace(f"({LENET})", "(<stdin>)") + "\n"
    code, out, err = main_with_stdin(["summary", "-"], text_stdin(BROKEN), monkeypatch)
    assert (code, out) == (1, "") and err.startswith("<stdin>:3:5: error[E101]")


def test_stdin_imports_are_found_from_the_current_directory():
    finetune = (ROOT / "specs" / "transfer_finetune.cnn").read_text()
    here = run("summary", "-", "--format", "json", stdin=finetune, cwd=ROOT / "specs")
    assert here.returncode == 0, here.stderr
    want = cnnspec.summary(ROOT / "specs" / "transfer_finetune.cnn").to_dict()
    assert json.loads(here.stdout)["total_params"] == want["total_params"]
    elsewhere = run("check", "-", stdin=finetune, cwd=ROOT)
    assert elsewhere.returncode == 1 and b"error[E205]" in elsewhere.stdout


def test_compile_does_not_read_stdin():
    done = run("compile", "-", "--target", "numpy", stdin=CLEAN)
    assert done.returncode == 2 and b"cannot read -" in done.stderr


# --- load takes paths, loads takes text ----------------------------------------------------

@pytest.mark.parametrize("missing", [CLEAN, "specs/nope.cnn", "input 8x8x1", Path("no/such.cnn"),
                                     LENET.read_text(), "x" * 5000],
                         ids=["spec-text", "missing-file", "short-text", "missing-path", "lenet5-text",
                              "name-too-long"])
def test_load_of_a_missing_path_is_an_error_naming_it_never_a_parse(missing, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(FileNotFoundError, match="cnnspec.loads") as raised:
        cnnspec.load(missing)
    assert raised.value.filename == str(missing)
    assert not isinstance(raised.value, cnnspec.SpecError)


def test_load_reads_paths_and_loads_reads_text():
    by_path = cnnspec.load(LENET)
    assert by_path.summary() == cnnspec.load(str(LENET)).summary()
    by_text = cnnspec.loads(LENET.read_text(), name=str(LENET))
    assert by_text.summary() == by_path.summary()
    with pytest.raises(cnnspec.SpecError):
        cnnspec.loads(str(LENET))  # a path given as text is text, and not a spec
    with pytest.raises(TypeError, match="loads"):
        cnnspec.load(b"input 8x8x1\n")
    with pytest.raises(OSError, match="not a regular file") as raised:
        cnnspec.load(ROOT / "specs")  # a directory is not "missing": its own error
    assert not isinstance(raised.value, FileNotFoundError)


# --- cnnspec.summary ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["specs/lenet5.cnn", "specs/zoo/resnet50.cnn"])
def test_summary_prints_what_the_command_prints_byte_for_byte(spec):
    table = run("summary", spec)
    assert table.returncode == 0
    s = cnnspec.summary(spec)
    assert (str(s) + "\n").encode() == table.stdout
    as_json = run("summary", spec, "--format", "json")
    assert s.to_dict() == json.loads(as_json.stdout)
    assert (s.to_json() + "\n").encode() == as_json.stdout


def cli_output(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(list(args)) == 0
    return out.getvalue()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_spec_prints_and_converts_as_the_command(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = str(path.relative_to(ROOT))
    s = cnnspec.summary(spec)
    assert str(s) + "\n" == cli_output("summary", spec)
    assert s.to_json() + "\n" == cli_output("summary", spec, "--format", "json")
    assert s.to_markdown() + "\n" == cli_output("summary", spec, "--format", "markdown")
    assert str(cnnspec.summary(spec, depth=None)) + "\n" == cli_output("summary", spec, "--expand")
    assert str(cnnspec.summary(spec, depth=2)) + "\n" == cli_output("summary", spec, "--depth", "2")


def test_a_stage_as_the_command_shows_it(monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = "specs/transfer_finetune.cnn"
    s = cnnspec.summary(spec, stage="finetune")
    assert str(s) + "\n" == cli_output("summary", spec, "--stage", "finetune")
    assert s.to_dict() == json.loads(cli_output("summary", spec, "--stage", "finetune", "--format", "json"))
    assert s.stage == "finetune" and s.trainable_params != cnnspec.summary(spec).trainable_params
    with pytest.raises(KeyError, match="no stage named 'nope'"):
        cnnspec.summary(spec, stage="nope")


def test_lenet5_totals_are_the_hand_count():
    s = cnnspec.summary(LENET)
    by_hand = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert s.total_params == s.trainable_params == by_hand == 61_706
    assert s.non_trainable_params == 0
    assert len(s.layers) == 8 and [layer["name"] for layer in s.layers][:2] == ["c1", "s2"]
    assert (s.input_shape, s.output_shape, s.network) == ((28, 28, 1), (10,), "LeNet5")


@pytest.mark.parametrize("path", [SHIPPED[0], ROOT / "specs/zoo/densenet121.cnn",
                                  ROOT / "specs/transfer_finetune.cnn"], ids=lambda p: p.stem)
def test_the_totals_are_the_sums_over_the_layers(path):
    s = cnnspec.summary(path)
    layers = s.to_dict()["layers"]
    assert s.total_params == sum(layer["params"] for layer in layers)
    assert s.trainable_params == sum(layer["trainable_params"] for layer in layers)
    assert s.non_trainable_params == s.total_params - s.trainable_params
    assert s.macs == sum(layer["macs"] for layer in layers)


def test_a_network_summarises_as_its_file():
    net = cnnspec.load(LENET)
    assert cnnspec.summary(net).to_dict() == cnnspec.summary(LENET).to_dict()
    from_text = cnnspec.summary(cnnspec.loads(CLEAN))
    assert from_text.file == "<string>" and from_text.total_params == 4 * (9 + 1) + (6 * 6 * 4 + 1) * 3
    assert f"{from_text!r}" == "<cnnspec.Summary 't': 3 layers, 475 params, 1,728 MACs>"
    assert from_text.macs == 6 * 6 * 4 * 9 + 6 * 6 * 4 * 3


def test_the_dict_is_a_copy():
    s = cnnspec.summary(LENET)
    s.to_dict()["layers"].clear()
    s.layers.clear()
    assert len(s.layers) == 8 and str(s) == str(cnnspec.summary(LENET))


def test_warnings_are_in_the_dict_as_in_the_command(tmp_path):
    spec = tmp_path / "w.cnn"
    spec.write_text("input 28x28x1\nc: conv 6 3x3 stride=2\n")
    done = run("summary", str(spec), "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["diagnostics"]
    assert cnnspec.summary(spec).to_dict() == json.loads(done.stdout)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such spec file"):
        cnnspec.summary(CLEAN)
    (tmp_path / "bad.cnn").write_text(BROKEN)
    with pytest.raises(cnnspec.SpecError) as raised:
        cnnspec.summary(tmp_path / "bad.cnn")
    assert ":3:5: error[E101]" in str(raised.value)
    with pytest.raises(TypeError, match="a path .* or a Network"):
        cnnspec.summary(42)
    for depth in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="depth"):
            cnnspec.summary(LENET, depth=depth)


def test_the_api_imports_no_framework():
    probe = ("import sys, cnnspec; s = cnnspec.summary('specs/zoo/resnet50.cnn'); str(s); s.to_json();"
             " s.to_markdown(); print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'pydantic')"
             " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
