"""Transfer learning in PyTorch from cnnspec specs, on scikit-learn's 8x8 handwritten digits.

    python examples/transfer_digits_torch.py [--weights BASE.safetensors]

1. Train specs/digits_base.cnn on the digits 0-4 and save its portable weights.
2. Feature extraction (specs/transfer_feature_extraction.cnn): take the trained convolutional
   base from that file, freeze it, and train only the new head on the digits 5-9. Every frozen
   tensor and the frozen batch norm's running statistics come out bit-identical.
3. Fine-tuning (stage finetune of specs/transfer_finetune.cnn): start from the feature-extraction
   model, unfreeze conv2 at a tenth of the learning rate and train again: conv2 moves,
   conv1 and bn1 do not.
4. Baseline: the same head (same initial weights) trained on a randomly initialised frozen base.

Every optimizer is built from `model.param_groups(lr)`, the generated module's parameter groups
(frozen parameters left out, learning rates scaled per layer as the spec says).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make `examples` and `cnnspec` importable
    sys.path.insert(0, str(ROOT))

import cnnspec
from cnnspec import weights as W
from examples.digits_data import Split, base_task, transfer_task

SPECS = ROOT / "specs"
LR = 0.01


# --- reusable pieces (tests/test_transfer_torch.py imports them) ---

def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """NHWC images and class indices -> an NCHW float32 batch and int64 labels."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)


def loss_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the model's softmax output (the specs end in `-> softmax`)."""
    return F.nll_loss(torch.log(model(x).clamp_min(1e-12)), y)


def train(model: torch.nn.Module, data: Split, lr: float = LR, epochs: int = 10,
          batch: int = 32, seed: int = 0) -> torch.nn.Module:
    """Adam over model.param_groups(lr) (or all parameters for a model without freeze rules),
    shuffled mini-batches from a seeded generator; returns the model in eval mode."""
    groups = model.param_groups(lr) if hasattr(model, "param_groups") else model.parameters()
    optimizer = torch.optim.Adam(groups, lr=lr)
    x, y = tensors(data.x_train, data.y_train)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(batch):
            optimizer.zero_grad()
            loss_of(model, x[idx], y[idx]).backward()
            optimizer.step()
    return model.eval()


def accuracy(model: torch.nn.Module, data: Split) -> float:
    """Test accuracy (fraction of correctly classified test images), in eval mode."""
    x, y = tensors(data.x_test, data.y_test)
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def trainable_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def non_trainable_count(model: torch.nn.Module) -> int:
    """Frozen parameters plus batch-norm running statistics (non-trainable in the spec)."""
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return frozen + sum(b.numel() for name, b in model.named_buffers()
                        if name.endswith(("running_mean", "running_var")))


def layer_state(model: torch.nn.Module, layers) -> dict[str, torch.Tensor]:
    """Copies of every tensor (parameters and buffers) of the named layers."""
    return {f"{layer}.{key}": value.detach().clone() for layer in layers
            for key, value in getattr(model, layer).state_dict().items()}


def frozen_layers(network) -> list[str]:
    """The layers with weights that the network (in its current stage) freezes."""
    return [n.name for n in network.layers if n.frozen and n.weights]


def per_class(data: Split, k: int) -> Split:
    """The first k training images of each class (the test set unchanged): a small-data task."""
    keep = np.sort(np.concatenate([np.flatnonzero(data.y_train == c)[:k]
                                   for c in np.unique(data.y_train)]))
    return Split(data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)


def changed(before: dict, after: dict) -> list[str]:
    """The keys whose tensors are not bit-identical."""
    return [k for k in before if not torch.equal(before[k], after[k])]


def build(spec: str, stage: str | None = None, weights=None, seed: int = 0):
    """Load a spec (at a stage) and build its PyTorch model; returns (network, model)."""
    network = cnnspec.load(SPECS / spec)
    network = network.with_stage(stage) if stage else network
    return network, cnnspec.build(network, "torch", weights=weights, seed=seed)


# --- the walk-through ---

def train_base(path: Path, data: Split):
    network, model = build("digits_base.cnn")
    train(model, data, epochs=15)
    W.save_file(model.cnnspec_module.to_portable(model), path)
    print(f"1. {network.name} trained on digits 0-4; portable weights saved to {path}")
    return network, model, accuracy(model, data)


def train_frozen(network, model, data: Split, epochs: int = 20) -> float:
    """Train with the network's freeze rules and check that no frozen tensor changed."""
    frozen = frozen_layers(network)
    before = layer_state(model, frozen)
    train(model, data, epochs=epochs)
    moved = changed(before, layer_state(model, frozen))
    assert not moved, f"frozen tensors changed: {moved}"
    print(f"   {len(before)} frozen tensors of {', '.join(frozen)} (running statistics "
          "included) are bit-identical after training")
    return accuracy(model, data)


def feature_extraction(path: Path, data: Split):
    network = cnnspec.load(SPECS / "transfer_feature_extraction.cnn")
    _, report = W.assemble(network, W.load_file(path))
    print("2. feature extraction: " + report.text().replace("\n", "\n   "))
    _, model = build("transfer_feature_extraction.cnn", weights=path)
    return network, model, train_frozen(network, model, data)


def finetune(start: dict, data: Split):
    network, model = build("transfer_finetune.cnn", stage="finetune", weights=start)
    print("3. fine-tuning: conv2 unfrozen at lr x0.1, conv1 and bn1 frozen")
    conv2 = model.conv2.weight.detach().clone()
    result = train_frozen(network, model, data, epochs=10)
    step = (model.conv2.weight.detach() - conv2).abs()
    print(f"   conv2 moved: mean |change| {float(step.mean()):.2e}, max {float(step.max()):.2e}")
    return network, model, result


def baseline(data: Split):
    """The feature-extraction spec with no weight file: base and head from the seed (the head
    starts from the same weights as in feature_extraction)."""
    network, model = build("transfer_feature_extraction.cnn")
    return network, model, train_frozen(network, model, data)


def small_data(path: Path, data: Split, k: int = 10):
    """Feature extraction and the random-base baseline with only k training images per class."""
    few = per_class(data, k)
    network, model = build("transfer_feature_extraction.cnn", weights=path)
    print(f"5. small data, {len(few.y_train)} training images ({k} per class): "
          "pretrained base, then random base")
    return (network, model, train_frozen(network, model, few)), baseline(few)


def row(label: str, acc: float, network, model) -> str:
    return (f"{label:<34} {acc:>8.1%} {network.trainable_params:>10,} "
            f"{network.total_params - network.trainable_params:>14,} {trainable_count(model):>12,} "
            f"{non_trainable_count(model):>14,}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", help="where to save the base's portable weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.weights or Path(tmp) / "digits_base.safetensors")
        base = train_base(path, base_task())
        data = transfer_task()
        fe = feature_extraction(path, data)
        ft = finetune(fe[1].cnnspec_module.to_portable(fe[1]), data)
        print("4. baseline: the same head on a randomly initialised frozen base")
        rb = baseline(data)
        few_fe, few_rb = small_data(path, data)
    print(f"\n{'model (test set)':<34} {'accuracy':>8} {'trainable':>10} {'non-trainable':>14} "
          f"{'torch train.':>12} {'torch non-tr.':>14}")
    print(row("base, digits 0-4", base[2], base[0], base[1]))
    print(row("feature extraction, digits 5-9", fe[2], fe[0], fe[1]))
    print(row("fine-tuned, digits 5-9", ft[2], ft[0], ft[1]))
    print(row("random frozen base, digits 5-9", rb[2], rb[0], rb[1]))
    print(row("feature extraction, 10 per class", few_fe[2], few_fe[0], few_fe[1]))
    print(row("random frozen base, 10 per class", few_rb[2], few_rb[0], few_rb[1]))


if __name__ == "__main__":
    main()
