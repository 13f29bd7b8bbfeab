"""Bounded work (issue 7): the input patterns that were quadratic or exponential, at N and 2N.

Each pattern is generated at two sizes, checked with `cnnspec.api.analyse`, and printed with
its wall time (best of --repeats), its peak traced memory (a separate run under tracemalloc),
how many "did you mean" searches ran, how many files were read, the diagnostics, and the
ratio t(2N)/t(N) -- about 2 for a near-linear pass, 4 for a quadratic one. Not a test: it
always exits 0. The operation counts are what tests/test_bounds_issue7.py asserts.

    python benchmarks/bench_bounds.py [--repeats 3] [--only stages imports-twice ...]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnspec import suggestions
from cnnspec.api import analyse
from cnnspec.source import SourceFile


def stages(n: int, folder: Path) -> SourceFile:
    """1,000 dense layers, then n pairs of `stage sK` / `freeze dense_1..dense_1000`."""
    lines = ["input 8"] + ["dense 2"] * 1000
    for k in range(n):
        lines += [f"stage s{k}", "freeze dense_1..dense_1000"]
    return SourceFile("stages.cnn", "\n".join(lines) + "\n")


def unknown_expect(n: int, folder: Path) -> SourceFile:
    """n layers and n expectations about layers that do not exist."""
    lines = ["input 8"] + ["dense 2"] * n + [f"expect nosuch{k}.shape == 2" for k in range(n)]
    return SourceFile("unknown_expect.cnn", "\n".join(lines) + "\n")


def unknown_freeze(n: int, folder: Path) -> SourceFile:
    """n layers and n freeze rules naming layers that do not exist."""
    lines = ["input 8"] + ["dense 2"] * n + [f"freeze dense_x{k}" for k in range(n)]
    return SourceFile("unknown_freeze.cnn", "\n".join(lines) + "\n")


def overlapping_freeze(n: int, folder: Path) -> SourceFile:
    """n layers and n rules `freeze dense_k..dense_n`, each overlapping all the earlier ones."""
    lines = ["input 8"] + ["dense 2"] * n + [f"freeze dense_{k}..dense_{n}" for k in range(1, n + 1)]
    return SourceFile("overlap.cnn", "\n".join(lines) + "\n")


def relu_layers(n: int, folder: Path) -> SourceFile:
    return SourceFile("relu.cnn", "input 8\n" + "relu\n" * n)


def _import_levels(n: int, folder: Path, times: int, tag: str) -> SourceFile:
    """n files, each importing the next `times` times (under different aliases)."""
    for k in range(n):
        path = folder / f"{tag}{k}.cnn"
        if k == n - 1:
            path.write_text("input 4\ndense 2\n")
            continue
        imports = "".join(f'import "{tag}{k + 1}.cnn" as a{j}\n' for j in range(times))
        path.write_text(imports + f"use a0\nd{k}: dense 2\n")
    return SourceFile.read(folder / f"{tag}0.cnn")


def imports_twice(n: int, folder: Path) -> SourceFile:
    return _import_levels(n, folder, 2, "two")


def imports_thrice(n: int, folder: Path) -> SourceFile:
    return _import_levels(n, folder, 3, "three")


def deep_chain(n: int, folder: Path) -> SourceFile:
    """n files in a chain without a cycle: past the depth limit, an E004 (not 'import cycle')."""
    return _import_levels(n, folder, 1, "chain")


PATTERNS = {  # name: (generator, N); each is run at N and 2N
    "stages": (stages, 7000),
    "unknown-expect": (unknown_expect, 4000),
    "unknown-freeze": (unknown_freeze, 4000),
    "overlapping-freeze": (overlapping_freeze, 8000),
    "relu": (relu_layers, 75000),
    "imports-twice": (imports_twice, 7),
    "imports-thrice": (imports_thrice, 5),
    "deep-chain": (deep_chain, 25),
}


class Counting:
    """Counts "did you mean" searches and SourceFile.read calls while it is active."""

    def __init__(self):
        self.counts: Counter = Counter()

    def __enter__(self):
        counts = self.counts
        self.search, self.read = suggestions.did_you_mean, SourceFile.__dict__["read"]

        def counted_search(word, choices, search=self.search):
            counts["searches"] += 1
            return search(word, choices)

        def counted_read(cls, path, read=self.read.__func__):
            counts["reads"] += 1
            return read(cls, path)
        suggestions.did_you_mean = counted_search
        SourceFile.read = classmethod(counted_read)
        return self

    def __exit__(self, *exc):
        suggestions.did_you_mean = self.search
        SourceFile.read = self.read


def measure(src: SourceFile, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        gc.collect()
        with Counting() as counting:
            start = time.perf_counter()
            _net, diags = analyse(src)
            times.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    analyse(src)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    codes = Counter(d.code for d in diags)
    return {"s": min(times), "mb": peak / 2**20, "chars": len(src.text), "codes": codes,
            **counting.counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(PATTERNS), default=sorted(PATTERNS))
    opts = parser.parse_args()
    print(f"{'pattern':20} {'N':>7} {'chars':>9} {'time s':>8} {'peak MB':>8} {'searches':>8} "
          f"{'reads':>5}  diagnostics")
    for name in opts.only:
        make, n = PATTERNS[name]
        rows = []
        for size in (n, 2 * n):
            with tempfile.TemporaryDirectory() as tmp:
                r = measure(make(size, Path(tmp)), opts.repeats)
            rows.append(r)
            codes = ", ".join(f"{c} x{k}" for c, k in sorted(r["codes"].items())) or "none"
            print(f"{name:20} {size:>7} {r['chars']:>9,} {r['s']:>8.3f} {r['mb']:>8.1f} "
                  f"{r.get('searches', 0):>8} {r.get('reads', 0):>5}  {codes}")
        ratio = rows[1]["s"] / max(rows[0]["s"], 1e-9)
        print(f"{'':20} t(2N)/t(N) = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
