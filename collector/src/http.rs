//! The collector's /healthz (readiness), /livez and /metrics (served by
//! `mirrorlake_ops`).

use crate::pipeline::Shared;
use std::sync::Arc;

/// The collector as seen by the HTTP probe.
#[derive(Debug)]
pub struct CollectorProbe(pub Arc<Shared>);

impl mirrorlake_ops::Probe for CollectorProbe {
    fn health(&self) -> Result<(), &'static str> {
        self.0.healthy()
    }

    fn live(&self) -> Result<(), &'static str> {
        self.0.live()
    }

    fn metrics(&self) -> String {
        let s = &self.0;
        s.metrics.sink_healthy.set(i64::from(s.healthy().is_ok()));
        s.metrics.encode()
    }
}
