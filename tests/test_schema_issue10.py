"""JSON Schemas of the reports (issue 10): `cnnspec schema`, cnnspec/schemas/, report_models.

Every JSON report the commands print (check, summary with its options, diff, verify) on every
shipped spec, on broken ones (grammar-aware mutants) and on real edits is validated by the
`jsonschema` package's Draft 2020-12 validator: an implementation of the standard that is not
ours. The schemas forbid unknown keys, so a key added to a report without its model fails
here; and mutated reports show that the schemas reject what they should.
"""

from __future__ import annotations

import copy
import io
import json
import random
import runpy
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from spec_mutations import mutant, scratch_folder

import cnnspec
from cnnspec import report_schemas
from cnnspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs/zoo").glob("*.cnn"))
SMALL = [ROOT / "specs/lenet5.cnn", ROOT / "specs/two_heads.cnn"]
VALIDATORS = {name: jsonschema.Draft202012Validator(
    report_schemas.schema(name), format_checker=jsonschema.FormatChecker())
    for name in report_schemas.NAMES}


def assert_valid(name: str, report: dict) -> None:
    errors = sorted(VALIDATORS[name].iter_errors(report), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{name} report at {list(e.absolute_path)}: {e.message[:300]}"
                                 for e in errors[:5])


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


def reports(capsys, *args) -> list[dict]:
    """The JSON objects a command prints (check prints one per line, the others one)."""
    code, out = cli(capsys, *args)
    assert code in (0, 1), out
    if args[0] == "check":
        return [json.loads(line) for line in out.splitlines()]
    return [json.loads(out)]


# --- the shipped files -------------------------------------------------------------------

def test_shipped_schemas_are_what_the_models_generate():
    from cnnspec.report_models import REPORTS
    gen = runpy.run_path(str(ROOT / "scripts/gen_schemas.py"), run_name="gen_schemas")
    assert gen["stale"]() == []
    # the models' reports are the shipped ones (report_schemas.NAMES names them without pydantic)
    assert tuple(REPORTS) == report_schemas.NAMES
    assert sorted(p.name for p in report_schemas.FOLDER.iterdir()) == sorted(
        f"{name}.schema.json" for name in report_schemas.NAMES)
    for name in report_schemas.NAMES:
        shipped = report_schemas.path(name).read_text()
        assert shipped == gen["rendered"](name)
        jsonschema.Draft202012Validator.check_schema(json.loads(shipped))


def test_schema_command_prints_the_shipped_files(capsys):
    for name in report_schemas.NAMES:
        code, out = cli(capsys, "schema", name)
        assert code == 0 and out == report_schemas.path(name).read_text()
    code, out = cli(capsys, "schema")
    assert code == 0
    assert json.loads(out) == {n: json.loads(report_schemas.path(n).read_text())
                               for n in report_schemas.NAMES}


def test_unknown_report_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["schema", "table"])
    assert exit_.value.code == 2 and "invalid choice: 'table'" in capsys.readouterr().err


def test_static_commands_import_no_pydantic_or_jsonschema(tmp_path):
    """check, summary, fmt, diff, compile and schema in one fresh interpreter: none loads
    pydantic (nor a framework); the report API loads pydantic when asked to parse."""
    spec = tmp_path / "lenet5.cnn"
    spec.write_text((ROOT / "specs/lenet5.cnn").read_text())
    commands = [["check", "--format", "json", spec], ["summary", "--format", "json", spec],
                ["summary", "--receptive", spec], ["fmt", "--check", spec],
                ["diff", spec, ROOT / "docs/examples/lenet5_wider.cnn"],
                ["compile", spec, "--target", "torch"], ["schema"], ["schema", "summary"]]
    script = (
        "import contextlib, io, sys\nfrom cnnspec.cli import main\n"
        f"for argv in {[[str(a) for a in c] for c in commands]!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n        main(argv)\n"
        "heavy = ('pydantic', 'jsonschema', 'torch', 'tensorflow', 'keras')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import cnnspec.report_schemas as r, json\n"
        "r.parse('check', json.dumps(r.schema('check') and {'file': 'x', 'network': None, "
        "'input_shape': None, 'layers': [], 'total_params': None, 'trainable_params': None, "
        "'non_trainable_params': None, 'macs': None, 'outputs': [], 'instances': [], "
        "'diagnostics': [{'code': 'E001', 'severity': 'error', 'file': 'x', 'message': 'm', "
        "'line': 1, 'col': 1, 'end_line': 1, 'end_col': 2}], 'ok': False}))\n"
        "print('pydantic' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[]", "True"]


# --- every report validates --------------------------------------------------------------

def test_check_json_of_every_shipped_spec(capsys):
    found = reports(capsys, "check", "--format", "json", *SPECS)
    assert [r["file"] for r in found] == [str(s) for s in SPECS]
    for report in found:
        assert_valid("check", report)


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_summary_json_of_every_shipped_spec(spec, capsys):
    (report,) = reports(capsys, "summary", "--format", "json", spec)
    assert_valid("summary", report)
    assert report == cnnspec.summary(spec).to_dict()  # the API's dict: the same, so valid


@pytest.mark.parametrize("options", [
    ["--receptive", "--batch", "8", "--dtype", "float16"], ["--depth", "2"], ["--expand"],
    ["--stage", "finetune"], ["--stage", "feature_extraction", "--receptive", "--dtype", "float64"],
])
def test_summary_json_with_its_options(options, capsys):
    """On the spec with stages, and (options without --stage) on the U-Net (fractional jumps
    after upsampling) and ConvNeXt (layer scales, nested blocks)."""
    specs = [ROOT / "specs/transfer_finetune.cnn"]
    if "--stage" not in options:
        specs += [ROOT / "specs/zoo/unet.cnn", ROOT / "specs/zoo/convnexttiny.cnn"]
    for spec in specs:
        (report,) = reports(capsys, "summary", "--format", "json", *options, spec)
        assert_valid("summary", report)
        if "--stage" in options:
            assert report["stage"] == options[options.index("--stage") + 1]
        if "--dtype" in options:
            assert report["dtype"] == options[options.index("--dtype") + 1]


BROKEN = {
    "syntax.cnn": "input 28x28x1\nc1: conv 6 5x5 pad=\n",
    "no_input.cnn": "c1: conv 6 5x5\n",
    "shapes.cnn": "input 8x8x1\nc1: conv 4 9x9\nc2: conv 4 3x3\nd: dense 10\nexpect params == 1\n",
    "warning.cnn": "input 9x9x1\np: maxpool 2x2 stride=2\n",
}


def test_reports_of_broken_specs(tmp_path, capsys):
    """Hand-written broken specs of both sorts: one that cannot be built (network null) and
    one whose layers partly fail (a network with errors), plus a warning with a hint."""
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    checked = reports(capsys, "check", "--format", "json", *sorted(tmp_path.glob("*.cnn")))
    for report in checked:
        assert_valid("check", report)
        (summary,) = reports(capsys, "summary", "--format", "json", report["file"])
        assert_valid("summary", summary)
    by_name = {Path(r["file"]).name: r for r in checked}
    assert by_name["syntax.cnn"]["network"] is None and by_name["no_input.cnn"]["network"] is None
    assert by_name["shapes.cnn"]["network"] and not by_name["shapes.cnn"]["ok"]
    assert any("hint" in d for r in checked for d in r["diagnostics"])


def test_reports_of_mutated_specs(tmp_path, capsys):
    """Grammar-aware mutants of the shipped specs (bad options, stale names, broken imports):
    check and summary JSON of each validates, whichever way it went wrong."""
    folder = scratch_folder(tmp_path / "mutants")
    texts = [s.read_text() for s in SPECS[:10]]  # the small specs: mutants check in ms
    path, seen = folder / "mutant.cnn", set()
    for seed in range(80):
        path.write_text(mutant(random.Random(seed), texts))
        (report,) = reports(capsys, "check", "--format", "json", path)
        assert_valid("check", report)
        (summary,) = reports(capsys, "summary", "--format", "json", path)
        assert_valid("summary", summary)
        seen.add((report["network"] is None, report["ok"]))
    assert seen >= {(True, False), (False, False), (False, True)}  # every shape of report


def edit(tmp_path: Path, spec: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of `spec` with each replacement made once, its `expect` lines dropped, beside
    copies of the specs it imports."""
    text = spec.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    for sibling in spec.parent.glob("*.cnn"):
        (tmp_path / sibling.name).write_text(sibling.read_text())
    path = tmp_path / f"edited_{spec.name}"
    path.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("expect")))
    return path


def test_diff_json_of_real_edits(tmp_path, capsys):
    lenet, wider = ROOT / "specs/lenet5.cnn", ROOT / "docs/examples/lenet5_wider.cnn"
    finetune, resnet = ROOT / "specs/transfer_finetune.cnn", ROOT / "specs/zoo/resnet18.cnn"
    pairs = [
        (lenet, wider), (wider, lenet), (lenet, lenet),
        (finetune, edit(tmp_path, finetune, ("lr=0.1", "lr=0.5"), ("stage finetune", "stage ft"),
                        ("DigitsFineTune", "Digits2"))),
        (resnet, edit(tmp_path, resnet, ("filters 3x3 stride=stride pad=1", "filters 5x5 stride=stride pad=2"),
                      ("repeat 2 basic 512", "repeat 3 basic 512"))),
        (ROOT / "specs/two_heads.cnn", ROOT / "specs/inception_module.cnn"),
    ]
    found = []
    for old, new in pairs:
        (report,) = reports(capsys, "diff", "--format", "json", old, new)
        assert_valid("diff", report)
        found.append(report)
    for key in ("network", "added", "removed", "changed", "instances", "stages"):
        assert any(r[key] for r in found), f"no case exercises a non-empty {key!r}"
    assert not any(found[2][k] for k in ("added", "removed", "changed"))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_verify_json(dtype, capsys):
    for spec in SMALL:
        (report,) = reports(capsys, "verify", "--format", "json", "--targets", "numpy,torch",
                            "--dtype", dtype, "--batch", "1", spec)
        assert_valid("verify", report)
        assert report["layers"] and report["argmax_equal"] == {"numpy/torch": True}


def test_verify_json_with_a_missing_backend(capsys, monkeypatch):
    """A backend whose framework is not installed is listed in `missing` (simulated: the
    runtime's own check is made to say so for keras)."""
    import cnnspec.runtime
    real = cnnspec.runtime.missing_backend
    monkeypatch.setattr(cnnspec.runtime, "missing_backend",
                        lambda t: "keras is not installed (simulated)" if t == "keras" else real(t))
    (report,) = reports(capsys, "verify", "--format", "json", "--batch", "1", SMALL[0])
    assert_valid("verify", report)
    assert report["missing"] == {"keras": "keras is not installed (simulated)"}
    assert not report["ok"] and {tuple(d["pair"]) for d in report["layers"]} == {("numpy", "torch")}


def test_check_json_of_standard_input(capsys, monkeypatch):
    text = (ROOT / "specs/lenet5.cnn").read_text()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    (report,) = reports(capsys, "check", "--format", "json", "-")
    assert report["file"] == "<stdin>" and report["ok"]
    assert_valid("check", report)


# --- the schemas can fail ----------------------------------------------------------------

def _mutations(report: dict):
    """(what, a broken copy) pairs of a summary report."""
    def with_(change):
        broken = copy.deepcopy(report)
        change(broken)
        return broken
    yield "a missing required key", with_(lambda r: r.pop("total_params"))
    yield "a string for a count", with_(lambda r: r.update(macs="416520"))
    yield "an unknown top-level key", with_(lambda r: r.update(flops=1))
    yield "an unknown layer key", with_(lambda r: r["layers"][0].update(flops=1))
    yield "a layer without its shape", with_(lambda r: r["layers"][0].pop("output_shape"))
    yield "a negative count", with_(lambda r: r["layers"][1].update(params=-1))
    yield "a boolean for an int", with_(lambda r: r["layers"][0].update(line=True))
    yield "a null network with layers", with_(lambda r: r.update(network=None))
    yield "an unknown dtype", with_(lambda r: r.update(dtype="int8"))
    yield "no receptive fields", with_(lambda r: r["layers"][0].pop("receptive_field"))
    yield "a bad severity", with_(lambda r: r["diagnostics"].append(
        {"code": "E101", "severity": "fatal", "file": "x", "message": "m", "line": 1,
         "col": 1, "end_line": 1, "end_col": 2}))
    yield "a null hint", with_(lambda r: r["diagnostics"].append(
        {"code": "W101", "severity": "warning", "file": "x", "message": "m", "line": 1,
         "col": 1, "end_line": 1, "end_col": 2, "hint": None}))


def test_schemas_reject_broken_reports(capsys):
    (report,) = reports(capsys, "summary", "--format", "json", ROOT / "specs/lenet5.cnn")
    assert_valid("summary", report)
    for what, broken in _mutations(report):
        assert not VALIDATORS["summary"].is_valid(broken), what
    check = {k: v for k, v in report.items() if k not in
             ("batch", "dtype", "activation_memory_bytes", "peak_activation_bytes")}
    check["layers"] = [{k: v for k, v in layer.items() if k not in
                        ("receptive_field", "jump", "rf_start", "activation_elements",
                         "activation_bytes")} for layer in report["layers"]]
    assert_valid("check", check)
    assert not VALIDATORS["check"].is_valid(report)  # the summary's extra keys are not check's


def test_diff_and_verify_schemas_reject_broken_reports(capsys):
    (diff,) = reports(capsys, "diff", "--format", "json", ROOT / "specs/lenet5.cnn",
                      ROOT / "docs/examples/lenet5_wider.cnn")
    assert_valid("diff", diff)
    broken = copy.deepcopy(diff)
    broken["changed"][0]["changes"]["colour"] = [1, 2]
    assert not VALIDATORS["diff"].is_valid(broken)
    broken = copy.deepcopy(diff)
    broken["totals"]["params"] = broken["totals"]["params"][:2]
    assert not VALIDATORS["diff"].is_valid(broken)
    (verify,) = reports(capsys, "verify", "--format", "json", "--targets", "numpy,torch",
                        "--batch", "1", SMALL[0])
    for key, value in (("dtype", "float16"), ("missing", []), ("ok", "yes")):
        assert not VALIDATORS["verify"].is_valid({**verify, key: value}), key


def test_parse_gives_the_model_and_rejects_what_the_schema_rejects(capsys):
    """The models (pydantic's own validation) and the schemas (jsonschema's) agree."""
    import pydantic
    (report,) = reports(capsys, "summary", "--format", "json", ROOT / "specs/zoo/resnet18.cnn")
    model = report_schemas.parse("summary", report)
    assert model.model_dump(mode="json", exclude_unset=True) == report
    assert report_schemas.parse("summary", json.dumps(report)).root.trainable_params == 11_689_512
    for what, broken in _mutations(report):
        with pytest.raises(pydantic.ValidationError):
            report_schemas.parse("summary", broken)
        with pytest.raises(pydantic.ValidationError):
            report_schemas.parse("summary", json.dumps(broken))
