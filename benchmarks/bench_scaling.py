"""Scaling benchmark: check generated specs of 2,500 to 20,000 layers.

For each size it times `cnnspec.api.analyse` in this process (best of `--repeats`, default 3,
with the garbage collector on as a user gets it; then one run with it off, to show how much of
any super-linear growth is the collector), then `python -m cnnspec check FILE` as a whole process
(best of `--process-repeats`, default 2), and prints t(2n)/t(n), for wall and CPU time (the
doubling verdicts use CPU time, which other work on a shared machine disturbs less). It then profiles the 10,000-layer case with
cProfile and prints the top functions by cumulative and by own time. Targets (issue 2): 10,000
layers in at most 1 s; doubling the layers at most doubles the time.

    python benchmarks/bench_scaling.py [--repeats 3] [--process-repeats 2] [--sizes 2500 5000 10000 20000]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, REPO, machine, run_process, table, verdict

from cnnspec.api import analyse
from cnnspec.source import SourceFile

SIZES = (2500, 5000, 10000, 20000)
PROFILED = 10000
TARGET_S = 1.0
CHANNELS = 8

# One repeating block: (layer line, parameters of that layer at 8x8x8 after the first conv).
BLOCK = (
    ("b{i}_conv: conv 8 3x3 pad=1 -> relu", 3 * 3 * CHANNELS * CHANNELS + CHANNELS),
    ("batchnorm eps=1e-3", 4 * CHANNELS),
    ("b{i}_proj: conv 8 1x1 bias=false", CHANNELS * CHANNELS),
    ("leaky_relu alpha=0.1", 0),
    ("dropout 0.1", 0),
)
HEAD = (("globalavgpool", 0), ("dense 10 -> softmax", CHANNELS * 10 + 10))
FIRST_CONV_PARAMS = 3 * 3 * 3 * CHANNELS + CHANNELS


def body(n_layers: int) -> tuple[list[str], int]:
    """The first n_layers lines of repeated blocks (with a comment every 100 blocks) and their params."""
    lines, params = [], 0
    for k in range(n_layers):
        i, j = divmod(k, len(BLOCK))
        text, count = BLOCK[j]
        if j == 0 and i % 100 == 0:
            lines.append(f"# stage {i // 100}: blocks {i} to {i + 99}")
        lines.append(text.format(i=i))
        params += FIRST_CONV_PARAMS if k == 0 else count
    return lines, params


def generate(n_layers: int) -> tuple[str, int]:
    """A clean spec of exactly n_layers layers (input not counted) and its total parameter count."""
    lines, params = body(n_layers - len(HEAD))
    params += sum(count for _, count in HEAD)
    last = (n_layers - len(HEAD) - 1) // len(BLOCK)
    header = [f'network Deep{n_layers} "{n_layers} layers of 3x3 and 1x1 convolutions"', "",
              "input 8x8x3", ""]
    expects = ["", "expect b0_conv.shape == 8x8x8", f"expect b0_conv.params == {FIRST_CONV_PARAMS}"]
    if last > 0:
        expects += [f"expect b{last}_conv.shape == 8x8x8", f"expect b{last}_conv.params == {BLOCK[0][1]}"]
    expects.append(f"expect params == {params}")
    text = "\n".join(header + lines + [t for t, _ in HEAD] + expects) + "\n"
    return text, params


def best_analyse(source: SourceFile, repeats: int, collector: bool) -> tuple[float, float, tuple]:
    """Best wall and best CPU time of analyse(source), the collector on or off; the last result."""
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        if not collector:
            gc.disable()
        wall, cpu = time.perf_counter(), time.process_time()
        result = analyse(source)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        gc.enable()
    return min(walls), min(cpus), result


def correctness(result: tuple, n_layers: int, params: int) -> str:
    """The generated spec must check clean, with the right layer and parameter counts."""
    network, diagnostics = result
    ok = (network is not None and not diagnostics and len(network.layers) == n_layers
          and network.total_params == params)
    got = "no network" if network is None else f"{len(network.layers)} layers, {network.total_params} params"
    return verdict(ok, f"{n_layers} layers: {got}, {len(diagnostics)} diagnostic(s); "
                       f"expected {n_layers} layers, {params} params")


def best_process(path: Path, repeats: int) -> tuple[float, float, int]:
    """Best wall and CPU time of `python -m cnnspec check path`, and the last exit code."""
    runs = [run_process([PYTHON, "-m", "cnnspec", "check", str(path)]) for _ in range(repeats)]
    return min(r.wall_s for r in runs), min(r.cpu_s for r in runs), runs[-1].returncode


def measure_size(n_layers: int, workdir: Path, args: argparse.Namespace) -> dict:
    text, params = generate(n_layers)
    path = workdir / f"deep{n_layers}.cnn"
    path.write_text(text)
    source = SourceFile(str(path), text)
    row = {"n": n_layers, "lines": text.count("\n")}
    row["wall"], row["cpu"], result = best_analyse(source, args.repeats, collector=True)
    row["check"] = correctness(result, n_layers, params)
    _, row["cpu_nogc"], _ = best_analyse(source, 1, collector=False)
    row["proc_wall"], row["proc_cpu"], row["rc"] = best_process(path, args.process_repeats)
    print(f"  {n_layers:>6} layers: analyse {row['wall']:.3f} s wall, {row['cpu']:.3f} s CPU "
          f"(gc off {row['cpu_nogc']:.3f} s CPU); check process {row['proc_wall']:.3f} s wall, "
          f"{row['proc_cpu']:.3f} s CPU; exit {row['rc']}", flush=True)
    return row


def ratio(rows: list[dict], i: int, key: str) -> str:
    before = [r for r in rows if r["n"] * 2 == rows[i]["n"]]
    return f"{rows[i][key] / before[0][key]:.2f}" if before else "-"


def report(rows: list[dict]) -> list[str]:
    headers = ["layers", "lines", "analyse wall s", "x prev", "CPU s", "x prev", "CPU gc off", "x prev",
               "check wall s", "x prev", "CPU s", "x prev"]
    body_rows = [[f"{r['n']:,}", f"{r['lines']:,}"]
                 + [cell for key in ("wall", "cpu", "cpu_nogc", "proc_wall", "proc_cpu")
                    for cell in (f"{r[key]:.3f}", ratio(rows, i, key))] for i, r in enumerate(rows)]
    lines = [table(headers, body_rows), ""] + [r["check"] for r in rows]
    lines += [verdict(r["rc"] == 0, f"`cnnspec check` of {r['n']:,} layers exited {r['rc']}") for r in rows]
    return lines + targets(rows)


def targets(rows: list[dict]) -> list[str]:
    """Time at 10,000 layers judged on wall time; doubling judged on CPU time, which a shared
    machine's load disturbs less than wall time (the wall ratios are in the table)."""
    lines = []
    for r in (r for r in rows if r["n"] == PROFILED):
        lines.append(verdict(r["wall"] <= TARGET_S, f"analyse of {PROFILED:,} layers {r['wall']:.3f} s <= {TARGET_S} s"))
        lines.append(verdict(r["proc_wall"] <= TARGET_S,
                             f"`cnnspec check` process of {PROFILED:,} layers {r['proc_wall']:.3f} s <= {TARGET_S} s"))
    for i, r in enumerate(rows):
        for key, what in (("cpu", "analyse CPU"), ("proc_cpu", "check process CPU")):
            if ratio(rows, i, key) != "-":
                lines.append(verdict(float(ratio(rows, i, key)) <= 2.0,
                                     f"{what} t({r['n']:,})/t({r['n'] // 2:,}) = {ratio(rows, i, key)} <= 2"))
    return lines


def short(location: tuple[str, int, str]) -> str:
    """'lark/lexer.py:614(next_token)' rather than the full site-packages path."""
    file, line, func = location
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{line}({func})" if line else func


def top(stats: pstats.Stats, column: int, count: int) -> list[str]:
    """The top `count` functions; column 3 sorts by cumulative time, 2 by own time."""
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][column], reverse=True)[:count]
    lines = [f"  {'ncalls':>9} {'own s':>7} {'cum s':>7}  function"]
    for location, (_, ncalls, own, cum, _) in entries:
        lines.append(f"  {ncalls:>9} {own:>7.3f} {cum:>7.3f}  {short(location)}")
    return lines


def shares(stats: pstats.Stats) -> str:
    """Where the own time goes: Lark, cnnspec, everything else."""
    buckets = {"lark": 0.0, "cnnspec": 0.0, "other": 0.0}
    for (file, _, _), (_, _, own, _, _) in stats.stats.items():
        key = "lark" if "/lark/" in file else "cnnspec" if "/cnnspec/" in file else "other"
        buckets[key] += own
    total = sum(buckets.values()) or 1.0
    return "  own time: " + ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f}%)" for k, v in buckets.items())


def profile(n_layers: int) -> list[str]:
    text, _ = generate(n_layers)
    source = SourceFile(f"deep{n_layers}.cnn", text)
    profiler = cProfile.Profile()
    profiler.runcall(analyse, source)
    stats = pstats.Stats(profiler)
    lines = [f"cProfile of analyse, {n_layers:,} layers (total {stats.total_tt:.2f} s under the profiler)",
             "top 15 by cumulative time:", *top(stats, 3, 15), "top 10 by own time:", *top(stats, 2, 10)]
    return lines + [shares(stats)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many analyse calls")
    parser.add_argument("--process-repeats", type=int, default=2, help="best of this many processes")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    print(machine())
    print(f"in-process: cnnspec.api.analyse on text already in memory, best of {args.repeats} "
          f"(gc off: 1 run); process: `python -m cnnspec check FILE`, best of {args.process_repeats}; "
          "wall and CPU (user + system) seconds\n")
    with tempfile.TemporaryDirectory(prefix="cnnspec-scaling-") as tmp:
        rows = [measure_size(n, Path(tmp), args) for n in sorted(args.sizes)]
    print()
    print("\n".join(report(rows)))
    if not args.no_profile:
        print()
        print("\n".join(profile(PROFILED)))
    print(machine().replace("machine:", "after:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
