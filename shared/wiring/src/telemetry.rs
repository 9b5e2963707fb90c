//! The metrics exporter: what `billing_domain::telemetry` records is written to stdout in
//! CloudWatch's embedded metric format (one JSON record per set of dimensions, CloudWatch
//! Logs turns it into metrics) at the end of every invocation, and sooner when a histogram
//! fills a record. Each record carries the invocation's request id.

use billing_domain::telemetry;
use metrics_cloudwatch_embedded::{Builder, Collector};
use std::sync::OnceLock;

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the exporter, once per process (metrics go to `namespace`).
pub fn init(namespace: &str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    match Builder::new().cloudwatch_namespace(namespace.to_string()).init() {
        Ok(c) => {
            let _ = COLLECTOR.set(c);
            telemetry::describe();
            telemetry::set_flush(move || {
                if let Err(e) = c.flush(std::io::stdout().lock()) {
                    tracing::warn!(error = %e, "metrics not written");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "metrics exporter not installed"),
    }
}

/// What is recorded from here on belongs to this invocation.
pub fn begin(request_id: &str) {
    if let Some(c) = COLLECTOR.get() {
        c.set_property("RequestId", request_id.to_string());
    }
}

/// The invocation is over: its metrics are written.
pub fn end() {
    telemetry::flush();
}
