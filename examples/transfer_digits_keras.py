"""Transfer learning in Keras with cnnspec, on scikit-learn's 8x8 digits (nothing downloaded).

1. Train specs/digits_base.cnn on the digits 0-4 and save its portable weights.
2. Feature extraction (specs/transfer_feature_extraction.cnn): reuse the trained convolutional
   base, frozen, and train only a new head on the digits 5-9; every frozen tensor, the
   batch-norm moving statistics included, is bit-identical after training.
3. Fine-tuning (stage finetune of specs/transfer_finetune.cnn): start from the
   feature-extraction model, unfreeze conv2 and train it at a tenth of the learning rate with
   the generated scaled_optimizer; conv1 and bn1 stay bit-identical.
4. Baseline: the same head trained on a randomly initialised frozen base.

Run from the repository root:  python examples/transfer_digits_keras.py
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # after the log level, which TensorFlow reads on import

import cnnspec
from cnnspec import weights as W

try:
    from examples.digits_data import Split, base_task, transfer_task
except ModuleNotFoundError:  # run as a script: examples/ is on the path, not the repository
    from digits_data import Split, base_task, transfer_task

SPECS = Path(__file__).resolve().parents[1] / "specs"
LOSS = "sparse_categorical_crossentropy"


@dataclass
class Result:
    name: str
    accuracy: float
    spec_trainable: int
    spec_non_trainable: int
    keras_trainable: int
    keras_non_trainable: int


def load(spec: str, stage: str | None = None):
    """A spec of specs/, in the given training stage (the first one when None)."""
    network = cnnspec.load(SPECS / spec)
    return network.with_stage(stage) if stage else network


def live_counts(model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts as the live Keras model holds them."""
    trainable = sum(w.numpy().size for w in model.trainable_weights)
    return trainable, sum(w.numpy().size for w in model.non_trainable_weights)


def accuracy(model, split: Split) -> float:
    predicted = np.argmax(model.predict(split.x_test, verbose=0), axis=-1)
    return float(np.mean(predicted == split.y_test))


def train(model, split: Split, optimizer, epochs: int, batch_size: int = 32):
    """Compile and fit; compiling after the trainable flags are set is what Keras needs."""
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
    model.fit(split.x_train, split.y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def result(name: str, model, network, split: Split) -> Result:
    trainable, non_trainable = live_counts(model)
    spec_trainable = network.trainable_params
    return Result(name, accuracy(model, split), spec_trainable,
                  network.total_params - spec_trainable, trainable, non_trainable)


def frozen_tensors(model, network) -> dict[str, np.ndarray]:
    """Copies of every portable tensor of the layers the network freezes (BN statistics too)."""
    frozen = {n.name for n in network.layers if n.frozen}
    params = model.cnnspec_module.to_portable(model)
    return {k: v.copy() for k, v in params.items() if k.split(".")[0] in frozen}


def unchanged(before: dict[str, np.ndarray], model) -> list[str]:
    """The tensors of `before` that the model no longer holds bit for bit."""
    now = model.cnnspec_module.to_portable(model)
    return [k for k, v in before.items() if not np.array_equal(v, now[k])]


def train_base(split: Split, epochs: int = 30):
    network = load("digits_base.cnn")
    model = cnnspec.build(network, "keras")
    return network, train(model, split, keras.optimizers.Adam(3e-3), epochs)


def feature_extraction(weights, split: Split, epochs: int = 30, seed: int = 0):
    """The new head trained on the frozen base: (network, model, LoadReport)."""
    network = load("transfer_feature_extraction.cnn")
    params, report = W.assemble(network, weights, seed=seed)
    model = cnnspec.build(network, "keras", weights=params)
    return network, train(model, split, keras.optimizers.Adam(3e-3), epochs), report


def fine_tune(weights, split: Split, epochs: int = 15, lr: float = 1e-3, scaled: bool = True):
    """Stage finetune from the feature-extraction model's weights, with the spec's lr scales
    (or, scaled=False, every layer at the full rate: the comparison)."""
    keras.utils.set_random_seed(1)  # the same batches whether scaled or not
    network = load("transfer_finetune.cnn", "finetune")
    model = cnnspec.build(network, "keras", weights=weights)
    module = model.cnnspec_module
    scales = module.LR_SCALES if scaled else {}
    optimizer = module.scaled_optimizer(keras.optimizers.Adam(lr), scales)
    return network, train(model, split, optimizer, epochs)


def mean_change(before: dict, after: dict, layer: str) -> float:
    key = f"{layer}.kernel"
    return float(np.mean(np.abs(after[key] - before[key])))


def print_table(results: list[Result]) -> None:
    print(f"\n{'model':<34}{'test acc':>9}{'trainable (spec / Keras)':>27}"
          f"{'non-trainable (spec / Keras)':>31}")
    for r in results:
        trainable = f"{r.spec_trainable:,} / {r.keras_trainable:,}"
        frozen = f"{r.spec_non_trainable:,} / {r.keras_non_trainable:,}"
        print(f"{r.name:<34}{r.accuracy:>9.3f}{trainable:>27}{frozen:>31}")


def check(condition: bool, message: str) -> None:
    print(("ok    " if condition else "FAILED ") + message)
    if not condition:
        raise SystemExit(1)


def main(folder: Path) -> None:
    keras.utils.set_random_seed(0)
    base_split, transfer_split = base_task(), transfer_task()
    base_net, base = train_base(base_split)
    results = [result("base, digits 0-4", base, base_net, base_split)]
    path = folder / "digits_base.safetensors"
    W.save_file(base.cnnspec_module.to_portable(base), path)

    fe_net = load("transfer_feature_extraction.cnn")
    params, report = W.assemble(fe_net, W.load_file(path))
    print("Feature extraction weights:\n  " + report.text().replace("\n", "\n  "))
    model = cnnspec.build(fe_net, "keras", weights=params)
    before = frozen_tensors(model, fe_net)
    train(model, transfer_split, keras.optimizers.Adam(3e-3), 30)
    results.append(result("feature extraction, digits 5-9", model, fe_net, transfer_split))
    check(not unchanged(before, model), f"{len(before)} frozen tensors (BN statistics too) "
          "bit-identical after fit")

    start = model.cnnspec_module.to_portable(model)
    ft_net, tuned = fine_tune(start, transfer_split)
    results.append(result("fine-tuning (conv2 lr x0.1)", tuned, ft_net, transfer_split))
    after = tuned.cnnspec_module.to_portable(tuned)
    check(not unchanged({k: v for k, v in start.items() if k.split(".")[0] in ("conv1", "bn1")},
                        tuned), "conv1 and bn1 (moving statistics too) bit-identical after fit")
    moved = mean_change(start, after, "conv2")
    _, full = fine_tune(start, transfer_split, scaled=False)
    full_moved = mean_change(start, full.cnnspec_module.to_portable(full), "conv2")
    check(0 < moved < full_moved, f"conv2 moved: mean |change| {moved:.2e} at lr x0.1, "
          f"{full_moved:.2e} at the full rate (ratio {moved / full_moved:.2f})")

    random_net = load("transfer_feature_extraction.cnn")
    baseline = cnnspec.build(random_net, "keras", seed=1)  # every layer initialised at random
    train(baseline, transfer_split, keras.optimizers.Adam(3e-3), 30)
    results.append(result("head on a random frozen base", baseline, random_net, transfer_split))
    print_table(results)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(tmp))
