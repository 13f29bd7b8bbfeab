"""Issue 7, generated code: every spec that checks clean compiles, in every target, to a module
that compiles, is ruff-clean, imports, builds and runs -- whatever its names are.

The naming policy (cnnspec/names.py): spec names are kept as written wherever they are data
(weight keys, forward_layers keys, Keras layer names); where generated code uses one as a
Python identifier it is renamed, never refused. The hostile names here are every Python
keyword and soft keyword, every builtin, dunders, the generated modules' own globals and
imports, nn.Module attributes, and pairs that would collide after renaming.
"""

from __future__ import annotations

import keyword
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from test_cross_backend import FAMILIES, networks

import cnnspec
from cnnspec import cli
from cnnspec import names as N
from cnnspec.api import analyse, load_source
from cnnspec.backends import builder_name, class_name
from cnnspec.runtime import exec_module
from cnnspec.source import SourceFile
from cnnspec.verify import verify_network

pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TARGETS = ("numpy", "torch", "keras")
DUNDERS = ("__class__", "__dict__", "__getattr__", "__init__", "__module__", "__qualname__",
           "__slots__", "__name__", "__doc__", "__file__", "__all__", "__annotations__",
           "__init_subclass__", "__setattr__", "__x", "__x_", "_", "__")
# locals and parameters of the generated functions, and names that collide after renaming
LOCALS = ("self", "x", "y", "p", "keep", "prefix", "outputs", "params", "dtype", "model", "layer",
          "name", "key", "value", "tensor", "variable", "inputs", "groups", "mode", "lr")
COLLIDING = ("class", "class_", "class__", "_x", "layer_x", "forward", "forward_", "forward__",
             "to", "to_", "_to", "layer_to")
# spec-language words that cannot name a layer (the parser reads them as statements)
NOT_LAYER_NAMES = {"input", "import"}
HOSTILE = sorted(set(keyword.kwlist) | set(keyword.softkwlist) | N.BUILTINS | set(DUNDERS)
                 | N.UNSAFE_ATTRIBUTES | N.TORCH_MODULE_GLOBALS | N.KERAS_MODULE_GLOBALS
                 | {"numpy", "math", "os", "sys"} | set(LOCALS) | set(COLLIDING))
HOSTILE_LAYERS = [n for n in HOSTILE if n not in NOT_LAYER_NAMES]
ISSUE_NAMES = ("__debug__", "super", "tuple", "dict", "__builtins__", "__class__", "__dict__",
               "__getattr__")
ruff = shutil.which("ruff")


def load(text: str, file: str = "t.cnn") -> cnnspec.Network:
    return load_source(SourceFile(file, text))


def compile_all(net: cnnspec.Network) -> dict[str, str]:
    """Each target's source, compiled (not only parsed: `class __debug__` parses) and imported."""
    sources = {}
    for target in TARGETS:
        code = cnnspec.compile(net, target)
        module = exec_module(code, f"{net.name}_{target}")
        entry = {"numpy": "forward", "torch": class_name(net), "keras": builder_name(net)}[target]
        assert callable(getattr(module, entry)), (target, entry)
        sources[target] = code
    return sources


def assert_ruff_clean(sources: list[str], tmp_path: Path) -> None:
    for i, code in enumerate(sources):
        (tmp_path / f"m{i}.py").write_text(code)
    result = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--quiet", str(tmp_path)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[:3000] + result.stderr


def assert_backends_agree(net: cnnspec.Network) -> None:
    report = verify_network(net, TARGETS, dtype="float64", seed=1, batch=2)
    assert report.missing == {} and report.ok, report.first_divergence()


# --- network names: file stems and `network` lines ---

@pytest.mark.parametrize("word", keyword.kwlist)
def test_every_keyword_as_file_stem_and_network_name(word, tmp_path):
    body = "input 4x4x2\nc: conv 2 3x3\n"
    from_stem = load(body, f"specs/{word}.cnn")
    declared = load(f"network {word}\n" + body)
    assert from_stem.name == declared.name == word  # the spec's name is kept as the name
    assert class_name(declared) == f"{word}Model"
    for net in (from_stem, declared):
        assert f"class {word}Model(nn.Module):" in compile_all(net)["torch"]
        assert cnnspec.build(net, "torch")(torch.zeros(1, 2, 4, 4)).shape == (1, 2, 2, 2)


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_the_issues_network_names_build_and_agree(name):
    net = load(f"network {name}\ninput 4x4x2\nc: conv 2 3x3\nflatten\nd: dense 3 -> softmax\n")
    compile_all(net)
    assert type(cnnspec.build(net, "torch")).__name__ == name + "Model"
    assert_backends_agree(net)


def test_every_hostile_network_name_compiles_imports_and_runs(tmp_path):
    sources, x = [], np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32)
    for name in HOSTILE:
        net = load(f"network {name}\ninput 4x4x2\nc: conv 2 3x3 pad=(0, 1, 0, 1)\n"
                   "p: avgpool 2x2 pad=(1, 0, 0, 1)\nleaky_relu alpha=0.1\nflatten\nd: dense 2\n")
        assert net.name == name
        sources += compile_all(net).values()
        want = cnnspec.build(net, "numpy")(x)
        got = cnnspec.build(net, "torch")(torch.from_numpy(x.transpose(0, 3, 1, 2)))
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    assert_ruff_clean(sources, tmp_path)


def test_class_names_avoid_every_unsafe_name():
    for name in HOSTILE:
        cls = N.torch_class_name(name)
        assert cls.isidentifier() and not N.unsafe_global(cls, N.TORCH_MODULE_GLOBALS), name
        assert cls == name or cls == name + "Model" * ((len(cls) - len(name)) // 5), (name, cls)
    assert N.torch_class_name("LeNet5") == "LeNet5" and N.torch_class_name("match") == "match"
    assert N.keras_builder_name("LeNet5") == "build_le_net5"


# --- layer names ---

def hostile_chain(names: list[str]) -> str:
    """One network whose layers carry `names`: every kind that becomes a torch attribute or a
    Keras layer, cycling, on a 3x3x2 image, then a flatten and a dense layer."""
    kinds = ("conv 2 1x1 -> relu", "relu", "batchnorm", "conv 2 3x3 pad=(1, 1, 0, 2) groups=2",
             "leaky_relu alpha=0.2", "dropout 0.5", "maxpool 2x2 stride=1 pad=(0, 1, 1, 0)",
             "zeropad (0, 0, 0, 0)", "avgpool 1x1", "conv 2 1x1 pad=same bias=false -> sigmoid")
    lines = [f"{name}: {kinds[i % len(kinds)]}" for i, name in enumerate(names[:-2])]
    lines += [f"{names[-2]}: flatten", f"{names[-1]}: dense 3 -> tanh"]
    return "network Hostile\ninput 3x3x2\n" + "\n".join(lines) + "\n"


def test_every_hostile_layer_name_builds_and_agrees_in_all_targets(tmp_path):
    net = load(hostile_chain(HOSTILE_LAYERS))
    assert [n.name for n in net.layers] == HOSTILE_LAYERS  # kept as written
    sources = compile_all(net)
    assert_ruff_clean(list(sources.values()), tmp_path)
    assert_backends_agree(net)
    model = cnnspec.build(net, "torch")
    params = model.cnnspec_module.to_portable(model)
    # portable keys stay `<layer name as written>.<tensor>`
    assert sorted(params) == sorted(f"{n.name}.{w.name}" for n in net.layers for w in n.weights)
    # keyword-named layers with weights keep their names (`class.kernel`, not `class_.kernel`)
    named = [n for n in net.layers if keyword.iskeyword(n.name) and n.weights]
    assert named and all(f"{n.name}.{w.name}" in params for n in named for w in n.weights)


def test_attribute_names_are_identifiers_and_never_collide():
    attrs = N.torch_attribute_names(HOSTILE_LAYERS)
    assert len(set(attrs.values())) == len(attrs)  # two spec names never share an attribute
    for name, attr in attrs.items():
        assert attr.isidentifier() and not keyword.iskeyword(attr) and not attr.startswith("_")
        assert attr not in N.UNSAFE_ATTRIBUTES, name
    assert (attrs["class"], attrs["class_"], attrs["class__"]) == ("class___", "class_", "class__")
    assert (attrs["_x"], attrs["layer_x"], attrs["__class__"]) == ("layer_x_", "layer_x",
                                                                  "layer__class__")


def test_module_globals_are_what_the_generated_modules_define():
    """names.py's lists of module globals are the real globals of generated modules (a
    network that uses every optional part: stages, padded pools, leaky ReLU, row helpers)."""
    text = ("network Full\ninput 4x4x2\nc: conv 2 3x3 pad=(0, 1, 0, 1) -> leaky_relu alpha=0.1\n"
            "a: avgpool 2x2 pad=(1, 0, 0, 1)\nm: maxpool 2x2 pad=(1, 0, 1, 0) stride=1\n"
            "flatten\nd: dense 2\nstage head\nfreeze c..a\nstage all\nunfreeze c lr=0.1\n")
    net = load(text)
    for target, expected in (("torch", N.TORCH_MODULE_GLOBALS), ("keras", N.KERAS_MODULE_GLOBALS)):
        module = exec_module(cnnspec.compile(net, target), target)
        defined = {k for k in vars(module) if not N.is_dunder(k)}
        defined -= {class_name(net), builder_name(net)}
        assert defined <= expected, defined - expected
    assert "_nchw_rows" in vars(exec_module(cnnspec.compile(net, "torch"), "t"))


# --- a network with an input and no layers: the identity everywhere ---

def test_input_only_network_is_the_identity_in_every_backend(tmp_path):
    net = load("input 3x4x2\n")
    assert net.layers == () and net.diagnostics == ()
    sources = compile_all(net)
    assert_ruff_clean(list(sources.values()), tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2))
    numpy_model = cnnspec.build(net, "numpy", dtype="float64")
    np.testing.assert_array_equal(numpy_model(x), x)
    assert numpy_model.forward_layers(x) == {}
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    torch_model = cnnspec.build(net, "torch", dtype="float64")
    np.testing.assert_array_equal(torch_model(nchw).numpy(), nchw.numpy())
    assert torch_model.forward_layers(nchw) == {}
    keras_out = cnnspec.build(net, "keras", dtype="float64")(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras_out), x)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(batch, 3, 4, 2\)"):
        numpy_model(np.zeros((1, 4, 3, 2)))


def test_verify_an_input_only_network(tmp_path, capsys):
    path = tmp_path / "empty.cnn"
    path.write_text("input 3x4x2\n")
    assert cli.main(["verify", str(path)]) == 0  # it raised TypeError in the NumPy forward
    out, err = capsys.readouterr()
    assert "OK: numpy, torch, keras: the network has no layers" in out and err == ""


def test_a_weightless_network_reads_no_params(tmp_path):
    sources = compile_all(load("input 4x4x2\nrelu\nmaxpool 2x2\n"))
    assert "p = {" not in sources["numpy"]  # it was assigned and never used (ruff F841)
    assert_ruff_clean([sources["numpy"]], tmp_path)


# --- random clean specs with random (and hostile) names ---

NAMES = st.sampled_from(HOSTILE_LAYERS) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
LAYER_LINE = re.compile(r"^(\w+): ", re.MULTILINE)


@st.composite
def named_networks(draw):
    """Spec text of a random valid architecture (test_cross_backend's generator) whose layer and
    network names are random: hostile, random identifiers, automatic, or from the file name."""
    text, _shapes = draw(networks(draw(st.sampled_from(list(FAMILIES.values())))))
    count = len(LAYER_LINE.findall(text))
    chosen = draw(st.lists(NAMES.filter(lambda n: n not in NOT_LAYER_NAMES), min_size=count,
                           max_size=count, unique=True))
    fresh = iter(name if draw(st.integers(0, 4)) else None for name in chosen)
    text = LAYER_LINE.sub(lambda m: f"{name}: " if (name := next(fresh)) else "", text)
    network = draw(NAMES)
    stem = draw(NAMES)
    if draw(st.booleans()):
        return text.replace("network Random\n", ""), f"{stem}.cnn"
    return text.replace("network Random", f"network {network}"), f"{stem}.cnn"


def check_clean(text: str, file: str) -> cnnspec.Network | None:
    net, diags = analyse(SourceFile(file, text))
    if net is None or any(d.severity == "error" for d in diags):
        return None  # e.g. an automatic name equal to a drawn one: the spec says why
    return net


def test_random_names_compile_and_import_everywhere(tmp_path):
    sources, clean = [], []

    @seed(7)
    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(named_networks())
    def each(case):
        net = check_clean(*case)
        if net is not None:
            clean.append(net)
            sources.extend(compile_all(net).values())

    each()
    assert len(clean) >= 200  # nearly every drawn spec is clean; the test is not vacuous
    assert_ruff_clean(sources, tmp_path)
    for net in random.Random(0).sample(clean, 20):
        assert_backends_agree(net)


def module_level_names(prefix: str) -> set[str]:
    """Every class or function that a backend's modules (cnnspec/backends/<prefix>*.py, block
    code aside) can write at the top level of a generated module."""
    import importlib
    import pkgutil

    from cnnspec import backends
    names = set()
    for info in pkgutil.iter_modules(backends.__path__):
        if info.name.startswith(prefix) and "blocks" not in info.name:
            module = importlib.import_module(f"cnnspec.backends.{info.name}")
            for value in vars(module).values():
                if isinstance(value, str) and ("\nclass " in value or "\ndef " in value):
                    names |= set(re.findall(r"(?m)^(?:class|def) (\w+)", value))
    return names


@pytest.mark.parametrize("prefix, reserved", [("torch", N.TORCH_MODULE_GLOBALS),
                                              ("keras", N.KERAS_MODULE_GLOBALS)])
def test_every_generated_helper_name_is_reserved(prefix, reserved):
    """A network, block or layer named like a helper class (`network LayerScale`) must not
    shadow it: every helper a backend writes is in the names its generated code avoids."""
    helpers = module_level_names(prefix)
    assert len(helpers) > 5 and helpers <= reserved, sorted(helpers - reserved)
