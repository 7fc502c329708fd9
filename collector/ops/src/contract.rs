//! The metric contract, generated from a daemon's own registry: what it
//! exposes (name, type, help, labels and their values) as the JSON that the
//! dashboard and CloudWatch checks read (`deploy/metrics/*.json`) and as the
//! README's Metrics tables. Each daemon's unit test calls
//! [`check_generated`] with its registry's exposition, which fails when a
//! generated file is stale (`MIRRORLAKE_BLESS=1` rewrites it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One metric as exposed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Metric {
    /// The name series carry (`_total` for counters; a histogram's base name).
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its help text.
    pub help: String,
    /// Label name -> the values exposed (every value a label can take is
    /// created at start-up, so the registry alone lists them).
    pub labels: BTreeMap<String, BTreeSet<String>>,
}

/// Every metric of one registry, in exposition order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contract {
    /// The metrics.
    pub metrics: Vec<Metric>,
}

impl Contract {
    /// Reads a text exposition (`# HELP`, `# TYPE` and series lines).
    pub fn of(exposition: &str) -> Self {
        let mut metrics: Vec<Metric> = Vec::new();
        let mut help = BTreeMap::new();
        for line in exposition.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                // The help line ends with a period the registry adds.
                help.insert(name.to_owned(), text.trim_end_matches('.').to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (base, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
                let name = match kind {
                    "counter" => format!("{base}_total"),
                    _ => base.to_owned(),
                };
                metrics.push(Metric {
                    name,
                    kind: kind.to_owned(),
                    help: help.get(base).cloned().unwrap_or_default(),
                    labels: BTreeMap::new(),
                });
            } else if !line.starts_with('#') {
                let Some(m) = metrics.last_mut() else {
                    continue;
                };
                let Some((_, labels)) = line.split_once('{') else {
                    continue;
                };
                let labels = labels.split_once('}').map_or("", |(l, _)| l);
                for pair in labels.split(',').filter(|p| !p.is_empty()) {
                    let Some((k, v)) = pair.split_once('=') else {
                        continue;
                    };
                    if m.kind == "histogram" && k == "le" {
                        continue;
                    }
                    m.labels
                        .entry(k.to_owned())
                        .or_default()
                        .insert(v.trim_matches('"').to_owned());
                }
            }
        }
        Self { metrics }
    }

    /// As pretty JSON (`deploy/metrics/*.json`), ending with a newline.
    pub fn json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// As a Markdown table: metric, type, labels (with their values), help.
    pub fn markdown(&self) -> String {
        let mut s = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
        for m in &self.metrics {
            let labels: Vec<String> = m
                .labels
                .iter()
                .map(|(k, values)| {
                    let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                    format!("`{k}`: {}", values.join(", "))
                })
                .collect();
            s += &format!(
                "| `{}` | {} | {} | {} |\n",
                m.name,
                m.kind,
                labels.join("; "),
                m.help.replace('|', "\\|")
            );
        }
        s
    }
}

/// Checks (or with `MIRRORLAKE_BLESS=1` rewrites) what `daemon`'s registry
/// generates, from its `exposition`: `deploy/metrics/<daemon>.json` and the
/// README's section between `<!-- metrics: <daemon> (generated) -->` and
/// `<!-- end of metrics: <daemon> -->`, under the repository `root`.
pub fn check_generated(root: &Path, daemon: &str, exposition: &str) -> Result<Contract, String> {
    let c = Contract::of(exposition);
    if c.metrics.is_empty() {
        return Err(format!("{daemon}: no metric in the exposition"));
    }
    check_or_bless(
        &root.join(format!("deploy/metrics/{daemon}.json")),
        "",
        "",
        &c.json(),
    )?;
    check_or_bless(
        &root.join("README.md"),
        &format!("<!-- metrics: {daemon} (generated) -->"),
        &format!("<!-- end of metrics: {daemon} -->"),
        &c.markdown(),
    )?;
    Ok(c)
}

/// Fails when `path` does not hold `content` between the lines `begin` and
/// `end` (the whole file when both are empty), saying how to regenerate it;
/// with `MIRRORLAKE_BLESS=1` rewrites it instead.
pub fn check_or_bless(path: &Path, begin: &str, end: &str, content: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let wanted = if begin.is_empty() {
        content.to_owned()
    } else {
        let (head, rest) = text
            .split_once(&format!("{begin}\n"))
            .ok_or_else(|| format!("{}: no line {begin:?}", path.display()))?;
        let (_, tail) = rest
            .split_once(&format!("{end}\n"))
            .ok_or_else(|| format!("{}: no line {end:?} after {begin:?}", path.display()))?;
        format!("{head}{begin}\n{content}{end}\n{tail}")
    };
    if wanted == text {
        return Ok(());
    }
    if std::env::var_os("MIRRORLAKE_BLESS").is_some_and(|v| v == "1") {
        return std::fs::write(path, wanted).map_err(|e| format!("{}: {e}", path.display()));
    }
    Err(format!(
        "{} is not what the metric registry generates: run the test again with MIRRORLAKE_BLESS=1 and commit the change",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP ml_drops Packets dropped, by reason.\n\
# TYPE ml_drops counter\n\
ml_drops_total{reason=\"a\"} 0\n\
ml_drops_total{reason=\"b\"} 3\n\
# HELP ml_up 1 while up.\n\
# TYPE ml_up gauge\n\
ml_up 1\n\
# HELP ml_flush_seconds Time to flush.\n\
# TYPE ml_flush_seconds histogram\n\
ml_flush_seconds_sum 0.0\n\
ml_flush_seconds_count 0\n\
ml_flush_seconds_bucket{le=\"0.1\"} 0\n\
# EOF\n";

    #[test]
    fn reads_names_types_help_and_label_values() {
        let c = Contract::of(PAGE);
        let names: Vec<(&str, &str)> = c
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), m.kind.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("ml_drops_total", "counter"),
                ("ml_up", "gauge"),
                ("ml_flush_seconds", "histogram")
            ]
        );
        assert_eq!(c.metrics[0].help, "Packets dropped, by reason");
        assert_eq!(
            c.metrics[0].labels["reason"],
            ["a", "b"].map(String::from).into()
        );
        assert!(c.metrics[2].labels.is_empty(), "le is not a label");
        assert!(c.markdown().contains(
            "| `ml_drops_total` | counter | `reason`: `a`, `b` | Packets dropped, by reason |"
        ));
    }

    #[test]
    fn a_stale_section_fails_and_names_the_fix() {
        let dir = std::env::temp_dir().join(format!("ml-contract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("README.md");
        std::fs::write(&f, "intro\n<!-- b -->\nold\n<!-- e -->\nafter\n").expect("write");
        let err = check_or_bless(&f, "<!-- b -->", "<!-- e -->", "new\n").expect_err("stale");
        assert!(err.contains("MIRRORLAKE_BLESS=1"), "{err}");
        std::fs::write(&f, "intro\n<!-- b -->\nnew\n<!-- e -->\nafter\n").expect("write");
        check_or_bless(&f, "<!-- b -->", "<!-- e -->", "new\n").expect("current");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
