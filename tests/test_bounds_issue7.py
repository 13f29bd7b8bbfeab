"""Issue 7, bounded work: imports read once, cycle vs depth vs self-import, unreadable import
paths, the symlink rule, and near-linear passes, proved by operation counts (not timings)."""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from cnnspec import checker, composition, expectations, freezing, suggestions
from cnnspec.api import analyse
from cnnspec.limits import MAX_IMPORT_DEPTH, MAX_STAGES, MAX_SUGGESTION_WORK
from cnnspec.source import SourceFile


def check(path) -> list:
    return analyse(SourceFile.read(path))[1]


def check_text(text: str, name: str = "t.cnn"):
    return analyse(SourceFile(name, text))


@pytest.fixture
def reads(monkeypatch):
    """Counts SourceFile.read calls by path."""
    counts: Counter = Counter()
    read = SourceFile.__dict__["read"].__func__

    def counted(cls, path):
        counts[os.path.basename(str(path))] += 1
        return read(cls, path)
    monkeypatch.setattr(SourceFile, "read", classmethod(counted))
    return counts


def levels(folder, n: int, times: int) -> None:
    """l0.cnn .. l{n-1}.cnn; each imports the next `times` times; the last is a clean base."""
    for k in range(n - 1):
        imports = "".join(f'import "l{k + 1}.cnn" as a{j}\n' for j in range(times))
        (folder / f"l{k}.cnn").write_text(imports + f"use a0\nd{k}: dense 2\n")
    (folder / f"l{n - 1}.cnn").write_text("input 4\ndense 2\n")


# --- each imported file is read and checked once per analysis -------------------------------

@pytest.mark.parametrize("n, times", [(14, 2), (10, 3)])
def test_every_imported_file_is_read_once(tmp_path, reads, monkeypatch, n, times):
    levels(tmp_path, n, times)
    checks = Counter()
    run = checker.Checker.run
    monkeypatch.setattr(checker.Checker, "run", lambda self: checks.update([self.source.name]) or run(self))
    diags = check(tmp_path / "l0.cnn")
    assert diags == []
    assert reads == Counter({f"l{k}.cnn": 1 for k in range(n)})  # 3**9 reads before the cache
    assert sorted(checks.values()) == [1] * n


def test_the_cached_base_serves_every_alias(tmp_path):
    (tmp_path / "base.cnn").write_text("input 4\nb1: dense 3\n")
    (tmp_path / "main.cnn").write_text('import "base.cnn" as a\nimport "base.cnn" as b\nuse b\nd: dense 2\n')
    net, diags = analyse(SourceFile.read(tmp_path / "main.cnn"))
    assert diags == [] and [(n.name, n.group) for n in net.layers] == [("b1", "b"), ("d", None)]


# --- cycle, depth, self-import --------------------------------------------------------------

def test_a_deep_chain_is_not_called_a_cycle(tmp_path):
    levels(tmp_path, 50, 1)
    [d] = check(tmp_path / "l0.cnn")
    assert d.code == "E206" and "cycle" not in d.message
    chain = " -> ".join(f"l{k}.cnn" for k in range(MAX_IMPORT_DEPTH + 2))
    assert d.message == (f"the imported spec 'l1.cnn' has errors: {tmp_path}/l16.cnn:1:1: "
                         f"imports nested more than {MAX_IMPORT_DEPTH} deep: {chain}")
    [inner] = check(tmp_path / f"l{50 - MAX_IMPORT_DEPTH - 2}.cnn")
    assert "nested more than 16 deep" in inner.message


def test_the_depth_limit_itself_is_allowed(tmp_path):
    levels(tmp_path, MAX_IMPORT_DEPTH + 1, 1)  # l0 imports 16 levels deep
    assert check(tmp_path / "l0.cnn") == []
    levels(tmp_path, MAX_IMPORT_DEPTH + 2, 1)
    assert [d.code for d in check(tmp_path / "l0.cnn")] == ["E206"]


def test_a_real_cycle_shows_the_chain(tmp_path):
    (tmp_path / "x.cnn").write_text('import "y.cnn" as b\nuse b\n')
    (tmp_path / "y.cnn").write_text('import "z.cnn" as b\nuse b\n')
    (tmp_path / "z.cnn").write_text('import "x.cnn" as b\nuse b\n')
    [d] = check(tmp_path / "x.cnn")
    assert d.code == "E206"
    assert d.message.endswith("z.cnn:1:1: import cycle: x.cnn -> y.cnn -> z.cnn -> x.cnn")


def test_a_self_import_says_so_on_its_own_line(tmp_path):
    (tmp_path / "me.cnn").write_text('input 4\nimport "me.cnn" as me\n')
    [d] = check(tmp_path / "me.cnn")
    assert (d.code, d.span.line, d.message) == ("E204", 2, "a spec cannot import itself ('me.cnn')")


# --- unreadable import paths: an E205 with the reason, never an OSError ----------------------

def test_a_too_long_import_name_is_e205(tmp_path):
    (tmp_path / "m.cnn").write_text(f'import "{"x" * 300}.cnn" as b\nuse b\n')
    [d] = check(tmp_path / "m.cnn")
    assert d.code == "E205" and d.message.endswith("': File name too long")


def test_a_folder_is_not_a_spec(tmp_path):
    (tmp_path / "base.cnn").mkdir()
    (tmp_path / "m.cnn").write_text('import "base.cnn" as b\nuse b\n')
    [d] = check(tmp_path / "m.cnn")
    assert (d.code, d.message) == ("E205", "cannot read imported spec 'base.cnn': not a regular file")


def test_a_missing_import_is_e205(tmp_path):
    (tmp_path / "m.cnn").write_text('import "none.cnn" as b\nuse b\n')
    assert [(d.code, d.message) for d in check(tmp_path / "m.cnn")] == [
        ("E205", "cannot read imported spec 'none.cnn': no such file")]


# --- a spec reached through a symlink imports from beside its real file --------------------

def test_imports_are_relative_to_the_real_file(tmp_path):
    real, elsewhere = tmp_path / "real", tmp_path / "elsewhere"
    real.mkdir()
    elsewhere.mkdir()
    (real / "base.cnn").write_text("input 4\nreal_base: dense 3\n")
    (real / "main.cnn").write_text('import "base.cnn" as b\nuse b\n')
    (elsewhere / "base.cnn").write_text("input 4\nother_base: dense 5\n")
    (elsewhere / "main.cnn").symlink_to(real / "main.cnn")
    net, diags = analyse(SourceFile.read(elsewhere / "main.cnn"))
    assert diags == [] and [n.name for n in net.layers] == ["real_base"]


# --- E206 quotes the base's first error, with the base's file and line -----------------------

def test_e206_names_the_first_error_of_the_base(tmp_path):
    # the layer error (line 3) is found before the freeze rule's (line 2); line 2 is first
    (tmp_path / "bad.cnn").write_text("input 8x8x1\nfreeze nosuch\nc1: conv 2 3x3x5\n")
    (tmp_path / "m.cnn").write_text('import "bad.cnn" as b\nuse b\n')
    [d] = check(tmp_path / "m.cnn")
    assert d.code == "E206"
    assert d.message.startswith(f"the imported spec 'bad.cnn' has errors: {tmp_path}/bad.cnn:2:")
    assert d.hint == f"run 'cnnspec check {tmp_path}/bad.cnn'"


# --- limits on files and characters imported --------------------------------------------------

def test_imported_files_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(composition, "MAX_IMPORTED_FILES", 3)
    levels(tmp_path, 6, 1)
    [d] = check(tmp_path / "l0.cnn")
    assert d.message.endswith("l3.cnn:1:1: more than 3 files imported")


def test_imported_text_is_bounded(tmp_path, monkeypatch, reads):
    monkeypatch.setattr(composition, "MAX_IMPORTED_TEXT", 40)
    levels(tmp_path, 6, 1)
    [d] = check(tmp_path / "l0.cnn")
    assert "the imported specs hold more than 40 characters" in d.message
    assert sum(reads.values()) < 6


# --- "did you mean": the first names get one, the total work is bounded ---------------------

@pytest.fixture
def compared(monkeypatch):
    """Names compared by the budgeted "did you mean" searches."""
    counts = Counter()
    search = suggestions.did_you_mean

    def counted(word, names):
        counts["searches"] += 1
        counts["names"] += len(names)
        return search(word, names)
    monkeypatch.setattr(suggestions, "did_you_mean", counted)
    return counts


@pytest.mark.parametrize("line", ["expect dense_x{k}.shape == 2", "freeze dense_x{k}"])
@pytest.mark.parametrize("n", [1000, 2000])
def test_unknown_names_do_bounded_work(compared, line, n):
    text = "input 8\n" + "dense 2\n" * n + "".join(line.format(k=k) + "\n" for k in range(1, n + 1))
    _net, diags = check_text(text)
    assert [d.code for d in diags] == ["E202"] * n
    assert diags[0].hint == "did you mean 'dense_1'?"  # the first names still get a suggestion
    assert compared["names"] <= MAX_SUGGESTION_WORK  # not n * n
    assert MAX_SUGGESTION_WORK // (n + 1) <= compared["searches"] <= MAX_SUGGESTION_WORK // n
    assert diags[-1].hint != diags[0].hint


def test_did_you_mean_does_not_depend_on_order():
    from cnnspec.args import did_you_mean
    names = [f"dense_{k}" for k in range(30)]
    assert did_you_mean("dense_x", names) == did_you_mean("dense_x", names[::-1]) is not None


def test_a_total_is_summed_once_however_many_expect_it(monkeypatch):
    calls = Counter()
    total = expectations.global_value
    monkeypatch.setattr(expectations, "global_value",
                        lambda nodes, attr: calls.update([attr]) or total(nodes, attr))
    _net, diags = check_text("input 8\ndense 2\n" + "expect params == 18\n" * 500)
    assert diags == [] and calls == Counter({"params": 1})


# --- freeze rules: ranges, not names; the result equals rule-by-rule application ---------

def test_overlapping_ranges_visit_each_layer_once(monkeypatch):
    visits = Counter()
    with_flags = freezing.Layout.with_flags
    monkeypatch.setattr(freezing.Layout, "with_flags",
                        lambda self, node, p, *a: visits.update([p]) or with_flags(self, node, p, *a))
    n = 400
    text = "input 8\n" + "dense 2\n" * n + "".join(f"freeze dense_{k}..dense_{n}\n" for k in range(1, n + 1))
    net, diags = check_text(text)
    assert [d.code for d in diags] == ["W502"] * (n - 1)
    assert diags[5].message == "'dense_7' is already frozen by an earlier rule"
    assert all(n.frozen for n in net.layers)
    assert visits == Counter(range(1, n + 1))  # n visits, not n * n / 2


def naive(rules, n):
    """Rule-by-rule application over names, as the checker did before: (flags, warnings)."""
    state, warnings = {}, []
    for freeze, scale, ranges in rules:
        picked = [p for lo, hi in ranges for p in range(lo, hi + 1)]
        frozen_now = [p for p in picked if state.get(p, (False,))[0]]
        if freeze and frozen_now:
            warnings.append(("W502", f"'l{frozen_now[0]}' is already frozen by an earlier rule"))
        if not freeze and scale == 1.0 and not frozen_now:
            warnings.append(("W503", "unfreeze of layers that no earlier rule froze"))
        for p in picked:
            state[p] = (freeze, scale)
    return [state.get(p, (False, 1.0)) for p in range(1, n + 1)], warnings


def random_rules(rng, n):
    rules = []
    for _ in range(rng.randint(1, 12)):
        points = sorted(rng.sample(range(1, n + 1), 2 * rng.randint(1, min(3, n // 2))))
        ranges = [(points[i], points[i + 1] if rng.random() < 0.8 else points[i])
                  for i in range(0, len(points), 2)]
        rng.shuffle(ranges)
        freeze = rng.random() < 0.6
        rules.append((freeze, 1.0 if freeze else rng.choice([1.0, 0.5]), ranges))
    return rules


def rule_line(freeze, scale, ranges):
    sels = ", ".join(f"l{lo}..l{hi}" if lo != hi else f"l{lo}" for lo, hi in ranges)
    return ("freeze " if freeze else "unfreeze ") + sels + ("" if scale == 1.0 else f" lr={scale}")


@pytest.mark.parametrize("seed", range(40))
def test_freeze_ranges_match_rule_by_rule_application(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 14)
    rules = random_rules(rng, n)
    text = "input 4\n" + "".join(f"l{k}: dense 2\n" for k in range(1, n + 1))
    net, diags = check_text(text + "".join(rule_line(*r) + "\n" for r in rules))
    flags, warnings = naive(rules, n)
    assert [(d.code, d.message) for d in diags] == warnings
    assert [(x.frozen, x.lr_scale) for x in net.layers] == flags


def test_a_selection_overlapping_an_earlier_one_of_its_rule():
    _net, diags = check_text("input 4\n" + "".join(f"l{k}: dense 2\n" for k in range(1, 9))
                             + "freeze l5..l7, l2..l3, l3..l6\n")
    assert [(d.code, d.message) for d in diags] == [("E502", "'l3' is selected twice in one rule")]


# --- stages and layers are bounded ---------------------------------------------------------

def test_stages_past_the_limit_are_one_error_and_not_applied(monkeypatch):
    applied = Counter()
    apply = freezing.apply_freeze_rules
    from cnnspec import stages
    monkeypatch.setattr(stages, "apply_freeze_rules", lambda *a: applied.update(["rule set"]) or apply(*a))
    text = "input 8\n" + "dense 2\n" * 50 + "".join(f"stage s{k}\nfreeze dense_1..dense_50\n"
                                                     for k in range(500))
    _net, diags = check_text(text)
    assert [(d.code, d.span.line, d.message) for d in diags] == [
        ("E004", 51 + 2 * MAX_STAGES + 1, f"more than {MAX_STAGES} stages")]
    assert applied["rule set"] == MAX_STAGES + 1  # the common rules, then each stage's


def test_layers_past_the_limit_are_one_error(monkeypatch):
    monkeypatch.setattr(checker, "MAX_LAYERS", 10)
    net, diags = check_text("input 8\n" + "relu\n" * 11)
    assert net is None
    assert [(d.code, d.span.line, d.message) for d in diags] == [("E004", 12, "more than 10 layers")]
    assert check_text("input 8\n" + "relu\n" * 10)[1] == []
