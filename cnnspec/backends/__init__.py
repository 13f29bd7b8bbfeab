"""Code generators: IR -> standalone Python source. Importing them imports no framework.

Every generated module has the same shape, so that cnnspec's runtime and `verify` can drive it:

- NumPy:  ``forward(x, params)`` and ``forward_layers(x, params) -> dict[name, array]`` over
  NHWC arrays; ``params`` is the portable dict (canonical layouts, see docs/backends.md).
- PyTorch: ``class <Network>(nn.Module)`` with ``forward(x)`` and ``forward_layers(x)``
  over NCHW tensors, and module functions ``load_portable(model, params)`` and
  ``to_portable(model) -> dict[str, np.ndarray]``.
- Keras:  ``build_<network>(dtype="float32") -> keras.Model`` (NHWC, one Keras layer per spec
  layer, named as in the spec) and ``load_portable(model, params)`` / ``to_portable(model)``.
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
