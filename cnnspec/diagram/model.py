"""What a diagram shows, from the checked IR: boxes, edges and block clusters.

One box per layer (the input too), or one per block instance folded at `depth`, by the rule
of `cnnspec summary --depth` (cnnspec/summary_view.py): a layer held by fewer than `depth`
instances is a box of its own, the others are folded into the instance that holds them at
level `depth`; `depth=None` shows every layer. A folded box carries the instance's totals
from cnnspec/instances.py. The instances left open are clusters, nested by their parents.

Every writer (DOT, Mermaid, HTML) draws this one description, so they agree on what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..instances import holders
from ..instances import summarise as summarise_instances
from ..kinds import NODE_KINDS
from ..shapes import shape_text
from ..summary_view import instance_kind
from ..summary_view import rows as view_rows


@dataclass(frozen=True)
class Box:
    """A layer, the input, or a folded block instance (`layers` > 0)."""

    id: str            # the layer's or the instance's name (unique in a network)
    kind: str          # the layer's kind (`conv -> relu`), or the block's (`bottleneck x4`)
    shape: str         # the output shape as summary prints it: 28x28x6
    params: int
    frozen: bool       # weights that no stage's training changes (only boxes with weights)
    output: bool       # one of the network's outputs (a folded box: it holds one)
    cluster: str | None  # the innermost open instance that holds it
    layers: int = 0    # the layers folded into it (0: a layer)
    lr_scale: float = 1.0

    @property
    def is_input(self) -> bool:
        return self.kind == "input"

    @property
    def folded(self) -> bool:
        return self.layers > 0

    def lines(self) -> tuple[str, ...]:
        """The label: name, kind, shape, parameters (and what marks it)."""
        detail = f"{self.params:,} params"
        if self.folded:
            detail += f", {self.layers:,} layers"
        if self.frozen:
            detail += ", frozen"
        elif self.lr_scale != 1.0:
            detail += f", lr x{self.lr_scale:g}"
        if self.is_input:
            return (self.id, self.shape)
        return (self.id, self.kind, self.shape, detail) + (("output",) if self.output else ())


@dataclass(frozen=True)
class Cluster:
    """An open block instance: its layers (and nested instances) are drawn inside it."""

    id: str
    label: str       # `layer2: bottleneck x4`
    parent: str | None


@dataclass(frozen=True)
class Diagram:
    name: str
    boxes: tuple[Box, ...]              # in the network's topological order
    edges: tuple[tuple[str, str], ...]  # (from box, to box), one per connection shown
    clusters: tuple[Cluster, ...]       # outermost first

    def nesting(self) -> tuple[dict, dict]:
        """(parent -> its nested clusters, cluster -> its boxes), None keying the top level."""
        children: dict[str | None, list[Cluster]] = {}
        for cluster in self.clusters:
            children.setdefault(cluster.parent, []).append(cluster)
        members: dict[str | None, list[Box]] = {}
        for box in self.boxes:
            members.setdefault(box.cluster, []).append(box)
        return children, members


def build(network, depth: int | None = None) -> Diagram:
    """The diagram of `network` with blocks folded at `depth` (None: every layer)."""
    instances = {i["name"]: i for i in summarise_instances(network)}
    parents = {i.name: i.parent for i in network.instances}
    folded = _folded(network, instances, depth)
    open_ = {name for name in instances if not _within(name, folded, parents)}
    shown = _shown(network, instances, folded)
    outputs = {shown[n.name] for n in network.output_nodes}
    boxes, drawn = [], set()
    for node in network.nodes:
        box = shown[node.name]
        if box in drawn:
            continue
        drawn.add(box)
        if box in folded:
            cluster = _innermost_open(parents[box], open_, parents)
            boxes.append(_folded_box(instances[box], box in outputs, cluster))
        else:
            held = holders(node.name, instances) if instances else []
            cluster = next((h for h in reversed(held) if h in open_), None)
            boxes.append(_layer_box(node, box in outputs, cluster))
    clusters = tuple(Cluster(i.name, _cluster_label(instances[i.name]), i.parent)
                     for i in network.instances if i.name in open_)
    return Diagram(network.name, tuple(boxes), _edges(network, shown, folded), clusters)


def _folded(network, instances: dict, depth: int | None) -> set[str]:
    """The instances shown as one box: the instance rows of summary's view at `depth`."""
    if depth is None or not instances:
        return set()
    view = {"layers": [{"name": n.name} for n in network.layers], "instances": list(instances.values())}
    return {row.item["name"] for row in view_rows(view, depth) if row.is_instance}


def _within(name: str | None, folded: set[str], parents: dict) -> bool:
    """Whether the instance `name` is folded or inside a folded one."""
    while name is not None:
        if name in folded:
            return True
        name = parents[name]
    return False


def _innermost_open(name: str | None, open_: set[str], parents: dict) -> str | None:
    while name is not None and name not in open_:
        name = parents[name]
    return name


def _shown(network, instances: dict, folded: set[str]) -> dict[str, str]:
    """node name -> the id of the box that shows it (its own, or its folded instance's)."""
    shown = {}
    for node in network.nodes:
        held = holders(node.name, instances) if folded else []
        shown[node.name] = next((h for h in held if h in folded), node.name)
    return shown


def _edges(network, shown: dict[str, str], folded: set[str]) -> tuple[tuple[str, str], ...]:
    """One edge per input of every layer; into, out of or between folded boxes each pair once,
    and none inside a folded box."""
    edges, seen = [], set()
    for node in network.layers:
        head = shown[node.name]
        for source in node.inputs:
            edge = (shown[source], head)
            if edge[0] == edge[1]:
                continue
            if edge[0] in folded or edge[1] in folded:
                if edge in seen:
                    continue
                seen.add(edge)
            edges.append(edge)
    return tuple(edges)


def _kind(node) -> str:
    """`conv -> relu` for a fused activation (where the kind declares one), `activation relu`
    for an activation layer: the arrow means what it means in the spec."""
    activation = node.attrs.get("activation")
    if node.kind == "activation":
        return f"activation {activation}"
    fused = NODE_KINDS[node.kind].fused_activation and activation not in (None, "linear")
    return f"{node.kind} -> {activation}" if fused else node.kind


def _layer_box(node, output: bool, cluster: str | None) -> Box:
    if node.kind == "input":
        return Box(node.name, "input", shape_text(node.out_shape), 0, False, output, None)
    return Box(node.name, _kind(node), shape_text(node.out_shape), node.params,
               node.frozen and node.params > 0, output, cluster, lr_scale=node.lr_scale)


def _folded_box(instance: dict, output: bool, cluster: str | None) -> Box:
    scale = instance["lr_scale"]
    return Box(instance["name"], instance_kind(instance), shape_text(instance["output_shape"] or ()),
               instance["params"], instance["frozen"], output, cluster, layers=instance["nodes"],
               lr_scale=1.0 if scale is None else scale)


def _cluster_label(instance: dict) -> str:
    return f"{instance['name']}: {instance_kind(instance)}"


def folded_boxes(network) -> dict[str, Box]:
    """Every block instance as the one box `--depth` would fold it into (the HTML page has
    them all, shown or hidden as the reader folds and opens instances)."""
    outputs = {n.name for n in network.output_nodes}
    found = {}
    for instance in summarise_instances(network):
        holds_output = any(name.startswith(instance["name"] + ".") for name in outputs)
        found[instance["name"]] = _folded_box(instance, holds_output, instance["parent"])
    return found
