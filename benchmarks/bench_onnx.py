"""ONNX export (issue 11): how fast `compile --target onnx` is, and how fast its model runs.

1. `cnnspec compile specs/zoo/resnet50.cnn --target onnx -o FILE` as a whole process (25.6 M
   weights, a 103 MB file), against `cnnspec check` of the same spec (the parse and checking
   every compile does first), in interleaved rounds; wall and CPU time (CPU is less disturbed
   by other load on a shared machine). Target: the whole process under 1 s.
2. onnxruntime's forward pass (CPU provider, 2 intra-op threads, batch 1, 224x224x3, float32)
   of that model against the same network exported from the generated PyTorch code with
   `torch.onnx.export` (torch 2.13's dynamo exporter, onnxscript), same weights; interleaved
   rounds, medians. Target: cnnspec's model at most 1.2x the time of torch's.

A benchmark, not a test: it always exits 0 and prints PASS/FAIL lines for a person to read.

    python benchmarks/bench_onnx.py                # ~2 min (the torch export is most of it)
    python benchmarks/bench_onnx.py --no-runtime   # the compile timing only (~20 s)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, REPO, machine, measure, median_min, table, verdict

SPEC = "specs/zoo/resnet50.cnn"


def compile_timing(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "resnet50.onnx")
        commands = {
            "compile --target onnx": [PYTHON, "-m", "cnnspec", "compile", SPEC, "--target", "onnx",
                                      "-o", out],
            "check": [PYTHON, "-m", "cnnspec", "check", SPEC],
        }
        runs = measure(commands, dict.fromkeys(commands, repeats))
        size = Path(out).stat().st_size
    rows = []
    for name, done in runs.items():
        bad = [r for r in done if r.returncode != 0]
        if bad:
            print(f"{name} failed: {bad[0].stderr.strip()[:300]}")
            return
        wall, cpu = median_min([r.wall_s for r in done]), median_min([r.cpu_s for r in done])
        rows.append([name, f"{wall[0]:.3f} (min {wall[1]:.3f})", f"{cpu[0]:.3f} (min {cpu[1]:.3f})",
                     f"{statistics.median(r.peak_rss_mb for r in done):.0f}"])
    print(f"\n1. whole processes on {SPEC} ({size / 1e6:.1f} MB model), {repeats} rounds")
    print(table(["command", "wall s median", "CPU s median", "peak RSS MB"], rows))
    onnx_wall = statistics.median(r.wall_s for r in runs["compile --target onnx"])
    onnx_cpu = statistics.median(r.cpu_s for r in runs["compile --target onnx"])
    check_cpu = statistics.median(r.cpu_s for r in runs["check"])
    print(f"compile --target onnx / check: CPU {onnx_cpu / check_cpu:.2f}x; the export itself "
          f"{onnx_cpu - check_cpu:.3f} s of CPU")
    print(verdict(onnx_wall < 1.0, f"compile --target onnx of ResNet-50 under 1 s wall (median {onnx_wall:.3f} s)"))
    print(verdict(onnx_cpu < 1.0, f"... and under 1 s of CPU (median {onnx_cpu:.3f} s)"))


def exported_models(tmp: Path):
    """(cnnspec's model path, torch.onnx.export's model path, the input) for ResNet-50."""
    import numpy as np
    import torch

    import cnnspec
    from cnnspec import runtime
    from cnnspec import weights as W
    from cnnspec.backends.onnx import serialize
    network = cnnspec.load(REPO / SPEC)
    params = W.resolve(network, None, 0, "float32")
    ours = tmp / "cnnspec.onnx"
    ours.write_bytes(serialize(network, params))
    model = runtime.build_model(network, "torch", params, 0, "float32")
    x = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    start = time.perf_counter()
    program = torch.onnx.export(model, (torch.from_numpy(nchw),), dynamo=True,
                                input_names=["input"])
    print(f"torch.onnx.export (dynamo): {time.perf_counter() - start:.1f} s")
    theirs = tmp / "torch.onnx"
    program.save(str(theirs))
    return ours, theirs, nchw


def session(path: Path, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runtime_ratio(rounds: int, threads: int) -> None:
    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs, x = exported_models(Path(tmp))
        sessions = {"cnnspec": session(ours, threads), "torch.onnx.export": session(theirs, threads)}
        feeds = {name: {s.get_inputs()[0].name: x} for name, s in sessions.items()}
        outputs = {name: s.run(None, feeds[name])[0] for name, s in sessions.items()}  # warm-up
        gap = float(np.max(np.abs(outputs["cnnspec"] - outputs["torch.onnx.export"])))
        times = {name: [] for name in sessions}
        for round_no in range(rounds):
            order = list(sessions) if round_no % 2 == 0 else list(reversed(sessions))
            for name in order:
                start = time.perf_counter()
                sessions[name].run(None, feeds[name])
                times[name].append(time.perf_counter() - start)
        nodes = {name: len(__import__("onnx").load(str(p), load_external_data=False).graph.node)
                 for name, p in (("cnnspec", ours), ("torch.onnx.export", theirs))}
    rows = [[name, f"{statistics.median(t) * 1e3:.1f}", f"{min(t) * 1e3:.1f}", str(nodes[name])]
            for name, t in times.items()]
    print(f"\n2. onnxruntime forward, ResNet-50, batch 1, {threads} threads, {rounds} interleaved rounds")
    print(table(["model", "median ms", "min ms", "nodes"], rows))
    ratio = statistics.median(times["cnnspec"]) / statistics.median(times["torch.onnx.export"])
    print(f"outputs agree to max|a - b| = {gap:.2e}; cnnspec / torch.onnx.export = {ratio:.2f}x")
    print(verdict(ratio <= 1.2, f"onnxruntime on cnnspec's ResNet-50 within 1.2x of torch.onnx.export's ({ratio:.2f}x)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="compile rounds")
    parser.add_argument("--rounds", type=int, default=30, help="onnxruntime rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-runtime", action="store_true", help="skip the onnxruntime comparison")
    args = parser.parse_args()
    print(machine())
    compile_timing(args.repeats)
    if not args.no_runtime:
        runtime_ratio(args.rounds, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
