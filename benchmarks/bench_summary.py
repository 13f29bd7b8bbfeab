"""Whole-process benchmark: `cnnspec summary specs/vgg16.cnn` against torchinfo and Keras.

Every contender is a fresh `python` process, run in the same session, interleaved, after one
discarded warm-up round: `--repeats` times (default 5) for cnnspec and the interpreter baselines,
`--framework-repeats` times (default 3) for the PyTorch and Keras sides, which take seconds each.
The table gives the median and the minimum wall time and peak RSS (the child's own ru_maxrss
from os.wait4). The PyTorch and Keras sides build VGG-16 by hand (no torchvision) in scripts
written to a temporary directory. Bytecode is cached for every contender alike (common.child_env);
one extra cnnspec row runs with the inherited settings (here PYTHONDONTWRITEBYTECODE=1, so
cnnspec's own modules are compiled from source at every start). Targets (issue 2): cnnspec at
most 0.2 s, at least 10x faster than both; `check` and `summary` import no framework.

    python benchmarks/bench_summary.py [--repeats 5] [--framework-repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from common import (
    PYTHON,
    REPO,
    Run,
    machine,
    measure,
    median_min,
    pycache_dir,
    run_process,
    table,
    verdict,
)

SPEC = "specs/vgg16.cnn"
VGG16_PARAMS = 138_357_544
TARGET_S = 0.2
TARGET_RATIO = 10.0
BASELINE, IMPORT = "python -c pass", "python -c 'import cnnspec.cli'"
CNNSPEC, CNNSPEC_ENV = "cnnspec summary --format json", "  same, inherited bytecode settings"
TORCH, KERAS = "torch + torchinfo.summary", "keras + model.summary()"
CONTENDERS = (CNNSPEC, CNNSPEC_ENV, TORCH, KERAS)
FRAMEWORKS = ("torch", "torchvision", "torchinfo", "tensorflow", "keras", "jax")

TORCH_SCRIPT = '''\
"""VGG-16 (configuration D) written by hand in PyTorch, summarised with torchinfo."""
import torchinfo
from torch import nn


def conv(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU()]


model = nn.Sequential(
    *conv(3, 64), *conv(64, 64), nn.MaxPool2d(2),
    *conv(64, 128), *conv(128, 128), nn.MaxPool2d(2),
    *conv(128, 256), *conv(256, 256), *conv(256, 256), nn.MaxPool2d(2),
    *conv(256, 512), *conv(512, 512), *conv(512, 512), nn.MaxPool2d(2),
    *conv(512, 512), *conv(512, 512), *conv(512, 512), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(512 * 7 * 7, 4096), nn.ReLU(),
    nn.Linear(4096, 4096), nn.ReLU(),
    nn.Linear(4096, 1000), nn.Softmax(dim=1),
)
stats = torchinfo.summary(model, input_size=(1, 3, 224, 224))
print(f"TOTAL_PARAMS={stats.total_params}")
'''

KERAS_SCRIPT = '''\
"""VGG-16 (configuration D) written by hand in Keras 3, summarised with model.summary()."""
import keras
from keras import layers


def conv(filters):
    return layers.Conv2D(filters, 3, padding="same", activation="relu")


model = keras.Sequential([
    keras.Input(shape=(224, 224, 3)),
    conv(64), conv(64), layers.MaxPooling2D(2),
    conv(128), conv(128), layers.MaxPooling2D(2),
    conv(256), conv(256), conv(256), layers.MaxPooling2D(2),
    conv(512), conv(512), conv(512), layers.MaxPooling2D(2),
    conv(512), conv(512), conv(512), layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(4096, activation="relu"),
    layers.Dense(4096, activation="relu"),
    layers.Dense(1000, activation="softmax"),
], name="VGG16")
model.summary()
print(f"TOTAL_PARAMS={model.count_params()}")
'''


def commands(workdir: Path) -> dict[str, list[str]]:
    """The contenders, in table order; the framework scripts are written into workdir."""
    (workdir / "vgg16_torchinfo.py").write_text(TORCH_SCRIPT)
    (workdir / "vgg16_keras.py").write_text(KERAS_SCRIPT)
    summary = [PYTHON, "-m", "cnnspec", "summary", SPEC, "--format", "json"]
    return {
        BASELINE: [PYTHON, "-c", "pass"],
        IMPORT: [PYTHON, "-c", "import cnnspec.cli"],
        CNNSPEC: summary,
        CNNSPEC_ENV: summary,
        TORCH: [PYTHON, str(workdir / "vgg16_torchinfo.py")],
        KERAS: [PYTHON, str(workdir / "vgg16_keras.py")],
    }


def total_params(name: str, run: Run) -> int | None:
    """The parameter count a contender printed (None for the baselines or on failure)."""
    if run.returncode != 0:
        return None
    if name in (CNNSPEC, CNNSPEC_ENV):
        return json.loads(run.stdout).get("total_params")
    found = re.search(r"^TOTAL_PARAMS=(\d+)$", run.stdout, re.MULTILINE)
    return int(found.group(1)) if found else None


def result_rows(runs: dict[str, list[Run]]) -> list[list[str]]:
    rows = []
    for name, done in runs.items():
        wall_med, wall_min = median_min([r.wall_s for r in done])
        cpu_med, _ = median_min([r.cpu_s for r in done])
        rss_med, rss_min = median_min([r.peak_rss_mb for r in done])
        failures = sum(r.returncode != 0 for r in done)
        rows.append([name, f"{wall_med:.3f}", f"{wall_min:.3f}", f"{cpu_med:.3f}", f"{rss_med:.0f}",
                     f"{rss_min:.0f}", f"{failures}/{len(done)}"])
    return rows


def report_correctness(runs: dict[str, list[Run]]) -> list[str]:
    """Each real contender must have run cleanly and counted VGG-16's 138,357,544 parameters."""
    lines = []
    for name in CONTENDERS:
        done = runs[name]
        bad = [r for r in done if r.returncode != 0]
        counted = {total_params(name, r) for r in done if r.returncode == 0}
        ok = not bad and counted == {VGG16_PARAMS}
        detail = f"exit codes {[r.returncode for r in done]}, params counted {sorted(map(str, counted))}"
        lines.append(verdict(ok, f"{name}: {detail}"))
        if bad:
            lines.append("  stderr tail: " + bad[0].stderr.strip()[-400:].replace("\n", "\n  "))
    return lines


def report_ratios(runs: dict[str, list[Run]]) -> list[str]:
    med = {n: median_min([r.wall_s for r in done])[0] for n, done in runs.items()}
    cpu = {n: median_min([r.cpu_s for r in done])[0] for n, done in runs.items()}
    rss = {n: median_min([r.peak_rss_mb for r in done])[0] for n, done in runs.items()}
    lines = [verdict(med[n] <= TARGET_S, f"{n.strip()}: median {med[n]:.3f} s <= {TARGET_S} s")
             for n in (CNNSPEC, CNNSPEC_ENV)]
    for other in (TORCH, KERAS):
        ratio = med[other] / med[CNNSPEC]
        lines.append(verdict(ratio >= TARGET_RATIO,
                             f"{other} / cnnspec = {ratio:.1f}x wall (medians; "
                             f"{cpu[other] / cpu[CNNSPEC]:.1f}x CPU, {rss[other] / rss[CNNSPEC]:.1f}x "
                             f"peak RSS); target >= {TARGET_RATIO:.0f}x"))
    return lines


def imported_modules(argv: list[str]) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) for every module the command imported (-X importtime)."""
    run = run_process([PYTHON, "-X", "importtime", *argv])
    found = re.findall(r"^import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", run.stderr, re.MULTILINE)
    return [(int(us), name) for us, name in found]


def report_imports() -> list[str]:
    """No framework in `check` or `summary`; the slowest top-level imports, for the lead."""
    lines = []
    for command in (["summary", SPEC, "--format", "json"], ["check", SPEC]):
        modules = imported_modules(["-m", "cnnspec", *command])
        banned = sorted({m for _, m in modules if m.split(".")[0] in FRAMEWORKS})
        lines.append(verdict(any(m == "cnnspec.api" for _, m in modules) and not banned,
                             f"`cnnspec {command[0]}` imported {len(modules)} modules, "
                             f"frameworks among them: {banned or 'none'}"))
    top = sorted(((us, m) for us, m in modules if "." not in m), reverse=True)[:6]
    lines.append("  slowest top-level imports of `check` (cumulative): "
                 + ", ".join(f"{m} {us / 1000:.0f} ms" for us, m in top))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of cnnspec and the baselines")
    parser.add_argument("--framework-repeats", type=int, default=3, help="runs of torch and keras")
    args = parser.parse_args()
    print(machine())
    print(f"spec: {REPO / SPEC}; {args.repeats} runs each ({args.framework_repeats} for torch and "
          "keras) after 1 warm-up round, interleaved\n")
    with tempfile.TemporaryDirectory(prefix="cnnspec-bench-") as tmp:
        argvs = commands(Path(tmp))
        counts = {name: args.framework_repeats if name in (TORCH, KERAS) else args.repeats
                  for name in argvs}
        runs = measure(argvs, counts, uncached=frozenset({CNNSPEC_ENV}))
    headers = ["command", "wall med s", "wall min s", "CPU med s", "RSS med MB", "RSS min MB", "failed"]
    print(table(headers, result_rows(runs)))
    print(f"\nbytecode: cached under {pycache_dir()} (PYTHONPYCACHEPREFIX) for every row but "
          f"'{CNNSPEC_ENV.strip()}', which runs with PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')} as inherited\n")
    for line in report_correctness(runs) + report_ratios(runs) + report_imports():
        print(line)
    print(machine().replace("machine:", "after:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
