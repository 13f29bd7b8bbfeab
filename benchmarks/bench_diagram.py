"""Whole-process benchmark of `cnnspec diagram` (issue 10): DenseNet121 (307 layers, 65 block
instances) as DOT, against `cnnspec check` of the same file and an interpreter start.

Every row is a fresh `python -m cnnspec` process (no shell), interleaved round by round after
one discarded warm-up round, bytecode cached alike (common.child_env). The table gives the
median and minimum wall time and peak RSS; the html and mermaid rows (pure Python too) and
svg (Graphviz's `dot` on top) are shown for reference. Target: `diagram --format dot` at
most 0.5 s (median).

    python benchmarks/bench_diagram.py [--repeats 7] [--spec specs/zoo/densenet121.cnn]
"""

from __future__ import annotations

import argparse
import shutil
import sys

from common import PYTHON, machine, measure, median_min, table, verdict

TARGET_S = 0.5
DOT = "diagram --format dot"


def commands(spec: str) -> dict[str, list[str]]:
    cnnspec = [PYTHON, "-m", "cnnspec"]
    rows = {"python -c pass": [PYTHON, "-c", "pass"],
            "check": [*cnnspec, "check", spec],
            DOT: [*cnnspec, "diagram", spec, "--format", "dot"],
            "diagram --format mermaid": [*cnnspec, "diagram", spec, "--format", "mermaid"],
            "diagram --format html": [*cnnspec, "diagram", spec, "--format", "html"]}
    if shutil.which("dot"):
        rows["diagram --format svg (Graphviz)"] = [*cnnspec, "diagram", spec, "--format", "svg"]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--spec", default="specs/zoo/densenet121.cnn")
    args = p.parse_args(argv)
    rows = commands(args.spec)
    runs = measure(rows, {name: args.repeats for name in rows})
    print(machine())
    print(f"{args.spec}, {args.repeats} runs each after a warm-up round\n")
    body = []
    for name, results in runs.items():
        failed = [r for r in results if r.returncode != 0]
        if failed:
            print(f"{name}: exit {failed[0].returncode}: {failed[0].stderr[-500:]}", file=sys.stderr)
        wall, best = median_min([r.wall_s for r in results])
        rss = median_min([r.peak_rss_mb for r in results])[0]
        size = len(results[0].stdout.encode())
        body.append([name, f"{wall * 1000:.0f}", f"{best * 1000:.0f}", f"{rss:.0f}", f"{size:,}"])
    print(table(["command", "median ms", "min ms", "peak RSS MB", "output bytes"], body))
    dot = median_min([r.wall_s for r in runs[DOT]])[0]
    check = median_min([r.wall_s for r in runs["check"]])[0]
    print(f"\n{DOT} / check: {dot / check:.2f}x")
    print(verdict(dot <= TARGET_S, f"{DOT} median {dot * 1000:.0f} ms <= {TARGET_S * 1000:.0f} ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
