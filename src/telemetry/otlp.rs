//! Trace export over OTLP/HTTP, compiled with `--features otlp`: when
//! OTEL_EXPORTER_OTLP_ENDPOINT is set, every span (one per GraphQL operation, named with
//! its request id and operation) goes to that collector in batches, from a thread of its
//! own. The exporter reads the standard OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME settings.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// The layer sending spans to the collector, and the provider to flush at exit; neither
/// when no endpoint is set or the exporter cannot be built (said on standard error).
pub fn layer<S>() -> (Option<OpenTelemetryLayer<S, Tracer>>, Option<SdkTracerProvider>)
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        return (None, None);
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("warning: traces are not exported (OTEL_EXPORTER_OTLP_ENDPOINT): {err}");
            return (None, None);
        }
    };
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("guildhall");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("guildhall");
    (
        Some(tracing_opentelemetry::layer().with_tracer(tracer)),
        Some(provider),
    )
}
