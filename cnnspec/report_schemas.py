"""The JSON Schemas of the reports, as shipped in cnnspec/schemas/ (no pydantic needed).

    cnnspec.report_schemas.schema("summary")      # the Draft 2020-12 schema, a dict
    cnnspec.report_schemas.parse("summary", data)  # the report as a pydantic model

The schemas are generated from the pydantic models in cnnspec/report_models.py by
scripts/gen_schemas.py; tests/test_schema_issue10.py keeps the shipped files equal to what
the models generate. Reading them costs a file read: `cnnspec schema` imports no pydantic.
"""

from __future__ import annotations

import json
from pathlib import Path

NAMES = ("check", "summary", "diff", "verify")  # the reports, by the command that prints them
FOLDER = Path(__file__).resolve().parent / "schemas"


def path(name: str) -> Path:
    """The shipped schema file of one report."""
    if name not in NAMES:
        raise KeyError(f"no report named {name!r} (reports: {', '.join(NAMES)})")
    return FOLDER / f"{name}.schema.json"


def text(name: str) -> str:
    """The schema file's text, as shipped."""
    return path(name).read_text(encoding="utf-8")


def schema(name: str) -> dict:
    """One report's JSON Schema (Draft 2020-12)."""
    return json.loads(text(name))


def parse(name: str, data):
    """A report (a dict or JSON text) as its pydantic model, validated: raises
    pydantic.ValidationError when it does not fit. Needs pydantic (`pip install cnnspec[schema]`)."""
    from .report_models import parse as parse_model
    return parse_model(name, data)


__all__ = ["NAMES", "parse", "path", "schema", "text"]
