"""Identifier policy: how the names in a spec become names in generated code (the one place).

A spec name matches the grammar's NAME, ``[A-Za-z_][A-Za-z0-9_]*``. Where a name is data it is
kept exactly as written: portable weight keys ``<layer>.<tensor>``, the keys of
``forward_layers``, Keras layer and model names, summaries. Where generated code uses a name as a
Python identifier, this module renames it -- it never refuses it -- so that every spec that checks
clean compiles, in every target, to a module that parses, imports and runs:

- the PyTorch class: the network's name, with ``Model`` appended while it would be a Python
  keyword, a builtin (``super``, ``tuple``, ``dict``...), a dunder (``__debug__``, ``__class__``)
  or a name the generated module itself defines or imports (``torch``, ``load_portable``...);
- PyTorch attributes: the layer's name; ``layer<name>`` when it starts with ``_`` (no private,
  mangled or dunder attributes); ``<name>_`` when it is a keyword, an ``nn.Module`` attribute or
  a method name that ruff flags (``assertEquals``);
  then ``_`` appended while it would equal another layer's name or attribute;
- the Keras builder function: ``build_<network name in snake case>``;
- Keras helper layers (a spec layer that Keras builds from several layers): ``<layer>_<role>``,
  ``_`` appended while the name is taken; the last Keras layer carries the spec name.

NumPy code uses names only inside string literals. Names are also chosen here for the spec
itself: the reserved layer name ``input``, a network's name when the spec has no ``network``
line (from the file name), and the automatic names of unnamed layers (``conv_1``...).
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterable

RESERVED_LAYER_NAMES = frozenset({"input"})  # the input node's name
# inside a block, `in` is the block's input too (at top level `in` stays a legal name: every
# Python keyword is, and specs written before blocks existed may use it)
BLOCK_RESERVED_NAMES = RESERVED_LAYER_NAMES | {"in"}

# Python's keywords and builtins (with the names site adds, so that the answer does not depend
# on how the interpreter was started).
KEYWORDS = frozenset(keyword.kwlist)
SOFT_KEYWORDS = frozenset(keyword.softkwlist)  # legal identifiers: `class match` is valid
BUILTINS = frozenset(dir(builtins)) | {"copyright", "credits", "exit", "help", "license", "quit"}

# Attributes of nn.Module (torch 2.x) and of the generated class: a layer with one of these
# names is stored as `<name>_` so that it cannot shadow a method (tests keep this complete).
NN_MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
    "training", "forward_layers", "cnnspec_module", "param_groups",
})

# Method names that linters flag on any object (ruff UP005: unittest's deprecated aliases, which
# `self.assert_(x)` would look like): a layer attribute avoids them too.
UNITTEST_ALIASES = frozenset({
    "assert_", "assertEquals", "assertNotEquals", "assertAlmostEquals", "assertNotAlmostEquals",
    "assertRegexpMatches", "assertNotRegexpMatches", "assertRaisesRegexp", "failUnlessEqual",
    "failIfEqual", "failUnlessAlmostEqual", "failIfAlmostEqual", "failUnless", "failUnlessRaises",
    "failIf",
})
UNSAFE_ATTRIBUTES = NN_MODULE_ATTRIBUTES | UNITTEST_ALIASES

# Module-level names that the generated modules define or import (tests compare these with the
# globals of executed modules).
TORCH_MODULE_GLOBALS = frozenset({
    "torch", "nn", "F", "np", "load_portable", "to_portable", "PaddedAvgPool2d", "_skip",
    "_copy", "_numpy", "_nchw_rows", "_nhwc_rows", "STAGES", "set_stage",
    "_flat_rows", "_to_nhwc", "_scoped", "_keep",
    # helper classes and functions of the kind families (backends/torch_*.py); a test checks
    # that every class or function a backend module can write is listed here
    "ChannelLayerNorm", "LayerScale", "Normalization", "Rescaling", "SampleDropout",
    "SeparableConv2d", "_copy_scalar", "_partial_affine", "_per_channel", "_constant",
})
KERAS_MODULE_GLOBALS = frozenset({
    "keras", "np", "PaddedPool2D", "_pool_axis", "LeakyReLU", "WEIGHTS", "STAGES", "LR_SCALES",
    "load_portable", "to_portable", "set_stage", "scaled_optimizer", "_with_lr_scales",
    "_layer_of",
    # custom layers of the kind families (backends/keras_*.py CUSTOM_LAYERS), as above
    "BilinearUpSampling2D", "ConvTranspose2D", "Gelu", "GeluTanh", "LayerScale",
    "WeightedNormalization", "_dilated", "_interpolation_matrix",
})


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def unsafe_global(name: str, module_globals: Iterable[str]) -> bool:
    """Whether `name` cannot be a module-level name of a generated module: a keyword, a
    builtin, a dunder, or a name the module already defines or imports."""
    return name in KEYWORDS or name in BUILTINS or is_dunder(name) or name in module_globals


def unique(candidate: str, taken: set[str]) -> str:
    """`candidate`, with `_` appended while it is in `taken`; the result is added to `taken`."""
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


# --- PyTorch ---

def torch_class_name(network_name: str) -> str:
    """The generated nn.Module subclass: the network's name, `Model` appended while unsafe."""
    name = network_name
    while unsafe_global(name, TORCH_MODULE_GLOBALS):
        name += "Model"
    return name


def torch_attribute_names(layer_names: Iterable[str]) -> dict[str, str]:
    """Layer name -> attribute of the generated module: the spec's name where it is safe, else
    `layer<name>` (leading `_`) or `<name>_` (keyword, nn.Module attribute), never equal to
    another layer's name or attribute (two spec names never map to one attribute)."""
    layer_names = list(layer_names)
    taken = set(layer_names) | UNSAFE_ATTRIBUTES
    names = {}
    for name in layer_names:
        attr = "layer" + name if name.startswith("_") else name
        if attr != name or attr in UNSAFE_ATTRIBUTES or attr in KEYWORDS:
            attr = unique(attr + ("" if attr != name else "_"), taken)
        names[name] = attr
    return names


# --- Keras ---

def keras_builder_name(network_name: str) -> str:
    """The Keras builder function: build_<network name in snake case>."""
    name = "build_" + snake(network_name)
    while unsafe_global(name, KERAS_MODULE_GLOBALS):  # cannot happen today; keeps the rule whole
        name += "_"
    return name


def keras_helper_name(layer: str, role: str, taken: set[str]) -> str:
    """The name of an extra Keras layer built for spec layer `layer` (`c1_pad`), unique in
    `taken` (every spec layer's name and the helper names given so far)."""
    return unique(f"{layer}_{role}", taken)


def snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (name[i - 1].islower() or name[i - 1].isdigit()):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


# --- names in the spec itself ---

def network_name_from_file(file: str) -> str:
    """A network's name when the spec has no `network` line: its file name's stem as a NAME."""
    stem = file.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
    ident = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in stem) or "Network"
    return ident if not ident[0].isdigit() else "Net_" + ident


def hierarchical(prefix: str, name: str) -> str:
    """A node or instance name inside instance `prefix`: `layer2.0` + `conv1` ->
    `layer2.0.conv1` (the top level has the prefix '')."""
    return f"{prefix}.{name}" if prefix else name


def automatic_names(explicit: list[str | None], kinds: list[str], taken: set[str]) -> list[str]:
    """Every layer's name: the explicit one where given, else `<kind>_<n>`, counted per kind
    and skipping names in `taken` (the explicit and reserved names)."""
    taken = set(taken)
    counters: dict[str, int] = {}
    names = []
    for name, kind in zip(explicit, kinds):
        while name is None:
            counters[kind] = counters.get(kind, 0) + 1
            candidate = f"{kind}_{counters[kind]}"
            name = candidate if candidate not in taken else None
        taken.add(name)
        names.append(name)
    return names
