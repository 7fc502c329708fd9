#!/usr/bin/env python3
"""Both collector.toml templates of modules/collectors are configs the collector accepts.

collector/src/config.rs has a Rust test that parses
modules/collectors/templates/collector.toml.tftpl (cluster mode) with its ${...} placeholders
replaced (mirrorlake_ops::render_template_placeholders: "x" inside a string, 1 elsewhere). This does the same for both templates, single-node included, without cargo:
each must parse as TOML, every key must be a field of the matching struct in config.rs (the
structs deny unknown fields), both must set a spool.dir (the disk spool serves both modes: what
Kafka, or the lake writer, cannot take now), the cluster template must set kafka.brokers, and the
single-node one must set an s3:// lake and no [kafka] at all. The Gateway Load Balancer fragment
(collector-geneve.toml.tftpl), inserted before the http line as modules/collectors/main.tf does
with target_kind = "gwlb", must keep both templates loadable and set geneve_listen. Run by test.sh.

    check_collector_templates.py     exit 1 when a template would not load
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CONFIG_RS = HERE.parent / "collector" / "src" / "config.rs"
TEMPLATES = HERE / "modules" / "collectors" / "templates"
# TOML table -> the struct of collector/src/config.rs that holds it; None: a free map.
SECTIONS = {(): "Config", ("files",): "FilesSection", ("batch",): "BatchSection",
            ("kafka",): "KafkaSection", ("kafka", "options"): None, ("spool",): "SpoolSection"}


def render_placeholders(text: str) -> str:
    """mirrorlake_ops::render_template_placeholders, line for line."""
    out, rest = "", text
    while (i := rest.find("${")) >= 0:
        out += rest[:i]
        end = rest[i:].find("}")
        if end < 0:
            break
        out += "x" if out.endswith('"') else "1"
        rest = rest[i + end + 1:]
    return out + rest


def struct_fields(source: str, name: str) -> set[str]:
    body = re.search(r"pub struct " + name + r"\s*\{(.*?)\n\}", source, re.S)
    if not body:
        raise SystemExit(f"{CONFIG_RS}: no struct {name}")
    return set(re.findall(r"^\s*pub (\w+):", body.group(1), re.M))


def check_keys(table: dict, path: tuple, source: str, where: str) -> list[str]:
    struct = SECTIONS.get(path, "unknown")
    if struct is None:
        return []
    if struct == "unknown":
        return [f"{where}: table [{'.'.join(path)}] is not a section the collector knows"]
    fields = struct_fields(source, struct)
    errors = []
    for key, value in table.items():
        if key not in fields:
            errors.append(f"{where}: {'.'.join(path + (key,))} is not a field of {struct}")
        elif isinstance(value, dict):
            errors.extend(check_keys(value, path + (key,), source, where))
    return errors


GENEVE = "collector-geneve.toml.tftpl"
# Where modules/collectors/main.tf inserts the GENEVE fragment (replace(..., "\nhttp = ", ...)).
ANCHOR = "\nhttp = "


def main() -> int:
    source = CONFIG_RS.read_text()
    errors = []
    configs = {}
    geneve = (TEMPLATES / GENEVE).read_text()
    if "%{" in geneve:
        errors.append(f"{GENEVE}: a %{{ }} directive")
    for name in ("collector.toml.tftpl", "collector-single-node.toml.tftpl"):
        path = TEMPLATES / name
        text = path.read_text()
        if "%{" in text:
            errors.append(f"{name}: a %{{ }} directive (the Rust test replaces ${{...}} only)")
        if text.count(ANCHOR) != 1:
            errors.append(f"{name}: needs exactly one line starting 'http = ' (where the GENEVE fragment goes)")
        for variant, body in ((name, text), (f"{name} + {GENEVE}", text.replace(ANCHOR, "\n" + geneve + "http = ", 1))):
            try:
                config = tomllib.loads(render_placeholders(body))
            except tomllib.TOMLDecodeError as e:
                errors.append(f"{variant}: not TOML once its placeholders are filled: {e}")
                continue
            errors.extend(check_keys(config, (), source, variant))
            if variant == name:
                configs[name] = config
            elif not config.get("geneve_listen"):
                errors.append(f"{variant}: geneve_listen must be set (target_kind = \"gwlb\")")
    cluster = configs.get("collector.toml.tftpl", {})
    single = configs.get("collector-single-node.toml.tftpl", {})
    if not cluster.get("kafka", {}).get("brokers"):
        errors.append("collector.toml.tftpl: kafka.brokers must be set (cluster mode)")
    if not cluster.get("spool", {}).get("dir"):
        errors.append("collector.toml.tftpl: spool.dir must be set (the disk spool for what Kafka has not taken)")
    if not single.get("spool", {}).get("dir"):
        errors.append("collector-single-node.toml.tftpl: spool.dir must be set (the disk spool for what the lake writer cannot take)")
    if "kafka" in single:
        errors.append("collector-single-node.toml.tftpl: no [kafka] (kafka.brokers set = cluster mode)")
    if not str(single.get("lake", "")).startswith("s3://"):
        errors.append("collector-single-node.toml.tftpl: lake must be an s3:// URL")
    for e in errors:
        print(e)
    print(f"{len(configs)} collector templates (with and without {GENEVE}) checked against {CONFIG_RS.relative_to(HERE.parent)}, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
