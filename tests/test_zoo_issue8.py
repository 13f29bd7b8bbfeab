"""The graph specs of issue 8 against the framework models they describe.

- resnet50 and densenet121 against keras.applications (built here, weights=None): totals,
  MACs (worked out from Keras's own layers with the conv and dense formulas), and for every
  Keras Conv2D, Dense and BatchNormalization layer the spec node that corresponds to it by
  `keras_to_spec`: output shape, parameter count, portable weight names and shapes, and which
  of these layers feed it (the wiring, shortcuts and concats included); and the spec built
  for NumPy with the Keras model's own weights (batch-norm statistics randomised) computes
  the Keras model's features and predictions.
- resnet18, the inception module and the two-head network against PyTorch models written here
  by hand (torchvision is not installable): the same comparisons per weighted module, the
  wiring read from torch.fx; resnet18 built for NumPy with the hand-written model's weights
  gives its logits.
- Every `expect` line of every graph spec is live: changing its value gives E401 at its line.

Until the graph frontend (blocks, repeat, from=, merges, output) is merged, these specs do not
check and every test here fails with the first diagnostics: that is intended, not skipped.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from pathlib import Path

import pytest
from weighted_graph import feeders, randomise_torch_batchnorms

from cnnspec.api import analyse
from cnnspec.ir import Network
from cnnspec.source import SourceFile

SPECS = Path(__file__).resolve().parent.parent / "specs"
GRAPH_SPECS = ("resnet18", "resnet50", "densenet121", "inception_module", "two_heads")
ZOO = ("resnet18", "resnet50", "densenet121")  # moved to specs/zoo/ by issue 9


def spec_path(stem: str) -> Path:
    """specs/zoo/STEM.cnn for the zoo models, specs/STEM.cnn for the others."""
    return SPECS / "zoo" / f"{stem}.cnn" if stem in ZOO else SPECS / f"{stem}.cnn"
WEIGHTED = ("conv", "dense", "batchnorm")


@functools.cache
def checked(stem: str) -> Network:
    """The spec's network; it must check without any diagnostic (its expect lines included)."""
    network, diags = analyse(SourceFile.read(spec_path(stem)))
    shown = [f"{d.span.line}:{d.span.col} {d.code} {d.message}" for d in diags[:5]]
    assert network is not None and not diags, (
        f"{spec_path(stem)} does not check clean (it needs issue 8's graph frontend): {shown}")
    return network


# -- Keras applications ----------------------------------------------------------------------

def keras_to_spec(name: str) -> str:
    """A Keras applications layer name -> the spec's hierarchical node name.

    `conv3_block2_1_conv` -> `conv3.1.conv1` (Keras's block I is instance I-1 of the repeat,
    its layer J is conv J / bn J; J = 0 is ResNet's projection shortcut), `pool2_conv` ->
    `pool2.conv` (a DenseNet transition block); every other name is the same in both."""
    if m := re.fullmatch(r"(conv\d)_block(\d+)_(\d)_(conv|bn)", name):
        return f"{m[1]}.{int(m[2]) - 1}.{m[4]}{m[3]}"
    if m := re.fullmatch(r"(pool[2-9])_(conv|bn)", name):
        return f"{m[1]}.{m[2]}"
    return name


def test_keras_to_spec():
    assert keras_to_spec("conv2_block1_0_conv") == "conv2.0.conv0"
    assert keras_to_spec("conv4_block24_2_bn") == "conv4.23.bn2"
    assert keras_to_spec("pool3_bn") == "pool3.bn"
    assert [keras_to_spec(n) for n in ("conv1_conv", "pool1_pool", "predictions")] == \
        ["conv1_conv", "pool1_pool", "predictions"]


@functools.cache
def keras_model(name: str):
    keras = pytest.importorskip("keras")
    return getattr(keras.applications, name)(weights=None)


def keras_inputs(model) -> dict[str, list[str]]:
    """Layer name -> the names of the layers it reads (Keras keeps them in _keras_history)."""
    return {layer.name: [t._keras_history[0].name
                         for node in layer._inbound_nodes for t in node.input_tensors]
            for layer in model.layers}


def keras_weighted(model) -> dict[str, object]:
    """The Keras layers with weights that a spec node must match, by the spec's name."""
    import keras
    kinds = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.BatchNormalization)
    return {keras_to_spec(layer.name): layer for layer in model.layers if isinstance(layer, kinds)}


def keras_macs(model) -> int:
    import keras
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            total += math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return total




KERAS = {"resnet50": "ResNet50", "densenet121": "DenseNet121"}


@pytest.mark.parametrize("stem", KERAS)
def test_totals_equal_keras(stem):
    network, model = checked(stem), keras_model(KERAS[stem])
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert (network.total_params, network.trainable_params) == (model.count_params(), trainable)
    assert network.macs == keras_macs(model)
    assert network.output.out_shape == tuple(model.output.shape[1:])


def test_keras_figures_are_the_issues():
    assert keras_model("ResNet50").count_params() == 25_636_712
    assert keras_model("DenseNet121").count_params() == 8_062_504


@pytest.mark.parametrize("stem", KERAS)
def test_every_keras_weighted_layer_is_a_spec_node(stem):
    network, layers = checked(stem), keras_weighted(keras_model(KERAS[stem]))
    ours = {n.name for n in network.nodes if n.kind in WEIGHTED}
    assert sorted(ours) == sorted(layers)
    for name, layer in layers.items():
        node = network.node(name)
        assert node.out_shape == tuple(layer.output.shape[1:]), name
        assert node.params == layer.count_params(), name
        assert {w.name: w.shape for w in node.weights} == \
            {w.name: tuple(w.shape) for w in layer.weights}, name


@pytest.mark.parametrize("stem", KERAS)
def test_wiring_equals_keras(stem):
    network, model = checked(stem), keras_model(KERAS[stem])
    layers = keras_weighted(model)
    theirs = feeders(keras_inputs(model), {layer.name for layer in layers.values()})
    ours = feeders({n.name: list(n.inputs) for n in network.nodes}, set(layers))
    for keras_name, fed_by in theirs.items():
        assert ours[keras_to_spec(keras_name)] == {keras_to_spec(k) for k in fed_by}, keras_name


@pytest.mark.parametrize("stem, merge, keras_kind, count", [
    ("resnet50", "add", "Add", 16), ("densenet121", "concat", "Concatenate", 58)])
def test_merges_equal_keras(stem, merge, keras_kind, count):
    network, model = checked(stem), keras_model(KERAS[stem])
    assert sum(type(layer).__name__ == keras_kind for layer in model.layers) == count
    assert sum(n.kind == merge for n in network.nodes) == count


def randomise_batchnorms(model, rng) -> None:
    """Moving statistics and scales away from 0 and 1, so that eps and the order of use show."""
    import keras
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                               rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)])


@pytest.mark.parametrize("stem", KERAS)
def test_outputs_equal_keras(stem):
    """The spec built for NumPy with the Keras model's own weights, keyed by keras_to_spec,
    computes what the Keras model computes (the features before the classifier, and after)."""
    import keras
    import numpy as np

    import cnnspec
    network, model, rng = checked(stem), keras_model(KERAS[stem]), np.random.default_rng(0)
    randomise_batchnorms(model, rng)
    weights = {f"{keras_to_spec(layer.name)}.{w.name}": np.asarray(w.numpy())
               for layer in model.layers for w in layer.weights}
    x = rng.standard_normal((1, 224, 224, 3)).astype(np.float32)
    names = ["avg_pool", "predictions"]
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    ours = cnnspec.build(network, "numpy", weights=weights).forward_layers(x)
    for name, theirs in zip(names, probe(x, training=False)):
        theirs = np.asarray(theirs)
        assert np.abs(ours[name] - theirs).max() <= 1e-5 * np.abs(theirs).max(), name


# -- PyTorch models written by hand ----------------------------------------------------------

def torch_resnet18():
    """torchvision's resnet18, written out: BasicBlock, [2, 2, 2, 2]."""
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
            self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
            self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
            self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18(), (224, 224, 3)


def torch_inception():
    """GoogLeNet's inception 3a and 3b (torchvision's Inception, without batch norm)."""
    import torch
    from torch import nn
    from torch.nn.functional import relu

    class Inception(nn.Module):
        def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
            super().__init__()
            self.branch1 = nn.Conv2d(cin, ch1x1, 1)
            self.reduce3 = nn.Conv2d(cin, ch3x3red, 1)
            self.branch3 = nn.Conv2d(ch3x3red, ch3x3, 3, padding=1)
            self.reduce5 = nn.Conv2d(cin, ch5x5red, 1)
            self.branch5 = nn.Conv2d(ch5x5red, ch5x5, 5, padding=2)
            self.pool = nn.MaxPool2d(3, 1, 1)
            self.branch_pool = nn.Conv2d(cin, pool_proj, 1)

        def forward(self, x):
            return torch.cat([relu(self.branch1(x)), relu(self.branch3(relu(self.reduce3(x)))),
                              relu(self.branch5(relu(self.reduce5(x)))),
                              relu(self.branch_pool(self.pool(x)))], 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
            self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
            self.maxpool3 = nn.MaxPool2d(3, 2, 1)
            self.fc = nn.Linear(480, 10)

        def forward(self, x):
            x = self.maxpool3(self.inception3b(self.inception3a(x)))
            return self.fc(x.mean((2, 3))).softmax(1)

    return Net(), (28, 28, 192)


def torch_two_heads():
    from torch import nn

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.classes = nn.Linear(32, 10)
            self.box = nn.Linear(16 * 16 * 32, 4)

        def forward(self, x):
            x = nn.functional.max_pool2d(self.conv1(x).relu(), 2)
            x = nn.functional.max_pool2d(self.conv2(x).relu(), 2)
            return self.classes(x.mean((2, 3))).softmax(1), self.box(x.flatten(1)).sigmoid()

    return TwoHeads(), (64, 64, 3)


TORCH = {"resnet18": torch_resnet18, "inception_module": torch_inception,
         "two_heads": torch_two_heads}


def torch_to_spec(name: str) -> str:
    """torchvision's `layer2.0.downsample.0` / `.1` -> `layer2.0.downsample` / `_bn`; the
    other module names are the spec's node names."""
    return name.replace("downsample.0", "downsample").replace("downsample.1", "downsample_bn")


def torch_table(model, hwc) -> dict[str, tuple]:
    """spec name -> (output shape HxWxC, params, trainable, MACs) of every weighted module."""
    import torch
    from torch import nn
    table, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            hooks.append(module.register_forward_hook(functools.partial(_record, table, name)))
    with torch.no_grad():
        model.eval()(torch.zeros(1, hwc[2], hwc[0], hwc[1]))
    for hook in hooks:
        hook.remove()
    return table


def _record(table, name, module, _inputs, output):
    shape = tuple(output.shape[1:])  # (C, H, W) or (N,)
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for n, b in module.named_buffers() if n.startswith("running_"))
    hwc = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    table[torch_to_spec(name)] = (hwc, trainable + stats, trainable, _macs(module, shape))


def _macs(module, shape) -> int:
    """The semantics.md MACs: a conv's H*W*kh*kw*(C/groups)*N, a dense's in*units."""
    if module._get_name() == "Conv2d":
        return math.prod(shape[1:]) * module.weight.numel()
    return module.weight.numel() if module._get_name() == "Linear" else 0


def torch_inputs(model) -> tuple[dict[str, list[str]], set[str]]:
    """The traced graph (node -> input nodes) with weighted modules named as the spec does."""
    import torch.fx
    from torch import nn
    graph, modules = torch.fx.symbolic_trace(model).graph, dict(model.named_modules())
    weighted = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
    rename = {n.name: torch_to_spec(n.target) for n in graph.nodes
              if n.op == "call_module" and isinstance(modules[n.target], weighted)}
    inputs = {rename.get(n.name, n.name): [rename.get(i.name, i.name) for i in n.all_input_nodes]
              for n in graph.nodes}
    return inputs, set(rename.values())


@pytest.mark.parametrize("stem", TORCH)
def test_every_torch_module_is_a_spec_node(stem):
    pytest.importorskip("torch")
    network = checked(stem)
    model, hwc = TORCH[stem]()
    table = torch_table(model, hwc)
    assert sorted(table) == sorted(n.name for n in network.nodes if n.kind in WEIGHTED)
    for name, (shape, params, trainable, macs) in table.items():
        node = network.node(name)
        assert (node.out_shape, node.params, node.trainable_params, node.macs) == \
            (shape, params, trainable, macs), name
    assert network.total_params == sum(row[1] for row in table.values())
    assert network.trainable_params == sum(p.numel() for p in model.parameters())
    assert network.macs == sum(row[3] for row in table.values())


@pytest.mark.parametrize("stem", TORCH)
def test_wiring_equals_torch(stem):
    pytest.importorskip("torch")
    network = checked(stem)
    inputs, kept = torch_inputs(TORCH[stem]()[0])
    theirs = feeders(inputs, kept)
    ours = feeders({n.name: list(n.inputs) for n in network.nodes}, kept)
    assert ours == theirs


def test_resnet18_is_torchvisions():
    pytest.importorskip("torch")
    model, _ = torch_resnet18()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    network = checked("resnet18")
    assert (network.trainable_params, network.total_params) == (11_689_512, 11_689_512 + 9_600)
    keys = {f"{n.name}.{w.name}" for n in network.nodes for w in n.weights}
    assert {"layer2.0.downsample.kernel", "layer2.0.downsample_bn.moving_variance",
            "layer4.1.conv2.kernel", "fc.bias"} <= keys


def portable(model) -> dict:
    """A PyTorch model's weights in cnnspec's portable layout, keyed as the spec names them."""
    tensors = {"weight": "kernel", "bias": "bias"}
    bn = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
          "running_var": "moving_variance"}
    out = {}
    for name, module in model.named_modules():
        kind = module._get_name()
        if kind not in ("Conv2d", "Linear", "BatchNorm2d"):
            continue
        for key, value in module.state_dict().items():
            if key in (bn if kind == "BatchNorm2d" else tensors):
                value = value.detach().numpy()
                value = value.transpose(2, 3, 1, 0) if kind == "Conv2d" and key == "weight" else \
                    value.T if kind == "Linear" and key == "weight" else value
                tensor = (bn if kind == "BatchNorm2d" else tensors)[key]
                out[f"{torch_to_spec(name)}.{tensor}"] = value.copy()
    return out


def randomised_resnet18():
    """The hand-written ResNet-18 with batch-norm scales and statistics away from 1 and 0."""
    import torch
    torch.manual_seed(0)
    model, _ = torch_resnet18()
    randomise_torch_batchnorms(model)
    return model.eval()


def test_resnet18_outputs_equal_torch():
    """specs/zoo/resnet18.cnn built for NumPy with the hand-written model's weights gives its logits."""
    torch = pytest.importorskip("torch")
    import numpy as np

    import cnnspec
    model = randomised_resnet18()
    x = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    with torch.no_grad():
        theirs = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    ours = cnnspec.build(checked("resnet18"), "numpy", weights=portable(model))(x)
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()


def test_generated_pytorch_resnet18_takes_the_hand_written_state_dict():
    """The generated module's state_dict keys are torchvision's (downsample.0/.1 renamed):
    load_state_dict is strict, and the logits are the hand-written model's."""
    torch = pytest.importorskip("torch")
    import cnnspec
    model = randomised_resnet18()
    ours = cnnspec.build(checked("resnet18"), "torch")
    ours.load_state_dict({torch_to_spec(k): v for k, v in model.state_dict().items()})
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs, got = model(x), ours.eval()(x)
    assert (got - theirs).abs().max() <= 1e-5 * theirs.abs().max()


def test_resnet18_is_shorter_than_the_pytorch_model():
    """The issue asks for specs about as short as the hand-written PyTorch model."""
    code = [line for line in inspect.getsource(torch_resnet18).splitlines()
            if line.strip() and not line.strip().startswith(("#", '"""'))]
    assert len(statements("resnet18", expectations=False)) <= len(code)


def test_two_heads_outputs():
    network = checked("two_heads")
    assert network.outputs == ("classes", "box")
    assert [n.out_shape for n in network.output_nodes] == [(10,), (4,)]
    assert network.node("flat").inputs == ("pool2",)


# -- every expect line is checked --------------------------------------------------------------

def statements(stem: str, expectations: bool = True) -> list[tuple[int, str]]:
    """(line, text) of the spec's statements, comments and blank lines left out."""
    lines = spec_path(stem).read_text().splitlines()
    code = [(i, line.split("#", 1)[0].rstrip()) for i, line in enumerate(lines, 1)]
    return [(i, s) for i, s in code if s.strip() and (expectations or not s.startswith("expect"))]


def off_by_one(line: str) -> str:
    """`expect X == 28x28x512` -> `... 28x28x513`, `== 16640` -> `== 16641`."""
    return re.sub(r"(\d+)$", lambda m: str(int(m[1]) + 1), line)


@pytest.mark.parametrize("stem", GRAPH_SPECS)
def test_every_expectation_is_live(stem):
    checked(stem)
    path = spec_path(stem)
    lines = path.read_text().splitlines()
    expects = [i for i, s in statements(stem) if s.startswith("expect ")]
    assert len(expects) >= 5
    for i in expects:
        lines[i - 1] = off_by_one(lines[i - 1].split("#", 1)[0].rstrip())
    _, diags = analyse(SourceFile(str(path), "\n".join(lines) + "\n"))
    assert sorted((d.code, d.span.line) for d in diags) == [("E401", i) for i in expects]


@pytest.mark.parametrize("stem", GRAPH_SPECS)
def test_graph_spec_checks_clean(stem):
    network = checked(stem)
    assert network.instances or len(network.output_nodes) > 1 or \
        any(len(n.inputs) > 1 for n in network.nodes)


def test_the_range_example_of_semantics_md():
    """`freeze conv3.0.conv1..conv3.0.out` in resnet50 takes the residual branch and the add,
    not the projection conv0/bn0 (which reads the block's input, not conv1)."""
    import cnnspec
    checked("resnet50")
    lines = spec_path("resnet50").read_text().splitlines()
    text = "\n".join(line for line in lines if "trainable_params" not in line)
    network = cnnspec.loads(text + "\nfreeze conv3.0.conv1..conv3.0.out\n")
    assert [n.name for n in network.nodes if n.frozen] == \
        [f"conv3.0.{name}" for name in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "out")]
    assert "`freeze conv3.0.conv1..conv3.0.out`" in (SPECS.parent / "docs" / "semantics.md").read_text()
