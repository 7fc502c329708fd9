#!/usr/bin/env python3
"""Checks deploy/grafana/*.json against the metric contract.

Usage: python3 deploy/grafana/check-dashboard.py [dashboard.json ...]
Stdlib only. Fails (exit 1) when a dashboard is not valid JSON, uses a
mirrorlake_* metric that the daemons do not expose (deploy/metrics/*.json,
generated from their registries by their unit tests; a histogram's
_bucket/_sum/_count series count as its base name), or refers to a data
source other than ${DS_PROMETHEUS}. Also reports metrics that no panel uses.
"""

import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
CONTRACT = HERE.parent / "metrics"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def contract_metrics(folder=CONTRACT):
    """Exposed name -> {"type", "help", "labels"} of every metric of every daemon."""
    metrics = {}
    for f in sorted(folder.glob("*.json")):
        for m in json.loads(f.read_text(encoding="utf-8"))["metrics"]:
            metrics[m["name"]] = m
    return metrics


def known_metrics():
    return {name: m["type"] for name, m in contract_metrics().items()}


def walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, node


def check(path, known):
    errors = []
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        return [f"{path}: not valid JSON: {e}"], set()
    used = set()
    for where, value in walk(dash):
        if not isinstance(value, str):
            continue
        if where.endswith((".expr", ".definition", ".query")):
            for name in re.findall(r"\bmirrorlake_[a-z0-9_]+", value):
                base = name
                if name not in known:
                    for suffix in HISTOGRAM_SUFFIXES:
                        stem = name[: -len(suffix)]
                        if name.endswith(suffix) and known.get(stem) == "histogram":
                            base = stem
                if base not in known:
                    errors.append(f"{path}: {where}: {name} is not a metric the daemons expose ({CONTRACT})")
                used.add(base)
        if where.endswith("datasource.uid") and value not in ("${DS_PROMETHEUS}", "-- Grafana --"):
            errors.append(f"{path}: {where}: data source {value!r}, expected ${{DS_PROMETHEUS}}")
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        errors.append(f"{path}: duplicate panel ids")
    for p in dash.get("panels", []):
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            errors.append(f"{path}: panel {p.get('title')!r} is wider than the grid")
    return errors, used


def main(argv):
    known = known_metrics()
    if not known:
        print(f"no metrics found in {CONTRACT}", file=sys.stderr)
        return 1
    files = [pathlib.Path(a) for a in argv] or sorted(HERE.glob("*.json"))
    failed = False
    for f in files:
        errors, used = check(f, known)
        for e in errors:
            print(e, file=sys.stderr)
        failed |= bool(errors)
        unused = sorted(set(known) - used)
        print(f"{f.name}: {len(used & set(known))} of {len(known)} metrics used"
              + (f"; unused: {', '.join(unused)}" if unused else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
