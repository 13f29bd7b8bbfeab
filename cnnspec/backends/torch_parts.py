"""What every PyTorch emitter shares: the Emitted record and small source-writing helpers.

The kind families (torch.py's core kinds, torch_convs, torch_norms, torch_reshapes) import
from here; the activation tables are the one place that says how each activation is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# activation -> its forward expression ({} the input) and its nn module; those with an alpha
# (leaky_relu, elu) are written by `activation` and `activation_module`
FUNCTIONS = {"relu": "torch.relu({})", "sigmoid": "torch.sigmoid({})", "tanh": "torch.tanh({})",
             "softmax": "torch.softmax({}, dim=1)", "linear": "{}", "relu6": "F.relu6({})",
             "swish": "F.silu({})", "hard_sigmoid": "F.hardsigmoid({})",
             "hard_swish": "F.hardswish({})", "gelu": 'F.gelu({}, approximate="none")',
             "gelu_tanh": 'F.gelu({}, approximate="tanh")'}
MODULES = {"relu": "nn.ReLU()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
           "softmax": "nn.Softmax(dim=1)", "linear": "nn.Identity()", "relu6": "nn.ReLU6()",
           "swish": "nn.SiLU()", "hard_sigmoid": "nn.Hardsigmoid()", "hard_swish": "nn.Hardswish()",
           "gelu": 'nn.GELU(approximate="none")', "gelu_tanh": 'nn.GELU(approximate="tanh")'}


@dataclass
class Emitted:
    """What one spec layer contributes to the generated module."""

    call: str                      # the forward expression, in terms of `x`
    module: str | None = None      # constructor of the layer's submodule
    loads: list[str] = field(default_factory=list)   # load_portable lines
    saves: list[str] = field(default_factory=list)   # to_portable dict entries
    uses_f: bool = False
    helpers: tuple[str, ...] = ()  # module-level helper sources (classes, functions) it needs


def activation(call: str, attrs) -> str:
    """The forward expression of `call` followed by the activation that attrs name."""
    name = attrs["activation"]
    if name == "leaky_relu":
        return f"F.leaky_relu({call}, negative_slope={attrs['alpha']!r})"
    if name == "elu":
        return f"F.elu({call}, alpha={attrs['alpha']!r})"
    return FUNCTIONS[name].format(call)


def activation_module(attrs) -> str:
    """The nn module of an activation layer."""
    name = attrs["activation"]
    if name == "leaky_relu":
        return f"nn.LeakyReLU(negative_slope={attrs['alpha']!r})"
    if name == "elu":
        return f"nn.ELU(alpha={attrs['alpha']!r})"
    return MODULES[name]


def uses_f(attrs) -> bool:
    """Whether the activation is written with torch.nn.functional (F)."""
    return activation("x", attrs).startswith("F.")


def pair(values: tuple[int, int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"({values[0]}, {values[1]})"


def optional(name: str, values: tuple[int, int], default: tuple[int, int]) -> list[str]:
    return [] if tuple(values) == default else [f"{name}={pair(values)}"]


def nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)
