"""Code generators: IR -> standalone Python source. Importing them imports no framework.

Every generated module has the same shape, so that cnnspec's runtime and `verify` can drive it:

- NumPy:  ``forward(x, params)`` and ``forward_layers(x, params) -> dict[name, array]`` over
  NHWC arrays; ``params`` is the portable dict (canonical layouts, see docs/backends.md).
- PyTorch: ``class <Network>(nn.Module)`` with ``forward(x)`` and ``forward_layers(x)``
  over NCHW tensors, and module functions ``load_portable(model, params)`` and
  ``to_portable(model) -> dict[str, np.ndarray]``.
- Keras:  ``build_<network>(dtype="float32") -> keras.Model`` (NHWC, one Keras layer per spec
  layer, named as in the spec) and ``load_portable(model, params)`` / ``to_portable(model)``.

Graphs (issue 8; the emitter base is backends/base.py):

- Outputs: with one output, forward returns it as today. With several (``output a, b``),
  NumPy's ``forward(x, params)`` and PyTorch's ``model(x)`` return a **tuple**, and the Keras
  model (``keras.Model(inputs, [a, b])``) returns a **list**, in the order of the spec's
  ``output`` line. ``forward_layers`` returns every node's value keyed by node name, in
  ``network.nodes`` order -- except that a Keras model holds no layer that no output depends
  on (W210): those are left out of it (and of cnnspec.runtime.run_layers for Keras).
- Values: a value read only by the very next node stays ``x`` (chains generate the same
  bytes); other values are variables named after their node, ``layer2.0.conv1`` ->
  ``layer2_0_conv1`` (base.value_names). PyTorch attributes of flat code follow the same
  rule; Keras layer names and portable keys keep the spec's names, dots included.
- Blocks: one ``nn.Module`` class per block definition (CamelCase: ``Bottleneck``; optional
  lines as optional submodules, else one class per variant, ``Bottleneck2``), repeats as
  ``nn.ModuleList`` (state_dict keys ``layer1.0.conv1.weight``);
  one Keras function per definition (optional lines under a flag, else one per variant:
  ``bottleneck``, ``bottleneck_2``) called as
  ``x = bottleneck(x, "layer1.0", ..., dtype=dtype)``; one NumPy generator function per
  definition and distinct code, ``x = yield from bottleneck(x, p, "layer1.0")``. See
  backends/torch_blocks.py for the constructor parameters and when an instance stays flat.
- Flatten order for PyTorch: cnnspec/layout.py.
"""

from __future__ import annotations

from ..ir import Network
from ..names import keras_builder_name, torch_class_name

TARGETS = ("numpy", "torch", "keras")


def generate(network: Network, target: str) -> str:
    if target == "numpy":
        from .numpy import generate as gen
    elif target == "torch":
        from .torch import generate as gen
    elif target == "keras":
        from .keras import generate as gen
    else:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return gen(network)


def class_name(network: Network) -> str:
    """The PyTorch class name (cnnspec.names.torch_class_name)."""
    return torch_class_name(network.name)


def builder_name(network: Network) -> str:
    """The Keras builder function (cnnspec.names.keras_builder_name)."""
    return keras_builder_name(network.name)
