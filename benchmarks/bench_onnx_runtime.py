"""onnxruntime on cnnspec's exported ResNet-50 against torch.onnx.export's (issue 11).

The same network (specs/zoo/resnet50.cnn) and the same random weights (portable dict, seed 0,
cnnspec.weights.resolve) exported twice:

  A. cnnspec's exporter (cnnspec.backends.onnx.serialize, what `compile --target onnx` writes);
  B. torch.onnx.export of the generated PyTorch module (runtime.build_model(..., "torch")),
     torch 2.13's dynamo exporter (onnxscript), or with --exporter torchscript the legacy
     dynamo=False one; batch dimension dynamic like A's "N".

Both run in onnxruntime's CPU provider with the same SessionOptions: 2 intra-op threads, 1
inter-op thread, graph optimisation ORT_ENABLE_ALL (the default), then ORT_DISABLE_ALL; batch 1
and 8 at 224x224x3, float32. Before timing, both must give the same output (max |A - B|
printed); the first call is the warm-up; then --rounds interleaved rounds (A B, B A, ...), the
median of each side and the median of the per-round ratio A/B. Then the node counts by op type
of both graphs as onnxruntime runs them (sess_options.optimized_model_filepath, ENABLE_ALL), to
show what it fused. Target: A/B <= 1.2 at ORT_ENABLE_ALL.

A benchmark, not a test: it always exits 0 and prints PASS/FAIL lines for a person to read.

    python benchmarks/bench_onnx_runtime.py              # ~3-4 min on 2 cores (export ~20 s)
    python benchmarks/bench_onnx_runtime.py --rounds 5 --batches 1
    python benchmarks/bench_onnx_runtime.py --exporter torchscript
"""

from __future__ import annotations

import argparse
import collections
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, table, verdict

SPEC = "specs/zoo/resnet50.cnn"
TARGET = 1.2
LEVELS = ("ORT_ENABLE_ALL", "ORT_DISABLE_ALL")


def network_and_weights():
    import cnnspec
    from cnnspec import weights as W
    network = cnnspec.load(REPO / SPEC)
    return network, W.resolve(network, None, 0, "float32")


def export_ours(tmp: Path, network=None, params=None) -> Path:
    from cnnspec.backends.onnx import serialize
    if network is None:
        network, params = network_and_weights()
    ours = tmp / "cnnspec.onnx"
    start = time.perf_counter()
    ours.write_bytes(serialize(network, params))
    print(f"cnnspec export: {time.perf_counter() - start:.2f} s")
    return ours


def export_both(tmp: Path, exporter: str) -> tuple[Path, Path, str]:
    """(cnnspec's model, torch.onnx.export's model, how torch exported) for ResNet-50."""
    from cnnspec import runtime
    network, params = network_and_weights()
    ours = export_ours(tmp, network, params)
    model = runtime.build_model(network, "torch", params, 0, "float32")
    theirs = tmp / "torch.onnx"
    how = torch_export(model, theirs, exporter)
    return ours, theirs, how


def torch_export(model, path: Path, exporter: str) -> str:
    """torch.onnx.export, batch dimension dynamic; returns a label saying how.

    "dynamo": torch.export + onnxscript (the default since torch 2.9; its optimiser folds the
    batch norms into the convolutions); "torchscript": the legacy dynamo=False exporter,
    deprecated but still in torch 2.13."""
    import warnings

    import torch
    start = time.perf_counter()
    if exporter == "dynamo":
        batch = torch.export.Dim("N", min=1, max=1024)
        program = torch.onnx.export(model, (torch.zeros(2, 3, 224, 224),), dynamo=True,
                                    input_names=["input"], dynamic_shapes=({0: batch},))
        program.save(str(path), external_data=False)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False,
                              input_names=["input"], dynamic_axes={"input": {0: "N"}})
    label = f"torch {torch.__version__} torch.onnx.export(dynamo={exporter == 'dynamo'}), opset {opset(path)}"
    print(f"{label}: {time.perf_counter() - start:.1f} s")
    return label


def opset(path: Path) -> int:
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def session(path: Path, level: str, threads: int, optimized: Path | None = None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def call(sess, x):
    feed = {sess.get_inputs()[0].name: x}
    return lambda: sess.run(None, feed)[0]


def interleaved(a, b, rounds: int) -> tuple[list[float], list[float]]:
    """Wall times of a and b, alternating who goes first; the cycle collector off meanwhile."""
    times: tuple[list[float], list[float]] = ([], [])
    gc.collect()
    gc.disable()
    try:
        for round_no in range(rounds):
            order = (0, 1) if round_no % 2 == 0 else (1, 0)
            for i in order:
                start = time.perf_counter()
                (a, b)[i]()
                times[i].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return times


def compare(sessions, batch: int, rounds: int) -> list[str]:
    """One table row: both sides' median ms, the ratio, and the outputs' max difference."""
    import numpy as np
    x = batch_input(batch)
    a, b = call(sessions[0], x), call(sessions[1], x)
    out_a, out_b = a(), b()  # the warm-up, and the agreement check
    gap = float(np.max(np.abs(out_a - out_b)))
    scale = float(np.max(np.abs(out_b)))
    times_a, times_b = interleaved(a, b, rounds)
    per_round = sorted(ta / tb for ta, tb in zip(times_a, times_b))
    ratio = statistics.median(per_round)
    q1, q3 = per_round[len(per_round) // 4], per_round[(3 * len(per_round)) // 4]
    return [str(batch), f"{statistics.median(times_a) * 1e3:.1f}",
            f"{statistics.median(times_b) * 1e3:.1f}", f"{ratio:.2f}", f"{q1:.2f}-{q3:.2f}",
            f"{gap:.1e} (of {scale:.1e})"]


def with_logits(path: Path, out: Path) -> Path:
    """A copy of the model that also outputs the final Softmax's input (the logits): with
    random weights the probabilities are all near 1/1000, so they alone would hide a gap."""
    import onnx
    model = onnx.load(str(path))
    softmax = [node for node in model.graph.node if node.op_type == "Softmax"][-1]
    model.graph.output.append(onnx.ValueInfoProto(name=softmax.input[0]))
    onnx.save(model, str(out))
    return out


def agreement(ours: Path, theirs: Path, tmp: Path, batches: list[int], threads: int) -> list[str]:
    """max |A - B| of the logits and of the probabilities, per batch, before any timing."""
    import numpy as np
    sessions = [session(with_logits(p, tmp / f"{p.stem}.logits.onnx"), "ORT_ENABLE_ALL", threads)
                for p in (ours, theirs)]
    rows = []
    for batch in batches:
        x = batch_input(batch)
        (prob_a, logit_a), (prob_b, logit_b) = (s.run(None, {s.get_inputs()[0].name: x})
                                                for s in sessions)
        rows.append([str(batch), f"{np.max(np.abs(logit_a - logit_b)):.1e}",
                     f"{np.max(np.abs(logit_b)):.1e}", f"{np.max(np.abs(prob_a - prob_b)):.1e}",
                     f"{np.max(np.abs(prob_b)):.1e}",
                     f"{np.mean(logit_a.argmax(1) == logit_b.argmax(1)):.0%}"])
    return rows


def batch_input(batch: int):
    import numpy as np
    return np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)


def op_counts(path: Path) -> collections.Counter:
    """Nodes by what they do: op type, with onnxruntime's fusions spelled out (a Conv that
    took in a residual Add has a 4th input, 'Sum'; an 'activation' attribute) and its NCHWc
    layout domain marked."""
    import onnx
    graph = onnx.load(str(path), load_external_data=False).graph
    return collections.Counter(node_label(node) for node in graph.node)


def node_label(node) -> str:
    label = node.op_type
    if node.op_type == "Conv" and len(node.input) == 4:
        label += "+Add"
    for attr in node.attribute:
        if attr.name == "activation":
            label += "+" + attr.s.decode()
    return f"{label} (nchwc)" if node.domain.endswith("nchwc") else label


def print_op_counts(counts: dict[str, collections.Counter]) -> None:
    ops = sorted(set().union(*counts.values()), key=lambda op: (-sum(c[op] for c in counts.values()), op))
    rows = [[op, *(str(c[op]) for c in counts.values())] for op in ops]
    rows.append(["total", *(str(sum(c.values())) for c in counts.values())])
    print(table(["op type", *counts], rows))


def time_levels(ours: Path, theirs: Path, tmp: Path, args, b_name: str) -> dict[str, list]:
    """The timing table at each optimisation level; ENABLE_ALL's optimised graphs are saved
    as tmp/a.opt.onnx and tmp/b.opt.onnx."""
    results = {}
    for level in LEVELS:
        keep = level == "ORT_ENABLE_ALL"
        sessions = (session(ours, level, args.threads, tmp / "a.opt.onnx" if keep else None),
                    session(theirs, level, args.threads, tmp / "b.opt.onnx" if keep else None))
        results[level] = [compare(sessions, batch, args.rounds) for batch in args.batches]
        print(f"\n{level}, {args.rounds} interleaved rounds (A = cnnspec, B = {b_name})")
        print(table(["batch", "A median ms", "B median ms", "A/B", "A/B IQR", "max|A-B|"],
                    results[level]))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per comparison")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--control", action="store_true",
                        help="an A/A control: B is a second session of cnnspec's model")
    parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                        help="B's torch.onnx.export: dynamo=True (default) or the legacy dynamo=False")
    args = parser.parse_args()
    print(machine())
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__}, CPUExecutionProvider, {args.threads} intra-op threads")
    b_name = "A again" if args.control else "torch.onnx.export"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.control:  # A against a second session of A: how far apart equals measure
            ours = theirs = export_ours(tmp)
            how = "cnnspec's model again (A/A control)"
        else:
            ours, theirs, how = export_both(tmp, args.exporter)
        print(f"B = {how}")
        agree = agreement(ours, theirs, tmp, args.batches, args.threads)
        print("\noutputs before timing (ORT_ENABLE_ALL; logits = the Softmax's input)")
        print(table(["batch", "max|A-B| logits", "max|B| logits", "max|A-B| probs", "max|B| probs",
                     "same argmax"], agree))
        before = {"A cnnspec": op_counts(ours), f"B {b_name}": op_counts(theirs)}
        results = time_levels(ours, theirs, tmp, args, b_name)
        after = {"A cnnspec": op_counts(tmp / "a.opt.onnx"), f"B {b_name}": op_counts(tmp / "b.opt.onnx")}
    print("\nnodes by op type as exported")
    print_op_counts(before)
    print("\nnodes by op type after onnxruntime's ORT_ENABLE_ALL optimisation")
    print_op_counts(after)
    for batch, row in zip(args.batches, results["ORT_ENABLE_ALL"]):
        ratio = float(row[3])
        print(verdict(ratio <= TARGET, f"batch {batch}: cnnspec/{b_name} = {ratio:.2f}x "
                                       f"at ORT_ENABLE_ALL (target <= {TARGET}x)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
