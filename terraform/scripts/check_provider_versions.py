#!/usr/bin/env python3
"""Every module and example bounds the AWS provider above as well as below.

An open range (">= 5.60") lets `terraform init` pick the next major version the day it is
released, with its breaking changes, on an operator's machine; the bound is ">= 5.60, < 7"
(the releases the modules are written and tested against). Run by test.sh.

    check_provider_versions.py     exit 1 when a versions.tf lacks the bound
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
WANTED = ">= 5.60, < 7"


def main() -> int:
    bad = 0
    files = sorted(p for p in HERE.glob("*/*/versions.tf") if ".terraform" not in p.parts)
    for path in files:
        text = path.read_text()
        block = re.search(r"aws\s*=\s*\{(.*?)\}", text, re.S)
        version = re.search(r'version\s*=\s*"([^"]*)"', block.group(1)) if block else None
        if not version or version.group(1) != WANTED:
            bad += 1
            found = version.group(1) if version else "no aws provider constraint"
            print(f"{path.relative_to(HERE)}: hashicorp/aws must be \"{WANTED}\", found \"{found}\"")
    print(f"{len(files)} versions.tf checked, {bad} without the bound")
    return 1 if bad or not files else 0


if __name__ == "__main__":
    sys.exit(main())
