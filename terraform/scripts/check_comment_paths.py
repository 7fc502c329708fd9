#!/usr/bin/env python3
"""Every repository file a comment or README under terraform/ and deploy/packaging/ cites exists.

A cited path is a token like `modules/collectors/cloudwatch-metrics.json` or `../grafana/*.json`:
at least one slash and a file extension. It resolves against the citing file's folder, the
repository root, terraform/ or the citing module's folder (the ways our comments write them).
Absolute paths (/etc/..., /opt/...: paths on the instances), patterns (*, <role>) and the
placeholder path/to/... are not repository files and are skipped, as are URLs.

    check_comment_paths.py            exit 1 when a cited file does not exist
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCAN = [ROOT / "terraform", ROOT / "deploy" / "packaging"]
SUFFIXES = {".tf", ".tftpl", ".hcl", ".sh", ".md", ".service", ".timer", ".toml", ".conf", ".py", ".json", ".yaml"}
NAMES = {"Containerfile"}
EXT = r"(?:md|rs|tf|sh|json|toml|sql|py|tftpl|hcl|service|timer|conf|yaml|yml|txt|zip)"
TOKEN = re.compile(r"(?<![\w/.:~$-])((?:\.\.?/)*[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)+\." + EXT + r")\b")


def candidates(path: Path, cited: str) -> list[Path]:
    module = next((p for p in path.parents if (p / "variables.tf").exists()), path.parent)
    return [path.parent / cited, ROOT / cited, ROOT / "terraform" / cited, ROOT / "deploy" / "packaging" / cited, module / cited]


def main() -> int:
    missing = 0
    checked = 0
    for base in SCAN:
        for path in sorted(base.rglob("*")):
            if ".terraform" in path.parts or not path.is_file():
                continue
            if path.suffix not in SUFFIXES and path.name not in NAMES:
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                for m in TOKEN.finditer(line):
                    cited = m.group(1)
                    if cited.startswith("path/to/"):
                        continue
                    if "://" in line[max(0, m.start() - 80):m.start() + 1] and "http" in line:
                        # part of a URL on this line: not a repository file
                        if re.search(r"https?://\S*" + re.escape(cited), line):
                            continue
                    checked += 1
                    if not any(c.exists() for c in candidates(path, cited)):
                        missing += 1
                        print(f"{path.relative_to(ROOT)}:{n}: cites {cited}, which does not exist")
    print(f"{checked} cited paths checked, {missing} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
