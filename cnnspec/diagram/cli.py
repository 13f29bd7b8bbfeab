"""`cnnspec diagram FILE`: a picture of the checked network (DOT, SVG, Mermaid or HTML).

The format is --format, else the suffix of -o (.dot/.gv, .svg, .mmd, .html/.htm; another
suffix is a usage error), else DOT. A spec with errors prints its diagnostics and exits 1
writing nothing; a missing Graphviz (for svg), an unreadable spec or an unwritable -o exits 2."""

from __future__ import annotations

import os
import sys

FORMATS = ("dot", "svg", "mermaid", "html")
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid",
            ".html": "html", ".htm": "html"}
HTML_DEPTH = 1  # the page opens with the top-level blocks folded (one click opens each)


def pick_format(given: str | None, output: str | None) -> str:
    """--format, else -o's suffix (none: dot); a suffix that names no format is a usage error,
    not DOT text in a file called x.png."""
    if given:
        return given
    suffix = os.path.splitext(output)[1].lower() if output and output != "-" else ""
    if suffix and suffix not in SUFFIXES:
        from ..cli import UsageError
        raise UsageError(f"-o {output}: the suffix {suffix} names no diagram format (use "
                         f"{' '.join(SUFFIXES)}, or give --format)")
    return SUFFIXES.get(suffix, "dot")


def pick_depth(args, fmt: str) -> int | None:
    """--depth N; --expand (or no option) every layer; html starts folded at HTML_DEPTH."""
    if args.depth is not None or args.expand:
        return args.depth
    return HTML_DEPTH if fmt == "html" else None


def render(network, fmt: str, depth: int | None) -> str:
    """The diagram's text in `fmt`; raises svg.GraphvizError for svg without Graphviz."""
    from ..nogc import paused
    return paused(_render)(network, fmt, depth)  # many small objects and no cycles


def _render(network, fmt: str, depth: int | None) -> str:
    from . import model
    if fmt == "html":
        from . import html
        return html.render(network, depth)
    diagram = model.build(network, depth)
    if fmt == "mermaid":
        from . import mermaid
        return mermaid.render(diagram)
    from . import dot
    source = dot.render(diagram)
    if fmt == "svg":
        from . import svg
        return svg.render(source)
    return source


def run(args) -> int:
    from ..api import analyse
    from ..cli import EXIT_ERRORS, EXIT_OK, UsageError, failed, pick_stage, plural, read_input
    from ..diagnostics import render_text
    from ..terminal import printable
    from .svg import GraphvizError
    fmt = pick_format(args.format, args.output)
    source = read_input(args.file)
    network, diags = analyse(source)
    if network is None or failed(diags, False):
        print(render_text(source, diags), file=sys.stderr)
        return EXIT_ERRORS
    if diags:  # warnings
        print(render_text(source, diags), file=sys.stderr)
    network = pick_stage(network, args.stage)
    try:
        text = render(network, fmt, pick_depth(args, fmt))
    except GraphvizError as err:
        raise UsageError(str(err)) from None
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    _write(args, network, text)
    print(printable(f"wrote {args.output} ({fmt}, {plural(len(network.layers), 'layer')})"),
          file=sys.stderr)
    return EXIT_OK


def _write(args, network, text: str) -> None:
    from ..cli import UsageError
    from ..output import write_atomic
    inputs = {args.file} | {node.span.file for node in network.layers}  # the spec and its imports
    try:
        write_atomic(args.output, text, protect=inputs)
    except OSError as err:
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None


def add_arguments(p) -> None:
    """The subcommand's arguments (registered by cnnspec.cli)."""
    from ..cli import positive
    p.add_argument("file", metavar="FILE", help="the .cnn spec file (- reads it from standard input)")
    p.add_argument("-o", "--output", metavar="OUT", help="write here (atomically; never over the "
                   "spec) instead of stdout; its suffix picks the format: " + " ".join(SUFFIXES))
    p.add_argument("--format", choices=FORMATS, help="dot (Graphviz source), svg (needs Graphviz's "
                   "dot), mermaid (a flowchart for Markdown) or html (one self-contained page, "
                   "blocks fold and open on a click); default: from -o's suffix, else dot")
    p.add_argument("--stage", metavar="NAME", help="mark this training stage's frozen layers "
                   "(default: the first stage)")
    views = p.add_mutually_exclusive_group()
    views.add_argument("--depth", type=positive, metavar="N", help="fold block instances as "
                       "summary --depth N does: 1 = one box per top-level block use or repeat, "
                       "2 = one box per instance inside those, ... (default: every layer; html: 1)")
    views.add_argument("--expand", action="store_true", help="every layer, every block open "
                       "(the default, but for html, whose page then opens expanded)")
