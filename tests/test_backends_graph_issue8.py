"""Graphs through all three backends (issue 8): hand-built branching IRs, compared layer by layer
between NumPy, PyTorch and Keras AND with the frameworks' own ops applied directly in the test
(tests/backend_cases.framework_reference), for the same portable weights.

Also: every node kind has an emitter in every target and a case in the shared table; a
generator that threads one `x` through a branching graph (the chain-era bug) is caught; chains
keep their exact code; several outputs come back in the spec's order; hierarchical names.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from backend_cases import CASES, framework_reference, graph

import cnnspec
from cnnspec import runtime
from cnnspec.backends import base
from cnnspec.backends.keras import KerasWriter
from cnnspec.backends.numpy import NumpyEmitter
from cnnspec.backends.torch import Generator
from cnnspec.verify import RTOL, verify_network
from cnnspec.weights import init_weights

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TARGETS = ("numpy", "torch", "keras")
EMITTERS = {"numpy": NumpyEmitter, "torch": Generator, "keras": KerasWriter}


# --- graphs that chain-era code gets wrong ---

GRAPHS = {
    # stem feeds both branches and the add: a generator threading `x` adds the wrong tensors
    "diamond": lambda: graph((6, 6, 3), [
        ("stem", "conv 4 3x3 pad=1 -> relu", None),
        ("left", "conv 4 3x3 pad=1", ["stem"]),
        ("right", "conv 4 1x1 -> tanh", ["stem"]),
        ("join", "add -> relu", ["left", "right"]),
        ("head", "conv 2 1x1", None)]),
    # two flattened branches concatenated (flat) into a dense: the PyTorch rows are two pieces
    "concat_flattens": lambda: graph((4, 3, 2), [
        ("ca", "conv 3 3x3 pad=1 -> relu", ["input"]),
        ("fa", "flatten", None),
        ("cb", "conv 5 1x1", ["input"]),
        ("fb", "flatten", None),
        ("gap", "globalavgpool", ["cb"]),
        ("cat", "concat flat", ["fa", "fb", "gap"]),
        ("bn", "batchnorm", None),
        ("fc", "dense 4 -> softmax", None)]),
    # an add of two flat values in different PyTorch orders (4x3x2 vs 2x3x4 images, 24 each)
    "add_after_flatten": lambda: graph((4, 3, 2), [
        ("f1", "flatten", ["input"]),
        ("c", "conv 4 3x1 stride=2x1 pad=1x0", ["input"]),
        ("f2", "flatten", None),
        ("sum", "add", ["f1", "f2"]),
        ("fc", "dense 3", None)]),
    # the same with equal orders: no conversion, the order flows through the add
    "add_same_order": lambda: graph((3, 3, 2), [
        ("ca", "conv 2 1x1", ["input"]),
        ("fa", "flatten", None),
        ("cb", "conv 2 3x3 pad=1", ["input"]),
        ("fb", "flatten", None),
        ("sum", "add -> relu", ["fa", "fb"]),
        ("fc", "dense 3", None)]),
    # squeeze-excite: a (C,) gate and a 1x1xC gate over an HxWxC image
    "gate_flat": lambda: graph((5, 4, 3), [
        ("feat", "conv 6 3x3 pad=1", None),
        ("squeeze", "globalavgpool", None),
        ("excite", "dense 6 -> sigmoid", None),
        ("scaled", "multiply", ["excite", "feat"]),
        ("out", "conv 2 1x1", None)]),
    "gate_1x1": lambda: graph((6, 6, 3), [
        ("feat", "conv 4 3x3 pad=1", None),
        ("pool", "avgpool 6x6", None),
        ("excite", "conv 4 1x1 -> sigmoid", None),
        ("scaled", "multiply", ["feat", "excite"])]),
    # a flat gate that comes out of a flatten of an image: converted to NHWC order in PyTorch
    "gate_from_flatten": lambda: graph((2, 2, 3), [
        ("c", "conv 3 1x1 -> sigmoid", None),
        ("f", "flatten", None),
        ("feat", "conv 12 1x1", ["input"]),
        ("scaled", "multiply", ["feat", "f"])]),
    # two heads, listed in the other order than their lines; and a hierarchical name
    "two_heads": lambda: graph((6, 6, 3), [
        ("body.0.conv", "conv 4 3x3 pad=1 -> relu", None),
        ("body.0.pool", "maxpool 2x2", None),
        ("gap", "globalavgpool", None),
        ("cls", "dense 5 -> softmax", None),
        ("box", "dense 4", ["gap"]),
        ("mask", "conv 1 1x1 -> sigmoid", ["body.0.pool"])], outputs=("box", "cls", "mask")),
}

ALL = {**{f"kind_{k}": v for k, v in CASES.items()}, **GRAPHS}


def batch(net, seed=0, n=3):
    return np.random.default_rng(seed).standard_normal((n, *net.input_shape))


def backend_layers(net, params, x) -> dict[str, dict]:
    models = {t: runtime.build_model(net, t, params, dtype="float64") for t in TARGETS}
    return {t: runtime.run_layers(models[t], t, net, x) for t in TARGETS}


def worst_against(reference: dict, layers: dict) -> tuple[float, str]:
    """max over nodes of |a - ref| / max(1, max|ref|), and the node where it is."""
    worst, where = 0.0, ""
    for name, ref in reference.items():
        if name not in layers:
            continue
        got = layers[name]
        err = np.inf if got.shape != ref.shape else np.max(np.abs(got - ref)) / max(1.0, np.max(np.abs(ref)))
        if err > worst:
            worst, where = err, name
    return worst, where


@pytest.mark.parametrize("name", sorted(ALL))
def test_backends_agree_with_the_frameworks_own_ops(name):
    net = ALL[name]()
    params = init_weights(net, seed=3, dtype="float64")
    x = batch(net)
    reference = framework_reference(net, params, x)
    layers = backend_layers(net, params, x)
    for target in TARGETS:
        assert set(layers[target]) == {n.name for n in net.layers}, target
        err, where = worst_against(reference, layers[target])
        assert err <= RTOL["float64"], f"{target} differs from the reference at {where}: {err:.2e}"
        for node in net.layers:
            assert layers[target][node.name].shape == (len(x), *node.out_shape), (target, node.name)
    report = verify_network(net, TARGETS, "float64", weights=params)
    assert report.ok, report.first_divergence()
    assert len(report.diffs) == 3 * len(net.layers)


def test_every_node_kind_has_an_emitter_in_every_target_and_a_case():
    kinds = base.node_kinds()
    assert {"conv", "dense", "add", "concat", "multiply"} <= set(kinds)
    for target, emitter in EMITTERS.items():
        missing = [k for k in kinds if not callable(getattr(emitter, f"{k}_layer", None))]
        assert not missing, f"{target} has no emitter for {missing}"
    assert sorted(kinds) == sorted(CASES), "every node kind needs exactly one case in backend_cases.CASES"
    for kind, make in CASES.items():
        assert kind in {n.kind for n in make().layers}, f"the case for {kind} does not use it"


def test_an_unknown_kind_is_a_located_error_in_every_target():
    import dataclasses
    net = GRAPHS["diamond"]()
    odd = dataclasses.replace(net.nodes[2], kind="warp")
    net = dataclasses.replace(net, nodes=(*net.nodes[:2], odd, *net.nodes[3:]))
    for target in TARGETS:
        with pytest.raises(ValueError, match=r"layer 'left' \(line \d+\).*kind 'warp'"):
            cnnspec.compile(net, target)


def test_a_generator_that_threads_x_through_a_branch_is_caught(monkeypatch):
    """The chain-era bug: every value `x`, every layer `x = layer(x)`. Its code runs (the
    diamond's shapes happen to fit) and all three backends agree with each other -- only the
    comparison with the frameworks' own ops, which follows node.inputs, catches it."""
    net = GRAPHS["diamond"]()
    params = init_weights(net, seed=3, dtype="float64")
    x = batch(net)
    reference = framework_reference(net, params, x)
    monkeypatch.setattr(base, "stays_x", lambda network: {n.name for n in network.nodes})
    code = cnnspec.compile(net, "torch")
    assert "x = torch.tanh(self.right(x))" in code and "x = torch.relu(x + x)" in code
    layers = backend_layers(net, params, x)
    for target in TARGETS:
        err, where = worst_against(reference, layers[target])
        assert err > 1e-3 and where in ("right", "join", "head"), (target, err, where)


def test_values_read_by_the_next_node_only_stay_x():
    net = GRAPHS["diamond"]()
    names = base.value_names(net, frozenset())
    assert names == {"input": "x", "stem": "stem", "left": "left", "right": "x", "join": "x",
                     "head": "x"}
    code = cnnspec.compile(net, "numpy")
    assert '    left = _conv2d(stem, p["left.kernel"]' in code
    assert "    x = left + x  # 6x6x4" in code
    keras_code = cnnspec.compile(net, "keras")
    assert '    x = keras.layers.Add(name="join_merge", dtype=dtype)([left, x])  # 6x6x4, 0 params' in keras_code
    assert '    x = keras.layers.Activation("relu", name="join", dtype=dtype)(x)' in keras_code


def test_hierarchical_names_become_identifiers_and_keep_their_keys():
    net = GRAPHS["two_heads"]()
    names = base.value_names(net, frozenset())
    assert names["body.0.pool"] == "body_0_pool" and names["box"] == "box"
    torch_code = cnnspec.compile(net, "torch")
    assert "self.body_0_conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)" in torch_code
    assert '_copy(model.body_0_conv.weight, params["body.0.conv.kernel"]' in torch_code
    assert "return (box, cls, x)" in torch_code
    model = runtime.build_model(net, "keras", dtype="float64")
    assert model.get_layer("body.0.conv").name == "body.0.conv"  # Keras allows dots
    assert set(model.cnnspec_module.to_portable(model)) == {
        "body.0.conv.kernel", "body.0.conv.bias", "cls.kernel", "cls.bias", "box.kernel",
        "box.bias", "mask.kernel", "mask.bias"}


def test_identifier_collisions_are_renamed_never_shared():
    lines = [(n, "conv 2 1x1", ["input"]) for n in ("keep", "len", "_p", "a.b", "a_b", "z")]
    net = graph((4, 4, 2), [*lines, ("m", "concat", ["keep", "len", "_p", "a.b", "a_b", "z"])])
    names = base.value_names(net, Generator.reserved)
    assert names == {"input": "input_", "keep": "keep_", "len": "len_", "_p": "layer_p",
                     "a.b": "a_b", "a_b": "a_b_", "z": "x", "m": "x"}
    attrs = __import__("cnnspec.backends.torch", fromlist=["attribute_names"]).attribute_names(net)
    assert len(set(attrs.values())) == len(attrs)
    params = init_weights(net, seed=1, dtype="float64")
    layers = backend_layers(net, params, batch(net))
    ref = framework_reference(net, params, batch(net))
    for target in TARGETS:
        assert worst_against(ref, layers[target])[0] <= RTOL["float64"]


@pytest.mark.parametrize("target", TARGETS)
def test_several_outputs_come_back_in_the_spec_order(target):
    net = GRAPHS["two_heads"]()
    params = init_weights(net, seed=5, dtype="float64")
    x = batch(net)
    reference = framework_reference(net, params, x)
    model = runtime.build_model(net, target, params, dtype="float64")
    if target == "numpy":
        outputs = model(x)
        assert isinstance(outputs, tuple)
    elif target == "torch":
        with torch.no_grad():
            outputs = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        assert isinstance(outputs, tuple)
        outputs = [o.numpy() if o.ndim == 2 else o.numpy().transpose(0, 2, 3, 1) for o in outputs]
    else:
        outputs = model(x)
        assert isinstance(outputs, list)
        outputs = [np.asarray(o) for o in outputs]
    assert len(outputs) == 3
    for name, value in zip(("box", "cls", "mask"), outputs):
        np.testing.assert_allclose(value, reference[name], rtol=0, atol=1e-10)


def test_one_output_that_is_not_the_last_node():
    net = graph((4, 4, 2), [("c", "conv 3 1x1", None), ("g", "globalavgpool", None),
                            ("side", "conv 1 1x1", ["c"])], outputs=("g",))
    params = init_weights(net, seed=2, dtype="float64")
    x = batch(net)
    reference = framework_reference(net, params, x)
    numpy_model = runtime.build_model(net, "numpy", params, dtype="float64")
    np.testing.assert_allclose(numpy_model(x), reference["g"], atol=1e-12)
    torch_model = runtime.build_model(net, "torch", params, dtype="float64")
    with torch.no_grad():
        y = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y.numpy(), reference["g"], atol=1e-12)
    keras_model = runtime.build_model(net, "keras", params, dtype="float64")
    np.testing.assert_allclose(np.asarray(keras_model(x)), reference["g"], atol=1e-10)


def test_graph_code_is_ruff_clean_and_deterministic(tmp_path):
    for name, make in sorted(ALL.items()):
        for target in TARGETS:
            code = cnnspec.compile(make(), target)
            assert code == cnnspec.compile(make(), target)
            (tmp_path / f"{name}_{target}.py").write_text(code)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                             str(tmp_path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- blocks: one PyTorch class per block definition (variant), instantiated per use ---

TORCH_TENSORS = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                 "moving_mean": "running_mean", "moving_variance": "running_var"}


def test_block_instances_become_one_class_per_definition_with_portable_state_dict_keys():
    from backend_cases import block_network
    net = block_network()
    code = cnnspec.compile(net, "torch")
    assert code.count("(nn.Module):") == 2  # Res (its projection optional), the network
    assert "class Res(nn.Module):\n    \"\"\"Block res (line 2), used as layer1.0, layer1.1, layer2.0, layer2.1, b3.\"\"\"" in code
    # the hand-built IR's instances carry no arguments: derived names
    assert "    def __init__(self, in_channels: int, conv1_out: int, conv1_stride: int, proj: bool = False) -> None:" in code
    assert "        self.proj = nn.Conv2d(8, 16, kernel_size=1, stride=2) if proj else None" in code
    assert "        if self.proj is not None:\n            x = self.proj(input_)\n" in code
    assert "        else:\n            x = input_\n" in code
    assert "        self.layer2 = nn.ModuleList([\n            Res(8, 16, 2, proj=True),\n            Res(16, 16, 1),\n        ])" in code
    assert '            x = block(x, keep, f"layer1.{i}.")  # 8x8x8' in code
    params = init_weights(net, seed=4, dtype="float64")
    model = runtime.build_model(net, "torch", params, dtype="float64")
    expected = {f"{k.rsplit('.', 1)[0]}.{TORCH_TENSORS[k.rsplit('.', 1)[1]]}" for k in params}
    assert set(model.state_dict()) == expected
    assert model.get_submodule("layer2.0.proj").stride == (2, 2)
    x = batch(net)
    reference = framework_reference(net, params, x)
    layers = runtime.run_layers(model, "torch", net, x)
    assert set(layers) == {n.name for n in net.layers}
    assert worst_against(reference, layers)[0] <= RTOL["float64"]
    assert verify_network(net, TARGETS, "float64", weights=params).ok


def test_an_instance_read_inside_stays_flat_with_a_note():
    import dataclasses

    from backend_cases import block_network
    net = block_network()
    aux = dataclasses.replace(net.node("fc"), name="aux", inputs=("gap",))
    tap = dataclasses.replace(net.node("gap"), name="tap", inputs=("layer2.0.conv2",))
    net = dataclasses.replace(net, nodes=(*net.nodes, tap, aux), outputs=("fc", "aux"))
    code = cnnspec.compile(net, "torch")
    assert "# Generated flat (not as block modules): layer2 (res, line 2)" in code
    assert "self.layer2_0_conv2 = nn.Conv2d(16, 16, kernel_size=3, padding=1)" in code
    assert "self.layer1 = nn.ModuleList([" in code  # the other instances stay modules
    params = init_weights(net, seed=4, dtype="float64")
    assert verify_network(net, TARGETS, "float64", weights=params).ok


def test_block_code_is_ruff_clean(tmp_path):
    from backend_cases import block_network
    for target in TARGETS:
        (tmp_path / f"blocks_{target}.py").write_text(cnnspec.compile(block_network(), target))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
                             str(tmp_path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_block_instances_become_one_keras_function_per_variant():
    from backend_cases import block_network
    net = block_network()
    code = cnnspec.compile(net, "keras")
    assert code.count("\ndef res(x, name, in_channels, dtype=\"float32\"):") == 1
    assert code.count("\ndef res_2(x, name, dtype=\"float32\"):") == 1
    assert '    x = res(x, "layer1.0", 8, dtype=dtype)  # 8x8x8' in code
    assert '    x = res_2(x, "layer2.0", dtype=dtype)  # 4x4x16' in code
    assert 'name=f"{name}.conv1"' in code
    params = init_weights(net, seed=4, dtype="float64")
    model = runtime.build_model(net, "keras", params, dtype="float64")
    assert model.get_layer("layer2.0.proj").strides == (2, 2)
    assert {k: np.asarray(v).shape for k, v in model.cnnspec_module.to_portable(model).items()} == \
        {k: v.shape for k, v in params.items()}
    x = batch(net)
    layers = runtime.run_layers(model, "keras", net, x)
    assert set(layers) == {n.name for n in net.layers}
    assert worst_against(framework_reference(net, params, x), layers)[0] <= RTOL["float64"]


def test_block_instances_become_one_numpy_generator_function_per_code():
    from backend_cases import block_network
    net = block_network()
    code = cnnspec.compile(net, "numpy")
    assert code.count("\ndef res(x, p, name):") == 1 and code.count("\ndef res_2(x, p, name):") == 1
    assert '    x = yield from res(x, p, "layer1.0")  # 8x8x8' in code
    assert '    yield f"{name}.conv1", x' in code
    params = init_weights(net, seed=4, dtype="float64")
    model = runtime.build_model(net, "numpy", params, dtype="float64")
    x = batch(net)
    layers = runtime.run_layers(model, "numpy", net, x)
    assert list(layers) == [n.name for n in net.layers]
    assert worst_against(framework_reference(net, params, x), layers)[0] <= RTOL["float64"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_spec_layer_named_like_a_block_function_does_not_shadow_it(target):
    import dataclasses

    from backend_cases import block_network
    net = block_network()
    from backend_cases import merge_node
    gap = net.node("gap")
    res = dataclasses.replace(gap, name="res", inputs=("stem",), in_shape=(8, 8, 8), out_shape=(8,))
    both = merge_node("both", "concat flat", ("fc", "res"), [(10,), (8,)], gap.span)
    net = dataclasses.replace(net, nodes=(*net.nodes[:-2], res, *net.nodes[-2:], both))
    code = cnnspec.compile(net, target)
    if target == "torch":  # classes are CamelCase: the value keeps its name
        assert "class Res(nn.Module):" in code and "res = torch.mean(stem, dim=(2, 3))" in code
    else:
        assert "res_ = " in code and ('yield from res(' in code or '= res(stem, "layer1.0"' in code)
    params = init_weights(net, seed=4, dtype="float64")
    x = batch(net)
    layers = runtime.run_layers(runtime.build_model(net, target, params, dtype="float64"), target, net, x)
    assert worst_against(framework_reference(net, params, x), layers)[0] <= RTOL["float64"]


def test_a_network_with_freeze_rules_keeps_its_blocks_flat_with_a_note():
    import dataclasses

    from backend_cases import block_network
    net = block_network()
    nodes = tuple(dataclasses.replace(n, frozen=n.name.startswith("layer1.")) for n in net.nodes)
    net = dataclasses.replace(net, nodes=nodes)
    code = cnnspec.compile(net, "torch")
    assert "# Generated flat (not as block modules): layer1 (the network freezes layers" in code
    assert "self.layer1_0_conv1 = nn.Conv2d(8, 8, kernel_size=3, padding=1)" in code
    assert '"layer1_0_conv1"' in code  # the freeze rules name the flat attributes
    params = init_weights(net, seed=4, dtype="float64")
    model = runtime.build_model(net, "torch", params, dtype="float64")
    assert not model.layer1_0_conv1.weight.requires_grad and model.layer2_0_conv1.weight.requires_grad
    assert verify_network(net, TARGETS, "float64", weights=params).ok


# --- the graph specs of the zoo (specs/*.cnn, written in the language) ---

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec", ["inception_module", "two_heads"])
def test_zoo_graph_specs_verify_in_all_three_backends(spec):
    net = cnnspec.load(ROOT / "specs" / f"{spec}.cnn")
    report = verify_network(net, TARGETS, "float64", batch=1)
    assert report.ok, report.first_divergence()
    assert {d.layer for d in report.diffs} == {n.name for n in net.layers}


def test_resnet18_is_one_module_per_block_definition_with_torchvision_keys():
    net = cnnspec.load(ROOT / "specs" / "zoo" / "resnet18.cnn")
    code = cnnspec.compile(net, "torch")
    assert code.count("(nn.Module):") == 2  # `basic` (its downsample optional) and the network
    assert "    def __init__(self, in_channels: int, filters: int, stride: int, downsample: bool = False) -> None:" in code
    assert "        self.layer2 = nn.ModuleList([\n            Basic(64, 128, 2, downsample=True),\n            Basic(128, 128, 1),\n        ])" in code
    module = runtime.exec_module(code, "resnet18")
    model = module.ResNet18()
    keys = {f"{n.name}.{TORCH_TENSORS[w.name]}" for n in net.nodes for w in n.weights}
    assert set(model.state_dict()) - {k for k in model.state_dict() if k.endswith("num_batches_tracked")} == keys


def init_params(code: str, cls: str) -> list[str]:
    """The constructor parameters of class `cls` in generated PyTorch code."""
    head = code.split(f"class {cls}(nn.Module):", 1)[1].split("    def __init__(self", 1)[1]
    return [p.split(":")[0].strip() for p in head.split(") -> None:", 1)[0].split(",") if p.strip()]


def test_block_constructor_parameters_are_named_after_the_blocks_own_parameters():
    net = cnnspec.load(ROOT / "specs" / "zoo" / "resnet50.cnn")
    assert dict(next(i for i in net.instances if i.name == "conv3.0").args) == \
        {"filters": 128, "stride": 2}  # after the default and first(stride=2)
    assert dict(next(i for i in net.instances if i.name == "conv3.1").args) == \
        {"filters": 128, "stride": 1}
    code = cnnspec.compile(net, "torch")
    params = init_params(code, "Bottleneck")
    assert params[:3] == ["in_channels", "filters", "stride"] and len(params) == len(set(params))
    assert not any(p.startswith(("conv1_", "conv2_")) for p in params)
    assert "        self.conv1 = nn.Conv2d(in_channels, filters, kernel_size=1, stride=stride)" in code
    assert "        self.conv3 = nn.Conv2d(filters, conv3_out, kernel_size=1)" in code  # filters*4
    keras_code = cnnspec.compile(net, "keras")
    assert "\ndef bottleneck(x, name, filters, stride, " in keras_code
    assert "strides=(stride, stride)" in keras_code
    inception = cnnspec.compile(cnnspec.load(ROOT / "specs" / "inception_module.cnn"), "torch")
    assert "ch1x1" in init_params(inception, "Inception")


def test_resnet50_is_one_module_per_block_definition_and_verifies():
    net = cnnspec.load(ROOT / "specs" / "zoo" / "resnet50.cnn")
    code = cnnspec.compile(net, "torch")
    assert code.count("(nn.Module):") == 2  # `bottleneck` (its projection optional), the network
    assert init_params(code, "Bottleneck")[-1] == "conv0"  # the optional lines' flag, last
    assert "        self.conv0 = nn.Conv2d(in_channels, conv3_out, kernel_size=1, stride=stride) if conv0 else None" in code
    assert "            Bottleneck(256, 128, 2, 512, conv0=True),\n            Bottleneck(512, 128, 1, 512),\n" in code
    keras_code = cnnspec.compile(net, "keras")
    assert keras_code.count("\ndef bottleneck") == 1
    assert "\ndef bottleneck(x, name, filters, stride, conv3_filters, conv0=False, dtype=\"float32\"):" in keras_code
    assert '    x = bottleneck(x, "conv3.0", 128, 2, 512, conv0=True, dtype=dtype)  # 28x28x512' in keras_code
    report = verify_network(net, ("numpy", "torch"), "float32", batch=1)
    assert report.ok, report.first_divergence()
    assert {d.layer for d in report.diffs} == {n.name for n in net.layers}


def test_optional_lines_whose_fallback_is_not_their_input_keep_one_class_per_variant(tmp_path):
    spec = tmp_path / "fallback.cnn"
    spec.write_text("network Fallback\ninput 8x8x4\n"
                    "block res(filters, stride=1)\n"
                    "  c1: conv filters 3x3 stride=stride pad=1\n"
                    "  c2: conv filters 3x3 pad=1\n"
                    "  proj: conv filters 1x1 stride=stride from=in  if stride != 1\n"
                    "  out: add proj?c1 c2\n"
                    "end\n"
                    "a: res 4\nb: res 8 stride=2\ngap: globalavgpool\n")
    net = cnnspec.load(spec)
    code = cnnspec.compile(net, "torch")
    assert "class Res(nn.Module):" in code and "class Res2(nn.Module):" in code
    assert " if proj else None" not in code
    params = init_weights(net, seed=1, dtype="float64")
    assert verify_network(net, TARGETS, "float64", weights=params, batch=1).ok
