#!/usr/bin/env python3
"""The counts and lists of examples/complete/README.md are true.

- the Saved queries it names are exactly the files of modules/lake/queries/*.sql;
- the Glue tables of its diagram and of "Tables `x` and `y` use partition projection" are exactly
  the tables of modules/lake/schema/*.columns.json.

    check_example_readme.py     exit 1 on a mismatch
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
README = HERE / "examples" / "complete" / "README.md"


def main() -> int:
    text = README.read_text()
    errors = []

    queries = {p.stem for p in (HERE / "modules" / "lake" / "queries").glob("*.sql")}
    m = re.search(r"\*\*Saved queries\*\*(.*?)Each uses", text, re.S)
    named = set(re.findall(r"`([a-z0-9_]+)`", m.group(1))) if m else set()
    if named != queries:
        errors.append(f"Saved queries: README names {sorted(named)}, modules/lake/queries/ holds {sorted(queries)}")

    tables = {p.name.removesuffix(".columns.json") for p in (HERE / "modules" / "lake" / "schema").glob("*.columns.json")}
    diagram = re.search(r"Glue tables? ([a-z0-9_, ]+) \(projection\)", text)
    in_diagram = {t.strip() for t in diagram.group(1).split(",")} if diagram else set()
    if in_diagram != tables:
        errors.append(f"diagram: Glue tables {sorted(in_diagram)}, modules/lake/schema/ defines {sorted(tables)}")
    projection = re.search(r"Tables? ((?:`[a-z0-9_]+`(?:,| and| )*)+)\s*uses?\s+partition\s+projection", text)
    in_text = set(re.findall(r"`([a-z0-9_]+)`", projection.group(1))) if projection else set()
    if in_text != tables:
        errors.append(f"'... use partition projection': tables {sorted(in_text)}, modules/lake/schema/ defines {sorted(tables)}")

    for e in errors:
        print(f"examples/complete/README.md: {e}")
    print(f"{len(queries)} named queries and {len(tables)} tables checked, {len(errors)} mismatches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
