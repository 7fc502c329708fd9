//! What every mirrorlake daemon serves and sets up the same way: readiness
//! (`/healthz`, also `/readyz`: whether a load balancer should send it work),
//! liveness (`/livez`: whether the process is alive and working; what an
//! orchestrator restarts or replaces on) and `/metrics` (Prometheus text) over HTTP,
//! and logging to stderr filtered by `MIRRORLAKE_LOG`.
#![forbid(unsafe_code)]

pub mod contract;
pub mod scrape;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

/// A daemon's health and metrics.
pub trait Probe: Send + Sync + 'static {
    /// Readiness: `Ok` while it should get work; the reason otherwise
    /// (served with a 503 on `/healthz` and `/readyz`).
    fn health(&self) -> Result<(), &'static str>;
    /// Liveness: `Ok` while the process works, even when what is downstream
    /// is away (served with a 503 on `/livez` otherwise).
    fn live(&self) -> Result<(), &'static str> {
        Ok(())
    }
    /// The Prometheus/OpenMetrics text exposition.
    fn metrics(&self) -> String;
}

fn answer(r: Result<(), &'static str>) -> (StatusCode, &'static str) {
    match r {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn healthz(State(p): State<Arc<dyn Probe>>) -> impl IntoResponse {
    answer(p.health())
}

async fn livez(State(p): State<Arc<dyn Probe>>) -> impl IntoResponse {
    answer(p.live())
}

async fn metrics(State(p): State<Arc<dyn Probe>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        p.metrics(),
    )
}

/// Binds the HTTP port (failing early with a clear error) and serves it.
pub async fn serve(
    addr: SocketAddr,
    probe: Arc<dyn Probe>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("bind http {addr}: {e}"))?;
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "http server stopped");
        }
    }))
}

/// Logs to stderr; `MIRRORLAKE_LOG` (an `EnvFilter`) overrides `default`.
pub fn init_tracing(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MIRRORLAKE_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Renders a Terraform `templatefile` with placeholders, so tests can check
/// that the config files Terraform writes parse as our configs: an
/// interpolation inside a TOML string becomes `x`, a bare one `1`.
pub fn render_template_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        out.push_str(if out.ends_with('"') { "x" } else { "1" });
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Waits for SIGTERM or SIGINT; names the one that came.
pub async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Reads a TOML config file into `T`; unknown keys (with
/// `deny_unknown_fields`) and bad values are errors that name the key.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("read config {}: {e}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("config {}: {}", path.display(), e.to_string().trim()))
}
