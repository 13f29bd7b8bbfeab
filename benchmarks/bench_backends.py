"""Backend speed benchmark (issue 3): forward-pass time ratios, CPU, float32, one thread count.

    python benchmarks/bench_backends.py [--quick] [--threads 1 2] [--repeats N]

For each thread count n (default 1, then 2) a child process pins every library to n threads
before it does any work (OMP/OPENBLAS/MKL_NUM_THREADS and threadpoolctl for NumPy's BLAS,
torch.set_num_threads / set_num_interop_threads, TensorFlow's intra- and inter-op pools, which
can only be set once per process: hence one child per n; OPENBLAS_THREAD_TIMEOUT=4 unless set,
so that idle OpenBLAS workers sleep at once instead of spinning on the cores PyTorch needs next)
and measures, each ratio in one run:

1. The NumPy backend against the PyTorch backend (the same generated code `cnnspec.build`
   gives) on specs/lenet5.cnn at batch 256 and specs/zoo/vgg16.cnn at batch 2. Target: numpy/torch
   at most 2x, goal 1.5x. GFLOP/s = 2 * MACs * batch / time. A per-layer profile follows, and
   a raw reference on one VGG-like 3x3 conv (batch 2, 56x56x256 -> 256): F.conv2d, the same
   GEMM in torch and in NumPy, and a plain im2col + matmul in NumPy: the machine's BLAS ceiling.
2. The generated PyTorch module against a hand-written nn.Sequential of the same layers (the
   same weights copied in), under torch.no_grad() and eval(). Target: generated/hand <= 1.05.
3. The generated Keras model against a hand-written keras.Sequential (weights copied), both
   called as model(x, training=False) on a tf tensor made beforehand (the eager call that
   cnnspec's runtime and `verify` use; no NumPy conversion inside the timing). Target <= 1.05.
   Parts 2 and 3 time a second, separately built hand-written model too: 'hand again'/hand is
   an A/A control showing how far apart two identical models measure on this machine.

The contenders of a comparison run interleaved (A B, then B A, ...; with three, each takes
every position in turn) so that load from other processes on this shared machine hits them
alike; the first calls, which check that all give the same output, are the warm-up. Each comparison runs up to a number of rounds, or fewer (at
least 3) once its time budget is spent, so the whole run stays near 3-4 minutes under load.
For each side the median and IQR of wall and process CPU time are printed, and the headline
figure is the median [IQR] of the per-round ratio A/B (CPU time is steadier under load at
n = 1; at n = 2 it also counts idle threads spinning). The weights are made once (seed 0) by
the parent and shared through safetensors files. --quick runs fewer rounds and replaces VGG-16
at 224x224 by the same layers at 64x64 (about 12x fewer MACs): about 1-1.5 minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PYTHON, REPO, child_env, machine, table

LENET = ("lenet5", REPO / "specs" / "lenet5.cnn", 256)
VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
NUMPY_TARGET, NUMPY_GOAL, HAND_TARGET = 2.0, 1.5, 1.05
REF_CONV = (2, 56, 56, 256, 256)  # batch, h, w, c_in, c_out of the 3x3 reference conv
# Rounds per comparison: (most, seconds after which it stops once it has 3): under heavy load
# the budget keeps the whole run near its planned time, at the cost of fewer rounds.
ROUNDS = {"full": {"lenet5": (25, 4.0), "vgg16": (9, 14.0), "reference": (9, 3.0)},
          "quick": {"lenet5": (11, 3.0), "vgg16": (9, 4.0), "reference": (5, 2.0)}}


# --- measuring ------------------------------------------------------------------------------

def interleaved(contenders: dict, repeats: int, budget_s: float, warmup: int = 1,
                min_rounds: int = 3) -> dict[str, dict[str, list[float]]]:
    """Wall and process CPU times of each contender, run in a changing order each round (A B,
    B A, ...; see round_order); the warm-up rounds are discarded. Stops after `repeats` rounds, or earlier once
    `min_rounds` are done and `budget_s` has passed. The cycle collector runs once before and
    is off meanwhile (with torch and TensorFlow loaded one collection takes ~0.3 s)."""
    names = list(contenders)
    times = {name: {"wall": [], "cpu": []} for name in names}
    gc.collect()
    start_all = time.perf_counter()
    gc.disable()
    try:
        for round_no in range(warmup + repeats):
            for name in round_order(names, round_no):
                wall, cpu = time.perf_counter(), time.process_time()
                contenders[name]()
                if round_no >= warmup:
                    times[name]["wall"].append(time.perf_counter() - wall)
                    times[name]["cpu"].append(time.process_time() - cpu)
            done = round_no + 1 - warmup
            if done >= min_rounds and time.perf_counter() - start_all > budget_s:
                break
    finally:
        gc.enable()
    return times


def round_order(names: list[str], round_no: int) -> list[str]:
    """A B C, C B A, B C A, A C B, ...: each contender takes every position equally often."""
    shift = (round_no // 2) % len(names)
    order = names[shift:] + names[:shift]
    return order if round_no % 2 == 0 else order[::-1]


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3); for one value all three are that value."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def compare(label: str, a: str, b: str, times: dict, flop: float | None = None) -> dict:
    """One result record: both sides' median and IQR (wall and CPU), the per-round ratios a/b
    (wall and CPU) and GFLOP/s from the wall medians."""
    record = {"label": label, "a": a, "b": b, "rounds": len(times[a]["wall"]),
              "load": os.getloadavg()[0]}
    for clock in ("wall", "cpu"):
        qa, qb = quartiles(times[a][clock]), quartiles(times[b][clock])
        qr = quartiles([x / y for x, y in zip(times[a][clock], times[b][clock])])
        record[clock] = {"a_med": qa[1], "a_iqr": qa[2] - qa[0], "b_med": qb[1],
                         "b_iqr": qb[2] - qb[0], "ratio": qr[1], "q1": qr[0], "q3": qr[2]}
    record["ratio"] = record["wall"]["ratio"]
    if flop:
        record["a_gflops"] = flop / record["wall"]["a_med"] / 1e9
        record["b_gflops"] = flop / record["wall"]["b_med"] / 1e9
    return record


def show(record: dict) -> None:
    """Print one comparison as a two-row table and its ratio lines."""
    wall, cpu, rows = record["wall"], record["cpu"], []
    for side in ("a", "b"):
        gflops = record.get(f"{side}_gflops")
        rows.append([record[side], f"{wall[side + '_med'] * 1e3:.2f}", f"{wall[side + '_iqr'] * 1e3:.2f}",
                     f"{cpu[side + '_med'] * 1e3:.2f}", f"{cpu[side + '_iqr'] * 1e3:.2f}",
                     f"{gflops:.1f}" if gflops else "-"])
    print(table([record["label"], "wall ms", "IQR", "CPU ms", "IQR", "GFLOP/s"], rows))
    for clock, q in (("wall", wall), ("CPU", cpu)):
        print(f"  {clock} ratio {record['a']}/{record['b']}: {q['ratio']:.3f} "
              f"[IQR {q['q1']:.3f}-{q['q3']:.3f}]")
    print(f"  ({record['rounds']} interleaved rounds; load average {record['load']:.2f})\n", flush=True)


def agree(name: str, a, b) -> float:
    """The worst difference between two outputs, scaled as verify does; fail loudly if large."""
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.abs(a).max()))
    worst = float(np.abs(a - b).max()) / scale
    if worst > 1e-4:
        raise SystemExit(f"{name}: outputs differ by {worst:.2e} (scaled); timing them is moot")
    return worst


# --- thread settings ------------------------------------------------------------------------

def pin_threads(n: int):
    """Pin NumPy's BLAS, PyTorch and TensorFlow to n threads; returns the threadpoolctl limiter
    (keep it alive). Must run before TensorFlow or PyTorch do any work."""
    import tensorflow as tf
    import threadpoolctl
    import torch
    torch.set_num_threads(n)
    torch.set_num_interop_threads(n)
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    return threadpoolctl.threadpool_limits(limits=n)


def describe_threads(n: int) -> None:
    import tensorflow as tf
    import threadpoolctl
    import torch
    print(f"threads: n = {n}; torch {torch.get_num_threads()} intra / "
          f"{torch.get_num_interop_threads()} inter-op; TensorFlow "
          f"{tf.config.threading.get_intra_op_parallelism_threads()} intra / "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} inter-op; "
          + ", ".join(f"{var}={os.environ.get(var, '(not set)')}"
                      for var in ("OPENBLAS_CORETYPE", "OPENBLAS_THREAD_TIMEOUT")))
    for lib in sorted(threadpoolctl.threadpool_info(), key=lambda lib: lib["filepath"]):
        extra = ", ".join(f"{k} {lib[k]}" for k in ("architecture", "threading_layer") if k in lib)
        print(f"  threadpoolctl: {lib['internal_api']} {lib.get('version') or ''} "
              f"({Path(lib['filepath']).name}): {lib['num_threads']} threads{', ' + extra if extra else ''}")
    print(flush=True)


# --- networks and hand-written models -------------------------------------------------------

def vgg_spec_text(size: int) -> str:
    """specs/zoo/vgg16.cnn at a size x size x 3 input (its expect lines, which name 224, dropped)."""
    text = (REPO / "specs" / "zoo" / "vgg16.cnn").read_text()
    text = re.sub(r"(?m)^input 224x224x3$", f"input {size}x{size}x3", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("expect")) + "\n"


def hand_torch(name: str, size: int):
    """The network written by hand as an nn.Sequential, the way a PyTorch user would."""
    from torch import nn
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
    layers, c_in = [], 3
    for filters, convs in VGG_BLOCKS:
        for _ in range(convs):
            layers += [nn.Conv2d(c_in, filters, 3, padding=1), nn.ReLU()]
            c_in = filters
        layers.append(nn.MaxPool2d(2))
    side = size // 32
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * side * side, 4096), nn.ReLU(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000), nn.Softmax(dim=1))


def hand_keras(name: str, size: int):
    """The network written by hand as a keras.Sequential ('same' padding inside Conv2D)."""
    import keras
    from keras import layers as L
    if name == "lenet5":
        return keras.Sequential([
            keras.Input((28, 28, 1)), L.Conv2D(6, 5, padding="same", activation="sigmoid"),
            L.AveragePooling2D(2), L.Conv2D(16, 5, activation="sigmoid"), L.AveragePooling2D(2),
            L.Flatten(), L.Dense(120, activation="sigmoid"), L.Dense(84, activation="sigmoid"),
            L.Dense(10)])
    stack = [keras.Input((size, size, 3))]
    for filters, convs in VGG_BLOCKS:
        stack += [L.Conv2D(filters, 3, padding="same", activation="relu") for _ in range(convs)]
        stack.append(L.MaxPooling2D(2))
    stack += [L.Flatten(), L.Dense(4096, activation="relu"), L.Dense(4096, activation="relu"),
              L.Dense(1000, activation="softmax")]
    return keras.Sequential(stack)


def copy_torch(generated, hand) -> None:
    """Copy the generated module's parameters (already in PyTorch layouts) into hand's, in order."""
    import torch
    pairs = list(zip(generated.parameters(), hand.parameters(), strict=True))
    with torch.no_grad():
        for src, dst in pairs:
            if src.shape != dst.shape:
                raise SystemExit(f"hand-written model mismatch: {tuple(src.shape)} vs {tuple(dst.shape)}")
            dst.copy_(src)


def copy_keras(generated, hand) -> None:
    """Copy weights layer by layer between the layers that hold any, in order."""
    sources = [layer for layer in generated.layers if layer.weights]
    targets = [layer for layer in hand.layers if layer.weights]
    for src, dst in zip(sources, targets, strict=True):
        dst.set_weights(src.get_weights())


# --- the three parts ------------------------------------------------------------------------

def numpy_vs_torch(case: dict, models: dict, rounds: tuple[int, float]) -> dict:
    """Part 1: the NumPy backend against the PyTorch backend, same weights, same input."""
    import torch
    x, xt = case["x"], case["xt"]
    with torch.no_grad():
        agree(case["label"], models["numpy"](x), models["torch"](xt))  # also the warm-up
        times = interleaved({"numpy": lambda: models["numpy"](x),
                             "torch": lambda: models["torch"](xt)}, *rounds, warmup=0)
    record = compare(f"{case['label']}: backends", "numpy", "torch", times, case["flop"])
    show(record)
    return record


def layer_times_numpy(model, x) -> dict[str, float]:
    """Seconds per layer, timed between the generated module's yields (its _layers generator,
    which forward() itself drives)."""
    times, start = {}, time.perf_counter()
    for name, _ in model.module._layers(x, model.params):
        now = time.perf_counter()
        times[name], start = now - start, now
    return times


def layer_times_torch(model, xt) -> dict[str, float]:
    """Seconds per layer from forward pre-hooks: from one layer module's start to the next's
    (the activation and any module-less layer after it count with it)."""
    import torch
    stamps = []
    hooks = [module.register_forward_pre_hook(lambda *_, name=name: stamps.append((name, time.perf_counter())))
             for name, module in model.named_children()]
    with torch.no_grad():
        model(xt)
    end = time.perf_counter()
    for hook in hooks:
        hook.remove()
    ends = [t for _, t in stamps[1:]] + [end]
    return {name: stop - start for (name, start), stop in zip(stamps, ends)}


def profile_layers(case: dict, models: dict, net, rounds: int, top: int = 8) -> list[list]:
    """Median per-layer times of both backends (interleaved rounds); prints the costliest."""
    samples = {"numpy": [], "torch": []}
    for _ in range(rounds):
        samples["numpy"].append(layer_times_numpy(models["numpy"], case["x"]))
        samples["torch"].append(layer_times_torch(models["torch"], case["xt"]))
    med = {k: {n: statistics.median(s[n] for s in v if n in s) for n in v[0]} for k, v in samples.items()}
    macs = {node.name: node.macs for node in net.layers}
    rows = []
    for name in sorted(med["numpy"], key=med["numpy"].get, reverse=True)[:top]:
        t_np, t_pt = med["numpy"][name], med["torch"].get(name)
        gflops = 2 * macs[name] * case["batch"] / t_np / 1e9 if macs[name] else None
        rows.append([name, f"{t_np * 1e3:.2f}", f"{t_pt * 1e3:.2f}" if t_pt else "-",
                     f"{t_np / t_pt:.2f}" if t_pt else "-", f"{gflops:.1f}" if gflops else "-"])
    total = sum(med["numpy"].values()), sum(med["torch"].values())
    print(f"per layer, {case['label']} (median of {rounds}; numpy {total[0] * 1e3:.1f} ms, "
          f"torch {total[1] * 1e3:.1f} ms in all), costliest NumPy layers:")
    print(table(["layer", "numpy ms", "torch ms", "ratio", "numpy GFLOP/s"], rows) + "\n", flush=True)
    return rows


def reference_conv(rounds: tuple[int, float]) -> dict:
    """The BLAS ceiling: one 3x3 'same' conv by F.conv2d, by im2col + matmul in NumPy, and its
    GEMM alone in both libraries."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    n, h, w, c_in, c_out = REF_CONV
    rng = np.random.default_rng(1)
    inner = rng.standard_normal((n, h, w, c_in), dtype=np.float32)
    x = np.pad(inner, ((0, 0), (1, 1), (1, 1), (0, 0)))  # zero 'same' padding, done once
    kernel = rng.standard_normal((3, 3, c_in, c_out), dtype=np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(inner.transpose(0, 3, 1, 2)))
    kt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    cols = im2col(x)
    k2 = kernel.reshape(-1, c_out)
    cols_t, k2_t = torch.from_numpy(cols), torch.from_numpy(k2)
    agree("reference conv", F.conv2d(xt, kt, padding=1).numpy().transpose(0, 2, 3, 1).ravel(),
          (cols @ k2).ravel())
    with torch.no_grad():
        times = interleaved({"torch F.conv2d": lambda: F.conv2d(xt, kt, padding=1),
                             "torch GEMM only": lambda: torch.mm(cols_t, k2_t),
                             "numpy im2col+matmul": lambda: im2col(x) @ k2,
                             "numpy GEMM only": lambda: cols @ k2}, *rounds)
    flop = 2 * n * h * w * 9 * c_in * c_out
    medians = {name: (quartiles(t["wall"])[1], quartiles(t["cpu"])[1]) for name, t in times.items()}
    rows = [[name, f"{wall * 1e3:.2f}", f"{cpu * 1e3:.2f}", f"{flop / wall / 1e9:.1f}"]
            for name, (wall, cpu) in medians.items()]
    print(f"reference: one 3x3 conv, batch {n}, {h}x{w}x{c_in} -> {c_out} ({flop / 1e9:.2f} GFLOP); "
          f"GEMM ({n * h * w} x {9 * c_in}) @ ({9 * c_in} x {c_out})")
    print(table(["kernel", "wall ms", "CPU ms", "GFLOP/s"], rows) + "\n", flush=True)
    return {name: flop / wall / 1e9 for name, (wall, _) in medians.items()}


def im2col(x):
    """Plain im2col of a padded NHWC batch for a 3x3 stride-1 conv: (n*oh*ow, 9*c) rows."""
    import numpy as np
    n, hp, wp, c = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # (n, oh, ow, c, 3, 3)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n * (hp - 2) * (wp - 2), 9 * c)


def torch_vs_hand(case: dict, generated, rounds: tuple[int, float]) -> list[dict]:
    """Part 2: the generated nn.Module against the hand-written nn.Sequential (two copies)."""
    import torch
    with torch.device("meta"):  # no random init: the weights are copied in
        hands = [hand_torch(case["name"], case["size"]) for _ in range(2)]
    hands = [hand.to_empty(device="cpu").eval() for hand in hands]
    for hand in hands:
        copy_torch(generated, hand)
    xt = case["xt"]
    with torch.no_grad():
        return versus_hand(f"{case['label']}: PyTorch", generated, hands, lambda m: m(xt), case, rounds)


def keras_vs_hand(case: dict, generated, rounds: tuple[int, float]) -> list[dict]:
    """Part 3: the generated keras.Model against the hand-written keras.Sequential (two copies)."""
    import tensorflow as tf
    hands = [hand_keras(case["name"], case["size"]) for _ in range(2)]
    for hand in hands:
        copy_keras(generated, hand)
    x = tf.constant(case["x"])
    return versus_hand(f"{case['label']}: Keras", generated, hands,
                       lambda m: m(x, training=False), case, rounds)


def versus_hand(label: str, generated, hands: list, call, case: dict, rounds) -> list[dict]:
    """generated/hand, and the control 'hand again'/hand: two separately built hand-written
    models with the same weights, whose ratio shows how far apart identical models measure."""
    reference = call(generated)  # with the calls below, the warm-up
    for hand in hands:
        agree(label, reference, call(hand))
    times = interleaved({"generated": lambda: call(generated), "hand": lambda: call(hands[0]),
                         "hand again": lambda: call(hands[1])}, *rounds, warmup=0)
    records = [compare(label, "generated", "hand", times, case["flop"]),
               {**compare(label, "hand again", "hand", times, case["flop"]), "control": True}]
    for record in records:
        show(record)
    return records


# --- one thread count (the child process) ---------------------------------------------------

def make_case(name: str, spec: str, batch: int, size: int, weights: str, label: str) -> dict:
    """A network with its input (NHWC for NumPy and Keras, NCHW for PyTorch) and FLOP count."""
    import numpy as np
    import torch

    import cnnspec
    net = cnnspec.loads(spec)
    x = np.random.default_rng(0).standard_normal((batch, *net.input_shape), dtype=np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return {"name": name, "label": label, "net": net, "batch": batch, "size": size, "x": x,
            "xt": xt, "weights": weights, "flop": 2 * net.macs * batch}


def timed_build(case: dict, target: str, params: dict):
    import cnnspec
    start = time.perf_counter()
    model = cnnspec.build(case["net"], target, weights=params)
    print(f"  built {case['label']} for {target} in {time.perf_counter() - start:.1f} s", flush=True)
    return model


def run_case(case: dict, rounds: tuple[int, float], profile_rounds: int) -> list[dict]:
    """Parts 1-3 on one network; each framework's models are dropped before the next's."""
    from cnnspec import weights as W
    params = W.load_file(case["weights"])
    models = {t: timed_build(case, t, params) for t in ("numpy", "torch")}
    records = [numpy_vs_torch(case, models, rounds)]
    profile_layers(case, models, case["net"], profile_rounds)
    records += torch_vs_hand(case, models["torch"], rounds)
    del models
    gc.collect()
    records += keras_vs_hand(case, timed_build(case, "keras", params), rounds)
    return records


def child(args) -> int:
    start = time.perf_counter()
    limiter = pin_threads(args.child)  # noqa: F841 - the limits hold while it lives
    describe_threads(args.child)
    plan = json.loads(args.plan)
    result = {"threads": args.child, "reference": reference_conv(plan["reference_rounds"]),
              "records": []}
    for spec in plan["cases"]:
        case = make_case(**spec["case"])
        print(f"== {case['label']} ({case['net'].macs * case['batch'] / 1e9:.2f} GMAC per forward; "
              f"{time.perf_counter() - start:.0f} s into this child)", flush=True)
        result["records"] += run_case(case, spec["rounds"], spec["profile_rounds"])
    Path(args.result).write_text(json.dumps(result))
    print(f"(this child: {time.perf_counter() - start:.0f} s)", flush=True)
    return 0


# --- the parent: weights once, one child per thread count, the summary ----------------------

def make_plan(args, tmp: Path) -> dict:
    """The cases to run, with their weights initialised once (seed 0) into tmp."""
    import cnnspec
    from cnnspec import weights as W
    size, mode = (64, "quick") if args.quick else (224, "full")
    specs = [("lenet5", LENET[1].read_text(), LENET[2], 28, "lenet5 batch 256"),
             ("vgg16", vgg_spec_text(size), 2, size, f"vgg16{'@64x64' if args.quick else ''} batch 2")]
    cases = []
    for name, spec, batch, side, label in specs:
        path = tmp / f"{name}.safetensors"
        W.save_file(W.init_weights(cnnspec.loads(spec), seed=0, dtype="float32"), path)
        cases.append({"case": {"name": name, "spec": spec, "batch": batch, "size": side,
                               "weights": str(path), "label": label},
                      "rounds": rounds(args, mode, name), "profile_rounds": 1 if name == "vgg16" else 3})
    return {"cases": cases, "reference_rounds": rounds(args, mode, "reference")}


def rounds(args, mode: str, what: str) -> tuple[int, float]:
    """(most rounds, seconds after which a comparison stops once it has 3 rounds)."""
    most, budget = ROUNDS[mode][what]
    return args.repeats or most, budget


def run_child(n: int, plan: dict, tmp: Path) -> dict | None:
    env = child_env()
    env.update({var: str(n) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    env["PYTHONUNBUFFERED"] = "1"
    # OpenBLAS workers otherwise busy-wait ~0.1 s after each call, robbing the next contender
    # (PyTorch's threads) of a core: torch after numpy measured 16 ms instead of 6 at n = 2.
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    result = tmp / f"threads{n}.json"
    argv = [PYTHON, __file__, "--child", str(n), "--plan", json.dumps(plan), "--result", str(result)]
    print(f"\n######## {n} thread{'s' if n > 1 else ''} ########", flush=True)
    code = subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
    return json.loads(result.read_text()) if code == 0 and result.exists() else None


def summary(results: list[dict]) -> list[str]:
    """The verdict table over every thread count: the target judged on the wall and CPU ratios."""
    rows, lines = [], []
    for result in results:
        rows += [summary_row(result["threads"], record) for record in result["records"]]
        ref = ", ".join(f"{k} {v:.0f}" for k, v in result["reference"].items())
        lines.append(f"  n={result['threads']} reference GFLOP/s: {ref}")
    head = ["n", "comparison", "a/b", "wall ratio [IQR]", "CPU ratio [IQR]", "GFLOP/s a / b",
            "load", "target", "wall / CPU"]
    numpy = [r["wall"]["ratio"] for x in results for r in x["records"] if r["a"] == "numpy"]
    goal = "met" if all(v <= NUMPY_GOAL for v in numpy) else "not met"
    return [table(head, rows), *lines, f"  NumPy goal (<= {NUMPY_GOAL}x torch, wall): {goal} in every row"]


def summary_row(threads: int, r: dict) -> list[str]:
    target = NUMPY_TARGET if r["a"] == "numpy" else HAND_TARGET

    def ratio(clock: str) -> str:
        q = r[clock]
        return f"{q['ratio']:.3f} [{q['q1']:.2f}-{q['q3']:.2f}]"

    verdicts = " / ".join("PASS" if r[c]["ratio"] <= target else "FAIL" for c in ("wall", "cpu"))
    goal = "control" if r.get("control") else f"<= {target}"
    return [str(threads), r["label"], f"{r['a']}/{r['b']}", ratio("wall"), ratio("cpu"),
            f"{r['a_gflops']:.1f} / {r['b_gflops']:.1f}", f"{r['load']:.1f}", goal,
            "-" if r.get("control") else verdicts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; VGG-16 layers at 64x64")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=0, help="most timed rounds per ratio")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    start = time.perf_counter()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="cnnspec-backends-") as tmp:
        plan = make_plan(args, Path(tmp))
        print(f"weights initialised (seed 0) and saved in {time.perf_counter() - start:.0f} s")
        results = [run_child(n, plan, Path(tmp)) for n in args.threads]
    print("\n######## summary (ratio = median of the per-round ratios a/b) ########")
    print("\n".join(summary([r for r in results if r])))
    print(machine().replace("machine:", "after:") + f"; {time.perf_counter() - start:.0f} s in all")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
