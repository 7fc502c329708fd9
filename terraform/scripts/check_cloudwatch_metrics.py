#!/usr/bin/env python3
"""Check that the metrics the collectors publish to CloudWatch are ones the collector exports.

modules/collectors/cloudwatch-metrics.json lists the Prometheus series the CloudWatch agent scrapes
from a collector's /metrics and publishes, with their CloudWatch dimensions. For every entry this
checks, against deploy/metrics/collector.json (the collector's metric contract, generated from its
registry by collector/src/metrics.rs's tests, which also generate the README's Metrics table):
  * the collector exposes it as a counter (the agent turns counters into per-scrape deltas, which is
    what the alarms sum; a gauge would be summed as is);
  * every dimension except AutoScalingGroupName (a static label the scrape config adds) is one of
    the metric's labels.

Usage: check_cloudwatch_metrics.py [REPO_ROOT]   (stdlib only; exit 1 on any mismatch)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STATIC_LABELS = {"AutoScalingGroupName"}  # added by the scrape config, not by the collector


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parents[2]
    published_file = root / "terraform" / "modules" / "collectors" / "cloudwatch-metrics.json"
    contract_file = root / "deploy" / "metrics" / "collector.json"
    published = json.loads(published_file.read_text(encoding="utf-8"))["metrics"]
    exported = {m["name"]: m for m in json.loads(contract_file.read_text(encoding="utf-8"))["metrics"]}
    if not exported:
        print(f"no metrics in {contract_file}", file=sys.stderr)
        return 1
    errors = []
    for key, metric in sorted(published.items()):
        name = metric["name"]
        where = f"{published_file.relative_to(root)}: {key} ({name})"
        before = len(errors)
        info = exported.get(name)
        if info is None:
            errors.append(f"{where}: the collector exports no such metric ({contract_file.relative_to(root)})")
            continue
        if info["type"] != "counter":
            errors.append(f"{where}: is a {info['type']}; only counters are published as per-minute deltas")
        for dims in metric["dimensions"]:
            for label in set(dims) - STATIC_LABELS:
                if label not in info["labels"]:
                    errors.append(f"{where}: dimension {label!r} is not a label of the metric ({sorted(info['labels'])})")
        if len(errors) == before:
            labels = ", ".join(info["labels"]) or "no labels"
            print(f"checked: {name} ({info['type']}, {labels}) is exported by the collector")
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{len(published)} published metrics checked against {len(exported)} exported: {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
