"""The zoo's extras of issue 9 against models that compute them independently.

- specs/zoo/mobilenetv3small.cnn against keras.applications.MobileNetV3Small(weights=None)
  (Keras's own code, built here): the totals; every Keras Conv2D, DepthwiseConv2D and
  BatchNormalization layer as the spec node `keras_to_spec` names, with its output shape at
  224x224x3, its parameter counts and its weights' names and shapes; the wiring between those
  layers; the adds and multiplies; and the spec built for NumPy, PyTorch and Keras with the
  Keras model's own weights (batch-norm statistics drawn around the data's) computes the Keras
  model's features and logits (float32, within the issue's 1e-4 * max(1, max|a|)).
- specs/zoo/squeezenet.cnn and specs/zoo/unet.cnn against PyTorch models written here by hand
  (torchvision is not installable) from nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d,
  max pooling and nn.Upsample: every weighted module is the spec node of the same name, with
  its output shape (at the spec's 224x224x3, on torch's meta device), parameter counts and
  MACs; the totals are sum(p.numel()) (plus the batch-norm running statistics, which cnnspec
  counts as non-trainable as Keras does); the output shape is the model's; and the spec at a
  smaller input, built for NumPy, PyTorch and Keras in float64 with the hand-written model's
  weights, computes the model's output and intermediate features (within
  1e-10 * max(1, max|a|), docs/design.md).
- Every `expect` line of the three specs is live: changing its value gives E401 at its line.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import pytest
from weighted_graph import feeders, randomise_torch_batchnorms

from cnnspec.api import analyse
from cnnspec.ir import Network
from cnnspec.source import SourceFile

ZOO = Path(__file__).resolve().parent.parent / "specs" / "zoo"
EXTRAS = ("mobilenetv3small", "squeezenet", "unet")


def spec_text(stem: str) -> str:
    return (ZOO / f"{stem}.cnn").read_text()


def analysed(stem: str, text: str) -> Network:
    network, diags = analyse(SourceFile(str(ZOO / f"{stem}.cnn"), text))
    shown = [f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in diags[:5]]
    assert network is not None and not diags, f"specs/zoo/{stem}.cnn does not check clean: {shown}"
    return network


@functools.cache
def checked(stem: str) -> Network:
    """The spec's network; it must check without any diagnostic (its expect lines included)."""
    return analysed(stem, spec_text(stem))


@functools.cache
def resized(stem: str, hwc: tuple[int, int, int]) -> Network:
    """The spec at another input size: its shape and MACs expectations (true only at 224x224)
    left out, its parameter expectations kept (no count here depends on the input size)."""
    lines = [line for line in spec_text(stem).splitlines()
             if not re.match(r"expect (\S+\.shape|macs) ", line)]
    text = "\n".join(lines) + "\n"
    text, n = re.subn(r"(?m)^input 224x224x3$", "input {}x{}x{}".format(*hwc), text)
    assert n == 1
    return analysed(stem, text)


def close(ours, theirs, rel: float) -> bool:
    import numpy as np
    theirs = np.asarray(theirs)
    return bool(np.abs(np.asarray(ours) - theirs).max() <= rel * max(1.0, np.abs(theirs).max()))




# -- every spec -----------------------------------------------------------------------------

@pytest.mark.parametrize("stem", EXTRAS)
def test_extra_checks_clean_and_is_written_with_blocks(stem):
    network = checked(stem)
    assert network.instances
    assert network.input_shape == (224, 224, 3)


def off_by_one(line: str) -> str:
    """`expect X == 28x28x512` -> `... 28x28x513`, `== 16640` -> `== 16641`."""
    return re.sub(r"(\d+)$", lambda m: str(int(m[1]) + 1), line)


@pytest.mark.parametrize("stem", EXTRAS)
def test_every_expectation_is_live(stem):
    checked(stem)
    lines = spec_text(stem).splitlines()
    expects = [i for i, line in enumerate(lines, 1) if line.startswith("expect ")]
    assert len(expects) >= 10
    for i in expects:
        lines[i - 1] = off_by_one(lines[i - 1].split("#", 1)[0].rstrip())
    _, diags = analyse(SourceFile(str(ZOO / f"{stem}.cnn"), "\n".join(lines) + "\n"))
    assert sorted((d.code, d.span.line) for d in diags) == [("E401", i) for i in expects]


# -- MobileNetV3Small against keras.applications ---------------------------------------------

BLOCK_LAYER = re.compile(r"(expanded_conv(?:_\d+)?)_(expand|expand_bn|depthwise_pad|depthwise|"
                         r"depthwise_bn|squeeze_excite_\w+|project|project_bn|add)")


def keras_to_spec(name: str) -> str:
    """A MobileNetV3Small layer name -> the spec's node name: `expanded_conv_4_expand_bn` ->
    `expanded_conv_4.expand_bn`, `expanded_conv_depthwise` -> `expanded_conv.depthwise`; the
    stem's and head's names (`conv_bn`, `conv_2`, `logits`) are the same in both."""
    m = BLOCK_LAYER.fullmatch(name)
    return f"{m[1]}.{m[2]}" if m else name


def test_keras_to_spec():
    assert keras_to_spec("expanded_conv_depthwise_bn") == "expanded_conv.depthwise_bn"
    assert keras_to_spec("expanded_conv_10_squeeze_excite_conv_1") == \
        "expanded_conv_10.squeeze_excite_conv_1"
    assert keras_to_spec("expanded_conv_1_expand") == "expanded_conv_1.expand"
    assert [keras_to_spec(n) for n in ("conv", "conv_1_bn", "logits")] == ["conv", "conv_1_bn", "logits"]


@functools.cache
def keras_v3small(at_224: bool = True):
    """Keras's model; with no input shape its input is None x None x 3 (the default)."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    shape = {"input_shape": (224, 224, 3)} if at_224 else {}
    return keras.applications.MobileNetV3Small(weights=None, **shape)


def keras_weighted(model) -> dict[str, object]:
    import keras
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.BatchNormalization)
    return {keras_to_spec(layer.name): layer for layer in model.layers if isinstance(layer, kinds)}


def test_mobilenetv3small_totals_equal_keras():
    network = checked("mobilenetv3small")
    for model in (keras_v3small(at_224=False), keras_v3small()):
        trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
        assert (network.total_params, network.trainable_params) == (model.count_params(), trainable)
    assert (network.total_params, network.total_params - network.trainable_params) == \
        (2_554_968, 12_112)


def test_mobilenetv3small_weighted_layers_equal_keras():
    """Every Keras weighted layer is a spec node with its shape, counts and weights."""
    network, layers = checked("mobilenetv3small"), keras_weighted(keras_v3small())
    assert sorted(layers) == sorted(n.name for n in network.nodes
                                    if n.kind in ("conv", "depthwise", "batchnorm"))
    for name, layer in layers.items():
        node = network.node(name)
        trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
        assert (node.out_shape, node.params, node.trainable_params) == \
            (tuple(layer.output.shape[1:]), layer.count_params(), trainable), name
        assert {w.name: tuple(w.shape) for w in node.weights} == \
            {w.name: tuple(w.shape) for w in layer.weights}, name


def test_mobilenetv3small_wiring_equals_keras():
    """Which weighted layers feed which, through Keras's operations (its hard_sigmoid's
    `x + 3` and `* (1/6)` included) and the spec's fused activations and merges."""
    model, network = keras_v3small(), checked("mobilenetv3small")
    rename = {op.name: keras_to_spec(op.name) for op in model.operations}
    inputs = {rename[op.name]: [rename.get(t._keras_history[0].name, t._keras_history[0].name)
                                for node in op._inbound_nodes for t in node.input_tensors]
              for op in model.operations}
    kept = set(keras_weighted(model))
    assert feeders(inputs, kept) == feeders({n.name: list(n.inputs) for n in network.nodes}, kept)


@pytest.mark.parametrize(("kind", "keras_kind", "count"), [("add", "Add", 6), ("multiply", "Multiply", 9)])
def test_mobilenetv3small_merges_equal_keras(kind, keras_kind, count):
    """The residual adds (Keras layers named `_add`) and the squeeze-excite multiplies."""
    model, network = keras_v3small(), checked("mobilenetv3small")
    names = {keras_to_spec(layer.name) for layer in model.layers if type(layer).__name__ == keras_kind
             and layer.name.endswith(("_add", "_mul"))}
    assert len(names) == count
    assert names == {n.name for n in network.nodes if n.kind == kind}


def calibrate_batchnorms(model, x, rng) -> None:
    """Batch-norm statistics drawn around those of the batch x, layer after layer, and scales
    away from 1. Statistics drawn independently of the data (mean 0, variance about 1) would
    wash the input out: with them Keras's own logits differ by 1e-7 between two inputs, and a
    comparison of outputs would prove nothing about the layers before the head."""
    import keras
    import numpy as np
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.input, [layer.input for layer in norms])
    for i, layer in enumerate(norms):
        a = np.asarray(probe(x, training=False)[i])  # after the norms before it were set
        mean, var = a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2)) + 1e-3
        c = mean.shape[0]
        layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                           mean + rng.normal(0, 0.1, c) * np.sqrt(var), var * rng.uniform(0.5, 1.5, c)])


# Keras layers whose output is a spec node's (the others are followed by a fused activation).
PROBES = ("expanded_conv_squeeze_excite_mul", "expanded_conv_2_add", "expanded_conv_3_project_bn",
          "expanded_conv_10_add", "logits", "predictions")


@functools.cache
def keras_v3small_run():
    """Keras's model with random batch-norm statistics (calibrate_batchnorms): its weights keyed
    by the spec's names, an input in Keras's [0, 255] pixel range, and its outputs at PROBES."""
    import keras
    import numpy as np
    model, rng = keras_v3small(), np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    calibrate_batchnorms(model, x, rng)
    weights = {f"{keras_to_spec(layer.name)}.{w.name}": np.asarray(w.numpy())
               for layer in model.layers for w in layer.weights}
    probe = keras.Model(model.input, [model.get_layer(name).output for name in PROBES])
    return weights, x, [np.asarray(a) for a in probe(x, training=False)]


@pytest.mark.parametrize("target", ["numpy", "torch", "keras"])
def test_mobilenetv3small_outputs_equal_keras(target):
    """The spec built with Keras's weights computes Keras's features and predictions (float32,
    within the issue's 1e-4 * max(1, max|a|)), and the classes of Keras's logits."""
    import numpy as np

    import cnnspec
    from cnnspec.runtime import run_layers
    network = checked("mobilenetv3small")
    weights, x, theirs = keras_v3small_run()
    model = cnnspec.build(network, target, weights=weights)
    ours = run_layers(model, target, network, x)
    for name, value in zip(PROBES, theirs):
        assert close(ours[keras_to_spec(name)], value, 1e-4), name
    logits = theirs[PROBES.index("logits")].reshape(len(x), -1)
    assert (ours["predictions"].argmax(axis=1) == logits.argmax(axis=1)).all()
    assert np.abs(logits[0] - logits[1]).max() > 1e-3 * np.abs(logits).max()  # two inputs, two answers


# -- SqueezeNet and the U-Net against PyTorch models written here -----------------------------

def torch_squeezenet():
    """torchvision's squeezenet1_1 (num_classes 1000), written out with the spec's names."""
    import torch
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, cin, squeeze, expand):
            super().__init__()
            self.squeeze = nn.Conv2d(cin, squeeze, 1)
            self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
            self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

        def forward(self, x):
            x = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, stride=2)
            self.fire2, self.fire3 = Fire(64, 16, 64), Fire(128, 16, 64)
            self.fire4, self.fire5 = Fire(128, 32, 128), Fire(256, 32, 128)
            self.fire6, self.fire7 = Fire(256, 48, 192), Fire(384, 48, 192)
            self.fire8, self.fire9 = Fire(384, 64, 256), Fire(512, 64, 256)
            self.drop9 = nn.Dropout(0.5)
            self.conv10 = nn.Conv2d(512, 1000, 1)

        def forward(self, x):
            pool = nn.functional.max_pool2d
            x = pool(torch.relu(self.conv1(x)), 3, 2, ceil_mode=True)
            x = pool(self.fire3(self.fire2(x)), 3, 2, ceil_mode=True)
            x = pool(self.fire5(self.fire4(x)), 3, 2, ceil_mode=True)
            x = self.fire9(self.fire8(self.fire7(self.fire6(x))))
            x = torch.relu(self.conv10(self.drop9(x)))
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    return SqueezeNet()


def torch_unet():
    """The U-Net of specs/zoo/unet.cnn: padded double convs with batch norm, max pooling,
    ConvTranspose2d(2, stride 2) on the two deeper levels, bilinear Upsample (align_corners
    False) on the two shallower, the skip concatenated first."""
    import torch
    from torch import nn

    class DoubleConv(nn.Module):
        def __init__(self, cin, filters):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, filters, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(filters, eps=1e-3)
            self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(filters, eps=1e-3)

        def forward(self, x):
            return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.enc2 = DoubleConv(3, 64), DoubleConv(64, 128)
            self.enc3, self.enc4 = DoubleConv(128, 256), DoubleConv(256, 512)
            self.bottleneck = DoubleConv(512, 1024)
            self.up4 = nn.ConvTranspose2d(1024, 512, 2, stride=2)
            self.dec4 = DoubleConv(1024, 512)
            self.up3 = nn.ConvTranspose2d(512, 256, 2, stride=2)
            self.dec3 = DoubleConv(512, 256)
            self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec2 = DoubleConv(384, 128)
            self.dec1 = DoubleConv(192, 64)
            self.head = nn.Conv2d(64, 2, 1)

        def forward(self, x):
            pool = nn.functional.max_pool2d
            e1 = self.enc1(x)
            e2 = self.enc2(pool(e1, 2))
            e3 = self.enc3(pool(e2, 2))
            e4 = self.enc4(pool(e3, 2))
            x = self.bottleneck(pool(e4, 2))
            x = self.dec4(torch.cat([e4, self.up4(x)], 1))
            x = self.dec3(torch.cat([e3, self.up3(x)], 1))
            x = self.dec2(torch.cat([e2, self.up2(x)], 1))
            x = self.dec1(torch.cat([e1, self.up1(x)], 1))
            return torch.softmax(self.head(x), 1)

    return UNet()


TORCH = {"squeezenet": torch_squeezenet, "unet": torch_unet}
SMALL = {"squeezenet": (64, 64, 3), "unet": (32, 32, 3)}  # the inputs of the numeric checks


def weighted_modules():
    from torch import nn
    return (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)


def torch_table(model, hwc) -> tuple[dict[str, tuple], tuple]:
    """spec name -> (output shape HxWxC, params, trainable, MACs) of every weighted module, and
    the model's output shape, from a forward pass on torch's meta device (no arithmetic)."""
    import torch
    table, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, weighted_modules()):
            hooks.append(module.register_forward_hook(functools.partial(_record, table, name)))
    with torch.no_grad():
        out = model.to("meta").eval()(torch.zeros(1, hwc[2], hwc[0], hwc[1], device="meta"))
    for hook in hooks:
        hook.remove()
    return table, tuple(out.shape[1:])


def _record(table, name, module, inputs, output):
    c, h, w = output.shape[1:]
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for n, b in module.named_buffers() if n.startswith("running_"))
    table[name] = ((h, w, c), trainable + stats, trainable, _macs(module, inputs[0], output))


def _macs(module, x, output) -> int:
    """The semantics.md MACs: a conv's H'W' kh kw (C/groups) N per output pixel; a transposed
    conv's kh kw C (N/groups) per input pixel; a batch norm's 0."""
    name = module._get_name()
    if name == "Conv2d":
        return math.prod(output.shape[2:]) * module.weight.numel()
    return math.prod(x.shape[2:]) * module.weight.numel() if name == "ConvTranspose2d" else 0


@pytest.mark.parametrize("stem", TORCH)
def test_every_torch_module_is_a_spec_node(stem):
    pytest.importorskip("torch")
    network, model = checked(stem), TORCH[stem]()
    trainable = sum(p.numel() for p in model.parameters())
    table, out_shape = torch_table(model, network.input_shape)
    assert sorted(table) == sorted(n.name for n in network.nodes
                                   if n.kind in ("conv", "convtranspose", "batchnorm"))
    for name, (shape, params, node_trainable, macs) in table.items():
        node = network.node(name)
        assert (node.out_shape, node.params, node.trainable_params, node.macs) == \
            (shape, params, node_trainable, macs), name
    assert network.trainable_params == trainable
    assert network.total_params == sum(row[1] for row in table.values())
    assert network.macs == sum(row[3] for row in table.values())
    assert network.output.out_shape == (out_shape if len(out_shape) == 1 else
                                        (*out_shape[1:], out_shape[0]))


def test_squeezenet_is_torchvisions_squeezenet1_1():
    """torchvision documents squeezenet1_1 at 1,235,496 parameters; the U-Net's total is its own."""
    pytest.importorskip("torch")
    assert sum(p.numel() for p in torch_squeezenet().parameters()) == 1_235_496
    assert checked("squeezenet").total_params == 1_235_496
    assert checked("unet").trainable_params == sum(p.numel() for p in torch_unet().parameters())


def randomised(stem: str):
    """The hand-written model in float64 with random weights and batch-norm statistics."""
    import torch
    torch.manual_seed(0)
    model = TORCH[stem]().double()
    randomise_torch_batchnorms(model)
    return model.eval()


def portable(model) -> dict:
    """A PyTorch model's weights in cnnspec's portable layout, keyed as the spec names them:
    a conv's (N, C, kh, kw) and a transposed conv's (C, N, kh, kw) both become (kh, kw, ., .)."""
    bn = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
          "running_var": "moving_variance"}
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, weighted_modules()):
            continue
        norm = module._get_name() == "BatchNorm2d"
        for key, value in module.state_dict().items():
            if key in bn if norm else key in ("weight", "bias"):
                value = value.detach().numpy()
                value = value.transpose(2, 3, 1, 0) if key == "weight" and not norm else value
                tensor = bn[key] if norm else {"weight": "kernel", "bias": "bias"}[key]
                out[f"{name}.{tensor}"] = value.copy()
    return out


# Spec node -> the hand-written module whose output it is (a fire module's is its concat, a
# double conv's its second batch norm's, ReLU fused), compared besides the network's output.
TORCH_PROBES = {"squeezenet": {"fire2.concat": "fire2", "fire5.concat": "fire5", "fire9.concat": "fire9"},
                "unet": {"enc1.bn2": "enc1", "bottleneck.bn2": "bottleneck", "up4": "up4",
                         "up2": "up2", "dec2.bn2": "dec2", "dec1.bn2": "dec1"}}


def torch_run(stem: str, x):
    """The randomised hand-written model's output and its probed modules' outputs, NHWC."""
    import torch
    model, seen = randomised(stem), {}
    modules = dict(model.named_modules())
    for name in TORCH_PROBES[stem].values():
        modules[name].register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, o))
    with torch.no_grad():
        out = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    nhwc = {name: v.numpy().transpose(0, 2, 3, 1) for name, v in seen.items()}
    return model, (out if out.ndim == 2 else out.transpose(0, 2, 3, 1)), nhwc


@pytest.mark.parametrize("target", ["numpy", "torch", "keras"])
@pytest.mark.parametrize("stem", TORCH)
def test_outputs_equal_torch(stem, target):
    """The spec at a small input, built in float64 with the hand-written model's weights,
    computes the model's output and its probed modules' outputs (the concat orders, the
    transposed convs' and the upsampling's arithmetic included)."""
    import numpy as np

    import cnnspec
    from cnnspec.runtime import run_layers
    pytest.importorskip("torch")
    hwc = SMALL[stem]
    network = resized(stem, hwc)
    x = np.random.default_rng(1).standard_normal((2, *hwc))
    model, theirs, probed = torch_run(stem, x)
    built = cnnspec.build(network, target, weights=portable(model), dtype="float64")
    ours = run_layers(built, target, network, x)
    assert close(ours[network.output.name], theirs, 1e-10)
    for node, module in TORCH_PROBES[stem].items():
        assert close(ours[node], probed[module], 1e-10), node
    assert not np.allclose(theirs[0], theirs[1])
