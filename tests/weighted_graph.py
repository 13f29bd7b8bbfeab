"""The graph of a network's weighted layers, for comparing a spec's wiring with a framework
model's (the zoo tests): which kept nodes feed each kept node through nodes that are not kept
(adds, concats, multiplies, activations, pools, paddings)."""

from __future__ import annotations


def reach(inputs: dict[str, list[str]], kept):
    """name -> the kept nodes whose outputs reach it through nodes that are not kept."""
    memo: dict[str, frozenset[str]] = {}

    def above(name: str) -> frozenset[str]:
        if name in kept:
            return frozenset({name})
        if name not in memo:
            memo[name] = frozenset().union(*(above(i) for i in inputs[name]))
        return memo[name]

    return above


def feeders(inputs: dict[str, list[str]], kept) -> dict[str, frozenset[str]]:
    """For each kept node, the kept nodes that feed it through nodes that are not kept."""
    above = reach(inputs, kept)
    return {name: frozenset().union(*(above(i) for i in inputs[name])) for name in kept}


def randomise_torch_batchnorms(model) -> None:
    """A hand-written PyTorch model's batch-norm scales and statistics away from 1 and 0, so
    that a wrong epsilon or a swapped tensor shows (seed the generator before)."""
    import torch
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            for tensor in (module.weight, module.running_var):
                tensor.data.uniform_(0.5, 1.5)
            for tensor in (module.bias, module.running_mean):
                tensor.data.normal_(0, 0.1)
