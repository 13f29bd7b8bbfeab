"""Shared helpers for the benchmarks: run a child process and measure its wall time and peak RSS."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Run:
    """One finished child process."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def pycache_dir() -> Path:
    """A persistent bytecode cache for the children, outside the checkout (see child_env)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "cnnspec-bench" / "pycache"


def child_env(bytecode_cache: bool = True) -> dict[str, str]:
    """The environment the children run in: quiet TensorFlow, the repository importable.

    With bytecode_cache, bytecode is read and written under pycache_dir() (PYTHONPYCACHEPREFIX),
    as a normally installed package would have it, whatever PYTHONDONTWRITEBYTECODE says here;
    the first run fills the cache and the benchmarks discard it as a warm-up. Without, the
    inherited settings stand."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache_dir())
    return env


def run_process(argv: list[str], cwd: Path = REPO, bytecode_cache: bool = True) -> Run:
    """Run argv to completion; wall time from spawn to reap, peak RSS of this child (os.wait4)."""
    env = child_env(bytecode_cache)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text_out = out.read().decode("utf-8", "replace")
        text_err = err.read().decode("utf-8", "replace")
    # Linux reports ru_maxrss in KiB.
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
               text_out, text_err)


def measure(commands: dict[str, list[str]], repeats: dict[str, int], warmup: int = 1,
            uncached: frozenset[str] = frozenset()) -> dict[str, list[Run]]:
    """Run command `name` warmup + repeats[name] times, in interleaved rounds so that load hits
    all contenders alike; the warm-up rounds are discarded. Names in `uncached` run without
    the benchmark's bytecode cache (see child_env)."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for round_no in range(warmup + max(repeats.values())):
        for name, argv in commands.items():
            if round_no < warmup + repeats[name]:
                run = run_process(argv, bytecode_cache=name not in uncached)
                if round_no >= warmup:
                    runs[name].append(run)
    return runs


def median_min(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain fixed-width table; the first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest])

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def machine() -> str:
    """One line about the machine and its load, to print with every result."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores ({platform.machine()}), load average {load}; "
            f"Python {platform.python_version()} ({PYTHON})")


def verdict(ok: bool, what: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {what}"
