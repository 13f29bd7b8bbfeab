"""`cnnspec diff`: what changed between two checked networks, by layer name.

Pure functions over two `ir.Network`s (no file access, no framework). Layers are matched by
their (hierarchical) names, so a changed block definition shows up in every instance's
layers (`conv3.0.conv2`, `conv3.1.conv2`, ...) and in every instance's totals. A layer's line
is not compared: moving a line changes nothing. The per-layer freeze flags are those of each
network's default (first) stage; every stage's trainable counts are compared separately.

The result is a plain dict (the JSON of `cnnspec diff --format json`); diff_view's `text`
and `markdown` render it. Values are JSON values: shapes and tuples are lists.
"""

from __future__ import annotations

from .instances import summarise as summarise_instances

# Node attributes derived from others (the output shape covers them): never compared.
DERIVED = frozenset({"out", "dropped"})
TOTALS = ("layers", "params", "trainable_params", "non_trainable_params", "macs")
INSTANCE_FIELDS = ("block", "output_shape", "params", "trainable_params", "macs")


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def node_fields(node) -> dict:
    """What is compared of one node: its kind, options, wiring, shape and counts."""
    fields = {"kind": node.kind, "inputs": list(node.inputs),
              "output_shape": list(node.out_shape), "params": node.params,
              "trainable_params": node.trainable_params, "macs": node.macs,
              "frozen": node.frozen and bool(node.weights),  # a pool's flag means nothing
              "lr_scale": node.lr_scale if node.weights else 1.0, "group": node.group}
    for key, value in node.attrs.items():
        if key not in DERIVED:
            fields[f"options.{key}"] = _plain(value)
    return fields


def changed_fields(old: dict, new: dict) -> dict:
    """{field: [old, new]} for every field that differs (None for one the other lacks)."""
    keys = list(old) + [k for k in new if k not in old]
    return {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}


def layer_entry(node) -> dict:
    """An added or removed layer."""
    return {"name": node.name, "kind": node.kind, "line": node.line,
            "output_shape": list(node.out_shape), "params": node.params,
            "trainable_params": node.trainable_params, "macs": node.macs}


def _triple(old: int, new: int) -> list[int]:
    return [old, new, new - old]


def network_totals(network) -> dict:
    return {"layers": len(network.layers), "params": network.total_params,
            "trainable_params": network.trainable_params,
            "non_trainable_params": network.total_params - network.trainable_params,
            "macs": network.macs}


def stage_trainable(network) -> dict:
    """{stage: trainable params}; {} for a network without stages (the totals say it)."""
    if not network.stages or list(network.stages) == [None]:
        return {}
    return {name: sum(n.trainable_params for n in nodes) for name, nodes in network.stages.items()}


def diff_layers(old, new) -> tuple[list, list, list]:
    """(added, removed, changed), added and changed in the new network's order."""
    old_by = {n.name: n for n in old.nodes}
    new_names = {n.name for n in new.nodes}
    added = [layer_entry(n) for n in new.nodes if n.name not in old_by]
    removed = [layer_entry(n) for n in old.nodes if n.name not in new_names]
    changed = []
    for node in new.nodes:
        before = old_by.get(node.name)
        if before is None:
            continue
        changes = changed_fields(node_fields(before), node_fields(node))
        if changes:
            changed.append({"name": node.name, "line": node.line, "changes": changes,
                            "params_delta": node.params - before.params,
                            "macs_delta": node.macs - before.macs})
    return added, removed, changed


def diff_instances(old, new) -> list[dict]:
    """Block instances whose totals or output changed, or that only one network has."""
    before = {i["name"]: i for i in summarise_instances(old)}
    after = {i["name"]: i for i in summarise_instances(new)}
    found = []
    for name in list(after) + [n for n in before if n not in after]:
        a, b = before.get(name), after.get(name)
        status = "added" if a is None else "removed" if b is None else "changed"
        olds = {k: (a or {}).get(k) for k in INSTANCE_FIELDS}
        news = {k: (b or {}).get(k) for k in INSTANCE_FIELDS}
        changes = changed_fields(olds, news)
        if changes:
            found.append({"name": name, "status": status, "changes": changes,
                          "params_delta": (news["params"] or 0) - (olds["params"] or 0),
                          "macs_delta": (news["macs"] or 0) - (olds["macs"] or 0)})
    return found


def diff_network(old, new) -> dict:
    """{field: [old, new]} for the network-level facts: name, description, outputs."""
    def facts(net):
        return {"name": net.name, "description": net.description,
                "outputs": [n.name for n in net.output_nodes], "stages": list(net.stages)}
    return changed_fields(facts(old), facts(new))


def diff(old, new) -> dict:
    """The whole comparison of two checked networks (the JSON object)."""
    added, removed, changed = diff_layers(old, new)
    t_old, t_new = network_totals(old), network_totals(new)
    s_old, s_new = stage_trainable(old), stage_trainable(new)
    stages = {name: [s_old.get(name), s_new.get(name),
                     (s_new.get(name) or 0) - (s_old.get(name) or 0)]
              for name in list(s_old) + [s for s in s_new if s not in s_old]}
    return {
        "old": old.source.name, "new": new.source.name,
        "network": diff_network(old, new),
        "added": added, "removed": removed, "changed": changed,
        "instances": diff_instances(old, new),
        "totals": {k: _triple(t_old[k], t_new[k]) for k in TOTALS},
        "stages": {k: v for k, v in stages.items() if v[0] != v[1]},
    }


def is_empty(result: dict) -> bool:
    return not any(result[k] for k in ("network", "added", "removed", "changed",
                                       "instances", "stages"))
