"""Zoo benchmark (issue 9): the NumPy backend on modern CNNs, and `summary` of the largest spec.

    python benchmarks/bench_zoo.py [--threads 2] [--batch 8] [--rounds 7] [--models ...]
                                   [--summary-repeats 7] [--no-forward] [--no-summary]

1. NumPy against PyTorch, forward pass, float32, batch 8, MobileNetV2 and ResNet50 from
   specs/zoo/ (any other zoo spec with --models): the same generated code `cnnspec.build`
   gives, the same weights (seed 0), the same thread count for both (one child process that
   pins OpenBLAS/OMP/MKL, threadpoolctl and torch to n threads before any work; see
   bench_backends.py, whose measuring functions this reuses: interleaved rounds in a changing
   order, medians and IQRs of the per-round ratio). Target: numpy/torch at most 2x, per model.
   A per-kind profile of the NumPy forward follows (where the time goes).
2. `cnnspec summary --format json` as a whole process: specs/zoo/densenet121.cnn (the largest
   zoo spec, ~430 layers) against specs/zoo/vgg16.cnn, interleaved fresh processes with the
   bytecode cache of common.child_env. Target: DenseNet121 at most 1.5x VGG16.

A benchmark, not a test: it always exits 0 and prints PASS/FAIL lines against the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import PYTHON, REPO, child_env, machine, measure, median_min, table, verdict

ZOO = REPO / "specs" / "zoo"
NUMPY_TARGET = 2.0
SUMMARY_TARGET = 1.5


def forward_child(args) -> int:
    """One thread count: build each model for NumPy and PyTorch and time them interleaved."""
    import bench_backends as bb

    from cnnspec import weights as W
    limiter = bb.pin_threads(args.threads)  # noqa: F841 - the limits hold while it lives
    bb.describe_threads(args.threads)
    records = []
    for name in args.models:
        case = bb.make_case(name, (ZOO / f"{name}.cnn").read_text(), args.batch, 0, "",
                            f"{name} batch {args.batch}")
        params = W.init_weights(case["net"], seed=0, dtype="float32")
        models = {t: bb.timed_build(case, t, params) for t in ("numpy", "torch")}
        record = bb.numpy_vs_torch(case, models, (args.rounds, 120.0))
        record["kinds"] = kind_profile(case, models["numpy"])
        records.append(record)
        del models  # one model's memory at a time
    Path(args.result).write_text(json.dumps(records))
    return 0


def kind_profile(case: dict, model) -> dict[str, float]:
    """Seconds of one NumPy forward per node kind (timed between the module's yields)."""
    import bench_backends as bb
    by_name = {n.name: n.kind for n in case["net"].nodes}
    totals: dict[str, float] = defaultdict(float)
    for name, seconds in bb.layer_times_numpy(model, case["x"]).items():
        totals[by_name.get(name, name.split(".")[0])] += seconds
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def run_forward(args) -> list[str]:
    env = child_env()
    env.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                               "MKL_NUM_THREADS")})
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "forward.json"
        argv = [PYTHON, __file__, "--child", "--threads", str(args.threads), "--batch",
                str(args.batch), "--rounds", str(args.rounds), "--result", str(result),
                "--models", *args.models]
        code = subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
        if code != 0 or not result.exists():
            return [verdict(False, "the forward benchmark's child failed")]
        records = json.loads(result.read_text())
    lines = []
    for r in records:
        top = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in list(r["kinds"].items())[:4])
        lines.append(f"  {r['label']}: NumPy time by kind: {top}")
        lines.append(verdict(r["wall"]["ratio"] <= NUMPY_TARGET,
                             f"{r['label']}: numpy/torch {r['wall']['ratio']:.2f}x wall "
                             f"[IQR {r['wall']['q1']:.2f}-{r['wall']['q3']:.2f}], CPU "
                             f"{r['cpu']['ratio']:.2f}x at {args.threads} threads "
                             f"(target <= {NUMPY_TARGET}x)"))
    return lines


def run_summary(args) -> list[str]:
    specs = {"vgg16": ZOO / "vgg16.cnn", "densenet121": ZOO / "densenet121.cnn"}
    commands = {name: [PYTHON, "-m", "cnnspec", "summary", str(path), "--format", "json"]
                for name, path in specs.items()}
    runs = measure(commands, {name: args.summary_repeats for name in commands})
    rows, medians = [], {}
    for name, done in runs.items():
        if any(r.returncode for r in done):
            return [verdict(False, f"summary {name} failed: {done[0].stderr[-300:]}")]
        med, low = median_min([r.wall_s for r in done])
        medians[name] = med
        layers = len(json.loads(done[0].stdout)["layers"])
        rows.append([f"summary {name} ({layers} layers)", f"{med * 1e3:.0f}", f"{low * 1e3:.0f}",
                     f"{median_min([r.cpu_s for r in done])[0] * 1e3:.0f}"])
    print(table(["whole process", "median ms", "min ms", "CPU ms"], rows))
    ratio = medians["densenet121"] / medians["vgg16"]
    return [verdict(ratio <= SUMMARY_TARGET, f"summary densenet121 / vgg16 = {ratio:.2f}x "
                    f"(target <= {SUMMARY_TARGET}x)")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=["mobilenetv2", "resnet50"])
    parser.add_argument("--summary-repeats", type=int, default=7)
    parser.add_argument("--no-forward", action="store_true")
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return forward_child(args)
    print(machine(), flush=True)
    start, lines = time.perf_counter(), []
    if not args.no_forward:
        lines += run_forward(args)
    if not args.no_summary:
        lines += run_summary(args)
    print("\n".join(lines))
    print(f"(bench_zoo: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
