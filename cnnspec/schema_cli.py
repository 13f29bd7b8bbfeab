"""`cnnspec schema [REPORT]`: print the shipped JSON Schema of a JSON report (no pydantic)."""

from __future__ import annotations

import argparse
import json
import sys

from .report_schemas import NAMES, schema, text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("report", nargs="?", choices=NAMES, metavar="REPORT",
                   help="the report whose schema to print: " + ", ".join(NAMES) + " (the JSON "
                   "of that command's --format json); without it, one object holding every "
                   "schema, keyed by report")


def run_schema(args) -> int:
    """Prints the schema file as shipped (or all of them in one object); exit 0."""
    if args.report:
        sys.stdout.write(text(args.report))
    else:
        print(json.dumps({name: schema(name) for name in NAMES}, indent=2))
    return 0
