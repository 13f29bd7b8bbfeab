"""ONNX export (issue 11): how fast `compile --target onnx` is.

`cnnspec compile specs/zoo/resnet50.cnn --target onnx -o FILE` as a whole process (25.6 M
weights, a 103 MB file), against `cnnspec check` of the same spec (the parse and checking
every compile does first), in interleaved rounds; wall and CPU time (CPU is less disturbed by
other load on a shared machine). Target: the whole process under 1 s. The onnxruntime forward of this model against torch.onnx.export's is
benchmarks/bench_onnx_runtime.py.

A benchmark, not a test: it always exits 0 and prints PASS/FAIL lines for a person to read.

    python benchmarks/bench_onnx.py    # ~20 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, machine, measure, median_min, table, verdict

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="compile rounds")
    args = parser.parse_args()
    print(machine())
    compile_timing(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
