"""`repeat ... last(k=v)`: the last instance's arguments (Keras's ResNet V2 puts a stage's
stride there), beside `first(...)`; and any other `word(...)` on a repeat line is E223 (it used
to act as first(...) silently)."""

from __future__ import annotations

import pytest

from cnnspec.api import analyse
from cnnspec.source import SourceFile

HEAD = "network t\ninput 8x8x3\nblock b(s=1, f=4)\n  c: conv f 3x3 stride=s pad=1\nend\n"


def check(line: str):
    network, diags = analyse(SourceFile("t.cnn", HEAD + line + "\n"))
    return network, diags


def shapes(line: str) -> dict[str, tuple]:
    network, diags = check(line)
    assert not diags, [d.message for d in diags]
    return {n.name: n.out_shape for n in network.layers}


def test_last_sets_the_last_instance_only():
    assert shapes("r: repeat 3 b last(s=2)") == {"r.0.c": (8, 8, 4), "r.1.c": (8, 8, 4),
                                                 "r.2.c": (4, 4, 4)}


def test_first_and_last_together():
    assert shapes("r: repeat 3 b first(f=2) last(s=2, f=6)") == {
        "r.0.c": (8, 8, 2), "r.1.c": (8, 8, 4), "r.2.c": (4, 4, 6)}


def test_a_repeat_of_one_takes_first_then_last():
    assert shapes("r: repeat 1 b first(s=2, f=2) last(s=1)") == {"r.0.c": (8, 8, 2)}


def test_the_instances_carry_their_arguments():
    network, _ = check("r: repeat 2 b last(s=2)")
    args = {i.name: dict(i.args) for i in network.instances if i.name.startswith("r.")}
    assert args["r.0"]["s"] == 1 and args["r.1"]["s"] == 2


@pytest.mark.parametrize("line, col, fragment", [
    ("r: repeat 2 b lats(s=2)", 15, "'lats(...)' is not part of a repeat"),
    ("r: repeat 2 b last(s=2) last(s=1)", 25, "last(...) is given twice"),
    ("r: b last(s=2)", 6, "last(...) belongs to a repeat"),
])
def test_bad_overrides_are_e223_at_their_place(line, col, fragment):
    _, diags = check(line)
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E223", 6, col)]
    assert fragment in diags[0].message
