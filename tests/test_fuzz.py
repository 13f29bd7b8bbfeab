"""Hostile input never crashes the parser, the checker or the CLI: it gets located diagnostics.

Random text, token soup made of the grammar's own words, real specs with lines and characters
deleted, duplicated and swapped, huge numbers, deep parentheses, very long lines, NUL bytes and
binary garbage all go through `analyse`, which must return (never raise) and, when it builds
no network, say why with at least one diagnostic at line >= 1, col >= 1.

Grammar-aware mutants of the shipped specs (tests/spec_mutations.py: kinds, options, values of
the right and wrong types, names, expect/freeze references, stages, imports) run by the
thousand; `python scripts/fuzz.py` is the large run, with a per-input time limit.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from soundness import assert_sound
from spec_mutations import mutant, scratch_folder

from cnnspec.api import analyse
from cnnspec.cli import main
from cnnspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn"))
SPEC_TEXTS = [p.read_text() for p in SPECS]

WORDS = ["network", "input", "expect", "freeze", "unfreeze", "stage", "import", "as", "use",
         "until", "conv", "maxpool", "avgpool", "globalavgpool", "globalmaxpool", "flatten",
         "zeropad", "dense", "batchnorm", "dropout", "relu", "leaky_relu", "sigmoid", "tanh",
         "softmax", "linear", "activation", "stride", "pad", "padding", "dilation", "groups",
         "bias", "round", "floor", "ceil", "count_include_pad", "out", "units", "alpha", "eps",
         "momentum", "rate", "lr", "same", "valid", "true", "false", "shape", "params",
         "trainable_params", "macs", "c1", "x", "input.shape"]
NUMBERS = ["0", "1", "2", "3", "-1", "28", "0.5", "1e-3", "3x3", "28x28x1", "?x?", "3x3x4",
           "1x1", "2x2", "0x0", "10" * 15, "1" + "0" * 40, "5x5x16", "?", "1_000", ".5", "7e400"]
PUNCT = [":", "=", "==", "<=", "!=", "<", ">", "->", "(", ")", ",", ".", "..", "-", "#", '"',
         '"a.cnn"', "\n", "\n", "\n", "  ", "\t", "\\\n", "\r\n"]
TOKENS = WORDS + NUMBERS + PUNCT


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=300))
def test_random_text(text):
    assert_sound(text)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_token_soup(text):
    assert_sound(text)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_without_spaces(text):
    assert_sound(text)


def _mutate(text: str, data) -> str:
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "swap", "char-del", "char-ins",
                                        "char-dup", "token"]))
        line = lines[i]
        k = data.draw(st.integers(0, len(line)))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, line)
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "char-del":
            lines[i] = line[:k] + line[k + 1:]
        elif op == "char-ins":
            lines[i] = line[:k] + data.draw(st.characters()) + line[k:]
        elif op == "char-dup":
            lines[i] = line[:k] + line[k: k + 3] * 2 + line[k + 3:]
        else:
            lines[i] = line[:k] + " " + data.draw(st.sampled_from(TOKENS)) + " " + line[k:]
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SPEC_TEXTS), st.data())
def test_mutated_specs(text, data):
    assert_sound(_mutate(text, data), str(ROOT / "specs" / "mutated.cnn"))


HUGE = st.one_of(st.integers(-(10**40), 10**40).map(str),
                 st.sampled_from(["1" + "0" * 30, "9" * 400, "9" * 5000, "1e308", "1e309", "0",
                                  "-0", "00000000000000000000001", "1_" * 50 + "1"]))
TEMPLATES = [
    "input {0}x{0}x1\nc: conv 6 3x3\n",
    "input 28x28x1\nc: conv {0} 3x3\n",
    "input 28x28x1\nc: conv 6 {0}x{0}\n",
    "input 28x28x1\nc: conv 6 3x3 stride={0} pad={0} dilation={0}\n",
    "input 28x28x1\nc: conv 6 3x3 groups={0}\n",
    "input 28x28x1\np: maxpool {0}x{0} stride={0}\n",
    "input {0}\nd: dense {0}\ne: dense {0}\n",
    "input 28x28x1\nzeropad ({0}, {0}, {0}, {0})\n",
    "input 4x4x2\nbn: batchnorm eps={0} momentum={0}\nd: dropout {0}\n",
    "input 28x28x1\nc: conv 6 3x3\nexpect params == {0}\nexpect c.shape == {0}x{0}x{0}\n",
    "input 28x28x1\nc: conv 6 ?x? out={0}x{0}x6\n",
    "input 28x28x1\nc: conv 6 3x3 stride=? out={0}x{0}x6\n",
    "input 28x28x1\nc: conv 6 3x3\nunfreeze c lr={0}\n",
    "input 28x28x1\nl: leaky_relu alpha={0}\n",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TEMPLATES), HUGE)
def test_huge_and_odd_numbers(template, number):
    assert_sound(template.format(number))


PATHOLOGICAL = {
    "deep-parens": "input 28x28x1\nzeropad " + "(" * 20_000 + "1" + ")" * 20_000 + "\n",
    "unclosed": "input 28x28x1\nzeropad " + "(" * 5000 + "\n",
    "deep-expect": "input 28x28x1\nexpect params == " + "(" * 2000 + "1" + ")" * 2000 + "\n",
    "many-options": "input 28x28x1\nc: conv 6 3x3 " + "pad=1 " * 3000 + "\n",
    "long-name": "input 28x28x1\n" + "c" * 200_000 + "\n",
    "many-layers": "input 28x28x1\n" + "relu\n" * 3000,
    "many-comments": "input 28x28x1\n" + "# comment\n" * 10_000,
    "continuations": "input 28x28x1\n" + "\\\n" * 1000 + "relu\n",
    "growing": "input 2x2x1\n" + "zeropad 1\n" * 2000,
    "long-dims": "input 1" + "x1" * 5000 + "\n",
    "digits": "input 28x28x1\nc: conv " + "9" * 5000 + " 3x3 out=" + "9" * 5000 + "x1x1\n",
    "control": "input 28x28x1\n\x00\x01\x02conv",
    "nuls": "\x00" * 100,
    "bom": "\ufeffinput 28x28x1\nrelu\n",
    "crlf-after-comment": "network # \r\n",  # a caret past the end of the shown line
    "crlf": "input 28x28x1\r\nc: conv 6 3x3\r\n",
    "cr": "input 28x28x1\rc: conv 6 3x3\r",
    "u2028": "input 28x28x1\n\u2028c: conv 6 3x3\n",
    "big-rule": "input 28x28x1\nc: conv 6 3x3\nfreeze c..c, c\nunfreeze "
                + ", ".join(["c"] * 500) + "\n",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_inputs(text):
    assert_sound(text)


def test_too_large_file_is_refused():
    network, diags = analyse(SourceFile("big.cnn", "input 28x28x1\n" + "#" * 1_000_000))
    assert network is None and [d.code for d in diags] == ["E003"]


@FAST
@given(st.binary(max_size=300))
def test_binary_garbage(blob):
    assert_sound(blob.decode("utf-8", errors="replace"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=200), fmt=st.sampled_from(["text", "json", "github"]))
def test_cli_main_never_raises(tmp_path, capsys, blob, fmt):
    path = tmp_path / "garbage.cnn"
    path.write_bytes(blob)
    assert main(["check", "--format", fmt, str(path)]) in (0, 1)
    assert main(["summary", str(path)]) in (0, 1)
    capsys.readouterr()


def test_cli_process_never_prints_a_traceback(tmp_path):
    files = []
    hostile = [b"\x89PNG\r\n\x1a\n\x00\x00\rIHDR", bytes(range(256)) * 4, b"", b"\xff\xfe\x00",
               b"input 28x28x1\nzeropad " + b"(" * 50_000 + b"\n",
               b"input 28x28x1\nc: conv 1" + b"0" * 40 + b" 3x3\n", b"input 0x0x0\n",
               "input 28x28x1\nc: conv 6 3x3 -> relu \u00e9\u6f22\n".encode()]
    for i, blob in enumerate(hostile):
        path = tmp_path / f"hostile_{i}.cnn"
        path.write_bytes(blob)
        files.append(str(path))
    for args in (["check", *files], ["check", "--format", "json", *files],
                 ["check", "--format", "github", *files], ["summary", files[4]]):
        run = subprocess.run([sys.executable, "-m", "cnnspec", *args], capture_output=True,
                             text=True, timeout=60, cwd=ROOT, check=False)
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stdout + run.stderr


# --- grammar-aware mutation of the shipped specs (tests/spec_mutations.py) ----------------

MUTANTS = 3000  # seeds 0..MUTANTS-1, in chunks; scripts/fuzz.py runs the large version
CHUNK = 500
CLI_EVERY = 25  # one mutant in 25 also goes through `check` and `summary` in-process


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return scratch_folder(tmp_path_factory.mktemp("mutants"))


@pytest.mark.parametrize("first", range(0, MUTANTS, CHUNK))
def test_grammar_aware_mutants(first, scratch, capsys):
    path = scratch / "mutant.cnn"
    checked = set()
    for seed in range(first, first + CHUNK):
        text = mutant(random.Random(seed), SPEC_TEXTS)
        path.write_text(text)
        assert_sound(text, str(path))
        checked.add(text)
        if seed % CLI_EVERY == 0:
            assert main(["check", str(path)]) in (0, 1), seed
            assert main(["summary", str(path)]) in (0, 1), seed
            capsys.readouterr()
    assert len(checked) > CHUNK * 0.9  # the mutants are not a handful of repeats


def test_mutants_reach_the_checker_not_only_the_parser(scratch):
    """Most mutants parse, so the checker's passes are what they exercise: many codes occur,
    and some mutants stay clean (and then go through summary and the renderers)."""
    codes, clean, syntax = set(), 0, 0
    for seed in range(600):
        text = mutant(random.Random(seed), SPEC_TEXTS)
        (scratch / "mutant.cnn").write_text(text)
        network, diags = analyse(SourceFile(str(scratch / "mutant.cnn"), text))
        codes |= {d.code for d in diags}
        syntax += any(d.code == "E001" for d in diags)
        clean += network is not None and not any(d.severity == "error" for d in diags)
    assert syntax < 600 * 0.5 and clean >= 15
    assert {"E101", "E102", "E103", "E104", "E106", "E107", "E201", "E202", "E203", "E205",
            "E206", "E207", "E305", "E401", "E402", "W301"} <= codes


def test_large_run_script_reports_exceptions_hangs_and_reproducers(tmp_path, monkeypatch, capsys):
    """scripts/fuzz.py on a few inputs: an input that raises and one that hangs (planted in
    the code the forked workers run) are counted, and their reproducers saved."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    fuzz = importlib.import_module("fuzz")
    real = fuzz.run_one

    def planted(seed, text, cli, tally):
        if seed == 3:
            raise ZeroDivisionError("planted")
        if seed == 5:
            time.sleep(5)
        real(seed, text, cli, tally)

    monkeypatch.setattr(fuzz, "run_one", planted)  # the forked workers inherit it
    out = tmp_path / "found"
    code = fuzz.main(["--count", "40", "--workers", "1", "--per-input", "0.5", "--save", str(out)])
    report = capsys.readouterr().out
    assert code == 1
    assert "inputs: 40 in" in report and "exceptions: 1, failed checks: 0, hangs: 1" in report
    assert "1 x exception: ZeroDivisionError" in report
    assert sorted(p.name for p in out.iterdir()) == ["exception_seed3", "hang_seed5"]
    saved = (out / "exception_seed3" / "mutant.cnn").read_text()
    assert saved == fuzz.mutant_text(3) and (out / "hang_seed5" / "FINDING.txt").exists()
