"""`cnnspec diff OLD NEW` (issue 10): layers added, removed, changed; deltas; every format.

The expected figures come from elsewhere than spec_diff: the two networks' own totals
(cnnspec.load), closed-form parameter counts of the edited bottleneck, and the edit itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnspec
from cnnspec import diff_view, spec_diff
from cnnspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
RESNET = ROOT / "specs/zoo/resnet50.cnn"
FINETUNE = ROOT / "specs/transfer_finetune.cnn"
TWO_HEADS = ROOT / "specs/two_heads.cnn"
LENET = ROOT / "specs/lenet5.cnn"
WIDER = ("conv filters 3x3 pad=1", "conv filters+8 3x3 pad=1")  # the bottleneck's middle conv
STAGES = {"conv2": (64, 3), "conv3": (128, 4), "conv4": (256, 6), "conv5": (512, 3)}


def without_expects(text: str) -> str:
    """An edit changes the counts the spec's own `expect` lines state: drop them."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("expect"))


def replace_once(text: str, old: str, new: str | None) -> str:
    """`old` replaced by `new` once, blanks in `old` matching any run of blanks (the specs are
    aligned by `cnnspec fmt`); new=None deletes the line that starts with `old`."""
    pattern = r"[ \t]+".join(map(re.escape, old.split(" ")))
    if new is None:
        pattern, new = rf"^{pattern}.*\n", ""
    assert re.search(pattern, text, flags=re.MULTILINE), old
    return re.sub(pattern, lambda m: new, text, count=1, flags=re.MULTILINE)


@pytest.fixture
def edited(tmp_path):
    """edited(spec, (old, new), ...) -> path of a copy with each replacement made once."""
    def make(spec: Path, *edits: tuple[str, str | None], keep_expects: bool = False) -> Path:
        text = spec.read_text()
        for old, new in edits:
            text = replace_once(text, old, new)
        for sibling in spec.parent.glob("*.cnn"):  # what it imports
            (tmp_path / sibling.name).write_text(sibling.read_text())
        path = tmp_path / f"new_{spec.name}"
        path.write_text(text if keep_expects else without_expects(text))
        return path
    return make


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["diff", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def diff_files(old: Path, new: Path) -> dict:
    return spec_diff.diff(cnnspec.load(old), cnnspec.load(new))


# --- the same spec ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [RESNET, FINETUNE, TWO_HEADS, LENET])
def test_a_spec_against_itself_is_empty_in_every_format(capsys, spec):
    code, out, _ = run(capsys, spec, spec)
    assert code == 0 and out.rstrip().endswith("no differences")
    code, out, _ = run(capsys, spec, spec, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["added"] == data["removed"] == data["changed"] == data["instances"] == []
    assert all(d == 0 for _, _, d in data["totals"].values())
    code, out, _ = run(capsys, spec, spec, "--format", "markdown")
    assert code == 0 and "No differences." in out and "|" not in out


def test_comments_and_line_moves_are_no_difference(capsys, tmp_path):
    moved = tmp_path / "lenet.cnn"
    moved.write_text("# a new first comment\n\n" + LENET.read_text().replace(
        "# 400 x 120 + 120 = 48,120", ""))
    assert run(capsys, LENET, moved)[0] == 0


# --- a changed block definition --------------------------------------------------------------

def test_a_wider_bottleneck_changes_every_instance(edited):
    result = diff_files(RESNET, edited(RESNET, WIDER))
    changed = {e["name"]: e["changes"] for e in result["changed"]}
    instances = [f"{stage}.{i}" for stage, (_, n) in STAGES.items() for i in range(n)]
    assert len(instances) == 16
    for name in instances:
        filters = STAGES[name.split(".")[0]][0]
        assert changed[f"{name}.conv2"]["options.filters"] == [filters, filters + 8]
        assert changed[f"{name}.conv2"]["output_shape"][1][-1] == filters + 8
        assert changed[f"{name}.bn2"]["output_shape"][1][-1] == filters + 8
        assert "options.filters" not in changed[f"{name}.conv3"]  # its input grew, not it
    assert set(changed) == {f"{i}.{layer}" for i in instances for layer in ("conv2", "bn2", "conv3")}
    assert result["added"] == result["removed"] == []


def test_totals_delta_is_the_difference_of_the_two_networks(edited):
    old, new = cnnspec.load(RESNET), cnnspec.load(edited(RESNET, WIDER))
    totals = spec_diff.diff(old, new)["totals"]
    assert totals["params"] == [old.total_params, new.total_params,
                                new.total_params - old.total_params]
    assert totals["trainable_params"][2] == new.trainable_params - old.trainable_params
    assert totals["macs"][2] == new.macs - old.macs
    assert old.total_params == 25_636_712 and totals["params"][2] > 0


def test_each_instance_total_grows_by_the_closed_form(edited):
    """conv2 3x3 f->f+8 filters: 72f+8; bn2: 4x8; conv3 1x1 reads 8 more channels: 4f x 8."""
    deltas = {e["name"]: e["params_delta"] for e in diff_files(RESNET, edited(RESNET, WIDER))["instances"]}
    for stage, (f, n) in STAGES.items():
        per_instance = 72 * f + 8 + 32 + 32 * f
        assert all(deltas[f"{stage}.{i}"] == per_instance for i in range(n))
        assert deltas[stage] == n * per_instance


def test_layer_deltas_add_up_to_the_total(edited):
    result = diff_files(RESNET, edited(RESNET, WIDER))
    assert sum(e["params_delta"] for e in result["changed"]) == result["totals"]["params"][2]
    assert sum(e["macs_delta"] for e in result["changed"]) == result["totals"]["macs"][2]


# --- added, removed, rewired -----------------------------------------------------------------

def test_added_and_removed_layers(capsys, edited):
    new = edited(LENET, ("f6: dense 84 -> sigmoid", "f6: dense 84 -> sigmoid\ndrop: dropout 0.5"),
                 ("s2: avgpool 2x2 stride=2", "s2: maxpool 2x2 stride=2"))
    result = diff_files(LENET, new)
    assert [e["name"] for e in result["added"]] == ["drop"]
    assert result["added"][0]["kind"] == "dropout" and result["added"][0]["output_shape"] == [84]
    changed = {e["name"]: e["changes"] for e in result["changed"]}
    assert changed["out"]["inputs"] == [["f6"], ["drop"]]
    assert changed["s2"]["options.op"] == ["avg", "max"]
    assert result["totals"]["layers"] == [8, 9, 1]
    reverse = diff_files(new, LENET)
    assert [e["name"] for e in reverse["removed"]] == ["drop"]
    code, out, _ = run(capsys, LENET, new)
    assert code == 1
    assert re.search(r"^  \+ drop  dropout  84  params \+0", out, re.MULTILINE)
    assert re.search(r"^  ~ out  inputs f6 -> drop", out, re.MULTILINE)


def test_removing_a_weighted_layer(edited):
    new = edited(LENET, ("f6: dense 84 -> sigmoid", None))
    result = diff_files(LENET, new)
    assert [(e["name"], e["params"]) for e in result["removed"]] == [("f6", 10164)]
    out = {e["name"]: e for e in result["changed"]}["out"]
    assert out["changes"]["params"] == [850, 1210] and out["params_delta"] == 360
    assert result["totals"]["params"][2] == 360 - 10164


def test_a_rewired_from(edited):
    new = edited(TWO_HEADS, ("flat:    flatten from=pool2", "flat:    flatten from=pool1"))
    result = diff_files(TWO_HEADS, new)
    changed = {e["name"]: e for e in result["changed"]}
    assert set(changed) == {"flat", "box"}
    assert changed["flat"]["changes"]["inputs"] == [["pool2"], ["pool1"]]
    assert changed["flat"]["changes"]["output_shape"] == [[8192], [16384]]
    assert changed["box"]["params_delta"] == 4 * (16384 - 8192)
    assert "inputs" not in changed["box"]["changes"]


def test_outputs_and_stages(edited):
    new = edited(FINETUNE, ("unfreeze conv2 lr=0.1", "unfreeze conv2"))
    result = diff_files(FINETUNE, new)
    assert result["stages"] == {}  # the learning rate, not the count, changed; in stage 2 only
    new = edited(FINETUNE, ("unfreeze conv2 lr=0.1", "unfreeze conv1"))
    stages = diff_files(FINETUNE, new)["stages"]
    assert stages == {"finetune": [8933, 4293 + 160, 4293 + 160 - 8933]}
    assert main(["diff", str(FINETUNE), str(new)]) == 1


# --- formats ---------------------------------------------------------------------------------

def test_json_object(capsys, edited):
    new = edited(TWO_HEADS, ("classes: dense 10", "classes: dense 12"))
    code, out, _ = run(capsys, TWO_HEADS, new, "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["old"] == str(TWO_HEADS) and data["new"] == str(new)
    assert data["changed"] == [{"name": "classes", "line": 13, "changes": {
        "output_shape": [[10], [12]], "params": [330, 396], "trainable_params": [330, 396],
        "macs": [320, 384], "options.units": [10, 12]}, "params_delta": 66, "macs_delta": 64}]
    assert data["totals"]["params"] == [38190, 38256, 66]


def test_markdown_table_rows(capsys, edited):
    new = edited(LENET, ("out: dense 10", "out: dense 12"), ("c1: conv 6 5x5 pad=2 -> sigmoid", None))
    code, out, _ = run(capsys, LENET, new, "--format", "markdown")
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert "| `c1` | removed (conv) | 28x28x6 | -156 | -117,600 |" in rows
    assert any(r.startswith("| `out` | units 10 -> 12 | 10 → 12 | +170 |") for r in rows)
    assert "| params | 61,706 |" in out
    assert all(r.count("|") == 6 for r in rows)


# --- bad input -------------------------------------------------------------------------------

def test_unreadable_file_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, LENET, tmp_path / "missing.cnn")
    assert code == 2 and out == "" and "cannot read" in err


def test_a_spec_with_errors_exits_2_with_its_diagnostics(capsys, tmp_path):
    bad = tmp_path / "bad.cnn"
    bad.write_text("input 28x28x1\nc1: conv 6 3x3x4\n")
    code, out, err = run(capsys, bad, LENET, "--format", "json")
    assert code == 2 and out == ""
    assert "bad.cnn:2" in err and "error" in err and "nothing to compare" in err


def test_diff_imports_no_framework():
    code = ("import sys; from cnnspec.cli import main; main(['diff', 'specs/lenet5.cnn', "
            "'specs/lenet5.cnn']); print(sorted(m for m in ('torch', 'tensorflow', 'keras', "
            "'pydantic') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.strip().endswith("[]"), done.stderr


# --- properties over pairs of shipped specs --------------------------------------------------

PAIRED = [*sorted((ROOT / "specs").glob("*.cnn")), ROOT / "specs/zoo/resnet18.cnn",
          RESNET, ROOT / "specs/zoo/resnet50v2.cnn", ROOT / "specs/zoo/squeezenet.cnn"]


@pytest.fixture(scope="module")
def networks():
    return {path.name: cnnspec.load(path) for path in PAIRED}


def test_any_two_specs_deltas_add_up_and_mirror(networks):
    """For every ordered pair: the totals are the networks' own, the layer deltas add up to
    them, and diff(b, a) is diff(a, b) mirrored (added <-> removed, deltas negated)."""
    for a in networks.values():
        for b in networks.values():
            forward, back = spec_diff.diff(a, b), spec_diff.diff(b, a)
            assert spec_diff.is_empty(forward) == (a is b)
            assert forward["totals"]["params"] == [a.total_params, b.total_params,
                                                   b.total_params - a.total_params]
            layer_sum = (sum(e["params_delta"] for e in forward["changed"])
                         + sum(e["params"] for e in forward["added"])
                         - sum(e["params"] for e in forward["removed"]))
            assert layer_sum == forward["totals"]["params"][2]
            assert back["added"] == forward["removed"] and back["removed"] == forward["added"]
            assert sorted((e["name"], -e["macs_delta"]) for e in forward["changed"]) == \
                sorted((e["name"], e["macs_delta"]) for e in back["changed"])
            json.dumps(forward)  # plain JSON values throughout
            assert diff_view.text(forward) and diff_view.markdown(forward)


def lenet_params(k1: int, k3: int) -> dict[str, int]:
    """LeNet-5's weighted layers with k1 and k3 filters, counted by hand (5x5 kernels)."""
    return {"c1": 25 * k1 + k1, "c3": 25 * k1 * k3 + k3, "f5": 25 * k3 * 120 + 120}


@settings(max_examples=25, deadline=None)
@given(k1=st.integers(1, 40), k3=st.integers(1, 40))
def test_lenet_filter_counts_against_hand_counts(k1, k3):
    text = without_expects(LENET.read_text())
    new_text = replace_once(replace_once(text, "c1: conv 6 5x5", f"c1: conv {k1} 5x5"),
                            "c3: conv 16 5x5", f"c3: conv {k3} 5x5")
    result = spec_diff.diff(cnnspec.loads(text, "old.cnn"), cnnspec.loads(new_text, "new.cnn"))
    old, new = lenet_params(6, 16), lenet_params(k1, k3)
    expected = {name for name in old if old[name] != new[name]}
    expected |= {"s2"} if k1 != 6 else set()
    expected |= {"s4", "flatten_1"} if k3 != 16 else set()
    changed = {e["name"]: e for e in result["changed"]}
    assert set(changed) == expected
    for name in old.keys() & changed.keys():
        assert changed[name]["params_delta"] == new[name] - old[name]
    assert result["totals"]["params"][2] == sum(new.values()) - sum(old.values())


def test_network_facts_and_warnings(capsys, tmp_path):
    old, new = tmp_path / "a.cnn", tmp_path / "b.cnn"
    old.write_text('network A "x"\ninput 28x28x1\nc: conv 6 3x3 stride=2\n')
    new.write_text('network B "x"\ninput 28x28x1\nc: conv 6 3x3 stride=2\n')
    code, out, err = run(capsys, old, new, "--format", "json")
    assert code == 1 and json.loads(out)["network"] == {"name": ["A", "B"]}
    assert err.count("warning[W301]") == 2
    code, out, _ = run(capsys, old, new, "--format", "markdown")
    assert "- network name A -> B\n\n| Total |" in out


def test_long_markdown_tables_are_folded_under_the_totals(capsys, edited):
    code, out, _ = run(capsys, RESNET, edited(RESNET, WIDER), "--format", "markdown")
    assert code == 1
    assert out.index("| params | 25,636,712 |") < out.index("<details><summary>48 layers changed")
    assert "<details><summary>20 block instances changed</summary>" in out
    assert out.count("<details>") == out.count("</details>") == 2


def test_text_names_each_changed_instance(capsys, edited):
    code, out, _ = run(capsys, RESNET, edited(RESNET, WIDER))
    assert code == 1
    assert "Block instances changed (20):" in out
    assert re.search(r"^  conv3\.1  changed; params \+13,352; MACs \+", out, re.MULTILINE)
    assert re.search(r"^  ~ conv5\.2\.conv2  filters 512 -> 520; output_shape 7x7x512 -> 7x7x520",
                     out, re.MULTILINE)


def test_spec_text_is_escaped_for_the_terminal(capsys, tmp_path):
    old, new = tmp_path / "a.cnn", tmp_path / "b.cnn"
    old.write_text('network A "plain"\ninput 8\nd: dense 2\n')
    new.write_text('network A "bell\x07 and \x1b[31mred"\ninput 8\nd: dense 2\n')
    for form in ("text", "markdown"):
        code, out, _ = run(capsys, old, new, "--format", form)
        assert code == 1 and "\x1b" not in out and "\x07" not in out


def test_unfreezing_shows_per_layer_and_per_stage(edited):
    new = edited(FINETUNE, ("freeze base", None))
    result = diff_files(FINETUNE, new)
    frozen = {e["name"]: e["changes"]["frozen"] for e in result["changed"]}
    assert frozen == {"conv1": [True, False], "bn1": [True, False], "conv2": [True, False]}
    moving = sum(w.size for n in cnnspec.load(new).nodes for w in n.weights if not w.trainable)
    assert moving == 32  # bn1's 16 moving means and variances
    assert result["stages"]["feature_extraction"] == [4293, 4293 + 4864 - moving, 4864 - moving]
    assert all(e["params_delta"] == 0 for e in result["changed"])


def test_help_and_bad_usage(capsys):
    with pytest.raises(SystemExit) as done:
        main(["diff", "--help"])
    assert done.value.code == 0 and "{text,json,markdown}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["diff", str(LENET)])  # NEW missing
    assert done.value.code == 2
