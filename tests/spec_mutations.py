"""Grammar-aware mutation of real specs, shared by tests/test_fuzz.py and scripts/fuzz.py.

A mutant is a shipped spec (specs/*.cnn) changed at the statement and token level with the
language's own vocabulary: layer kinds from `cnnspec.kinds.KINDS`, each kind's own option
names, values of the right and of the wrong type, the spec's own layer names, `expect` and
freeze lines that refer to them, stages, and imports of files in a scratch folder (other
specs, a missing file, the mutant itself, a pair that import each other, a base with errors).
Everything is drawn from one `random.Random`, so a seed reproduces its mutant.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

from cnnspec.kinds import ACTIVATIONS, COMMON_OPTIONS, KINDS

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "zoo").glob("*.cnn"))
NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")

VALUES = {
    "int": ["0", "1", "2", "3", "5", "16", "28", "-1", "1_000", "1000000", "1000001", "9" * 30],
    "dims": ["3x3", "1x1", "2x2", "5x5x16", "28x28x1", "3x3x4", "0x3", "1x1x1x1", "?x?", "3x?",
             "?", "2x?x2", "7x1"],
    "tuple": ["(1, 2)", "(0, 1, 0, 1)", "(1,)", "()", "(?, 1)", "(2, 2, 2)", "(1, (2))", "(-1, 0)"],
    "float": ["0.5", "1e-3", ".5", "0.0", "1.0", "-0.1", "1e309", "0.99", "1e-13", "1001"],
    "word": ["same", "valid", "floor", "ceil", "true", "false", "relu", "x", "input", "none"],
    "string": ['"a"', '""', '"x.cnn"'],
}
RIGHT = {  # the value types each option takes; anything else is a wrong type
    "stride": ("int", "dims", "tuple"), "dilation": ("int", "dims", "tuple"),
    "groups": ("int",), "pad": ("int", "tuple", "dims", "word"), "padding": ("int", "tuple", "word"),
    "bias": ("word",), "count_include_pad": ("word",), "round": ("word",), "units": ("int",),
    "eps": ("float",), "epsilon": ("float",), "momentum": ("float",), "rate": ("float",),
    "alpha": ("float",), "out": ("dims", "int"), "lr": ("float",), "lr_scale": ("float",),
    "multiplier": ("int",), "output_padding": ("int", "dims", "tuple"), "mode": ("word",),
    "align_corners": ("word",), "keepdims": ("word",), "per_pixel": ("word",),
    "scale": ("word", "float"), "center": ("word",), "mean": ("tuple", "float"),
    "variance": ("tuple", "float"), "offset": ("float", "tuple"), "init": ("float",),
}
POSITIONAL = {"conv": ("int", "dims"), "maxpool": ("dims",), "avgpool": ("dims",),
              "zeropad": ("int",), "dense": ("int",), "dropout": ("float",),
              "leaky_relu": ("float",), "activation": ("act",), "depthwise": ("dims",),
              "separable": ("int", "dims"), "convtranspose": ("int", "dims"), "upsample": ("int",),
              "reshape": ("dims",), "crop": ("int",), "rescale": ("float",), "elu": ("float",)}
ATTRS = ["shape", "params", "trainable_params", "non_trainable_params", "macs", "size", ""]
OPS = ["==", "!=", "<", "<=", ">", ">=", "=", "=>"]
KEYWORDS = {"network", "input", "expect", "freeze", "unfreeze", "stage", "import", "use"}
TOTALS = ["params", "total_params", "trainable_params", "non_trainable_params", "macs"]


def scratch_folder(folder: Path) -> Path:
    """Copies of the shipped specs plus import targets that go wrong, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        shutil.copy(spec, folder / spec.name)
    (folder / "ping.cnn").write_text('import "pong.cnn" as pong\nuse pong\n')
    (folder / "pong.cnn").write_text('import "ping.cnn" as ping\nuse ping\n')
    (folder / "broken.cnn").write_text("input 8x8x1\nc: conv 4 9x9\n")
    (folder / "empty.cnn").write_text("")
    (folder / "dir.cnn").mkdir(exist_ok=True)
    return folder


IMPORTABLE = ["digits_base.cnn", "lenet5.cnn", "multichannel.cnn", "ping.cnn", "broken.cnn",
              "empty.cnn", "dir.cnn", "missing.cnn", "mutant.cnn", "../specs/lenet5.cnn", "",
              "x" * 300 + ".cnn"]  # a name too long for the file system: OSError before issue 7


class Mutator:
    """Draws mutants of one spec text from `rng`."""

    def __init__(self, text: str, rng: random.Random):
        self.rng = rng
        self.lines = text.split("\n")
        self.names = [m.group(1) for line in self.lines if (m := NAME.match(line))] or ["c1"]
        self.aliases = ["base", "b"]

    def mutant(self) -> str:
        for _ in range(self.rng.randint(1, 4)):
            self.rng.choice(self.OPERATORS)(self)
        return "\n".join(self.lines)

    # values ------------------------------------------------------------------------------

    def value(self, kinds=None) -> str:
        kind = self.rng.choice(kinds or list(VALUES))
        if kind == "act":
            return self.rng.choice([*ACTIVATIONS, "gelu", "softmax"])
        return self.rng.choice(VALUES[kind])

    def option(self, kind: str) -> str:
        names = sorted(getattr(KINDS.get(kind), "options", ()) or ()) + sorted(COMMON_OPTIONS)
        name = self.rng.choice(names + ["activation", "kernel", "strides"])
        right = self.rng.random() < 0.7 and name in RIGHT
        return f"{name}={self.value(RIGHT[name] if right else None)}"

    def name(self) -> str:
        return self.rng.choice(self.names + self.aliases + ["input", "output", "flatten_1",
                                                            "conv_1", "nope", "class", "__dict__"])

    # statements --------------------------------------------------------------------------

    def layer_line(self) -> str:
        kind = self.rng.choice([*KINDS, "conv", "dense", "convolution"])
        parts = [self.value(POSITIONAL.get(kind, None)) for _ in range(self.rng.randint(0, 2))]
        parts += [self.option(kind) for _ in range(self.rng.randint(0, 3))]
        if self.rng.random() < 0.3:
            parts += ["->", self.value(["act"])] + (["alpha=0.2"] if self.rng.random() < 0.3 else [])
        label = f"{self.rng.choice(self.names + ['n' + str(self.rng.randint(0, 99))])}: "
        return (label if self.rng.random() < 0.6 else "") + " ".join([kind, *parts])

    def expect_line(self) -> str:
        target = self.rng.choice([f"{self.name()}.{self.rng.choice(ATTRS)}", *TOTALS])
        value = self.value(["int", "dims", "float", "word"])
        return f"expect {target} {self.rng.choice(OPS)} {value}"

    def selection(self) -> str:
        if self.rng.random() < 0.3:
            return f"{self.name()}..{self.name()}"
        return self.name()

    def freeze_line(self) -> str:
        word = self.rng.choice(["freeze", "unfreeze"])
        picks = ", ".join(self.selection() for _ in range(self.rng.randint(1, 3)))
        lr = f" lr={self.value(['float', 'int', 'word'])}" if word == "unfreeze" and self.rng.random() < 0.4 else ""
        return f"{word} {picks}{lr}"

    def import_lines(self) -> list[str]:
        alias = self.rng.choice(self.aliases + ["c1", "input", "import"])
        lines = [f'import "{self.rng.choice(IMPORTABLE)}" as {alias}']
        if self.rng.random() < 0.8:
            until = f" until {self.name()}" if self.rng.random() < 0.6 else ""
            lines.append(f"use {self.rng.choice([alias, *self.aliases])}{until}")
        return lines

    def statement(self) -> list[str]:
        pick = self.rng.random()
        if pick < 0.4:
            return [self.layer_line()]
        if pick < 0.6:
            return [self.expect_line()]
        if pick < 0.75:
            return [self.freeze_line()]
        if pick < 0.85:
            return [f'stage {self.rng.choice(["s1", "finetune", self.name()])} "a stage"']
        if pick < 0.92:
            return self.import_lines()
        return [self.rng.choice(["input " + self.value(["dims", "int"]), "network N2 \"d\"",
                                 f"network {self.name()}", "input 8x8x1 stride=2"])]

    # operators ---------------------------------------------------------------------------

    def index(self) -> int:
        return self.rng.randrange(len(self.lines))

    def insert_statement(self) -> None:
        i = self.rng.randint(0, len(self.lines))
        self.lines[i:i] = self.statement()

    def replace_statement(self) -> None:
        i = self.index()
        self.lines[i:i + 1] = self.statement()

    def delete_or_move(self) -> None:
        i, j = self.index(), self.index()
        line = self.lines.pop(i) if len(self.lines) > 1 else self.lines[i]
        if self.rng.random() < 0.5:
            self.lines.insert(j, line)

    def layer_lines(self) -> list[int]:
        return [i for i, line in enumerate(self.lines) if (code := line.partition("#")[0].split())
                and code[0] not in KEYWORDS]

    def mutate_token(self) -> None:
        """Replace, drop or add one token of a layer line: its kind, an option, a value, a name."""
        layers = self.layer_lines()
        if not layers:
            return self.insert_statement()
        i = self.rng.choice(layers)
        code, hash_, comment = self.lines[i].partition("#")
        tokens = code.split()
        first = 1 if tokens[0].endswith(":") else 0
        arrow = tokens.index("->") if "->" in tokens else len(tokens)
        kind = tokens[first] if first < len(tokens) else "conv"
        k = self.rng.randint(first, arrow)
        new = self.rng.choice([self.option(kind)] * 4 + [self.value(), self.value(), self.name(),
                              self.rng.choice(list(KINDS)), self.rng.choice(["->", ":", ".."])])
        action = self.rng.random()
        if action < 0.4 and k < arrow:
            tokens[k] = new
        elif action < 0.6 and k < arrow:
            del tokens[k]
        else:
            tokens.insert(k, new)
        self.lines[i] = " ".join(tokens) + (f" {hash_}{comment}" if hash_ else "")
        return None

    def rename_layer(self) -> None:
        """Give a layer the name of another, or take a name away, so references go stale."""
        named = [i for i, line in enumerate(self.lines) if NAME.match(line)]
        if named:
            i = self.rng.choice(named)
            self.lines[i] = NAME.sub(self.rng.choice([f"{self.name()}:", ""]), self.lines[i], count=1)

    OPERATORS = (insert_statement, insert_statement, replace_statement, delete_or_move,
                 mutate_token, mutate_token, mutate_token, rename_layer)


def mutant(rng: random.Random, texts: list[str]) -> str:
    """One mutant of one of `texts`, everything drawn from `rng`."""
    return Mutator(rng.choice(texts), rng).mutant()
