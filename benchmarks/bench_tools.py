"""Speed of the review tools (issue 10): `fmt --check` and `diff` against `check` of the same files.

    python benchmarks/bench_tools.py [--repeats 7]

Whole processes (`python -m cnnspec ...`), in interleaved rounds so that load hits every
command alike, the bytecode cache of common.child_env, medians of >= 7 runs after a warm-up:

1. `fmt --check specs/` against `check` of the same files (every .cnn under specs/, the zoo
   included, listed in one command). Target: at most 1.5x.
2. `diff` of specs/zoo/resnet50.cnn and a copy with one layer changed (the classifier's
   width) against `check` of both files in one process. Target: at most 1.5x.

`python -m cnnspec --version` (the interpreter and the CLI's imports, no spec) is printed as
the floor that every command pays. A benchmark, not a test: it always exits 0 and prints
PASS/FAIL lines against the targets.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import PYTHON, REPO, machine, measure, median_min, table, verdict

TARGET = 1.5
SPECS = REPO / "specs"
RESNET = SPECS / "zoo" / "resnet50.cnn"
CHANGE = ("predictions: dense 1000", "predictions: dense 500")


def changed_resnet(folder: Path) -> Path:
    """ResNet-50 with a narrower classifier, its expect lines (which state the old counts)
    dropped, so that both specs check clean."""
    text = RESNET.read_text()
    assert CHANGE[0] in text, f"{RESNET} has no line {CHANGE[0]!r}"
    text = text.replace(*CHANGE, 1)
    path = folder / "resnet50_changed.cnn"
    path.write_text("".join(line for line in text.splitlines(keepends=True)
                            if not line.startswith("expect")))
    return path


def cnnspec(*args) -> list[str]:
    return [PYTHON, "-m", "cnnspec", *map(str, args)]


def commands(changed: Path) -> dict[str, list[str]]:
    files = sorted(SPECS.rglob("*.cnn"))  # what `fmt specs/` formats: every .cnn under it
    return {
        "floor: --version": cnnspec("--version"),
        f"fmt --check specs/ ({len(files)} files)": cnnspec("fmt", "--check", SPECS),
        f"check of the same {len(files)} files": cnnspec("check", *files),
        "diff resnet50 resnet50_changed": cnnspec("diff", RESNET, changed),
        "check resnet50 resnet50_changed": cnnspec("check", RESNET, changed),
    }


def expected_codes(name: str) -> tuple[int, ...]:
    """fmt --check exits 1 when a file would change, diff when the specs differ."""
    return (0, 1) if name.startswith(("fmt", "diff")) else (0,)


def report(runs: dict) -> list[str]:
    rows, medians, cpus = [], [], []
    for name, done in runs.items():
        bad = [r for r in done if r.returncode not in expected_codes(name)]
        if bad:
            return [verdict(False, f"{name} exited {bad[0].returncode}: {bad[0].stderr[-300:]}")]
        med, low = median_min([r.wall_s for r in done])
        medians.append(med)
        cpus.append(median_min([r.cpu_s for r in done])[0])
        rows.append([name, f"{med * 1e3:.0f}", f"{low * 1e3:.0f}", f"{cpus[-1] * 1e3:.0f}",
                     str(len(done))])
    print(table(["whole process", "median ms", "min ms", "CPU ms (median)", "runs"], rows))
    return [ratio_line("fmt --check specs/ / check", medians[1:3], cpus[1:3]),
            ratio_line("diff resnet50 / check of both", medians[3:5], cpus[3:5])]


def ratio_line(what: str, walls: list[float], cpus: list[float]) -> str:
    """The verdict on the wall-time ratio of medians; the CPU-time ratio beside it (steadier
    when other processes share the cores)."""
    wall, cpu = walls[0] / walls[1], cpus[0] / cpus[1]
    return verdict(wall <= TARGET, f"{what} = {wall:.2f}x wall, {cpu:.2f}x CPU "
                   f"(target <= {TARGET}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (>= 7)")
    args = parser.parse_args()
    print(machine(), flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        todo = commands(changed_resnet(Path(folder)))
        runs = measure(todo, {name: max(7, args.repeats) for name in todo})
    print("\n".join(report(runs)))
    print(machine())
    print(f"(bench_tools: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
