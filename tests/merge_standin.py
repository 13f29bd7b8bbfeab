"""A private stand-in for the merge kinds (`add`, `concat`) until cnnspec.kinds lands on this
branch: it follows the contract (arity MANY, resolve(r, layer, in_shapes), r.inputs) and is
installed only where the real package has no merges yet, so tests run against the real ones
once they are merged."""

from __future__ import annotations

import pytest

try:
    from cnnspec import kinds as K
except ImportError:  # before the kinds package is merged
    from cnnspec import layers as K

MANY = getattr(K, "MANY", "many")


class _Merge:
    arity = MANY
    options: frozenset = frozenset()
    fused_activation = True

    def __init__(self, word: str):
        self.word = word

    def resolve(self, r, layer, in_shapes):
        act = K.read_activation(r, layer.activation)
        if act is None:
            return None
        out = self.shape(r, layer, in_shapes)
        if out is None:
            return None
        return K.Resolved({"activation": act[0], "alpha": act[1]}, out)

    def shape(self, r, layer, in_shapes):
        if self.word == "add":
            if len(set(in_shapes)) != 1:
                r.error("E310", layer, f"add of different shapes {in_shapes} from {r.inputs}")
                return None
            return in_shapes[0]
        if len({s[:-1] for s in in_shapes}) != 1:
            r.error("E311", layer, "concat of different sizes")
            return None
        return (*in_shapes[0][:-1], sum(s[-1] for s in in_shapes))


@pytest.fixture(autouse=True)
def merges(monkeypatch):
    """Install the stand-in merges (only those the real kinds do not have)."""
    for word in ("add", "concat"):
        if word not in K.KINDS:
            monkeypatch.setitem(K.KINDS, word, _Merge(word))
            monkeypatch.setitem(K.NODE_KIND, word, word)
