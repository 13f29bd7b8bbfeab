"""The `cnnspec` command line: check, summary, compile, verify (design.md section 5), keras,
diff, fmt and diagram."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .api import TARGETS, VERIFY_TARGETS, analyse
from .diagnostics import render_github, render_text
from .nogc import paused
from .shapes import shape_text
from .source import MAX_READ, SourceFile
from .terminal import printable

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def read_source(path: str) -> SourceFile:
    try:
        return SourceFile.read(path)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise UsageError(f"cannot read {path}: {reason}") from None


STDIN = "-"  # check and summary read one spec from standard input for this file name


def read_input(path: str) -> SourceFile:
    """`check`'s and `summary`'s files: `-` is standard input, named `<stdin>` in diagnostics
    (its imports are found from the current directory); any other name is a file."""
    if path != STDIN:
        return read_source(path)
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    if stream is None:
        raise UsageError("cannot read <stdin>: there is no standard input")
    try:
        data = stream.read(MAX_READ)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read <stdin>: {getattr(err, 'strerror', None) or err}") from None
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    return SourceFile("<stdin>", text.removeprefix("\ufeff"))


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def error(message: str) -> None:
    print(f"cnnspec: error: {printable(message)}", file=sys.stderr)


def json_object(source: SourceFile, network, diagnostics) -> dict:
    if network is not None:
        data = network.summary()
    else:
        data = {"file": source.name, "network": None, "input_shape": None, "layers": [],
                "total_params": None, "trainable_params": None, "non_trainable_params": None,
                "macs": None, "outputs": [], "instances": []}
    data["diagnostics"] = [d.to_json() for d in diagnostics]
    data["ok"] = not any(d.severity == "error" for d in diagnostics)
    return data


def failed(diagnostics, strict: bool) -> bool:
    return any(d.severity == "error" or strict for d in diagnostics)


def cmd_check(args) -> int:
    """Every file is checked; an unreadable one is reported and makes the exit code 2 (over 1)."""
    status, unreadable = EXIT_OK, False
    if args.files.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given only once; name a file called - as ./-")
    for path in args.files:
        try:
            source = read_input(path)
        except UsageError as err:
            error(str(err))
            unreadable = True
            continue
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
    return EXIT_USAGE if unreadable else status


def print_text(source: SourceFile, network, diags) -> None:
    if diags:
        print(render_text(source, diags))
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    if errors == 0 and network is not None:
        line = (f"{source.name}: ok, {network.name}: {plural(len(network.layers), 'layer')}, "
                f"{network.total_params:,} params, {outputs_text(network)}"
                + (f", {warnings} warning(s)" if warnings else ""))
    else:
        line = f"{source.name}: {errors} error(s), {warnings} warning(s)"
    print(printable(line))


def outputs_text(network) -> str:
    """`output 10`, or `outputs 10, 5` for a network with several."""
    shapes = ", ".join(shape_text(node.out_shape) for node in network.output_nodes)
    return ("outputs " if len(network.output_nodes) > 1 else "output ") + shapes


def pick_stage(network, stage: str | None):
    if network is None or stage is None:
        return network
    try:
        return network.with_stage(stage)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


@paused  # one file: the table or JSON of a large graph makes many objects and no cycles
def cmd_summary(args) -> int:
    from . import report
    source = read_input(args.file)
    network, diags = analyse(source)
    network = pick_stage(network, args.stage)
    has_errors = failed(diags, False)
    if args.format == "json":
        data = json_object(source, network, diags)
        if network is not None:
            _fields(network, data, args)
        print(json.dumps(data, indent=1))
        return EXIT_ERRORS if has_errors else EXIT_OK
    if has_errors or network is None:
        print(render_text(source, diags), file=sys.stderr)
        return EXIT_ERRORS
    if diags:
        print(render_text(source, diags), file=sys.stderr)
    depth = None if args.expand else args.depth
    show = report.markdown if args.format == "markdown" else report.table
    summary = network.summary()
    if args.receptive:
        _fields(network, summary, args)
    print(show(summary, depth, args.receptive))
    return EXIT_OK


def _fields(network, summary: dict, args) -> dict:
    """The summary with receptive fields, jumps and activation memory (cnnspec/receptive.py)."""
    from .receptive import annotate
    return annotate(network, summary, args.batch, args.dtype)


def _add_receptive(p: argparse.ArgumentParser) -> None:
    """summary's receptive field and memory options (the JSON always has their keys)."""
    p.add_argument("--receptive", action="store_true",
                   help="add the receptive field, jump and activation memory columns to the "
                   "table or Markdown, and the memory totals under it")
    p.add_argument("--batch", type=positive, default=1, metavar="N",
                   help="samples counted in the activation memory (default 1)")
    p.add_argument("--dtype", choices=("float32", "float16", "float64"), default="float32",
                   help="the activations' type, for their bytes (default float32)")


def cmd_compile(args) -> int:
    from .api import compile as compile_network
    from .api import load_source
    from .backends.onnx_cli import usage_problem
    from .diagnostics import SpecError
    from .output import write_atomic
    if problem := usage_problem(args):
        raise UsageError(problem)
    source = read_source(args.file)
    try:
        network = load_source(source)
    except SpecError as err:
        print(render_text(source, err.diagnostics), file=sys.stderr)
        return EXIT_ERRORS
    network = pick_stage(network, args.stage)
    inputs = {args.file} | {node.span.file for node in network.layers}  # the spec and its imports
    if args.target == "onnx":  # a binary model, written by backends/onnx_cli.py
        from .backends.onnx_cli import run
        return run(args, network, source, inputs)
    code = compile_network(network, args.target)
    if args.output in (None, "-"):
        sys.stdout.write(code)
        return EXIT_OK
    try:
        write_atomic(args.output, code, protect=inputs)
    except OSError as err:
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(printable(f"wrote {args.output} ({args.target}, {plural(len(network.layers), 'layer')})"),
          file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from .verify import run_verify
    return run_verify(args, read_source(args.file))


def cmd_keras(args) -> int:
    """`cnnspec keras`: a Keras model -> its spec and portable weights (cnnspec/interop/cli.py)."""
    from .interop.cli import KerasUsageError, run_keras
    try:
        return run_keras(args)
    except KerasUsageError as err:
        raise UsageError(str(err)) from None


def cmd_lsp(args) -> int:
    """`cnnspec lsp`: the language server over stdio (cnnspec/lsp/)."""
    from .lsp.cli import run_lsp
    status = run_lsp(args)
    if isinstance(status, str):
        raise UsageError(status)
    return status
def cmd_import(args) -> int:
    """`cnnspec import`: an ONNX model -> a spec and portable weights (interop/onnx_cli.py)."""
    from .interop.onnx_cli import ImportUsageError, run_import
    try:
        return run_import(args)
    except ImportUsageError as err:
        raise UsageError(str(err)) from None


def cmd_diff(args) -> int:
    """`cnnspec diff OLD NEW`: 0 the same, 1 different, 2 unreadable or a spec with errors."""
    from . import diff_view, spec_diff
    networks = []
    for path in (args.old, args.new):
        source = read_source(path)
        network, diags = analyse(source)
        if network is None or failed(diags, False):
            print(render_text(source, diags), file=sys.stderr)
            error(f"{path} has errors: nothing to compare")
            return EXIT_USAGE
        if diags:  # warnings
            print(render_text(source, diags), file=sys.stderr)
        networks.append(network)
    result = spec_diff.diff(*networks)
    if args.format == "json":
        print(json.dumps(result, indent=1))
    else:
        print((diff_view.markdown if args.format == "markdown" else diff_view.text)(result))
    return EXIT_OK if spec_diff.is_empty(result) else EXIT_ERRORS


def cmd_fmt(args) -> int:
    """`cnnspec fmt`: the canonical layout (cnnspec/formatter.py)."""
    from .formatter import run_fmt
    return run_fmt(args)


class StoreOnce(argparse.Action):
    """An option's value; giving the option twice is an error instead of the last one winning."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_options_given", set())
        if self.dest in given:
            parser.error(f"{option_string} given more than once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' for options that have a default value (not for None or False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand: no abbreviated options, every option stored once, defaults in --help."""
    p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False,
                       formatter_class=HelpFormatter)
    p.register("action", None, StoreOnce)
    p.register("action", "store", StoreOnce)
    return p


def _add_stage(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--stage", metavar="NAME", help=f"{what} (default: the first stage)")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, not {text!r}")
    return value


def _add_depth(p: argparse.ArgumentParser) -> None:
    """How far the table and Markdown open blocks (the JSON always has every layer)."""
    views = p.add_mutually_exclusive_group()
    views.add_argument("--depth", type=positive, default=1, metavar="N",
                       help="block levels to open: 1 = one row per top-level block use or repeat "
                       "(layer2  bottleneck x4), 2 = one row per instance inside those (layer2.0), "
                       "and so on; a spec without blocks shows every layer whatever N is")
    views.add_argument("--expand", action="store_true",
                       help="one row per layer, every block opened (as a --depth past the deepest)")


# Commands whose options (add_arguments) live in a module of their own: (name, help, module,
# what runs it: a function here, or the name of one in that module).
PLUGINS = (
    ("keras", "turn a Keras model (keras.applications or .keras) into a spec and portable weights",
     ".interop.cli", cmd_keras),
    ("diagram", "draw the network: Graphviz DOT or SVG, Mermaid, or an HTML page", ".diagram.cli",
     "run"),
    ("schema", "print the JSON Schema of a --format json report", ".schema_cli", "run_schema"),
    ("lsp", "run the language server for editors (LSP over stdio)", ".lsp.cli", cmd_lsp),
    ("import", "turn an ONNX model into a readable spec and portable weights", ".interop.onnx_cli",
     cmd_import),
)


def _add_plugin(sub, name: str, help_text: str, module: str, run) -> None:
    import importlib
    code = importlib.import_module(module, __package__)
    p = _command(sub, name, help_text)
    code.add_arguments(p)
    p.set_defaults(func=run if callable(run) else getattr(code, run))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnspec", description="Check, summarise, compile and "
                                     "verify convolutional network specs (.cnn files).",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version="cnnspec 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = _command(sub, "check", "check specs and report every problem")
    p.add_argument("files", nargs="+", metavar="FILE", help="the .cnn spec files to check (each one is checked; - reads one from standard input)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text for people, json (one object per file and line), or GitHub annotations")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.set_defaults(func=cmd_check)
    p = _command(sub, "summary", "print a table of shapes, parameters and MACs")
    p.add_argument("file", metavar="FILE", help="the .cnn spec file (- reads it from standard input)")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="a text table, a JSON object, or a Markdown table")
    _add_stage(p, "show this training stage's freeze rules")
    _add_depth(p)
    _add_receptive(p)
    p.set_defaults(func=cmd_summary)
    p = _command(sub, "compile", "generate NumPy, PyTorch or Keras code, or an ONNX model")
    p.add_argument("file", metavar="FILE", help="the .cnn spec file")
    p.add_argument("--target", choices=TARGETS, required=True, help="the framework to generate code for")
    from .backends.onnx_cli import add_arguments as add_onnx_arguments
    add_onnx_arguments(p)
    p.add_argument("-o", "--output", metavar="OUT.py", help="write here (atomically; through a "
                   "symbolic link; never over the spec or a non-regular file) instead of stdout")
    _add_stage(p, "generate this training stage's freeze rules")
    p.set_defaults(func=cmd_compile)
    p = _command(sub, "verify", "prove the backends give the same outputs for the same weights")
    p.add_argument("file", metavar="FILE", help="the .cnn spec file")
    p.add_argument("--targets", default=",".join(VERIFY_TARGETS), help="the backends to compare, comma-separated")
    p.add_argument("--dtype", choices=("float32", "float64", "float16", "bfloat16"),
                   default="float64", help="the precision to build and compare in (half: "
                   "against NumPy's float32 reference, docs/semantics.md)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and input")
    p.add_argument("--batch", type=int, default=2, help="how many random input samples to run")
    p.add_argument("--weights", metavar="W", help="a portable .safetensors weight file (default: "
                   "random weights from --seed)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="a text table or a JSON object")
    _add_stage(p, "the training stage to build (inference is the same in every stage)")
    p.set_defaults(func=cmd_verify)
    p = _command(sub, "diff", "show what changed between two versions of a spec, by layer")
    p.add_argument("old", metavar="OLD", help="the old .cnn spec file")
    p.add_argument("new", metavar="NEW", help="the new .cnn spec file")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="a readable report, a JSON object, or Markdown for a pull request")
    p.set_defaults(func=cmd_diff)
    p = _command(sub, "fmt", "rewrite specs in the canonical layout (comments kept, meaning unchanged)")
    p.add_argument("files", nargs="+", metavar="FILE", help="the .cnn files (a folder: the .cnn files under it)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 listing the files that would change")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of each change")
    p.set_defaults(func=cmd_fmt)
    for name, help_text, module, run in PLUGINS:
        _add_plugin(sub, name, help_text, module, run)
    return parser


def main(argv=None) -> int:
    if sys.stdout is None:  # started with stdout closed (`>&-`): not an AttributeError traceback
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the process: print() drops it too)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        status = args.func(args)
        sys.stdout.flush()  # a full disk or closed pipe shows here, not at interpreter exit
        return status
    except UsageError as err:
        error(str(err))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OK
    except OSError as err:  # writing the output failed (a full disk, an I/O error)
        _discard_stdout()
        where = f"{err.filename}: " if err.filename else "cannot write the output: "
        error(where + (err.strerror or str(err)))
        return EXIT_USAGE


def _discard_stdout() -> None:
    """Point stdout at the null device so that the exit-time flush cannot fail a second time."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
