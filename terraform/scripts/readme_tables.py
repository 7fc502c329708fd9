#!/usr/bin/env python3
"""Render the Inputs/Outputs tables of each module README from variables.tf and outputs.tf.

A stand-in for terraform-docs (not available from the registries reached here), run with the
python-hcl2 virtualenv of test.sh. The tables live between the markers
<!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS --> of README.md.

    readme_tables.py DIR...          rewrite the tables
    readme_tables.py --check DIR...  exit 1 when a README is out of date
"""
from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def unquote(value: object) -> str:
    """python-hcl2 keeps HCL string literals quoted and expressions as ${...}."""
    if not isinstance(value, str):
        return json.dumps(value)
    s = value.strip()
    if s.startswith('"<<'):  # heredoc kept verbatim inside quotes
        body = s[1:-1] if s.endswith('"') else s[1:]
        lines = body.split("\n")[1:-1]
        return textwrap.dedent("\n".join(lines)).strip()
    if s.startswith('"') and s.endswith('"'):
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            return s[1:-1]
    if s.startswith("${") and s.endswith("}"):
        return s[2:-1]
    return s


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def normalize(value: object) -> object:
    """Strip python-hcl2's quoting from strings nested anywhere in a default value."""
    if isinstance(value, str):
        return unquote(value)
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k.strip('"'): normalize(v) for k, v in value.items() if k != "__is_block__"}
    return value


def render_default(block: dict) -> str:
    if "default" not in block:
        return "n/a (required)"
    value = block["default"]
    if value is None:
        return "`null`"
    rendered = cell(json.dumps(normalize(value)))
    if isinstance(value, str) and value.strip().startswith("${"):
        rendered = cell(unquote(value))
    return f"`{rendered}`" if len(rendered) <= 80 else "see variables.tf"


def render_type(block: dict) -> str:
    t = block.get("type", "any")
    t = t[2:-1] if isinstance(t, str) and t.startswith("${") else t
    t = cell(str(t))
    return f"`{t}`" if len(t) <= 60 else "`object(...)` (see variables.tf)"


def blocks(path: Path, kind: str) -> list[tuple[str, dict]]:
    if not path.exists():
        return []
    with path.open() as f:
        data = hcl2.load(f)
    out = []
    for item in data.get(kind, []):
        for name, block in item.items():
            out.append((name.strip('"'), block))
    return out


def tables(module: Path) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default |", "|---|---|---|---|"]
    for name, block in blocks(module / "variables.tf", "variable"):
        lines.append(f"| `{name}` | {cell(unquote(block.get('description', '')))} | {render_type(block)} | {render_default(block)} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, block in blocks(module / "outputs.tf", "output"):
        lines.append(f"| `{name}` | {cell(unquote(block.get('description', '')))} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = 0
    for arg in (a for a in argv if a != "--check"):
        module = Path(arg)
        readme = module / "README.md"
        text = readme.read_text() if readme.exists() else ""
        if BEGIN not in text or END not in text:
            print(f"{readme}: missing {BEGIN} / {END} markers")
            stale += 1
            continue
        new = re.sub(
            re.escape(BEGIN) + r".*?" + re.escape(END),
            lambda _: f"{BEGIN}\n{tables(module)}\n{END}",
            text,
            flags=re.S,
        )
        if new != text:
            if check:
                print(f"{readme}: Inputs/Outputs tables are out of date (run scripts/readme_tables.py {module})")
                stale += 1
            else:
                readme.write_text(new)
                print(f"{readme}: updated")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
