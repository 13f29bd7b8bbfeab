"""`cnnspec.summary(path_or_network)`: the summary as an object, as Keras's `model.summary()`.

    s = cnnspec.summary("specs/lenet5.cnn")
    print(s)            # the table `cnnspec summary` prints, byte for byte
    s.total_params      # 61706 (also trainable_params, non_trainable_params, macs, layers)
    s.to_dict()         # the JSON object of `cnnspec summary --format json`
    s.to_json()         # that object as the command prints it
    s.to_markdown()     # the table of `cnnspec summary --format markdown`

Imports no framework: only the checker and the text views."""

from __future__ import annotations

import copy
import json
import os

from .api import analyse
from .diagnostics import SpecError
from .ir import Network


class Summary:
    """A network's summary: the JSON object, and the table and Markdown made from it."""

    def __init__(self, data: dict, depth: int | None = 1):
        self._data = data
        self.depth = depth

    def __str__(self) -> str:
        from .report import table
        return table(self._data, self.depth)

    def __repr__(self) -> str:
        return (f"<cnnspec.Summary {self.network!r}: {len(self.layers):,} layers, "
                f"{self.total_params:,} params, {self.macs:,} MACs>")

    def _repr_markdown_(self) -> str:  # how Jupyter shows the object
        return self.to_markdown()

    def to_dict(self) -> dict:
        """A copy of the JSON object of `cnnspec summary --format json`."""
        return copy.deepcopy(self._data)

    def to_json(self, indent: int | None = 1) -> str:
        """The JSON text; with the default indent exactly what the command prints (less its
        final newline)."""
        return json.dumps(self._data, indent=indent)

    def to_markdown(self, depth: int | None = ...) -> str:
        """The Markdown table; `depth` as in summary() (by default this summary's)."""
        from .report import markdown
        return markdown(self._data, self.depth if depth is ... else depth)

    network = property(lambda self: self._data["network"], doc="the network's name")
    file = property(lambda self: self._data["file"], doc="the spec's file name")
    total_params = property(lambda self: self._data["total_params"])
    trainable_params = property(lambda self: self._data["trainable_params"])
    non_trainable_params = property(lambda self: self._data["non_trainable_params"])
    macs = property(lambda self: self._data["macs"], doc="multiply-accumulates per sample")
    input_shape = property(lambda self: tuple(self._data["input_shape"]))
    output_shape = property(lambda self: tuple(self._data["output_shape"]))
    stage = property(lambda self: self._data["stage"], doc="the stage whose freeze rules it shows")

    @property
    def layers(self) -> list[dict]:
        """Every layer's object (as in the JSON), the input not counted: len() is the count."""
        return copy.deepcopy(self._data["layers"])


def summary(spec: str | os.PathLike | Network, *, stage: str | None = None,
            depth: int | None = 1, batch: int = 1, dtype: str = "float32") -> Summary:
    """The summary of the spec file at `spec` (a path, never spec text: cnnspec.loads that and
    pass the network), or of a loaded Network.

    `stage`: a training stage's freeze rules (default: the first stage); `depth`: the block
    levels the table opens, as `--depth` (None: every layer, as `--expand`); `batch` and
    `dtype`: the activation memory figures, as `--batch` and `--dtype`. Raises as
    cnnspec.load: SpecError for a spec with errors, OSError for a file that cannot be read,
    KeyError for an unknown stage."""
    _check_depth(depth)
    network, diagnostics = _network(spec)
    network = network.with_stage(stage) if stage is not None else network
    data = network.summary()
    data["diagnostics"] = [d.to_json() for d in diagnostics]
    data["ok"] = True
    annotate(data, batch, dtype, network)  # after ok, as the command's JSON orders its keys
    return Summary(data, depth)


def annotate(data: dict, batch: int, dtype: str, network: Network) -> dict:
    """The receptive fields, jumps and activation memory the command's JSON has."""
    from .receptive import annotate as fields
    return fields(network, data, batch, dtype)


def _network(spec) -> tuple[Network, tuple]:
    """The network and its diagnostics (warnings only: errors raise SpecError)."""
    if isinstance(spec, Network):
        return spec, spec.diagnostics
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"cnnspec.summary takes a path (str or Path) or a Network, not "
                        f"{type(spec).__name__}")
    from .api import read_spec_file
    source = read_spec_file(spec)
    network, diagnostics = analyse(source)
    if network is None or any(d.severity == "error" for d in diagnostics):
        raise SpecError(source, list(diagnostics))
    return network, tuple(diagnostics)


def _check_depth(depth) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a whole number from 1 or None (every layer), not {depth!r}")


__all__ = ["Summary", "summary"]
