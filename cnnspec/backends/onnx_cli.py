"""`cnnspec compile --target onnx`: the options it adds and how the model is written.

The model is binary, so it is written to a file (`-o model.onnx`, atomically, by the rules of
every output file: cnnspec/output.py); without -o it is a usage error (exit 2), and `-o -`
writes the bytes to standard output unless that is a terminal. `--weights W` puts a portable
weight file's tensors in the model; without it the weights are initialised from `--seed`, as
every target's `build` does. Imports onnx only here, on this path (no framework at all).
"""

from __future__ import annotations

import sys

from ..cli import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, UsageError

CODE = "E601"  # a layer ONNX's operators cannot express (docs/cli.md, "Diagnostic codes")


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
    from .onnx import OnnxUnsupported, serialized_pieces
    try:
        pieces = serialized_pieces(network, args.weights, args.seed)
    except OnnxUnsupported as err:
        diagnostic = Diagnostic(CODE, "error", err.node.span,
                                f"layer '{err.node.name}' cannot be exported to ONNX: {err.reason}")
        print(render_text(source, [diagnostic]), file=sys.stderr)
        return EXIT_ERRORS
    except WeightError as err:
        for problem in err.problems:
            print(f"{args.weights}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, UnreadableWeightFile) else EXIT_ERRORS
    return write(args, pieces, inputs, network)


def write(args, pieces: list, inputs: set, network) -> int:
    """The model's bytes (pieces in order) to -o, atomically, or to standard output."""
    from ..output import write_atomic
    from ..terminal import printable
    from .onnx import OPSET
    if args.output == "-":
        for piece in pieces:
            sys.stdout.buffer.write(piece)
        return EXIT_OK
    try:
        write_atomic(args.output, pieces, protect=inputs)
    except OSError as err:
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    length = sum(memoryview(p).nbytes for p in pieces)
    size = f"{length / 1e6:.1f} MB" if length >= 100_000 else f"{length:,} bytes"
    print(printable(f"wrote {args.output} (onnx opset {OPSET}, {len(network.layers):,} layers, {size})"),
          file=sys.stderr)
    return EXIT_OK
