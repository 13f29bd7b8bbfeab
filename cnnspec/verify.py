"""`cnnspec verify`: build every backend with the same weights, feed the same input, compare.

Tolerance (design.md section 4): max|a - b| <= rtol * max(1, max|a|) per layer and at the output,
with rtol 1e-10 in float64 and 1e-5 in float32, and the same argmax for every sample.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass

from .ir import Network
from .verify_batches import CHUNK_BYTES, BatchError, plan_chunks

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


class Comparison:
    """Running maxima over the chunks of a batch: per (layer, pair) max|a - b| and max|a|, and
    per pair the largest top-score gap of a sample whose argmax differs. NaN propagates."""

    def __init__(self, network: Network, targets: list[str]):
        self.network = network
        self.pairs = list(itertools.combinations(targets, 2))
        self.err: dict[tuple[str, tuple], float] = {}
        self.ref: dict[tuple[str, tuple], float] = {}
        self.gap = dict.fromkeys(self.pairs, 0.0)
        self.top = dict.fromkeys(self.pairs, 0.0)

    def add(self, outputs: dict[str, dict]) -> None:
        """One chunk: every node both backends of a pair computed (a Keras model leaves out
        the nodes no output depends on), and every output."""
        for node in self.network.layers:
            for a, b in self.pairs:
                key = (node.name, (a, b))
                if node.name not in outputs[a] or node.name not in outputs[b]:
                    continue
                ref, other = outputs[a][node.name], outputs[b][node.name]
                err = max_abs_diff(ref, other)
                self.err[key] = _max(self.err.get(key, 0.0), err)
                self.ref[key] = _max(self.ref.get(key, 0.0), max_abs(ref))
        if not self.network.layers:
            return  # no layers: the output is the input itself, nothing to predict
        for output in self.network.output_nodes:
            for a, b in self.pairs:
                ya, yb = outputs[a].get(output.name), outputs[b].get(output.name)
                if ya is not None and yb is not None and ya.shape == yb.shape:
                    self.gap[(a, b)] = _max(self.gap[(a, b)], argmax_gap(ya, yb))
                    self.top[(a, b)] = _max(self.top[(a, b)], max_abs(ya))

    def result(self, dtype: str) -> tuple[list[LayerDiff], dict]:
        diffs = []
        for (layer, pair), err in self.err.items():
            scale = 0.0 if err == float("inf") else max(1.0, self.ref[(layer, pair)])
            diffs.append(LayerDiff(layer, pair, err, scale, RTOL[dtype] * scale))
        argmax = {p: same_prediction(self.gap[p], self.top[p], RTOL[dtype]) for p in self.pairs}
        return diffs, argmax


def _max(a: float, b: float) -> float:
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def max_abs(a) -> float:
    import numpy as np
    return float(np.max(np.abs(a))) if a.size else 0.0


def max_abs_diff(ref, other) -> float:
    """max|ref - other| in float64; inf when the shapes differ."""
    import numpy as np
    if ref.shape != other.shape:
        return float("inf")
    return float(np.max(np.abs(ref.astype(np.float64) - other))) if ref.size else 0.0


def compare(network: Network, outputs: dict[str, dict], dtype: str) -> tuple[list, dict]:
    """Layer-by-layer differences for every pair of backends, in layer order."""
    comparison = Comparison(network, list(outputs))
    comparison.add(outputs)
    return comparison.result(dtype)


def argmax_gap(ya, yb) -> float:
    """The largest |ya[r, argmax ya[r]] - ya[r, argmax yb[r]]| over samples whose argmax
    differs (0 when none does)."""
    import numpy as np
    ya, yb = ya.reshape(len(ya), -1), yb.reshape(len(yb), -1)
    ia, ib = ya.argmax(1), yb.argmax(1)
    rows = np.nonzero(ia != ib)[0]
    gaps = np.abs(ya[rows, ia[rows]] - ya[rows, ib[rows]])
    return float(np.max(gaps)) if len(rows) else 0.0


def same_prediction(gap: float, top: float, rtol: float) -> bool:
    """Same argmax per sample, given argmax_gap and max|a|: a differing one counts only when it
    is not a tie within the tolerance (two top scores equal up to rounding may swap)."""
    return bool(gap <= rtol * max(1.0, top))


def target_problem(targets: list[str], text: str | None = None) -> str | None:
    """Why a list of verify targets (given as `text`) is unusable (None when it is fine)."""
    from .api import TARGETS
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        return f"bad --targets: {', '.join(bad) or repr(','.join(targets) if text is None else text)}; choose from {', '.join(TARGETS)}"
    twice = sorted({t for t in targets if targets.count(t) > 1}, key=targets.index)
    if twice:
        return (f"--targets names {', '.join(twice)} more than once; each backend is compared "
                "once, so list it once")
    return None


def verify_network(network: Network, targets, dtype="float64", seed=0, batch=2, weights=None,
                   chunk_bytes: int = CHUNK_BYTES) -> Report:
    """Build every target with the same weights and compare their layers on one random batch,
    run in chunks of about chunk_bytes (see verify_batches); ValueError for unusable targets,
    BatchError for a batch too large."""
    import numpy as np

    from . import weights as W
    from .onnx_runtime import dtype_problem
    from .runtime import build_model, missing_backend, run_layers
    targets = list(targets)
    if problem := target_problem(targets) or dtype_problem(targets, dtype):
        raise ValueError(problem)
    missing = {t: why for t in targets if (why := missing_backend(t))}
    present = [t for t in targets if t not in missing]
    plan = plan_chunks(network, batch, dtype, len(present), chunk_bytes)
    params = W.resolve(network, weights, seed, dtype)
    models = {t: build_model(network, t, params, seed, dtype) for t in present}
    comparison, rng = Comparison(network, present), np.random.default_rng(seed)
    for size in plan.sizes():
        x = rng.standard_normal((size, *network.input_shape)).astype(dtype)
        comparison.add({t: run_layers(models[t], t, network, x) for t in present})
    diffs, argmax = comparison.result(dtype)
    return Report(targets, missing, diffs, argmax, dtype)


def render_table(network: Network, report: Report) -> str:
    order = report.targets.index
    pairs = sorted({d.pair for d in report.diffs}, key=lambda p: (order(p[0]), order(p[1])))
    heads = ["Layer", "Output shape"] + [f"{a} vs {b}" for a, b in pairs]
    rows = [heads]
    by_key = {(d.layer, d.pair): d for d in report.diffs}
    for node in network.layers:
        cells = [node.name, "x".join(map(str, node.out_shape))]
        for pair in pairs:
            d = by_key.get((node.name, pair))
            cells.append("-" if d is None else f"{d.max_abs:.2e}" + ("" if d.ok else " FAIL"))
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
    from .api import load_source
    from .diagnostics import SpecError, render_text
    from .weight_file import UnreadableWeightFile, WeightError
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    from .onnx_runtime import dtype_problem
    usage = target_problem(targets, args.targets) or dtype_problem(targets, args.dtype)
    if usage is None and (args.batch < 1 or args.seed < 0):
        usage = (f"--batch must be at least 1 and --seed at least 0 (got --batch {args.batch}, "
                 f"--seed {args.seed})")
    if usage:
        print(f"cnnspec: error: {usage}", file=sys.stderr)
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
        for problem in err.problems:
            print(f"{args.weights}: error: {problem}", file=sys.stderr)
        return 2 if isinstance(err, UnreadableWeightFile) else 1
    except (KeyError, BatchError) as err:
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
