"""Portable weights: one canonical layout, keyed `<layer>.<tensor>`, stored as safetensors.

Canonical layouts (every backend converts on load):
  conv   kernel (kh, kw, c_in/groups, c_out), bias (c_out,)
  dense  kernel (in, out) -- rows in NHWC flatten order when fed by a flatten, bias (out,)
  batchnorm gamma, beta, moving_mean, moving_variance, each (c,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ir import Network
from .weight_file import StoredTensor, WeightError, read_header

DTYPES = {"float32": np.float32, "float64": np.float64}


def expected_shapes(network: Network) -> dict[str, tuple[int, ...]]:
    return {f"{n.name}.{w.name}": w.shape for n in network.nodes for w in n.weights}


def init_weights(network: Network, seed: int = 0, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Deterministic weights: Glorot-uniform kernels, small random biases and statistics."""
    rng = np.random.default_rng(seed)
    params = {}
    for node in network.nodes:
        for w in node.weights:
            params[f"{node.name}.{w.name}"] = _init_tensor(rng, w.name, w.shape).astype(DTYPES[dtype])
    return params


def _init_tensor(rng, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name == "kernel":
        receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)
    if name in ("gamma", "moving_variance", "variance"):  # scales and variances: positive
        return rng.uniform(0.5, 1.5, shape)
    if name == "count":  # Normalization's count of adapt() samples: Keras starts it at 0
        return np.zeros(shape)
    return rng.uniform(-0.1, 0.1, shape)


def validate(network: Network, params: dict, dtype: str | None = None) -> dict[str, np.ndarray]:
    """Check names, dtypes and shapes (from a file's header, before reading its data), then that
    every value is finite; returns arrays (cast to dtype when given). Every problem is reported."""
    expected = expected_shapes(network)
    values = {k: _as_tensor(params[k]) for k in expected if k in params}
    problems = [f"missing tensor '{k}' (layer '{_layer(k)}', expected shape {expected[k]})"
                for k in expected if k not in params]
    problems += [f"unexpected tensor '{k}': the network has no such layer weight"
                 for k in params if k not in expected]
    problems += [p for k, v in values.items() if (p := _tensor_problem(k, v, expected[k]))]
    if problems:
        raise WeightError(problems)
    arrays = {k: v.read() if isinstance(v, StoredTensor) else v for k, v in values.items()}
    problems = [p for k, a in arrays.items() if (p := _finite_problem(k, a))]
    if problems:
        raise WeightError(problems)
    return {k: a.astype(DTYPES[dtype], copy=False) if dtype else a for k, a in arrays.items()}


def _as_tensor(value):
    """An array, or a file's StoredTensor as it is (its data is read once its header fits)."""
    if isinstance(value, StoredTensor):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # a ragged nested list: refused below as dtype object
        return np.asarray(value, dtype=object)


def _layer(key: str) -> str:
    """The layer of a portable key `<layer>.<tensor>`; layer names may contain dots."""
    return key.rsplit(".", 1)[0]


def _tensor_problem(key: str, value, shape: tuple[int, ...]) -> str | None:
    """What is wrong with one tensor's dtype or shape (an array, or a file's header entry)."""
    name = getattr(value.dtype, "name", value.dtype)
    where = f"tensor '{key}' of layer '{_layer(key)}'"
    if name not in DTYPES and "float" in name:
        return (f"{where} has dtype {name}; weights must be float32 or float64 (convert them, "
                "e.g. with .astype(numpy.float32), before saving)")
    if name not in DTYPES:
        return f"{where} has dtype {name}; weights must be floating point (float32 or float64)"
    if tuple(value.shape) != tuple(shape):
        return f"{where} has shape {tuple(value.shape)}, but the spec needs {tuple(shape)}"
    return None


def _finite_problem(key: str, array: np.ndarray) -> str | None:
    finite = np.isfinite(array)
    bad = array.size - int(np.count_nonzero(finite))
    if not bad:
        return None
    nan = int(np.count_nonzero(np.isnan(array)))
    return (f"tensor '{key}' of layer '{_layer(key)}' has {bad:,} of {array.size:,} values that "
            f"are not finite ({nan:,} NaN, {bad - nan:,} infinite); weights must be finite numbers")


def load_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file (no pickle involved)."""
    return {key: tensor.read() for key, tensor in read_header(path).items()}


def save_file(params: dict[str, np.ndarray], path: str | Path) -> None:
    """Write a safetensors file atomically, by the same rules as every output file
    (output.write_atomic: regular files only, mode kept, symlinks written through)."""
    from safetensors.numpy import save as st_save

    from .output import write_atomic
    # np.ascontiguousarray makes a scalar (Normalization's count) 1-D: keep every shape
    write_atomic(path, st_save({k: np.ascontiguousarray(v).reshape(np.shape(v))
                                for k, v in params.items()}))


@dataclass
class LoadReport:
    """What a weight file gave a transfer network: tensors taken, layers initialised, unused."""

    taken: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"took {len(self.taken)} tensors from the weight file"]
        if self.initialised:
            lines.append(f"initialised new layers: {', '.join(self.initialised)}")
        if self.unused:
            lines.append(f"not used (layers the spec dropped): {', '.join(self.unused)}")
        return "\n".join(lines)


def assemble(network: Network, given: dict, seed: int = 0, dtype: str = "float32"):
    """Weights for a network that reuses a base: imported layers must come from `given`,
    new layers come from `given` when present and are initialised otherwise."""
    expected = expected_shapes(network)
    fresh = init_weights(network, seed, dtype)
    report = LoadReport(unused=sorted(k for k in given if k not in expected))
    params, missing = {}, []
    for node in network.nodes:
        keys = [f"{node.name}.{w.name}" for w in node.weights]
        have = [k for k in keys if k in given]
        if node.group is None and not have and keys:
            report.initialised.append(node.name)
            params.update({k: fresh[k] for k in keys})
            continue
        missing += [k for k in keys if k not in given]
        params.update({k: given[k] for k in keys if k in given})
        report.taken.extend(k for k in keys if k in given)
    if missing:
        raise WeightError([f"layer '{_layer(k)}' needs tensor '{k}' of shape {expected[k]}, but "
                           "the weight file has none" for k in missing])
    return validate(network, params, dtype), report


def is_transfer(network: Network) -> bool:
    return any(n.group is not None for n in network.nodes)


def resolve(network: Network, weights=None, seed: int = 0, dtype: str = "float32") -> dict:
    """The portable dict for a build: from a file, a dict, or deterministic initialisation.

    A network that reuses a base takes what it can from the weights and initialises its new
    layers (see `assemble`); any other network needs exactly its own tensors."""
    if weights is None:
        return init_weights(network, seed, dtype)
    if isinstance(weights, (str, Path)):
        weights = read_header(weights)  # tensors are read only once the header fits the spec
    if is_transfer(network):
        return assemble(network, weights, seed, dtype)[0]
    return validate(network, weights, dtype)
