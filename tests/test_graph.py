"""cnnspec.graph: reachability over edges, on a diamond with a side branch."""

from cnnspec import graph

# input -> a -> b -> d ; a -> c -> d ; a -> side (reaches no output)
EDGES = {"input": (), "a": ("input",), "b": ("a",), "c": ("a",), "d": ("b", "c"), "side": ("a",)}


def test_ancestors_and_descendants_in_topological_order():
    assert graph.ancestors(EDGES, ["d"]) == ["input", "a", "b", "c", "d"]
    assert graph.descendants(EDGES, ["b"]) == ["b", "d"]
    assert graph.descendants(EDGES, ["a"]) == ["a", "b", "c", "d", "side"]


def test_between_takes_every_path_and_nothing_else():
    assert graph.between(EDGES, "a", "d") == ["a", "b", "c", "d"]
    assert graph.between(EDGES, "b", "c") == []
    assert graph.between(EDGES, "b", "b") == ["b"]


def test_unreachable_sinks_and_consumers():
    assert graph.unreachable(EDGES, ["d"]) == ["side"]
    assert graph.unreachable(EDGES, ["d", "side"]) == []
    assert graph.sinks(EDGES) == ["d", "side"]
    assert graph.consumers({"x": (), "y": ("x", "x")}) == {"x": ["y"], "y": []}


def test_a_long_chain_needs_no_recursion():
    chain = {"n0": ()} | {f"n{i}": (f"n{i - 1}",) for i in range(1, 200_000)}
    assert len(graph.ancestors(chain, ["n199999"])) == 200_000
    assert graph.unreachable(chain, ["n199999"]) == []
