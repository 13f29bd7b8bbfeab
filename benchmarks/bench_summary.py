"""Whole-process benchmark: `cnnspec summary` of VGG-16 and ResNet-50 against torchinfo and Keras.

Every contender is a fresh `python` process, run in the same session, interleaved, after one
discarded warm-up round: `--repeats` times (default 5) for cnnspec and the interpreter baselines,
`--framework-repeats` times (default 3) for the PyTorch and Keras sides, which take seconds each.
The table gives the median and the minimum wall time and peak RSS (the child's own ru_maxrss
from os.wait4). The PyTorch and Keras sides build the networks by hand (no torchvision, no
keras.applications) in scripts written to a temporary directory. Bytecode is cached for every
contender alike (common.child_env); one extra cnnspec row runs with the inherited settings (here
PYTHONDONTWRITEBYTECODE=1, so cnnspec's own modules are compiled from source at every start).
Targets (issue 2): cnnspec at most 0.2 s, at least 10x faster than both; `check` and `summary`
import no framework. Targets (issue 8): `summary resnet50.cnn --format json` at most 1.3x
`summary vgg16.cnn --format json`, and at least 10x faster than torchinfo on a hand-written
PyTorch ResNet-50 (Keras applications' layout: convs with biases, batch norm eps 1.001e-5).

    python benchmarks/bench_summary.py [--repeats 5] [--framework-repeats 3] [--no-keras]
                                       [--resnet50 specs/zoo/resnet50.cnn] [--stand-in]

Without specs/zoo/resnet50.cnn (or with --stand-in) the ResNet-50 rows use a generated stand-in: a
chain with ResNet-50's node count and shapes (no shortcuts), whose counts are not compared.
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

SPEC, RESNET50 = "specs/zoo/vgg16.cnn", "specs/zoo/resnet50.cnn"
VGG16_PARAMS = 138_357_544
RESNET50_PARAMS, RESNET50_BUFFERS = 25_636_712, 53_120  # Keras's count; torch's BN statistics
TARGET_S = 0.2
TARGET_RATIO = 10.0
TARGET_GRAPH_RATIO = 1.3
BASELINE, IMPORT = "python -c pass", "python -c 'import cnnspec.cli'"
CNNSPEC, CNNSPEC_ENV = "cnnspec summary --format json", "  same, inherited bytecode settings"
TORCH, KERAS = "torch + torchinfo.summary", "keras + model.summary()"
CNNSPEC_R50, TORCH_R50 = "cnnspec summary resnet50 --format json", "torch + torchinfo ResNet-50"
CONTENDERS = (CNNSPEC, CNNSPEC_ENV, TORCH, KERAS, CNNSPEC_R50, TORCH_R50)
FRAMEWORK_SIDES = (TORCH, KERAS, TORCH_R50)
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


RESNET50_TORCH_SCRIPT = '''\
"""ResNet-50 as Keras applications lay it out (zero-padding + 7x7 valid stem, the stride on
each stage's first 1x1 conv, convs with biases, batch norm eps 1.001e-5), written by hand in
PyTorch and summarised with torchinfo. torch counts batch norm's moving statistics as buffers,
not parameters: TOTAL_PARAMS + BUFFERS is Keras's (and cnnspec's) total."""
import torchinfo
from torch import nn


def conv_bn(c_in, c_out, k, stride=1, pad=0):
    return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad),
            nn.BatchNorm2d(c_out, eps=1.001e-5)]


class Bottleneck(nn.Module):
    def __init__(self, c_in, filters, stride=1):
        super().__init__()
        out = filters * 4
        self.body = nn.Sequential(*conv_bn(c_in, filters, 1, stride), nn.ReLU(),
                                  *conv_bn(filters, filters, 3, pad=1), nn.ReLU(),
                                  *conv_bn(filters, out, 1))
        projects = stride != 1 or c_in != out
        self.shortcut = nn.Sequential(*conv_bn(c_in, out, 1, stride)) if projects else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def stage(c_in, filters, blocks, stride):
    return nn.Sequential(Bottleneck(c_in, filters, stride),
                         *(Bottleneck(filters * 4, filters) for _ in range(blocks - 1)))


model = nn.Sequential(
    nn.ZeroPad2d(3), *conv_bn(3, 64, 7, stride=2), nn.ReLU(),
    nn.ZeroPad2d(1), nn.MaxPool2d(3, stride=2),
    stage(64, 64, 3, 1), stage(256, 128, 4, 2), stage(512, 256, 6, 2), stage(1024, 512, 3, 2),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000), nn.Softmax(dim=1),
)
stats = torchinfo.summary(model, input_size=(1, 3, 224, 224))
buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
print(f"TOTAL_PARAMS={stats.total_params + buffers}")
'''

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # filters, blocks, first stride


def resnet50_stand_in() -> str:
    """A chain with ResNet-50's nodes in order (the shortcut branches laid in line, the adds as
    relu layers) for timing before specs/zoo/resnet50.cnn exists; its counts are not ResNet-50's."""
    lines = ['network ResNet50_stand_in "ResNet-50\'s nodes as a chain (a benchmark stand-in)"',
             "input 224x224x3", "conv1_pad: zeropad 3", "conv1_conv: conv 64 7x7 stride=2 round=floor",
             "conv1_bn: batchnorm eps=1.001e-5 -> relu", "pool1_pad: zeropad 1",
             "pool1_pool: maxpool 3x3 stride=2 round=floor"]
    for stage, (filters, blocks, stride) in enumerate(STAGES, start=2):
        for block in range(1, blocks + 1):
            lines += _stand_in_block(f"conv{stage}_block{block}", filters,
                                     stride if block == 1 else 1, block == 1)
    return "\n".join(lines + ["avg_pool: globalavgpool", "predictions: dense 1000 -> softmax", ""])


def _stand_in_block(name: str, filters: int, stride: int, shortcut: bool) -> list[str]:
    bn = "batchnorm eps=1.001e-5"
    first = f"{name}_1_conv: conv {filters} 1x1" + (f" stride={stride} round=floor" if stride > 1 else "")
    lines = [first, f"{name}_1_bn: {bn} -> relu",
             f"{name}_2_conv: conv {filters} 3x3 pad=1", f"{name}_2_bn: {bn} -> relu",
             f"{name}_3_conv: conv {filters * 4} 1x1", f"{name}_3_bn: {bn}"]
    if shortcut:
        lines += [f"{name}_0_conv: conv {filters * 4} 1x1", f"{name}_0_bn: {bn}"]
    return lines + [f"{name}_out: relu"]


def commands(workdir: Path, resnet50: str, keras: bool = True) -> dict[str, list[str]]:
    """The contenders, in table order; the framework scripts are written into workdir."""
    (workdir / "vgg16_torchinfo.py").write_text(TORCH_SCRIPT)
    (workdir / "vgg16_keras.py").write_text(KERAS_SCRIPT)
    (workdir / "resnet50_torchinfo.py").write_text(RESNET50_TORCH_SCRIPT)
    summary = [PYTHON, "-m", "cnnspec", "summary", SPEC, "--format", "json"]
    argvs = {
        BASELINE: [PYTHON, "-c", "pass"],
        IMPORT: [PYTHON, "-c", "import cnnspec.cli"],
        CNNSPEC: summary,
        CNNSPEC_ENV: summary,
        TORCH: [PYTHON, str(workdir / "vgg16_torchinfo.py")],
        KERAS: [PYTHON, str(workdir / "vgg16_keras.py")],
        CNNSPEC_R50: [PYTHON, "-m", "cnnspec", "summary", resnet50, "--format", "json"],
        TORCH_R50: [PYTHON, str(workdir / "resnet50_torchinfo.py")],
    }
    return argvs if keras else {k: v for k, v in argvs.items() if k != KERAS}


def total_params(name: str, run: Run) -> int | None:
    """The parameter count a contender printed (None for the baselines or on failure)."""
    if run.returncode != 0:
        return None
    if name in (CNNSPEC, CNNSPEC_ENV, CNNSPEC_R50):
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


def expected_params(name: str, stand_in: bool) -> int | None:
    """What a contender must count: VGG-16's or ResNet-50's total (None: the stand-in's, any)."""
    if name in (CNNSPEC_R50, TORCH_R50):
        return None if stand_in and name == CNNSPEC_R50 else RESNET50_PARAMS
    return VGG16_PARAMS


def report_correctness(runs: dict[str, list[Run]], stand_in: bool) -> list[str]:
    """Each real contender must have run cleanly and counted its network's parameters."""
    lines = []
    for name in (n for n in CONTENDERS if n in runs):
        done = runs[name]
        bad = [r for r in done if r.returncode != 0]
        counted = {total_params(name, r) for r in done if r.returncode == 0}
        want = expected_params(name, stand_in)
        ok = not bad and (want is None or counted == {want})
        detail = f"exit codes {[r.returncode for r in done]}, params counted {sorted(map(str, counted))}"
        lines.append(verdict(ok, f"{name}: {detail}" + (" (stand-in: not compared)" if want is None
                                                         else f", expected {want:,}")))
        if bad:
            lines.append("  stderr tail: " + bad[0].stderr.strip()[-400:].replace("\n", "\n  "))
    return lines


def report_ratios(runs: dict[str, list[Run]]) -> list[str]:
    med = {n: median_min([r.wall_s for r in done])[0] for n, done in runs.items()}
    cpu = {n: median_min([r.cpu_s for r in done])[0] for n, done in runs.items()}
    rss = {n: median_min([r.peak_rss_mb for r in done])[0] for n, done in runs.items()}
    lines = [verdict(med[n] <= TARGET_S, f"{n.strip()}: median {med[n]:.3f} s <= {TARGET_S} s")
             for n in (CNNSPEC, CNNSPEC_ENV)]
    for other, ours in ((TORCH, CNNSPEC), (KERAS, CNNSPEC), (TORCH_R50, CNNSPEC_R50)):
        if other in runs:
            ratio = med[other] / med[ours]
            lines.append(verdict(ratio >= TARGET_RATIO,
                                 f"{other} / {ours} = {ratio:.1f}x wall (medians; "
                                 f"{cpu[other] / cpu[ours]:.1f}x CPU, {rss[other] / rss[ours]:.1f}x "
                                 f"peak RSS); target >= {TARGET_RATIO:.0f}x"))
    graph = med[CNNSPEC_R50] / med[CNNSPEC]
    lines.append(verdict(graph <= TARGET_GRAPH_RATIO,
                         f"{CNNSPEC_R50} / {CNNSPEC} (VGG-16) = {graph:.2f}x wall (medians; "
                         f"{cpu[CNNSPEC_R50] / cpu[CNNSPEC]:.2f}x CPU); target <= {TARGET_GRAPH_RATIO}x"))
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


def pick_resnet50(args, workdir: Path) -> tuple[str, bool]:
    """The ResNet-50 spec's path and whether it is the generated stand-in."""
    if not args.stand_in and (REPO / args.resnet50).is_file():
        return args.resnet50, False
    if not args.stand_in:
        print(f"note: {args.resnet50} does not exist: timing a generated stand-in instead")
    path = workdir / "resnet50_stand_in.cnn"
    path.write_text(resnet50_stand_in())
    return str(path), True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of cnnspec and the baselines")
    parser.add_argument("--framework-repeats", type=int, default=3, help="runs of torch and keras")
    parser.add_argument("--no-keras", action="store_true", help="leave out the Keras row (saves a minute)")
    parser.add_argument("--resnet50", default=RESNET50, metavar="SPEC",
                        help="the ResNet-50 spec to summarise (default: %(default)s)")
    parser.add_argument("--stand-in", action="store_true",
                        help="summarise a generated ResNet-50-sized chain instead of --resnet50")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="cnnspec-bench-") as tmp:
        resnet50, stand_in = pick_resnet50(args, Path(tmp))
        print(f"specs: {REPO / SPEC}, {resnet50}{' (a generated stand-in)' if stand_in else ''}; "
              f"{args.repeats} runs each ({args.framework_repeats} for torch and keras) after 1 "
              "warm-up round, interleaved\n")
        argvs = commands(Path(tmp), resnet50, keras=not args.no_keras)
        counts = {name: args.framework_repeats if name in FRAMEWORK_SIDES else args.repeats
                  for name in argvs}
        runs = measure(argvs, counts, uncached=frozenset({CNNSPEC_ENV}))
    headers = ["command", "wall med s", "wall min s", "CPU med s", "RSS med MB", "RSS min MB", "failed"]
    print(table(headers, result_rows(runs)))
    print(f"\nbytecode: cached under {pycache_dir()} (PYTHONPYCACHEPREFIX) for every row but "
          f"'{CNNSPEC_ENV.strip()}', which runs with PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')} as inherited\n")
    for line in report_correctness(runs, stand_in) + report_ratios(runs) + report_imports():
        print(line)
    print(machine().replace("machine:", "after:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
