"""Block instances in a summary: each instance's totals, output and the inputs it reads.

A node belongs to every instance whose name is a prefix of its own name up to a dot
(`layer2.0.conv1` is in `layer2.0` and in `layer2`), as `Network.instance_nodes` says. The
totals come from one pass over the nodes, so the cost is nodes x nesting depth, never
nodes x instances (a 100,000-node network with thousands of instances stays linear).
"""

from __future__ import annotations

from collections.abc import Container


def holders(name: str, instances: Container[str]) -> list[str]:
    """The instances that hold the node called `name`, outermost first."""
    parts = name.split(".")
    found, prefix = [], parts[0]
    for part in parts[1:]:
        if prefix in instances:
            found.append(prefix)
        prefix = f"{prefix}.{part}"
    return found


class _Totals:
    """What one instance's nodes add up to, accumulated node by node in topological order."""

    def __init__(self, name: str):
        self.inside = name + "."
        self.nodes = self.params = self.trainable = self.macs = 0
        self.weighted = self.frozen = 0
        self.scales: dict[float, None] = {}  # the learning-rate scales of its unfrozen weights
        self.last = None
        self.inputs: dict[str, None] = {}  # ordered set: nodes outside the instance it reads

    def add(self, node) -> None:
        self.nodes += 1
        self.params += node.params
        self.trainable += node.trainable_params
        self.macs += node.macs
        if node.weights:
            self.weighted += 1
            self.frozen += node.frozen
            if not node.frozen:
                self.scales[node.lr_scale] = None
        self.last = node
        for source in node.inputs:
            if not source.startswith(self.inside):
                self.inputs[source] = None

    def as_json(self, instance) -> dict:
        return {
            "name": instance.name,
            "block": instance.block,
            "line": instance.span.line,
            "source": instance.span.file,
            "definition_line": instance.definition.line,
            "repeat": instance.repeat,
            "parent": instance.parent,
            "inputs": list(self.inputs),
            "output": self.last.name if self.last else None,
            "output_shape": list(self.last.out_shape) if self.last else None,
            "nodes": self.nodes,
            "params": self.params,
            "trainable_params": self.trainable,
            "non_trainable_params": self.params - self.trainable,
            "macs": self.macs,
            "frozen": self.weighted > 0 and self.frozen == self.weighted,
            "lr_scale": next(iter(self.scales)) if len(self.scales) == 1 else (
                None if self.scales else 1.0),
        }


def summarise(network) -> list[dict]:
    """One JSON object per instance of `network`, in `network.instances` order."""
    totals = {instance.name: _Totals(instance.name) for instance in network.instances}
    if totals:
        for node in network.layers:
            for name in holders(node.name, totals):
                totals[name].add(node)
    return [totals[instance.name].as_json(instance) for instance in network.instances]
