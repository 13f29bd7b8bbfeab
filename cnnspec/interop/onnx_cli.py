"""`cnnspec import MODEL.onnx -o SPEC.cnn [--weights-out W.safetensors] [--fold-bn] [--name NAME]
[--input HxWxC]`: an ONNX graph -> a readable spec and a portable weight file.

Exit status: 0 written; 1 the graph has operators (or settings) the language cannot express:
every one is listed by node name and operator, nothing is written; 2 a usage or file problem
(no such file, not an ONNX model, an open input size without --input, an output path that is
the model itself). The spec and the weights are written atomically (output.write_atomic),
never over the model read; like `cnnspec keras`, an existing output file is replaced.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_UNSUPPORTED, EXIT_USAGE = 0, 1, 2


JOINED = "other nodes joined to the layer before (a bias Add, a rescale's steps)"
LEFT_OUT = ("nodes left out (Identity, Dropout, NCHW/NHWC Transposes, Pads merged into a conv, "
            "shape arithmetic)")


class ImportUsageError(Exception):
    pass


def import_onnx(path, fold_bn: bool = False, name: str | None = None, hwc=None):
    """The ONNX model at `path` as an onnx_spec.Imported (network, text, weights, table).
    Raises OnnxFileError (the file) and SpecProblems (what cannot be expressed)."""
    from ..names import network_name_from_file
    from .onnx_graph import read_model
    from .onnx_layers import translate
    from .onnx_spec import build_spec, network_name
    graph = read_model(path, hwc)
    translation = translate(graph, fold_bn)
    spec_name = network_name(name) if name else network_name_from_file(str(path))
    return build_spec(translation, spec_name, Path(str(path)).name), translation


def run_import(args) -> int:
    from .cli import KerasUsageError, parse_hwc
    from .onnx_graph import OnnxFileError
    from .onnx_spec import SpecProblems
    if args.name and not _is_name(args.name):
        raise ImportUsageError(f"--name must be a name ([A-Za-z_][A-Za-z0-9_]*), not {args.name!r}")
    try:
        hwc = parse_hwc(args.input) if args.input else None
    except KerasUsageError as err:
        raise ImportUsageError(str(err)) from None
    try:
        imported, translation = import_onnx(args.model, args.fold_bn, args.name, hwc)
    except OnnxFileError as err:
        raise ImportUsageError(str(err)) from None
    except SpecProblems as err:
        print(f"{args.model}: cannot be written as a spec ({len(err.problems)} problem(s)); "
              "nothing written:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    write_outputs(args, imported)
    print_summary(args, imported, translation)
    return EXIT_OK


def _is_name(text: str) -> bool:
    from .onnx_spec import NAME
    return NAME.fullmatch(text) is not None


def write_outputs(args, imported) -> None:
    from safetensors.numpy import save

    from ..output import write_atomic
    protect = [args.model]
    targets = [args.output] + ([args.weights_out] if args.weights_out else [])
    if len(targets) == 2 and Path(targets[0]).resolve() == Path(targets[1]).resolve():
        raise ImportUsageError("-o and --weights-out name the same file")
    try:
        write_atomic(args.output, imported.text, protect=protect)
        if args.weights_out:
            write_atomic(args.weights_out, save(imported.weights), protect=protect)
    except OSError as err:
        where = err.filename or args.output
        raise ImportUsageError(f"cannot write {where}: {err.strerror or err}") from None


def print_summary(args, imported, translation) -> None:
    network = imported.network
    ops = {n.name: n.op for n in translation.graph.nodes}
    joined = [ops.get(name, "") for layer in translation.layers for name in layer.nodes[1:]]
    fused = sum(1 for layer in translation.layers if layer.activation)
    folded = joined.count("BatchNormalization")
    parts = [(fused, "activations fused"), (folded, "batch norms folded"),
             (len(joined) - fused - folded, JOINED),
             (len(ops) - len(translation.layers) - len(joined), LEFT_OUT)]
    print(f"imported {Path(args.model).name} ({len(ops):,} ONNX nodes, opset "
          f"{translation.graph.opset}) as {len(network.layers):,} layers")
    for count, what in parts:
        if count:
            print(f"  {count:,} {what}")
    for note in translation.notes:
        print(f"  note: {note}")
    params = sum(n.params for n in network.nodes)
    print(f"wrote {args.output} ({network.name}: {params:,} params)")
    if args.weights_out:
        print(f"wrote {args.weights_out} ({len(imported.weights):,} tensors)")


def add_arguments(p) -> None:
    """The subcommand's arguments (registered by cnnspec.cli)."""
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX model to read")
    p.add_argument("-o", "--output", metavar="SPEC.cnn", required=True, help="the spec to write")
    p.add_argument("--weights-out", metavar="W.safetensors",
                   help="the portable weight file to write, keyed by the spec's names")
    p.add_argument("--fold-bn", action="store_true", help="fold each batch norm into the conv "
                   "or dense that alone feeds it (default: keep it as a batchnorm layer)")
    p.add_argument("--name", metavar="NAME", help="the network's name (default: from the file name)")
    p.add_argument("--input", metavar="HxWxC", help="the input size, for a model whose height "
                   "and width are open (e.g. 32x32x3)")
