"""`cnnspec verify`: build every backend with the same weights, feed the same input, compare.

Tolerance (design.md section 4): max|a - b| <= rtol * max(1, max|a|) per layer and at the output,
with rtol 1e-10 in float64 and 1e-5 in float32, and the same argmax for every sample.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .ir import Network

RTOL = {"float64": 1e-10, "float32": 1e-5}


@dataclass(frozen=True)
class LayerDiff:
    layer: str
    pair: tuple[str, str]
    max_abs: float
    scale: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.tolerance


@dataclass
class Report:
    targets: list[str]
    missing: dict[str, str]
    diffs: list[LayerDiff]
    argmax_ok: dict[tuple[str, str], bool]
    dtype: str

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.diffs) and all(self.argmax_ok.values())

    def first_divergence(self) -> LayerDiff | None:
        return next((d for d in self.diffs if not d.ok), None)

    def worst(self) -> LayerDiff | None:
        return max(self.diffs, key=lambda d: d.max_abs / d.tolerance, default=None)


def compare(network: Network, outputs: dict[str, dict], dtype: str) -> tuple[list, dict]:
    """Layer-by-layer differences for every pair of backends, in layer order."""
    import numpy as np
    diffs, argmax = [], {}
    pairs = list(itertools.combinations(list(outputs), 2))
    for node in network.layers:
        for a, b in pairs:
            ref, other = outputs[a][node.name], outputs[b][node.name]
            if ref.shape != other.shape:
                diffs.append(LayerDiff(node.name, (a, b), float("inf"), 0.0, 0.0))
                continue
            scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
            err = float(np.max(np.abs(ref.astype(np.float64) - other))) if ref.size else 0.0
            diffs.append(LayerDiff(node.name, (a, b), err, scale, RTOL[dtype] * scale))
    last = network.output.name
    for a, b in pairs if network.layers else ():  # no layers: the output is the input itself
        argmax[(a, b)] = same_prediction(outputs[a][last], outputs[b][last], RTOL[dtype])
    return diffs, argmax


def same_prediction(ya, yb, rtol: float) -> bool:
    """Same argmax per sample; a differing one counts only when it is not a tie within the
    tolerance (two top scores equal up to rounding may legitimately swap)."""
    import numpy as np
    ya, yb = ya.reshape(len(ya), -1), yb.reshape(len(yb), -1)
    ia, ib = ya.argmax(1), yb.argmax(1)
    rows = np.nonzero(ia != ib)[0]
    scale = rtol * max(1.0, float(np.max(np.abs(ya))) if ya.size else 1.0)
    return all(abs(float(ya[r, ia[r]] - ya[r, ib[r]])) <= scale for r in rows)


def verify_network(network: Network, targets, dtype="float64", seed=0, batch=2, weights=None) -> Report:
    import numpy as np

    from . import weights as W
    from .runtime import build_model, missing_backend, run_layers
    missing = {t: why for t in targets if (why := missing_backend(t))}
    present = [t for t in targets if t not in missing]
    params = W.resolve(network, weights, seed, dtype)
    x = np.random.default_rng(seed).standard_normal((batch, *network.input_shape)).astype(dtype)
    outputs = {t: run_layers(build_model(network, t, params, seed, dtype), t, network, x)
               for t in present}
    diffs, argmax = compare(network, outputs, dtype)
    return Report(list(targets), missing, diffs, argmax, dtype)


def render_table(network: Network, report: Report) -> str:
    order = report.targets.index
    pairs = sorted({d.pair for d in report.diffs}, key=lambda p: (order(p[0]), order(p[1])))
    heads = ["Layer", "Output shape"] + [f"{a} vs {b}" for a, b in pairs]
    rows = [heads]
    by_key = {(d.layer, d.pair): d for d in report.diffs}
    for node in network.layers:
        cells = [node.name, "x".join(map(str, node.out_shape))]
        for pair in pairs:
            d = by_key[(node.name, pair)]
            cells.append(f"{d.max_abs:.2e}" + ("" if d.ok else " FAIL"))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def render_verdict(network: Network, report: Report) -> str:
    lines = [f"{t}: not run: {why}" for t, why in report.missing.items()]
    compared = [t for t in report.targets if t not in report.missing]
    tol = RTOL[report.dtype]
    if len(compared) < 2:
        lines.append("verify needs at least two backends to compare")
        return "\n".join(lines)
    for pair, same in report.argmax_ok.items():
        if not same:
            lines.append(f"{pair[0]} and {pair[1]} predict different classes")
    first, worst = report.first_divergence(), report.worst()
    if first:
        lines.append(f"MISMATCH: first divergence at layer '{first.layer}' ({first.pair[0]} vs "
                     f"{first.pair[1]}): max|a-b| = {first.max_abs:.3e} > {first.tolerance:.3e}")
    elif report.ok and worst is None:
        lines.append(f"OK: {', '.join(compared)}: the network has no layers; every backend "
                     "returns its input")
    elif report.ok:
        lines.append(f"OK: {', '.join(compared)} agree on all {len(network.layers)} layers "
                     f"({report.dtype}, tolerance {tol:g} x max(1, max|a|)); worst: layer "
                     f"'{worst.layer}' {worst.pair[0]} vs {worst.pair[1]} {worst.max_abs:.2e}")
    return "\n".join(lines)


def report_json(network: Network, report: Report) -> dict:
    return {
        "file": network.source.name, "network": network.name, "dtype": report.dtype,
        "ok": report.ok and not report.missing, "missing": report.missing,
        "layers": [{"layer": d.layer, "pair": list(d.pair), "max_abs_diff": d.max_abs,
                    "tolerance": d.tolerance, "ok": d.ok} for d in report.diffs],
        "argmax_equal": {f"{a}/{b}": v for (a, b), v in report.argmax_ok.items()},
    }


def run_verify(args, source) -> int:
    from .api import TARGETS, load_source
    from .diagnostics import SpecError, render_text
    from .weights import WeightError
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        print(f"cnnspec: error: bad --targets: {', '.join(bad) or repr(args.targets)}; "
              f"choose from {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    if args.batch < 1 or args.seed < 0:
        print(f"cnnspec: error: --batch must be at least 1 and --seed at least 0 "
              f"(got --batch {args.batch}, --seed {args.seed})", file=sys.stderr)
        return 2
    if args.weights and not Path(args.weights).is_file():
        print(f"cnnspec: error: cannot read weight file {args.weights}", file=sys.stderr)
        return 2
    try:
        network = load_source(source)
        if getattr(args, "stage", None):
            network = network.with_stage(args.stage)
        report = verify_network(network, targets, args.dtype, args.seed, args.batch, args.weights)
    except SpecError as err:
        print(render_text(source, err.diagnostics), file=sys.stderr)
        return 1
    except WeightError as err:
        print(f"{args.weights}: error: {err}", file=sys.stderr)
        return 1
    except KeyError as err:
        print(f"cnnspec: error: {err.args[0]}", file=sys.stderr)
        return 2
    if getattr(args, "format", "text") == "json":
        print(json.dumps(report_json(network, report), indent=1))
    else:
        if len(targets) - len(report.missing) >= 2:
            print(render_table(network, report))
        print(render_verdict(network, report))
    compared = len(targets) - len(report.missing)
    return 0 if report.ok and not report.missing and compared >= 2 else 1
