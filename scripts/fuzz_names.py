"""The large run for issue 7's generated-code item: thousands of clean random specs with random
and hostile names, compiled to NumPy, PyTorch and Keras; each module is compiled, imported and
(in batches, one ruff call per batch) checked with ruff. Prints the figures for the closing note.

    PYTHONPATH=. python scripts/fuzz_names.py --specs 5000 [--seed 1] [--no-ruff] [--build 50]

The specs come from tests/test_names_issue7.py's generator (itself built on the random
architectures of tests/test_cross_backend.py). --build N also builds N of them in every backend
and compares their outputs (cnnspec.verify), which is slow. Exit 1 when anything failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hypothesis import HealthCheck, given, seed, settings
from test_names_issue7 import TARGETS, check_clean, compile_all, named_networks


def draw_and_compile(count: int, seed_value: int, out_dir: Path, stats: dict, keep: list) -> None:
    @seed(seed_value)
    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(named_networks())
    def each(case):
        stats["drawn"] += 1
        net = check_clean(*case)
        if net is None:
            stats["not clean"] += 1
            return
        stats["clean"] += 1
        try:
            sources = compile_all(net)
        except Exception:  # noqa: BLE001 -- counted and shown, the run goes on
            stats["failures"].append((case, traceback.format_exc(limit=3)))
            return
        for target, code in sources.items():
            (out_dir / f"m{stats['clean']}_{target}.py").write_text(code)
        if len(keep) < stats["build"]:
            keep.append(net)

    each()


def ruff_failures(out_dir: Path) -> list[str]:
    result = subprocess.run(["ruff", "check", "--isolated", "--no-cache", "--quiet",
                             "--output-format", "concise", str(out_dir)],
                            capture_output=True, text=True, check=False)
    return [line for line in result.stdout.splitlines() if line.strip()]


def build_failures(nets: list) -> list[str]:
    from cnnspec.verify import verify_network
    bad = []
    for net in nets:
        report = verify_network(net, TARGETS, dtype="float64", seed=1, batch=2)
        if not report.ok or report.missing:
            bad.append(f"{net.name}: {report.first_divergence() or report.missing}")
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", type=int, default=5000, help="random specs to draw")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build", type=int, default=0, help="also build and compare N specs")
    parser.add_argument("--no-ruff", action="store_true")
    args = parser.parse_args(argv)
    stats = {"drawn": 0, "clean": 0, "not clean": 0, "failures": [], "build": args.build}
    keep: list = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        draw_and_compile(args.specs, args.seed, Path(tmp), stats, keep)
        lint = [] if args.no_ruff else ruff_failures(Path(tmp))
    built = build_failures(keep)
    seconds = time.perf_counter() - start
    print(f"specs drawn: {stats['drawn']}, clean: {stats['clean']} (not clean: "
          f"{stats['not clean']}); modules: {stats['clean'] * len(TARGETS)}")
    print(f"compile/import failures: {len(stats['failures'])}; ruff findings: "
          f"{'not run' if args.no_ruff else len(lint)}; built and compared: {len(keep)}, "
          f"mismatches: {len(built)}; {seconds:.0f} s")
    for case, trace in stats["failures"][:5]:
        print(f"--- {case[1]}\n{case[0]}{trace}")
    for line in lint[:20] + built[:5]:
        print(line)
    return 1 if stats["failures"] or lint or built else 0


if __name__ == "__main__":
    sys.exit(main())
