"""docs/zoo.md's table is what scripts/zoo_table.py writes from specs/zoo/, and it lists every
Keras application of issue 9 (so a missing or renamed zoo spec fails here too)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def zoo_table():
    spec = importlib.util.spec_from_file_location("zoo_table", ROOT / "scripts" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_is_current(capsys):
    assert zoo_table().main(["--check"]) == 0, capsys.readouterr().err


def test_every_keras_application_has_a_row():
    module = zoo_table()
    rows = module.table().splitlines()[2:]
    named = [r.split("|")[-2].strip() for r in rows]
    assert [n.strip("`").removeprefix("keras.applications.") for n in named[:11]] == list(module.KERAS)
    assert set(named[11:]) == {"`keras.applications.MobileNetV3Small`", "torchvision's `resnet18`", "-"}
    assert len(rows) == 15, "11 Keras applications + resnet18, mobilenetv3small, squeezenet, unet"
