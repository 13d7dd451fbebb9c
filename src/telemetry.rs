//! What the server tells its operators: log lines (human-readable or JSON, filtered by
//! RUST_LOG, default info) and Prometheus metrics. Metrics are recorded through the
//! `metrics` facade wherever something happens; they cost nothing until
//! [`metrics_registry`] installs the process's one registry, which `/metrics` renders.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

#[cfg(feature = "otlp")]
mod otlp;

/// What [`init`] installed that must be flushed before the process exits: the OTLP trace
/// exporter, when there is one. Keep it until the end of `main`.
#[must_use]
pub struct TelemetryGuard {
    #[cfg(feature = "otlp")]
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(traces) = self.traces.take() {
            let _ = traces.shutdown();
        }
    }
}

/// Installs the global subscriber (log lines, and with the `otlp` feature the trace
/// export); call once at startup.
pub fn init(format: LogFormat) -> TelemetryGuard {
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Text => lines.boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otlp")]
    let guard = {
        let (export, traces) = otlp::layer();
        subscriber.with(export).init();
        TelemetryGuard { traces }
    };
    #[cfg(not(feature = "otlp"))]
    let guard = {
        subscriber.init();
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
            tracing::warn!(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but this build exports no traces: build with --features otlp"
            );
        }
        TelemetryGuard {}
    };
    guard
}

/// Latency buckets in seconds: a millisecond to half a minute.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// How often recorded latencies are folded into their buckets, so memory stays flat
/// between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// Operation names become labels; clients choose them, so only this many distinct names
/// are kept apart and the rest are counted as `other`.
const MAX_OPERATION_LABELS: usize = 500;
/// Longest operation name kept as a label.
const MAX_OPERATION_LABEL_CHARS: usize = 100;

static REGISTRY: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_LABELS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// The process's metrics registry, installed (with its upkeep thread) on the first call;
/// None when another recorder was installed first.
pub fn metrics_registry() -> Option<&'static PrometheusHandle> {
    REGISTRY
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe_metrics();
                    let upkeep = handle.clone();
                    let started = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(err) = started {
                        tracing::warn!(error = %err, "cannot start the metrics upkeep thread");
                    }
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics are not recorded");
                    None
                }
            }
        })
        .as_ref()
}

/// The label an operation is counted under: its name while few enough names have been
/// seen, `anonymous` for none, `other` beyond the budget or for an overlong name.
pub fn operation_label(name: &str) -> String {
    if name.is_empty() || name == "-" {
        return "anonymous".to_owned();
    }
    if name.chars().count() > MAX_OPERATION_LABEL_CHARS {
        return "other".to_owned();
    }
    let labels = OPERATION_LABELS.get_or_init(|| Mutex::new(HashSet::new()));
    let mut seen = labels.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() >= MAX_OPERATION_LABELS {
        return "other".to_owned();
    }
    seen.insert(name.to_owned());
    name.to_owned()
}

/// The HELP lines: what each metric counts.
fn describe_metrics() {
    describe_counter!(
        "guildhall_http_requests_total",
        "HTTP requests by route and status"
    );
    describe_histogram!(
        "guildhall_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route"
    );
    describe_counter!(
        "guildhall_graphql_operations_total",
        "GraphQL operations over HTTP by operation name and outcome (ok, or the error codes)"
    );
    describe_histogram!(
        "guildhall_graphql_operation_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL operation latency over HTTP by operation name"
    );
    describe_gauge!("guildhall_websockets_open", "websocket connections open");
    describe_gauge!(
        "guildhall_websocket_operations_running",
        "operations (subscriptions, mostly) running on open websockets"
    );
    describe_counter!(
        "guildhall_events_published_total",
        "activity and notification events handed to this instance's subscribers"
    );
    describe_counter!(
        "guildhall_event_deliveries_total",
        "subscriber streams each published event was handed to (the fan-out)"
    );
    describe_gauge!(
        "guildhall_outbox_depth",
        "messages waiting to be sent, by kind (mail, webhooks)"
    );
    describe_gauge!(
        "guildhall_outbox_oldest_seconds",
        "age of the oldest message waiting, by kind (0 when none waits)"
    );
    describe_gauge!(
        "guildhall_db_pool_connections",
        "database pool connections by state (open, idle, in_use, max)"
    );
    describe_gauge!(
        "guildhall_db_pool_waiting",
        "requests waiting for a database connection"
    );
    describe_counter!(
        "guildhall_rate_limit_refusals_total",
        "requests refused with RATE_LIMITED, by limit"
    );
    describe_counter!(
        "guildhall_persisted_documents_total",
        "operations sent by hash or document id, by result (hit, miss)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(""), "anonymous");
        assert_eq!(operation_label(&"x".repeat(101)), "other");
        assert_eq!(operation_label("Dashboard"), "Dashboard");
    }
}
