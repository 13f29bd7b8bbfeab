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
    """The PyTorch class name: the network's name (a validated identifier), with 'Model'
    appended where it would shadow a name the generated module defines or imports."""
    from .torch import MODULE_NAMES
    name = network.name
    while name in MODULE_NAMES:
        name += "Model"
    return name


def builder_name(network: Network) -> str:
    """The Keras builder function: build_<network name in snake case>."""
    return "build_" + snake(network.name)


def snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (name[i - 1].islower() or name[i - 1].isdigit()):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
