"""`cnnspec compile --target onnx`: the options it adds and how the model is written.

The model is binary, so it is written to a file (`-o model.onnx`, atomically, by the rules of
every output file: cnnspec/output.py); without -o it is a usage error (exit 2), and `-o -`
writes the bytes to standard output unless that is a terminal. `--weights W` puts a portable
weight file's tensors in the model; without it the weights are initialised from `--seed`, as
every target's `build` does. Imports onnx only here, on this path (no framework at all).
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
CODE = "E601"  # a layer ONNX's operators cannot express (docs/cli.md, "Diagnostic codes")


class OnnxUsageError(Exception):
    """Bad use of compile's ONNX options; the CLI prints it and exits 2."""


def add_arguments(p) -> None:
    """compile's options for the onnx target."""
    p.add_argument("--weights", metavar="W", help="--target onnx: a portable .safetensors weight "
                   "file to store in the model (default: random weights from --seed)")
    p.add_argument("--seed", type=int, default=0, help="--target onnx: seed of the random weights")


def usage_problem(args) -> str | None:
    """Why compile's options do not fit the target (None when they do)."""
    if args.target != "onnx":
        if args.weights is not None:
            return ("--weights applies to --target onnx only: generated code loads its weights "
                    "when it runs (load_portable)")
        return None
    if args.output is None:
        return ("--target onnx writes a binary model: give the file with -o MODEL.onnx "
                "(-o - writes the bytes to standard output)")
    if args.output == "-" and sys.stdout.isatty():
        return "-o - would write a binary ONNX model to the terminal: redirect it or give a file"
    if args.seed < 0:
        return f"--seed must be at least 0 (got {args.seed})"
    return None


def run(args, network, source, inputs: set) -> int:
    """Export `network` and write it; diagnostics and weight-file problems as the CLI prints them."""
    from ..diagnostics import Diagnostic, render_text
    from ..weight_file import UnreadableWeightFile, WeightError
    from .onnx import OnnxUnsupported, serialize
    try:
        data = serialize(network, args.weights, args.seed)
    except OnnxUnsupported as err:
        diagnostic = Diagnostic(CODE, "error", err.node.span,
                                f"layer '{err.node.name}' cannot be exported to ONNX: {err.reason}")
        print(render_text(source, [diagnostic]), file=sys.stderr)
        return EXIT_ERRORS
    except WeightError as err:
        for problem in err.problems:
            print(f"{args.weights}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, UnreadableWeightFile) else EXIT_ERRORS
    return write(args, data, inputs, network)


def write(args, data: bytes, inputs: set, network) -> int:
    from ..output import write_atomic
    from ..terminal import printable
    from .onnx import OPSET
    if args.output == "-":
        sys.stdout.buffer.write(data)
        return EXIT_OK
    try:
        write_atomic(args.output, data, protect=inputs)
    except OSError as err:
        raise OnnxUsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    size = f"{len(data) / 1e6:.1f} MB" if len(data) >= 100_000 else f"{len(data):,} bytes"
    print(printable(f"wrote {args.output} (onnx opset {OPSET}, {len(network.layers):,} layers, {size})"),
          file=sys.stderr)
    return EXIT_OK
