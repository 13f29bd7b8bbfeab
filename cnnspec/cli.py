"""The `cnnspec` command line: check, summary, compile, verify (design.md section 5)."""

from __future__ import annotations

import argparse
import json
import sys

from .api import TARGETS, analyse
from .diagnostics import render_github, render_text
from .source import SourceFile

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def read_source(path: str) -> SourceFile:
    try:
        return SourceFile.read(path)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise UsageError(f"cannot read {path}: {reason}") from None


def json_object(source: SourceFile, network, diagnostics) -> dict:
    if network is not None:
        data = network.summary()
    else:
        data = {"file": source.name, "network": None, "input_shape": None, "layers": [],
                "total_params": None, "trainable_params": None, "non_trainable_params": None,
                "macs": None}
    data["diagnostics"] = [d.to_json() for d in diagnostics]
    data["ok"] = not any(d.severity == "error" for d in diagnostics)
    return data


def failed(diagnostics, strict: bool) -> bool:
    return any(d.severity == "error" or strict for d in diagnostics)


def cmd_check(args) -> int:
    status = EXIT_OK
    for path in args.files:
        source = read_source(path)
        network, diags = analyse(source)
        if args.format == "json":
            print(json.dumps(json_object(source, network, diags)))
        elif args.format == "github":
            if diags:
                print(render_github(diags))
        else:
            print_text(source, network, diags)
        if failed(diags, args.strict):
            status = EXIT_ERRORS
    return status


def print_text(source: SourceFile, network, diags) -> None:
    if diags:
        print(render_text(source, diags))
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    if errors == 0 and network is not None:
        print(f"{source.name}: ok, {network.name}: {len(network.layers)} layers, "
              f"{network.total_params:,} params, output {'x'.join(map(str, network.output.out_shape))}"
              + (f", {warnings} warning(s)" if warnings else ""))
    else:
        print(f"{source.name}: {errors} error(s), {warnings} warning(s)")


def pick_stage(network, stage: str | None):
    if network is None or stage is None:
        return network
    try:
        return network.with_stage(stage)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def cmd_summary(args) -> int:
    from . import report
    source = read_source(args.file)
    network, diags = analyse(source)
    network = pick_stage(network, args.stage)
    has_errors = failed(diags, False)
    if args.format == "json":
        print(json.dumps(json_object(source, network, diags), indent=1))
        return EXIT_ERRORS if has_errors else EXIT_OK
    if has_errors or network is None:
        print(render_text(source, diags), file=sys.stderr)
        return EXIT_ERRORS
    if diags:
        print(render_text(source, diags), file=sys.stderr)
    print(report.markdown(network.summary()) if args.format == "markdown" else report.table(network.summary()))
    return EXIT_OK


def cmd_compile(args) -> int:
    from .api import compile as compile_network
    from .api import load_source
    from .diagnostics import SpecError
    from .output import write_atomic
    source = read_source(args.file)
    try:
        network = load_source(source)
    except SpecError as err:
        print(render_text(source, err.diagnostics), file=sys.stderr)
        return EXIT_ERRORS
    network = pick_stage(network, args.stage)
    code = compile_network(network, args.target)
    if args.output in (None, "-"):
        sys.stdout.write(code)
    else:
        try:
            write_atomic(args.output, code)
        except OSError as err:
            raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
        print(f"wrote {args.output} ({args.target}, {len(network.layers)} layers)", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from .verify import run_verify
    return run_verify(args, read_source(args.file))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnspec", description="Check, summarise, compile and "
                                     "verify convolutional network specs (.cnn files).")
    parser.add_argument("--version", action="version", version="cnnspec 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("check", help="check specs and report every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("summary", help="print a table of shapes, parameters and MACs")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--stage", help="show this training stage's freeze rules (default: the first)")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("compile", help="generate NumPy, PyTorch or Keras code")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument("-o", "--output", metavar="OUT.py", help="write here (atomically) instead of stdout")
    p.add_argument("--stage", help="generate this training stage's freeze rules (default: the first)")
    p.set_defaults(func=cmd_compile)
    p = sub.add_parser("verify", help="prove the backends give the same outputs for the same weights")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all three)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--weights", metavar="W", help="a portable .safetensors weight file")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--stage", help="the training stage to build (inference is the same in every stage)")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as err:
        print(f"cnnspec: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
