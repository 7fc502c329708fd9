//! AWS Lambda custom runtime (`provided.al2023`): a hand-written loop over
//! the Lambda Runtime API (`GET .../invocation/next`, `POST .../response` or
//! `.../error`), plain HTTP to `AWS_LAMBDA_RUNTIME_API` on localhost. Why not
//! the `lambda_runtime` crate: the loop is 4 HTTP calls, and the crate
//! brings tower, its own hyper client stack and a handler framework for
//! one event shape we parse ourselves; this loop reuses reqwest (already
//! in the workspace) and is tested against a fake Runtime API.
//!
//! Events: an EC2 "Instance State-change Notification" enrolls that one
//! instance; a "Scheduled Event" runs the full reconcile. Each invocation
//! prints one EMF line on stdout (counts of created, deleted, skipped and
//! failed sessions) and reports failures as an invocation error too.

use crate::config::Settings;
use crate::ec2::Ec2;
use crate::plan::{Policy, plan};
use crate::report::{Counts, emf_line};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// What one invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Enroll one instance (state-change event).
    Instance(String),
    /// Reconcile the whole fleet (schedule, or a manual invoke).
    Full,
}

impl Trigger {
    fn label(&self) -> &'static str {
        match self {
            Self::Instance(_) => "instance",
            Self::Full => "full",
        }
    }
}

/// Reads an EventBridge event (or a manual `{"action": "reconcile"}`,
/// optionally with `"instance_id"`).
pub fn classify(event: &Value) -> Result<Trigger, String> {
    match event.get("detail-type").and_then(Value::as_str) {
        Some("EC2 Instance State-change Notification") => {
            let id = event
                .pointer("/detail/instance-id")
                .and_then(Value::as_str)
                .ok_or("state-change event without detail.instance-id")?;
            Ok(Trigger::Instance(id.to_owned()))
        }
        Some("Scheduled Event") => Ok(Trigger::Full),
        Some(other) => Err(format!("unexpected event detail-type '{other}'")),
        None => match event.get("action").and_then(Value::as_str) {
            Some("reconcile") => Ok(match event.get("instance_id").and_then(Value::as_str) {
                Some(id) => Trigger::Instance(id.to_owned()),
                None => Trigger::Full,
            }),
            _ => Err("not an EventBridge event nor {\"action\": \"reconcile\"}".to_owned()),
        },
    }
}

/// Runs one reconcile; errors before planning are counted as a reconcile error.
pub async fn run_once(
    ec2: &Ec2,
    policy: &Policy,
    trigger: &Trigger,
) -> (Counts, Result<Value, String>) {
    let inventory = match trigger {
        Trigger::Instance(id) => ec2.inventory_of_instance(id).await,
        Trigger::Full => ec2.inventory(policy).await,
    };
    let inventory = match inventory {
        Ok(i) => i,
        Err(e) => {
            let c = Counts {
                reconcile_errors: 1,
                ..Counts::default()
            };
            return (c, Err(format!("{e:#}")));
        }
    };
    let p = plan(policy, &inventory);
    let report = ec2.apply(policy, &p).await;
    let counts = Counts::from_report(&report);
    let body = json!({ "trigger": trigger.label(), "plan": p, "applied": report });
    if report.failed > 0 {
        return (
            counts,
            Err(format!(
                "{} calls failed: {}",
                report.failed,
                report.errors.join("; ")
            )),
        );
    }
    (counts, Ok(body))
}

/// A full run over every scope (accounts and regions).
async fn run_members(
    settings: &Settings,
    policy: &Policy,
    members: &crate::config::Members,
) -> (Counts, Result<Value, String>) {
    match crate::accounts::run_all(settings, policy, members, false).await {
        Ok(runs) => {
            let counts = crate::report::scope_counts(&runs);
            let body: Value =
                serde_json::from_str(&crate::report::render_scopes_json(&runs)).unwrap_or_default();
            let failed: Vec<String> = runs
                .iter()
                .filter(|(_, o)| o.failed())
                .map(|(s, _)| s.label())
                .collect();
            if failed.is_empty() {
                (counts, Ok(body))
            } else {
                (
                    counts,
                    Err(format!("failed in {}: {body}", failed.join(", "))),
                )
            }
        }
        Err(e) => (
            Counts {
                reconcile_errors: 1,
                ..Counts::default()
            },
            Err(format!("{e:#}")),
        ),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Serves invocations until the Runtime API goes away.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .context("AWS_LAMBDA_RUNTIME_API is not set (not in Lambda?)")?;
    let base = format!("http://{api}/2018-06-01/runtime");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("http client")?;
    let init = async {
        let policy = settings.policy()?;
        let members = settings.members()?;
        let ec2 = Ec2::connect(settings).await?;
        anyhow::Ok((policy, members, ec2))
    };
    let (policy, members, ec2) = match init.await {
        Ok(v) => v,
        Err(e) => {
            let body = json!({ "errorMessage": format!("{e:#}"), "errorType": "InitError" });
            let _ = http
                .post(format!("{base}/init/error"))
                .body(body.to_string())
                .send()
                .await;
            return Err(e);
        }
    };
    tracing::info!(deployment = %policy.deployment, "lambda runtime ready");
    loop {
        let next = http
            .get(format!("{base}/invocation/next"))
            .send()
            .await
            .context("runtime API: next invocation")?;
        if !next.status().is_success() {
            bail!("runtime API: next invocation answered {}", next.status());
        }
        let request_id = next
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .context("runtime API: no Lambda-Runtime-Aws-Request-Id")?
            .to_owned();
        let body = next.bytes().await.context("runtime API: event body")?;
        let (trigger, counts, result) = match serde_json::from_slice::<Value>(&body)
            .map_err(|e| format!("event is not JSON: {e}"))
            .and_then(|v| classify(&v))
        {
            // A full run covers every member account and region; a
            // state-change event names an instance of this account.
            Ok(Trigger::Full) if !members.is_empty() => {
                let (c, r) = run_members(settings, &policy, &members).await;
                (Trigger::Full.label(), c, r)
            }
            Ok(t) => {
                let (c, r) = run_once(&ec2, &policy, &t).await;
                (t.label(), c, r)
            }
            Err(e) => (
                "invalid",
                Counts {
                    reconcile_errors: 1,
                    ..Counts::default()
                },
                Err(e),
            ),
        };
        println!(
            "{}",
            emf_line(&policy.deployment, trigger, &counts, now_ms())
        );
        let post = match result {
            Ok(v) => http
                .post(format!("{base}/invocation/{request_id}/response"))
                .body(v.to_string()),
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "invocation failed");
                http.post(format!("{base}/invocation/{request_id}/error"))
                    .header("Lambda-Runtime-Function-Error-Type", "Unhandled")
                    .body(json!({ "errorMessage": e, "errorType": "ReconcileError" }).to_string())
            }
        };
        let r = post.send().await.context("runtime API: post result")?;
        if !r.status().is_success() {
            tracing::warn!(status = %r.status(), "runtime API refused the result");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_change_event_enrolls_the_instance() {
        let ev = json!({
            "version": "0", "id": "7bf73129", "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "account": "123456789012", "time": "2026-11-25T21:29:54Z",
            "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0abcd1234"],
            "detail": { "instance-id": "i-0abcd1234", "state": "running" }
        });
        assert_eq!(classify(&ev), Ok(Trigger::Instance("i-0abcd1234".into())));
    }

    #[test]
    fn scheduled_and_manual_events() {
        let ev = json!({ "detail-type": "Scheduled Event", "source": "aws.events", "detail": {} });
        assert_eq!(classify(&ev), Ok(Trigger::Full));
        assert_eq!(
            classify(&json!({ "action": "reconcile" })),
            Ok(Trigger::Full)
        );
        assert_eq!(
            classify(&json!({ "action": "reconcile", "instance_id": "i-1" })),
            Ok(Trigger::Instance("i-1".into()))
        );
    }

    #[test]
    fn other_events_are_errors() {
        assert!(classify(&json!({ "detail-type": "AWS API Call via CloudTrail" })).is_err());
        assert!(
            classify(
                &json!({ "detail-type": "EC2 Instance State-change Notification", "detail": {} })
            )
            .is_err()
        );
        assert!(classify(&json!([1, 2])).is_err());
    }
}
