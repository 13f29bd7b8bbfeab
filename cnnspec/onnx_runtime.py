"""Running exported ONNX models with onnxruntime, layer by layer, for `verify` (and tests).

`build(network, weights, seed, dtype)` exports the network (backends/onnx.py) and opens an
onnxruntime session on a copy of the model whose graph outputs are every layer's value, so
`run_layers` gives `{layer: NHWC array}` like runtime.run_layers does for the other backends
(images NCHW -> NHWC; flat values are in NHWC order already: the export flattens NHWC).

The models are float32: onnxruntime's CPU provider has no double Conv, AveragePool,
ConvTranspose, Erf or GlobalAveragePool kernels, so `dtype` must be float32 (FLOAT64_REFUSED).
"""

from __future__ import annotations

from .ir import Network

FLOAT64_REFUSED = ("the onnx target runs in float32 only (onnxruntime's CPU kernels have no "
                   "double Conv, AveragePool or Erf): verify it with --dtype float32")


def dtype_problem(targets, dtype: str) -> str | None:
    """Why `verify` cannot compare the onnx target in `dtype` (None when it can)."""
    return FLOAT64_REFUSED if "onnx" in targets and dtype != "float32" else None


class OnnxModel:
    """An onnxruntime session over a model that exposes every layer's value as an output."""

    def __init__(self, network: Network, model):
        import onnxruntime as ort
        self.network = network
        self.model = model
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(layer_outputs_bytes(model, network), options,
                                            providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, x):
        """The network's output(s) for an NHWC batch (NHWC results, a tuple for several)."""
        layers = self.forward_layers(x)
        values = [layers.get(n.name, x) for n in self.network.output_nodes]
        return values[0] if len(values) == 1 else tuple(values)

    def forward_layers(self, x) -> dict:
        import numpy as np
        x = np.asarray(x, dtype=np.float32)
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x
        first = self.network.nodes[0].name
        values = self.session.run(self.outputs, {first: nchw})
        layers = {n.name for n in self.network.layers}
        return {name: to_nhwc(v) for name, v in zip(self.outputs, values) if name in layers}


def to_nhwc(array):
    import numpy as np
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)) if array.ndim == 4 else array


def with_layer_outputs(model, network: Network):
    """A copy of `model` whose graph outputs are every layer's tensor, in layer order."""
    probe = type(model)()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    add_layer_outputs(probe.graph.output, network)
    return probe


def add_layer_outputs(outputs, network: Network) -> None:
    """Every layer's tensor, in layer order, as graph outputs (value infos of their shapes)."""
    from .backends.onnx import value_shape
    from .backends.onnx_proto import add_value_info
    for node in network.layers:
        add_value_info(outputs, node.name, value_shape(node.out_shape))


def layer_outputs_bytes(model, network: Network) -> bytes:
    """The bytes of `model` with every layer's tensor as a graph output: its outputs are
    replaced while it is serialised and put back after (no copy of the weights is made)."""
    outputs = model.graph.output
    saved = [type(o)() for o in outputs]
    for copy, output in zip(saved, outputs):
        copy.CopyFrom(output)
    del outputs[:]
    try:
        add_layer_outputs(outputs, network)
        return model.SerializeToString()
    finally:
        del outputs[:]
        outputs.extend(saved)


def build(network: Network, weights=None, seed: int = 0, dtype: str = "float32") -> OnnxModel:
    if dtype != "float32":
        raise ValueError(FLOAT64_REFUSED)
    from .backends.onnx import export
    return OnnxModel(network, export(network, weights, seed))
