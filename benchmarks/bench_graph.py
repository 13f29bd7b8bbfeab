"""Graph benchmark (issue 8): check generated graphs with blocks, in process.

The spec has a residual block (a conv, a batch norm, a conv, a projection that exists only
when the channels change, an `add` of the two paths), a stage block that repeats it, and
stages at top level, so that expansion, conditions, `a?b` and merges are all on the path.
Without merge kinds (before cnnspec.kinds has `add`), the block's join is a third conv
reading the projection-or-input, which keeps the branches and conditions.

Targets: 10,000 nodes check in at most 1 s; doubling to 20,000 at most doubles the time.

    python benchmarks/bench_graph.py [--repeats 3] [--sizes 5000 10000 20000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

from cnnspec.api import analyse
from cnnspec.checker import _is_merge
from cnnspec.source import SourceFile

TARGET_S = 1.0
PER_STAGE = 100  # block instances per stage


def spec(nodes: int) -> str:
    """About `nodes` nodes: stages of PER_STAGE residual blocks of 4 nodes each (5 in the first
    of a stage, where the channels change and the projection exists)."""
    join = "  out: add c2 proj?in -> relu\n" if _is_merge("add") else \
        "  out: conv f 1x1 from=proj?in -> relu\n"
    stages = max(1, round(nodes / (4 * PER_STAGE + 1)))
    lines = ["network graph_bench", "input 8x8x4",
             "block residual(f)",
             "  c1: conv f 3x3 pad=1 -> relu",
             "  bn: batchnorm",
             "  c2: conv f 3x3 pad=1",
             "  proj: conv f 1x1 from=in if in.channels != f",
             join.rstrip("\n"),
             "end",
             "block stage(f, n)",
             "  blocks: repeat n residual f",
             "end"]
    lines += [f"s{k}: stage {8 + 4 * (k % 2)} {PER_STAGE}" for k in range(stages)]
    lines += ["gap: globalavgpool", "fc: dense 10 -> softmax"]
    return "\n".join(lines) + "\n"


def best_time(text: str, repeats: int) -> tuple[float, float, int]:
    """(best wall s, best CPU s, nodes): the verdicts use CPU time, which other work on a
    shared machine disturbs less."""
    best, best_cpu, count = float("inf"), float("inf"), 0
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        net, diags = analyse(SourceFile.from_text(text, "bench.cnn"))
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        errors = [d for d in diags if d.severity == "error"]
        if net is None or errors:
            sys.exit(f"the generated spec does not check: {errors[:3]}")
        count = len(net.nodes)
    return best, best_cpu, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    args = parser.parse_args()
    merges = "add" if _is_merge("add") else "no merge kind yet: conv joins"
    print(f"graph benchmark: residual blocks in repeated stages ({merges}); best of {args.repeats}")
    print(f"{'nodes':>8} {'instances':>10} {'lines':>6} {'wall s':>8} {'CPU s':>8} {'CPU us/node':>12}")
    times = {}
    for size in args.sizes:
        text = spec(size)
        gc.collect()
        wall, cpu, count = best_time(text, args.repeats)
        net, _ = analyse(SourceFile.from_text(text, "bench.cnn"))
        times[size] = cpu
        print(f"{count:>8,} {len(net.instances):>10,} {text.count(chr(10)):>6} {wall:>8.3f} "
              f"{cpu:>8.3f} {cpu / count * 1e6:>12.1f}")
    return verdicts(times)


def verdicts(times: dict[int, float]) -> int:
    ok = True
    if 10000 in times:
        good = times[10000] <= TARGET_S
        ok &= good
        print(f"10,000 nodes: {times[10000]:.3f} s CPU (target <= {TARGET_S} s): {'ok' if good else 'MISSED'}")
    for size, seconds in times.items():
        if size * 2 in times:
            ratio = times[size * 2] / seconds
            good = ratio <= 2.0
            ok &= good
            print(f"t({size * 2:,}) / t({size:,}) = {ratio:.2f} (target <= 2): {'ok' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
