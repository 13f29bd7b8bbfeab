"""An ONNX model as plain records: nodes, constants and NCHW shapes (the only module that
imports `onnx`, lazily inside `read_model`).

`read_model(path, hwc)` loads the file, checks it with `onnx.checker`, fixes an open batch
dimension to 1 and open H/W to `hwc` (the `--input` option), runs ONNX's shape inference and
returns an `OnnxGraph`: the nodes in the file's (topological) order as `OnnxNode` records
with their attributes as Python values, every constant (initializers, `Constant` nodes, and
`Identity` of a constant, which the PyTorch exporter writes for shared buffers) as a NumPy
array, every tensor's inferred shape without the batch axis, the one real input and the
outputs. Anything wrong with the file is an `OnnxFileError` with a one-line message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


class OnnxFileError(ValueError):
    """The file is not a readable ONNX model (or not one this reader can take): exit 2."""


@dataclass(frozen=True)
class OnnxNode:
    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict
    scope: tuple[str, ...] = ()  # the module path the exporter recorded (PyTorch's), if any

    @property
    def label(self) -> str:
        return f"node '{self.name}' ({self.op})"


@dataclass
class OnnxGraph:
    nodes: list[OnnxNode]
    constants: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]  # tensor -> shape without the batch axis
    input: str
    input_shape: tuple[int, ...]  # without the batch axis: (C, H, W) or (F,)
    outputs: tuple[str, ...]
    nhwc_input: bool = False  # an image input (N, H, W, C) that the graph transposes to NCHW
    initializers: frozenset = frozenset()  # the constants stored as weights (not computed)
    name: str = ""
    producer: str = ""
    opset: int = 0
    consumers: dict[str, list[OnnxNode]] = field(default_factory=dict)

    def __post_init__(self):
        for node in self.nodes:
            for name in dict.fromkeys(node.inputs):
                self.consumers.setdefault(name, []).append(node)

    def readers(self, tensor: str) -> list[OnnxNode]:
        return self.consumers.get(tensor, [])

    def producer_of(self, tensor: str) -> OnnxNode | None:
        return next((n for n in self.nodes if tensor in n.outputs), None)


def read_model(path, hwc: tuple[int, int, int] | None = None) -> OnnxGraph:
    """The model at `path` as an OnnxGraph (see the module docstring)."""
    import onnx
    model = _load(path)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise OnnxFileError(f"{path}: the model has {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs) or 'none'}); cnnspec networks have one")
    nhwc = _nhwc_input(model.graph, inputs[0])
    input_shape = _fix_input(inputs[0], hwc, path, nhwc)
    model = _infer(model, path)
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = [_node(n, i) for i, n in enumerate(model.graph.node)]
    _fold_constants(nodes, constants)
    shapes = _shapes(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxGraph([n for n in nodes if not _is_constant(n, constants)], constants, shapes,
                     inputs[0].name, input_shape, tuple(o.name for o in model.graph.output), nhwc,
                     frozenset(t.name for t in model.graph.initializer),
                     model.graph.name, f"{model.producer_name} {model.producer_version}".strip(),
                     opset)


def _load(path):
    import onnx
    from google.protobuf.message import DecodeError
    try:
        model = onnx.load(str(path))
    except OSError as err:
        raise OnnxFileError(f"cannot read {path}: {err.strerror or err}") from None
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as err:
        raise OnnxFileError(f"{path} is not an ONNX model ({_one_line(err)})") from None
    if not model.graph.node:
        raise OnnxFileError(f"{path} is not an ONNX model with a graph (no nodes)")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as err:
        raise OnnxFileError(f"{path}: onnx.checker refuses the model: {_one_line(err)}") from None
    return model


def _infer(model, path):
    """The model with ONNX's inferred shapes: strictly where it can, else what inference can
    say (an operator without a schema, an LSTM, leaves its outputs unknown: reported later)."""
    import onnx
    errors = (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError,
              ValueError)
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except errors:
        pass
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except errors as err:
        raise OnnxFileError(f"{path}: ONNX shape inference failed: {_one_line(err)}") from None


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _nhwc_input(graph, value_info) -> bool:
    """Whether an image input is (N, H, W, C): every node reading it is a Transpose to NCHW
    (what tf2onnx writes for a Keras model)."""
    readers = [n for n in graph.node if value_info.name in n.input]
    perms = [[list(a.ints) for a in n.attribute if a.name == "perm"] for n in readers]
    return bool(readers) and len(value_info.type.tensor_type.shape.dim) == 4 and all(
        n.op_type == "Transpose" and p == [[0, 3, 1, 2]] for n, p in zip(readers, perms))


def _fix_input(value_info, hwc, path, nhwc: bool = False) -> tuple[int, ...]:
    """The input's shape without the batch axis, with an open batch set to 1 and open H/W
    (and C) set from --input, in place; an image NCHW (or NHWC) or a flat (N, F) input."""
    dims = value_info.type.tensor_type.shape.dim
    if len(dims) not in (2, 4):
        raise OnnxFileError(f"{path}: the input '{value_info.name}' has {len(dims)} axes; cnnspec "
                            "takes an image (N, C, H, W) or a vector (N, F)")
    wanted = (None,) * len(dims)
    if hwc and len(dims) == 4:
        wanted = (None, *hwc) if nhwc else (None, hwc[2], hwc[0], hwc[1])
    shape = []
    for i, (dim, want) in enumerate(zip(dims, wanted)):
        if i and dim.HasField("dim_value") and want is not None and dim.dim_value != want:
            raise OnnxFileError(f"{path}: --input says {want} for axis {i} of the input, but "
                                f"the model fixes it at {dim.dim_value}")
        if i and not dim.HasField("dim_value") and want is None:
            raise OnnxFileError(f"{path}: the input '{value_info.name}' has an open size on axis "
                                f"{i} ({dim.dim_param or '?'}); give it with --input HxWxC")
        value = dim.dim_value if dim.HasField("dim_value") else (want or 1)
        dim.Clear()
        dim.dim_value = value
        shape.append(value)
    return tuple(shape[1:])


def _node(proto, index: int) -> OnnxNode:
    import onnx
    attrs = {a.name: _attr(onnx.helper.get_attribute_value(a)) for a in proto.attribute}
    name = proto.name or f"{proto.op_type}_{index}"
    meta = {p.key: p.value for p in proto.metadata_props}
    return OnnxNode(name, proto.op_type if proto.domain in ("", "ai.onnx") else
                    f"{proto.domain}.{proto.op_type}", tuple(proto.input), tuple(proto.output),
                    attrs, _scope(meta))


def _attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_attr(v) for v in value]
    if hasattr(value, "dims") and hasattr(value, "data_type"):  # a TensorProto (Constant)
        import onnx
        return onnx.numpy_helper.to_array(value)
    return value


def _scope(meta: dict) -> tuple[str, ...]:
    """The module path of the dynamo exporter's `pkg.torch.onnx.name_scopes` (e.g.
    ['', 'layer1', 'layer1.0', 'conv1', 'conv2d']: the last is the aten operator), when it
    recorded one."""
    try:
        scopes = json.loads(meta.get("pkg.torch.onnx.name_scopes", "[]").replace("'", '"'))
    except ValueError:
        return ()
    return tuple(s for s in scopes[:-1] if isinstance(s, str) and s)


def _is_constant(node: OnnxNode, constants: dict) -> bool:
    return all(o in constants for o in node.outputs) and (node.op == "Constant" or node.op in FOLDED)


FOLDED = {"Identity": lambda a: a, "Sqrt": np.sqrt, "Neg": np.negative,
          "Reciprocal": np.reciprocal, "Max": np.maximum, "Min": np.minimum, "Add": np.add,
          "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def _fold_constants(nodes: list[OnnxNode], constants: dict) -> None:
    """Constant nodes, and the arithmetic of constants (an Identity of a buffer, the Sqrt of a
    variance), become constants."""
    for node in nodes:
        if node.op == "Constant":
            value = next((v for k, v in node.attrs.items() if k.startswith("value")), None)
            if value is not None:
                constants[node.outputs[0]] = np.asarray(value)
        elif node.op in FOLDED and node.inputs and all(t in constants for t in node.inputs):
            args = [constants[t] for t in node.inputs]
            if all(a.dtype.kind == "f" for a in args):
                with np.errstate(all="ignore"):
                    constants[node.outputs[0]] = np.asarray(FOLDED[node.op](*args), dtype=args[0].dtype)


def _shapes(model) -> dict[str, tuple[int, ...]]:
    out = {}
    for info in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if dims and None not in dims[1:]:
            out[info.name] = tuple(dims[1:])
    return out
