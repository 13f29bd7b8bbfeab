"""The large fuzz run: grammar-aware mutants of the shipped specs, by the hundred thousand.

    python scripts/fuzz.py [--count 100000] [--time-limit SECONDS] [--per-input 10]
                           [--workers 2] [--first-seed 0] [--save fuzz_out] [--cli-every 25]

Mutant i is `tests/spec_mutations.mutant(random.Random(i), specs)`: a seed reproduces it.
Each input goes through the checks of tests/soundness.py (analyse never raises, diagnostics
are located, clean networks summarise and render) and, one in `--cli-every`, through
`cnnspec check` and `cnnspec summary` in-process (exit 0 or 1, nothing raised). An input that
takes longer than `--per-input` seconds is a hang (SIGALRM in the worker process); memory is
capped per worker (`--memory-mb`), so a runaway allocation is a MemoryError, not a dead
machine. Prints the inputs run, failures by kind (exceptions, failed checks, hangs) with their
seeds, the slowest input and its time; the first few reproducers of each kind are saved under
`--save`, each folder a copy of the scratch folder with the mutant as `mutant.cnn`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from soundness import assert_sound
from spec_mutations import SPECS, mutant, scratch_folder

from cnnspec.cli import main as cli_main

TEXTS = [p.read_text() for p in SPECS]


class Hang(Exception):
    pass


@dataclass
class Tally:
    """What a batch of inputs gave; batches add up."""

    inputs: int = 0
    clean: int = 0
    cli_runs: int = 0
    failures: list = field(default_factory=list)  # (kind, seed, what, where)
    slowest: tuple = (0.0, -1)  # (seconds, seed)
    codes: Counter = field(default_factory=Counter)
    peak_mb: float = 0.0  # the largest resident set of a worker

    def add(self, other: Tally) -> None:
        self.inputs += other.inputs
        self.clean += other.clean
        self.cli_runs += other.cli_runs
        self.failures += other.failures
        self.slowest = max(self.slowest, other.slowest)
        self.codes.update(other.codes)
        self.peak_mb = max(self.peak_mb, other.peak_mb)


def mutant_text(seed: int) -> str:
    return mutant(random.Random(seed), TEXTS)


# --- in the worker ----------------------------------------------------------------------

SCRATCH: Path | None = None


def start_worker(memory_mb: int) -> None:
    global SCRATCH
    os.nice(5)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    SCRATCH = scratch_folder(Path(tempfile.mkdtemp(prefix="cnnspec-fuzz-")))
    signal.signal(signal.SIGALRM, _alarm)


def _alarm(signum, frame):
    raise Hang


def run_one(seed: int, text: str, cli: bool, tally: Tally) -> None:
    path = SCRATCH / "mutant.cnn"
    path.write_text(text)
    network, diags = assert_sound(text, str(path))
    tally.codes.update({d.code for d in diags})
    tally.clean += network is not None and not any(d.severity == "error" for d in diags)
    if cli:
        tally.cli_runs += 1
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for command in ("check", "summary"):
                code = cli_main([command, str(path)])
                assert code in (0, 1), f"cnnspec {command} exited {code}"


def run_batch(job: tuple) -> Tally:
    seeds, per_input, cli_every = job
    tally = Tally()
    for seed in seeds:
        text = mutant_text(seed)
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, per_input)
        try:
            run_one(seed, text, seed % cli_every == 0, tally)
        except Hang:
            tally.failures.append(("hang", seed, f"over {per_input:g} s", ""))
        except AssertionError as err:
            tally.failures.append(("check", seed, str(err)[:200], _where(err)))
        except Exception as err:  # noqa: BLE001 -- every exception is a finding
            tally.failures.append(("exception", seed, f"{type(err).__name__}: {str(err)[:160]}",
                                   _where(err)))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        tally.inputs += 1
        tally.slowest = max(tally.slowest, (time.perf_counter() - start, seed))
    tally.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return tally


def _where(err: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if "/cnnspec/" in f.filename]
    frame = (frames or traceback.extract_tb(err.__traceback__))[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} ({frame.name})"


# --- in the parent ----------------------------------------------------------------------

def save_reproducers(tally: Tally, folder: Path, per_kind: int) -> list[Path]:
    saved, kinds = [], Counter()
    for kind, seed, what, where in tally.failures:
        if kinds[kind] >= per_kind:
            continue
        kinds[kind] += 1
        target = scratch_folder(folder / f"{kind}_seed{seed}")
        (target / "mutant.cnn").write_text(mutant_text(seed))
        (target / "FINDING.txt").write_text(f"{kind}, seed {seed}: {what} {where}\n"
                                            f"reproduce: cnnspec check {target / 'mutant.cnn'}\n")
        saved.append(target)
    return saved


def report(tally: Tally, elapsed: float, saved: list[Path]) -> str:
    kinds = Counter(failure[0] for failure in tally.failures)
    distinct = Counter((kind, what.split(":")[0] if kind == "exception" else what[:60], where)
                       for kind, _, what, where in tally.failures)
    lines = [(f"inputs: {tally.inputs:,} in {elapsed:.0f} s ({tally.inputs / max(elapsed, 1e-9):,.0f}/s); "
             f"clean: {tally.clean:,}; through the CLI: {tally.cli_runs:,}"),
             f"exceptions: {kinds['exception']}, failed checks: {kinds['check']}, hangs: {kinds['hang']}",
             f"slowest input: seed {tally.slowest[1]}, {tally.slowest[0]:.3f} s",
             f"peak memory of a worker: {tally.peak_mb:.0f} MB",
             "diagnostic codes seen: " + ", ".join(f"{c} {n}" for c, n in sorted(tally.codes.items()))]
    lines += [f"  {n} x {kind}: {what} {where}" for (kind, what, where), n in distinct.most_common(20)]
    lines += [f"  first {kind} seeds: {[f[1] for f in tally.failures if f[0] == kind][:10]}"
              for kind in kinds]
    lines += [f"  reproducer: {path}" for path in saved]
    return "\n".join(lines)


def batches(args) -> list[tuple]:
    seeds = range(args.first_seed, args.first_seed + args.count)
    size = 250
    return [(seeds[i:i + size], args.per_input, args.cli_every)
            for i in range(0, len(seeds), size)]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--count", type=int, default=100_000, help="inputs to run (default 100,000)")
    p.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--per-input", type=float, default=10.0, help="seconds before an input is a hang")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--first-seed", type=int, default=0, help="seed of the first mutant (default 0)")
    p.add_argument("--cli-every", type=int, default=25, help="run check/summary on one input in N")
    p.add_argument("--memory-mb", type=int, default=3000, help="address-space cap per worker")
    p.add_argument("--save", type=Path, default=Path("fuzz_out"), help="folder for reproducers")
    p.add_argument("--save-max", type=int, default=5, help="reproducers saved per kind of failure")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start, total = time.perf_counter(), Tally()
    with multiprocessing.get_context("fork").Pool(args.workers, start_worker, (args.memory_mb,)) as pool:
        for tally in pool.imap_unordered(run_batch, batches(args)):
            total.add(tally)
            elapsed = time.perf_counter() - start
            if total.inputs % 10_000 < 250:
                print(f"{total.inputs:,} inputs, {len(total.failures)} failures, {elapsed:.0f} s",
                      file=sys.stderr, flush=True)
            if args.time_limit and elapsed > args.time_limit:
                pool.terminate()
                break
    saved = save_reproducers(total, args.save, args.save_max)
    print(report(total, time.perf_counter() - start, saved))
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
