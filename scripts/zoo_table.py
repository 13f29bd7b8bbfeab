"""Write the table of docs/zoo.md from the specs in specs/zoo/ (so it cannot drift from them).

    python scripts/zoo_table.py            # rewrite the table in docs/zoo.md
    python scripts/zoo_table.py --check    # exit 1 if docs/zoo.md is not what this writes

The table sits between the markers `<!-- zoo table: begin -->` and `<!-- zoo table: end -->`;
the rest of the page is hand-written. Every figure comes from `cnnspec.load` of the spec (the
checker's own counts). For the Keras applications, tests/test_zoo_issue9.py checks that the
totals equal `keras.applications.<Name>(weights=None)` and tests/test_keras_apps_issue9.py that
the outputs do; the last column names the application.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnnspec

ZOO, PAGE = ROOT / "specs" / "zoo", ROOT / "docs" / "zoo.md"
BEGIN, END = "<!-- zoo table: begin -->", "<!-- zoo table: end -->"
KERAS = ("VGG16", "VGG19", "ResNet50", "ResNet50V2", "MobileNet", "MobileNetV2", "DenseNet121",
         "InceptionV3", "Xception", "EfficientNetB0", "ConvNeXtTiny")  # issue 9's eleven
ALSO = {"MobileNetV3Small": "`keras.applications.MobileNetV3Small`",
        "ResNet18": "torchvision's `resnet18`"}


def row(path: Path) -> tuple[int, str]:
    """(sort key, Markdown row) of one spec: the Keras applications first, in KERAS order."""
    net = cnnspec.load(path)
    keras = net.name if net.name in KERAS else None
    same_as = f"`keras.applications.{keras}`" if keras else ALSO.get(net.name, "-")
    cells = [f"[{net.name}](../specs/zoo/{path.name})", "x".join(map(str, net.input_shape)),
             f"{len(net.nodes) - 1}", f"{net.total_params:,}", f"{net.trainable_params:,}",
             f"{net.total_params - net.trainable_params:,}", f"{net.macs / 1e9:.2f} G",
             same_as]
    key = KERAS.index(keras) if keras else len(KERAS)
    return key, "| " + " | ".join(cells) + " |"


def table() -> str:
    rows = sorted((row(p) for p in sorted(ZOO.glob("*.cnn"))), key=lambda kr: kr[0])
    head = ("| model | input | layers | params | trainable | non-trainable | MACs | reproduces |\n"
            "|---|---|---|---|---|---|---|---|")
    return "\n".join([head, *(r for _, r in rows)])


def page_with(text: str, new_table: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + new_table + "\n" + text[end:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = PAGE.read_text()
    wanted = page_with(text, table())
    if args.check:
        if wanted != text:
            print("docs/zoo.md is out of date: run python scripts/zoo_table.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
