//! How a plan and its outcome are shown: readable text or JSON for the
//! CLI, and CloudWatch Embedded Metric Format lines for the Lambda (the
//! failure counts become metrics and alarms without a CloudWatch client).

use crate::accounts::{Outcome, Scope};
use crate::ec2::ApplyReport;
use crate::plan::{Plan, Policy};
use serde::Serialize;
use std::fmt::Write as _;

/// Counts of one run, the metrics of the Lambda.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: usize,
    pub deleted: usize,
    pub skipped: usize,
    /// Create/delete calls that failed.
    pub failed: usize,
    /// Runs that failed before planning (Describe error, bad event).
    pub reconcile_errors: usize,
}

impl Counts {
    /// From an applied plan.
    pub fn from_report(r: &ApplyReport) -> Self {
        Self {
            created: r.created,
            deleted: r.deleted,
            skipped: r.skipped,
            failed: r.failed,
            reconcile_errors: 0,
        }
    }

    /// Everything that needs a human: failed calls plus failed runs.
    pub fn failures(&self) -> usize {
        self.failed + self.reconcile_errors
    }
}

/// Metric namespace of the EMF lines (the Terraform alarm reads it).
pub const METRIC_NAMESPACE: &str = "mirrorlake/enroll";

/// One EMF log line: metrics `SessionsCreated`, `SessionsDeleted`,
/// `SessionsSkipped`, `SessionsFailed`, `ReconcileErrors` and `Failures`
/// (the last two summed), dimension `Deployment`, plus `Trigger` as a
/// property (`instance` or `full`).
pub fn emf_line(deployment: &str, trigger: &str, c: &Counts, timestamp_ms: u64) -> String {
    let metric = |name: &str| serde_json::json!({ "Name": name, "Unit": "Count" });
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Deployment"]],
                "Metrics": [
                    metric("SessionsCreated"), metric("SessionsDeleted"), metric("SessionsSkipped"),
                    metric("SessionsFailed"), metric("ReconcileErrors"), metric("Failures"),
                ],
            }],
        },
        "Deployment": deployment,
        "Trigger": trigger,
        "SessionsCreated": c.created,
        "SessionsDeleted": c.deleted,
        "SessionsSkipped": c.skipped,
        "SessionsFailed": c.failed,
        "ReconcileErrors": c.reconcile_errors,
        "Failures": c.failures(),
    })
    .to_string()
}

/// The plan (and what applying it did) as text for people.
pub fn render_text(policy: &Policy, plan: &Plan, applied: Option<&ApplyReport>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan for deployment '{}': target {}, filter {}, instances tagged {}",
        policy.deployment,
        policy.target_id,
        policy.filter_id,
        policy
            .select_tags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    for d in &plan.delete {
        let _ = writeln!(
            s,
            "  delete  {:<24} {:<24} {}",
            d.eni_id,
            d.session_id,
            d.reason.code()
        );
    }
    for c in &plan.create {
        let _ = writeln!(
            s,
            "  create  {:<24} {:<21} device {}  {}  session {}  vni {}",
            c.eni_id, c.instance_id, c.device_index, c.vpc_id, c.session_number, c.vni
        );
    }
    for k in &plan.skip {
        let _ = writeln!(
            s,
            "  skip    {:<24} {:<21} {:<12} {}",
            k.eni_id,
            k.instance_id,
            k.instance_type,
            k.reason.code()
        );
    }
    let _ = writeln!(
        s,
        "plan: {} to create, {} to delete, {} skipped, {} unchanged",
        plan.create.len(),
        plan.delete.len(),
        plan.skip.len(),
        plan.unchanged
    );
    match applied {
        None => {
            let _ = writeln!(s, "dry run: nothing changed");
        }
        Some(r) => {
            for k in &r.late_skips {
                let _ = writeln!(
                    s,
                    "  skip    {:<24} {:<21} {}",
                    k.eni_id,
                    k.instance_id,
                    k.reason.code()
                );
            }
            for e in &r.errors {
                let _ = writeln!(s, "  failed  {e}");
            }
            let _ = writeln!(
                s,
                "applied: {} created, {} deleted, {} skipped, {} failed",
                r.created, r.deleted, r.skipped, r.failed
            );
        }
    }
    s
}

/// The plan (and what applying it did) as one JSON document.
pub fn render_json(policy: &Policy, plan: &Plan, applied: Option<&ApplyReport>) -> String {
    serde_json::json!({
        "deployment": policy.deployment,
        "target_id": policy.target_id,
        "filter_id": policy.filter_id,
        "dry_run": applied.is_none(),
        "plan": plan,
        "applied": applied,
    })
    .to_string()
}

/// The value of [`render_json`] as JSON, with `scope` added.
fn scope_value(scope: &Scope, outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Ran {
            policy,
            plan,
            applied,
        } => {
            let mut v: serde_json::Value =
                serde_json::from_str(&render_json(policy, plan, applied.as_ref()))
                    .unwrap_or_default();
            v["scope"] = serde_json::json!(scope);
            v
        }
        Outcome::NoTarget => serde_json::json!({ "scope": scope, "no_target": true }),
        Outcome::Failed(e) => serde_json::json!({ "scope": scope, "error": e }),
    }
}

/// Every scope's plan as text: a heading per account and region.
pub fn render_scopes_text(runs: &[(Scope, Outcome)]) -> String {
    let mut s = String::new();
    for (scope, outcome) in runs {
        let _ = writeln!(s, "== {}", scope.label());
        match outcome {
            Outcome::Ran {
                policy,
                plan,
                applied,
            } => s.push_str(&render_text(policy, plan, applied.as_ref())),
            Outcome::NoTarget => {
                let _ = writeln!(s, "no mirror target of this deployment there: left alone");
            }
            Outcome::Failed(e) => {
                let _ = writeln!(s, "failed: {e}");
            }
        }
    }
    let failed = runs.iter().filter(|(_, o)| o.failed()).count();
    let _ = writeln!(s, "{} scopes, {failed} failed", runs.len());
    s
}

/// Every scope's plan as one JSON document: `{"scopes": [...]}`, each
/// [`render_json`]'s document with its `scope` (or `no_target`, or `error`).
pub fn render_scopes_json(runs: &[(Scope, Outcome)]) -> String {
    let scopes: Vec<serde_json::Value> = runs.iter().map(|(s, o)| scope_value(s, o)).collect();
    serde_json::json!({ "scopes": scopes }).to_string()
}

/// Counts of every scope of a run (a failed scope is a reconcile error).
pub fn scope_counts(runs: &[(Scope, Outcome)]) -> Counts {
    let mut c = Counts::default();
    for (_, o) in runs {
        match o {
            Outcome::Ran {
                applied: Some(r), ..
            } => {
                let r = Counts::from_report(r);
                c.created += r.created;
                c.deleted += r.deleted;
                c.skipped += r.skipped;
                c.failed += r.failed;
            }
            Outcome::Ran { applied: None, .. } | Outcome::NoTarget => {}
            Outcome::Failed(_) => c.reconcile_errors += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_shape() {
        let c = Counts {
            created: 2,
            deleted: 1,
            skipped: 3,
            failed: 1,
            reconcile_errors: 1,
        };
        let v: serde_json::Value =
            serde_json::from_str(&emf_line("prod", "full", &c, 1_700_000_000_000)).expect("json");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], METRIC_NAMESPACE);
        assert_eq!(m["Dimensions"][0][0], "Deployment");
        // Every declared metric has a numeric value at the top level (the EMF rule).
        for metric in m["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(v[name].is_u64(), "{name} missing");
        }
        assert_eq!(v["Failures"], 2);
        assert_eq!(v["SessionsCreated"], 2);
        assert_eq!(v["Deployment"], "prod");
    }
}
