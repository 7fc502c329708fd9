#!/usr/bin/env python3
"""Check that the metrics the collectors publish to CloudWatch are ones the collector exports.

modules/collectors/cloudwatch-metrics.json lists the Prometheus series the CloudWatch agent scrapes
from a collector's /metrics and publishes, with their CloudWatch dimensions. For every entry this
checks, against the source of truth and the documentation:

  * collector/src/metrics.rs registers it, under the registry prefix, as a counter (the agent turns
    counters into per-scrape deltas, which is what the alarms sum; a gauge would be summed as is),
    exposed as <prefix>_<name>_total;
  * every dimension except AutoScalingGroupName (a static label the scrape config adds) is one of
    the metric's labels in metrics.rs;
  * the README's Metrics table lists it with those labels (parsed by deploy/grafana/check-dashboard.py,
    the dashboards' check, so both read the table the same way).

Usage: check_cloudwatch_metrics.py [REPO_ROOT]   (stdlib only; exit 1 on any mismatch)
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

STATIC_LABELS = {"AutoScalingGroupName"}  # added by the scrape config, not by the collector


def load_dashboard_check(root: Path):
    """deploy/grafana/check-dashboard.py as a module (its name has a hyphen)."""
    path = root / "deploy" / "grafana" / "check-dashboard.py"
    spec = importlib.util.spec_from_file_location("check_dashboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collector_metrics(metrics_rs: Path) -> dict[str, dict]:
    """Exposed name -> {"type", "labels"} of every metric collector/src/metrics.rs registers."""
    src = metrics_rs.read_text(encoding="utf-8")
    prefix = re.search(r'Registry::with_prefix\("([a-z0-9_]+)"\)', src)
    if not prefix:
        raise SystemExit(f"{metrics_rs}: no Registry::with_prefix(\"...\") found")
    prefix = prefix.group(1)

    # Label sets: `struct Reason { reason: &'static str, }`
    label_structs = {
        name: re.findall(r"(\w+)\s*:\s*&'static\s+str", body)
        for name, body in re.findall(r"struct\s+(\w+)\s*\{([^}]*)\}", src)
    }
    # Fields of `pub struct Metrics`: `pub packets_received: Counter,` / `dropped: Family<Reason, Counter>,`
    body = re.search(r"pub struct Metrics\s*\{(.*?)\n\}", src, re.S)
    if not body:
        raise SystemExit(f"{metrics_rs}: no `pub struct Metrics {{ ... }}` found")
    fields = {}
    for field, family_labels, family_kind, kind in re.findall(
        r"^\s*(?:pub\s+)?(\w+)\s*:\s*(?:Family<\s*(\w+)\s*,\s*(\w+)\s*>|(\w+))\s*,", body.group(1), re.M
    ):
        fields[field] = {
            "type": (family_kind or kind).lower(),
            "labels": label_structs.get(family_labels, []) if family_labels else [],
        }
    # registry.register("name", "help", m.field.clone())  and  ("name", "help", &m.field) tuples
    registered = re.findall(r'registry\.register\(\s*"(\w+)",\s*"[^"]*",\s*m\.(\w+)\.clone\(\)', src)
    registered += re.findall(r'\(\s*"(\w+)",\s*"[^"]*",\s*&m\.(\w+),?\s*\)', src)

    exposed = {}
    for name, field in registered:
        if field not in fields:
            raise SystemExit(f"{metrics_rs}: {name} is registered from m.{field}, which is not a field of Metrics")
        info = fields[field]
        suffix = "_total" if info["type"] == "counter" else ""
        exposed[f"{prefix}_{name}{suffix}"] = info
    return exposed


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parents[2]
    contract = root / "terraform" / "modules" / "collectors" / "cloudwatch-metrics.json"
    metrics_rs = root / "collector" / "src" / "metrics.rs"

    published = json.loads(contract.read_text(encoding="utf-8"))["metrics"]
    exported = collector_metrics(metrics_rs)
    # name -> labels of its row (metric | labels | meaning), read as the dashboards' check reads it
    rows = load_dashboard_check(root).readme_metric_rows(root / "README.md")
    documented = {name: set(re.findall(r"`(\w+)`", cells[1])) for name, cells in rows.items()}
    if not exported or not documented:
        print(f"found {len(exported)} metrics in {metrics_rs} and {len(documented)} in README.md: parser out of date?", file=sys.stderr)
        return 1

    errors = []
    for key, metric in sorted(published.items()):
        name = metric["name"]
        where = f"{contract.relative_to(root)}: {key} ({name})"
        before = len(errors)
        info = exported.get(name)
        if info is None:
            errors.append(f"{where}: collector/src/metrics.rs exports no such metric")
        elif info["type"] != "counter":
            errors.append(f"{where}: is a {info['type']} in metrics.rs; only counters are published as per-minute deltas")
        if name not in documented:
            errors.append(f"{where}: not in the README's Metrics table")
        for dims in metric["dimensions"]:
            for label in set(dims) - STATIC_LABELS:
                if info is not None and label not in info["labels"]:
                    errors.append(f"{where}: dimension {label!r} is not a label of the metric in metrics.rs ({info['labels']})")
                if name in documented and label not in documented[name]:
                    errors.append(f"{where}: dimension {label!r} is not in the README's labels column for it")
        if len(errors) == before:
            labels = ", ".join(info["labels"]) or "no labels"
            print(f"checked: {name} ({info['type']}, {labels}) is exported by collector/src/metrics.rs and documented in README.md")

    for e in errors:
        print(e, file=sys.stderr)
    print(f"{len(published)} published metrics checked against {len(exported)} exported, {len(documented)} documented: {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
