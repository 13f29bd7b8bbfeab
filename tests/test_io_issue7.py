"""Issue 7, files and the terminal: what cnnspec reads, what it writes, and what it prints.

Reading: only regular files, never more than the size limit needs (a FIFO, /dev/zero, a 3 GB
sparse file), a byte-order mark accepted, every file of `check` checked. Writing (`compile
-o`): never over a device, a FIFO or the spec itself; symbolic links written through; new
files follow the umask, replaced files keep their mode. Printing: control characters escaped,
a full disk reported without a traceback. The command line: help with defaults, no
abbreviations, an option given twice refused.

CLI runs are real processes with a 2 GiB address-space limit and a timeout, so a reader that
grows without bound fails fast and one that blocks fails instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import cnnspec
from cnnspec.diagnostics import render_github, render_text
from cnnspec.output import write_atomic
from cnnspec.source import MAX_TEXT, NotRegularFileError, SourceFile

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "specs" / "lenet5.cnn"
SMALL = "network Small\ninput 8x8x1\nc: conv 2 3x3\n"
MEMORY = 2 << 30  # bytes of address space a CLI run may use


def cli(*args, cwd: Path = ROOT, umask: int | None = None, stdout=subprocess.PIPE,
        timeout: float = 30) -> subprocess.CompletedProcess:
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if umask is not None:
            os.umask(umask)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=cwd, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          preexec_fn=limits, check=False)


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.cnn"
    os.mkfifo(path)
    return path


@pytest.fixture
def sparse(tmp_path) -> Path:
    path = tmp_path / "huge.cnn"
    with open(path, "wb") as handle:
        handle.truncate(3 << 30)  # 3 GiB of holes: no disk used
    return path


@contextlib.contextmanager
def writer_after(fifo: Path, seconds: float = 5):
    """Opens the FIFO for writing (then closes it) once a reader has blocked on it for a while,
    so that a reader that waits fails the test instead of hanging it."""
    done = threading.Event()

    def release():
        start = time.monotonic()
        while not done.wait(0.1) and time.monotonic() - start < 60:
            if time.monotonic() - start > seconds:
                with contextlib.suppress(OSError):  # ENXIO: nobody is reading (yet)
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    return
    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


# --- reading ---------------------------------------------------------------------------------

def test_check_refuses_a_fifo_instead_of_waiting_for_a_writer(fifo):
    run = cli("check", fifo, timeout=20)
    assert run.returncode == 2
    assert run.stderr.strip() == f"cnnspec: error: cannot read {fifo}: not a regular file (it is a FIFO)"


def test_check_refuses_dev_zero_instead_of_reading_it_forever():
    run = cli("check", "/dev/zero", timeout=20)
    assert run.returncode == 2
    assert run.stderr.strip() == ("cnnspec: error: cannot read /dev/zero: not a regular file "
                                  "(it is a character device)")


def test_a_3_gb_sparse_file_is_refused_with_e003_in_bounded_memory(sparse):
    run = cli("check", "--format", "json", sparse, timeout=60)
    assert run.returncode == 1, run.stderr
    diags = json.loads(run.stdout)["diagnostics"]
    assert [(d["code"], d["message"]) for d in diags] == [
        ("E003", f"file too large (over {MAX_TEXT:,} characters)")]


def test_reading_stops_at_the_limit(sparse):
    """In a child under the memory limit: reading all 3 GiB would kill this process instead."""
    code = ("import sys; from cnnspec.source import SourceFile; "
            "print(len(SourceFile.read(sys.argv[1]).text))")
    run = subprocess.run([sys.executable, "-c", code, str(sparse)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY)))
    assert run.returncode == 0, run.stderr[-300:]
    assert MAX_TEXT < int(run.stdout) <= 4 * MAX_TEXT + 1


def test_an_import_of_a_fifo_or_a_huge_file_is_a_diagnostic(tmp_path, fifo, sparse):
    (tmp_path / "a.cnn").write_text(f'input 8x8x1\nimport "{fifo.name}" as p\nuse p\n')
    (tmp_path / "b.cnn").write_text(f'input 8x8x1\nimport "{sparse.name}" as h\nuse h\n')
    run = cli("check", "--format", "json", "a.cnn", "b.cnn", cwd=tmp_path, timeout=60)
    a, b = (json.loads(line)["diagnostics"] for line in run.stdout.splitlines())
    assert [d["code"] for d in a] == ["E205"] and a[0]["line"] == 2
    assert [(d["code"], d["line"]) for d in b] == [("E004", 2)]  # over the imports' size limit
    assert b[0]["message"].startswith("the imported specs hold more than")


def test_source_read_raises_oserror_subclasses(tmp_path, fifo):
    with writer_after(fifo), pytest.raises(NotRegularFileError) as err:
        SourceFile.read(fifo)
    assert isinstance(err.value, OSError) and err.value.filename == str(fifo)
    with pytest.raises(NotRegularFileError) as err:
        SourceFile.read(tmp_path)
    assert "a directory" in err.value.strerror
    with pytest.raises(OSError, match="NUL"):
        SourceFile.read("a\x00b.cnn")


def test_a_byte_order_mark_is_accepted_and_columns_stay_right(tmp_path):
    plain, marked = tmp_path / "plain.cnn", tmp_path / "marked.cnn"
    text = "input 8x8x1\nc: conv 2 3x3 pad=zz\n"
    plain.write_text(text, encoding="utf-8")
    marked.write_text(text, encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    spans = [[(d["code"], d["line"], d["col"]) for d in json.loads(line)["diagnostics"]]
             for line in cli("check", "--format", "json", plain, marked).stdout.splitlines()]
    assert spans[0] == spans[1] and spans[0][0][1:] == (2, 19)
    marked.write_text(SMALL, encoding="utf-8-sig")
    assert cli("check", marked).returncode == 0
    assert cnnspec.loads("\ufeff" + SMALL).name == "Small"


def test_check_goes_on_past_an_unreadable_file_and_exits_2(tmp_path):
    (tmp_path / "a.cnn").write_text(SMALL)
    (tmp_path / "b.cnn").write_text(SMALL.replace("Small", "Other"))
    run = cli("check", "a.cnn", "missing.cnn", "b.cnn", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout.splitlines() == ["a.cnn: ok, Small: 1 layer, 20 params, output 6x6x2",
                                       "b.cnn: ok, Other: 1 layer, 20 params, output 6x6x2"]
    assert run.stderr.strip() == "cnnspec: error: cannot read missing.cnn: No such file or directory"


def test_an_unreadable_file_beats_spec_errors(tmp_path):
    (tmp_path / "bad.cnn").write_text("input 8x8x1\nc: conv 2 9x9\n")
    run = cli("check", "missing.cnn", "bad.cnn", cwd=tmp_path)
    assert run.returncode == 2 and run.stdout.splitlines()[-1] == "bad.cnn: 1 error(s), 0 warning(s)"
    assert cli("check", "bad.cnn", cwd=tmp_path).returncode == 1


# --- the Python API --------------------------------------------------------------------------

def test_load_takes_a_path_and_a_missing_one_is_file_not_found():
    with pytest.raises(FileNotFoundError) as err:
        cnnspec.load("spec/lenet5.cnn")
    assert err.value.filename == "spec/lenet5.cnn" and "cnnspec.loads" in err.value.strerror
    assert cnnspec.load(LENET).name == cnnspec.load(str(LENET)).name == "LeNet5"
    with pytest.raises(TypeError, match="loads"):
        cnnspec.load(b"input 8x8x1\n")


def test_loads_parses_text_and_never_looks_for_a_file():
    with pytest.raises(cnnspec.SpecError) as err:
        cnnspec.loads("input 8x8x1 " + "x" * 300)
    assert err.value.diagnostics[0].span.file == "<string>"
    assert cnnspec.loads(SMALL, name="mine.cnn").source.name == "mine.cnn"
    assert "loads" in cnnspec.__all__ and cnnspec.loads is cnnspec.api.loads


# --- terminal control characters -------------------------------------------------------------

TITLE = "\x1b]0;TITLE\x07\x1b[2J"


def test_summary_escapes_a_description_with_escape_sequences(tmp_path):
    (tmp_path / "t.cnn").write_text(f'network T "{TITLE}"\ninput 8x8x1\nc: conv 2 3x3\n')
    for fmt in ("table", "markdown"):
        out = cli("summary", "t.cnn", "--format", fmt, cwd=tmp_path).stdout
        assert "\x1b" not in out and "\x07" not in out
        assert "\\x1b]0;TITLE\\x07\\x1b[2J" in out
    data = json.loads(cli("summary", "t.cnn", "--format", "json", cwd=tmp_path).stdout)
    assert data["description"] == TITLE  # JSON keeps the text; json.dumps escaped it


def test_diagnostic_excerpts_escape_controls_and_keep_the_caret_under_the_text():
    source = SourceFile("x.cnn", "input 8x8x1\nc: conv 2 3x3 \x1b[31m\u202e bad=1\n")
    _network, diags = cnnspec.api.analyse(source)
    text = render_text(source, diags)
    assert "\x1b" not in text and "\u202e" not in text
    lines = text.splitlines()
    assert lines[1] == "2 | c: conv 2 3x3 \\x1b[31m\\u202e bad=1"
    assert lines[2] == " " * 18 + "^^^^", text  # under the 4 characters of \x1b
    assert "\x1b" not in render_github(diags)


def test_file_names_are_escaped_in_the_ok_line_and_in_errors(tmp_path):
    name = "a\x1b[2Jb.cnn"
    (tmp_path / name).write_text(SMALL)
    run = cli("check", name, "gone\x07.cnn", cwd=tmp_path)
    assert run.stdout.strip() == "a\\x1b[2Jb.cnn: ok, Small: 1 layer, 20 params, output 6x6x2"
    assert "gone\\x07.cnn" in run.stderr and "\x07" not in run.stderr


def test_json_diagnostics_name_the_file_they_point_into(tmp_path):
    (tmp_path / "base.cnn").write_text("network Base\ninput 28x28x1\nc1: conv 4 5x5\nc2: conv 4 5x5\n")
    (tmp_path / "top.cnn").write_text('network Top\ninput 8x8x1\nimport "base.cnn" as b\nuse b\n')
    (diag,) = json.loads(cli("check", "--format", "json", "top.cnn", cwd=tmp_path).stdout)["diagnostics"]
    assert (diag["file"], diag["line"], diag["code"]) == ("base.cnn", 4, "E303")
    github = cli("check", "--format", "github", "top.cnn", cwd=tmp_path).stdout
    assert github.startswith("::error file=base.cnn,line=4,col=1::E303")


# --- writing ---------------------------------------------------------------------------------

def spec_here(tmp_path) -> Path:
    path = tmp_path / "net.cnn"
    path.write_text(SMALL)
    return path


def test_compile_refuses_to_overwrite_its_own_spec(tmp_path):
    spec = spec_here(tmp_path)
    run = cli("compile", spec, "--target", "numpy", "-o", spec)
    assert run.returncode == 2 and spec.read_text() == SMALL
    assert run.stderr.strip() == f"cnnspec: error: cannot write {spec}: refusing to overwrite the input {spec}"
    (tmp_path / "link.py").symlink_to(spec)
    assert cli("compile", spec, "--target", "numpy", "-o", tmp_path / "link.py").returncode == 2
    assert spec.read_text() == SMALL


def test_compile_refuses_to_overwrite_an_imported_spec(tmp_path):
    (tmp_path / "base.cnn").write_text(SMALL)
    (tmp_path / "top.cnn").write_text('input 8x8x1\nimport "base.cnn" as b\nuse b\n')
    assert cli("compile", "top.cnn", "--target", "numpy", "-o", "base.cnn", cwd=tmp_path).returncode == 2
    assert (tmp_path / "base.cnn").read_text() == SMALL


def test_compile_refuses_a_fifo_and_dev_null_as_output(tmp_path, fifo):
    spec = spec_here(tmp_path)
    run = cli("compile", spec, "--target", "numpy", "-o", fifo, timeout=20)
    assert run.returncode == 2 and "not a regular file (it is a FIFO)" in run.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    run = cli("compile", spec, "--target", "numpy", "-o", "/dev/null")  # as root it was replaced
    assert run.returncode == 2 and "not a regular file (it is a character device)" in run.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_compile_writes_through_a_symbolic_link(tmp_path):
    spec, target, link = spec_here(tmp_path), tmp_path / "real.py", tmp_path / "link.py"
    target.write_text("old\n")
    link.symlink_to(target.name)
    assert cli("compile", spec, "--target", "numpy", "-o", link).returncode == 0
    assert link.is_symlink() and os.readlink(link) == "real.py"
    assert target.read_text().startswith('"""') and "Small" in target.read_text()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_a_new_output_file_follows_the_umask(tmp_path, umask):
    spec, out = spec_here(tmp_path), tmp_path / "out.py"
    assert cli("compile", spec, "--target", "numpy", "-o", out, umask=umask).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode_and_hard_links_keep_the_old_text(tmp_path):
    spec, out, other = spec_here(tmp_path), tmp_path / "out.py", tmp_path / "other.py"
    out.write_text("old\n")
    os.chmod(out, 0o644)
    os.link(out, other)
    assert cli("compile", spec, "--target", "numpy", "-o", out, umask=0o077).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert "Small" in out.read_text()
    # documented (docs/cli.md): the name gets a new file; the other link keeps the old one
    assert other.read_text() == "old\n" and os.stat(other).st_nlink == 1


def test_write_atomic_takes_bytes_and_leaves_no_temporary_behind(tmp_path):
    out = tmp_path / "w.safetensors"
    write_atomic(out, b"\x00\x01binary")
    assert out.read_bytes() == b"\x00\x01binary"
    with pytest.raises(NotRegularFileError):
        write_atomic(tmp_path, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_a_full_disk_on_stdout_is_a_message_not_a_traceback():
    with open("/dev/full", "w") as full:
        for args in (("check", LENET), ("summary", LENET), ("compile", LENET, "--target", "torch")):
            run = cli(*args, stdout=full)
            assert run.returncode == 2, (args, run.stderr)
            assert run.stderr == "cnnspec: error: cannot write the output: No space left on device\n"


# --- the command line ------------------------------------------------------------------------

def test_subcommand_help_describes_every_argument_with_its_default():
    verify = " ".join(cli("verify", "--help").stdout.split())
    for text in ("FILE the .cnn spec file", "--seed SEED seed of the random weights and input (default: 0)",
                 "--batch BATCH how many random input samples to run (default: 2)",
                 "--targets TARGETS the backends to compare, comma-separated (default: numpy,torch,keras)",
                 "(default: float64)", "a text table or a JSON object (default: text)"):
        assert text in verify, text
    check = " ".join(cli("check", "--help").stdout.split())
    assert "the .cnn spec files to check" in check and "GitHub annotations (default: text)" in check


def test_abbreviated_options_are_refused():
    run = cli("check", "--form", "json", LENET)
    assert run.returncode == 2 and "unrecognized arguments: --form" in run.stderr
    assert cli("compile", LENET, "--targ", "numpy").returncode == 2


def test_an_option_given_twice_is_refused():
    run = cli("verify", LENET, "--targets", "numpy", "--targets", "torch")
    assert run.returncode == 2 and "--targets given more than once" in run.stderr
    run = cli("check", LENET, "--format", "json", "--format", "text")
    assert run.returncode == 2 and "--format given more than once" in run.stderr


def test_one_layer_is_singular(tmp_path):
    spec = spec_here(tmp_path)
    assert ": 1 layer, " in cli("check", spec).stdout
    run = cli("compile", spec, "--target", "numpy", "-o", tmp_path / "o.py")
    assert run.stderr.strip() == f"wrote {tmp_path / 'o.py'} (numpy, 1 layer)"
