"""Regenerate the JSON Schemas shipped in cnnspec/schemas/ from cnnspec/report_models.py.

    python scripts/gen_schemas.py          # rewrite the files that differ
    python scripts/gen_schemas.py --check  # write nothing; exit 1 naming the files that differ

Needs pydantic (`pip install -e '.[schema]'`). tests/test_schema_issue10.py fails when a
shipped file differs from what this script would write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnspec.output import write_atomic
from cnnspec.report_models import json_schema
from cnnspec.report_schemas import NAMES, path


def rendered(name: str) -> str:
    """The file's text: the schema as indented JSON, key order as the models declare it."""
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


def stale() -> list[str]:
    """The reports whose shipped schema file differs from the models' schema."""
    def shipped(name):
        try:
            return path(name).read_text(encoding="utf-8")
        except OSError:
            return None
    return [name for name in NAMES if shipped(name) != rendered(name)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    names = stale()
    for name in names:
        if not args.check:
            write_atomic(path(name), rendered(name))
        print(f"{'stale' if args.check else 'wrote'} {path(name).relative_to(ROOT)}")
    return 1 if args.check and names else 0


if __name__ == "__main__":
    sys.exit(main())
