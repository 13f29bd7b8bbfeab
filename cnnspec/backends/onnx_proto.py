"""ONNX protobuf messages, made from the `onnx` package's own generated classes.

`import onnx` runs the package's __init__, which imports onnx.helper and, through it, the
ml_dtypes extension: about 1.4 s of CPU here, more than the whole of `compile --target onnx`
may take. The messages themselves live in onnx's generated module `onnx.onnx_ml_pb2` (it needs
only google.protobuf), so `messages()` loads that one file of the installed onnx package as
`onnx.onnx_ml_pb2` -- the very module `import onnx` uses later in the same process, so a
ModelProto made here *is* an `onnx.ModelProto` -- and the few helpers below do what
onnx.helper.make_node / make_tensor_value_info / make_graph / make_model and
onnx.numpy_helper.from_array do for float32 and int64 tensors.
"""

from __future__ import annotations

import sys

FLOAT, INT64 = 1, 7  # TensorProto.DataType
ELEMENT_TYPES = {"float32": FLOAT, "int64": INT64}
MODULE = "onnx.onnx_ml_pb2"


def messages():
    """The onnx.onnx_ml_pb2 module (loaded from the installed onnx package without its
    __init__ unless onnx is imported already). ModuleNotFoundError when onnx is missing."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    import importlib.util
    package = importlib.util.find_spec("onnx")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("onnx is not installed (pip install 'cnnspec[onnx]')", name="onnx")
    from pathlib import Path
    path = Path(next(iter(package.submodule_search_locations))) / "onnx_ml_pb2.py"
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE]
        raise
    return module


def add_tensor(repeated, name: str, array):
    """Append a TensorProto holding `array` (float32 or int64, little-endian raw data) to a
    repeated field (a graph's initializers), in place: a model's weights are never copied."""
    made = repeated.add(name=name, data_type=ELEMENT_TYPES[array.dtype.name])
    made.dims.extend(array.shape)
    made.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return made


def set_attribute(a, value) -> None:
    kinds = type(a).AttributeType
    if isinstance(value, (bool, int)):
        a.type, a.i = kinds.Value("INT"), int(value)
    elif isinstance(value, float):
        a.type, a.f = kinds.Value("FLOAT"), value
    elif isinstance(value, str):
        a.type, a.s = kinds.Value("STRING"), value.encode("utf-8")
    elif all(isinstance(v, int) for v in value):
        a.type = kinds.Value("INTS")
        a.ints.extend(int(v) for v in value)
    else:
        a.type = kinds.Value("FLOATS")
        a.floats.extend(float(v) for v in value)


def add_node(graph, op_type: str, inputs, outputs, name: str, **attrs):
    """Append a NodeProto to `graph` (attributes sorted by name, as onnx.helper does)."""
    made = graph.node.add(op_type=op_type, name=name)
    made.input.extend(inputs)
    made.output.extend(outputs)
    for key, value in sorted(attrs.items()):
        set_attribute(made.attribute.add(name=key), value)
    return made


def add_value_info(repeated, name: str, shape, element: int = FLOAT):
    """Append a tensor's ValueInfoProto (graph input, output or value_info); a str dimension
    is symbolic (dim_param)."""
    info = repeated.add(name=name)
    tensor_type = info.type.tensor_type
    tensor_type.elem_type = element
    for d in shape:
        dim = tensor_type.shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)
    return info


def new_model(pb, name: str, opset: int, ir_version: int, producer: str, doc: str = ""):
    """An empty ModelProto of the default domain's `opset`, its graph named `name`."""
    made = pb.ModelProto(ir_version=ir_version, producer_name=producer, doc_string=doc)
    made.graph.name = name
    made.opset_import.add(domain="", version=opset)
    return made
