//! Optional OpenTelemetry traces over OTLP/HTTP (`telemetry.otlp_endpoint`; off when empty).
//! Each request is a server span named after its route template, with the request id, tenant,
//! route and status as attributes; a W3C `traceparent` header from the proxy or app in front
//! continues the caller's trace. Spans leave in batches from a background thread, so a slow or
//! absent collector never delays a request; they are flushed when the gateway stops.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TelemetrySettings;
use crate::logging::OtelLayer;

static ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (request spans then get their extra attributes).
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Flushes and stops the exporter when dropped (at the end of `main`).
pub struct Telemetry(Option<SdkTracerProvider>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.0.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("telemetry: the last spans could not be sent: {e}");
        }
    }
}

/// The tracing layer that exports spans, when an endpoint is configured. Call before the async
/// runtime starts (the exporter's HTTP client is a blocking one, on its own thread).
pub fn layer(s: &TelemetrySettings) -> Result<(Option<OtelLayer>, Telemetry), String> {
    if s.otlp_endpoint.is_empty() {
        return Ok((None, Telemetry(None)));
    }
    let endpoint = format!("{}/v1/traces", s.otlp_endpoint.trim_end_matches('/'));
    crate::crypto::install_tls_provider();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&endpoint)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("telemetry.otlp_endpoint = {endpoint:?}: {e}"))?;
    // Every request's span is kept: a caller's `traceparent` links the span to its trace but
    // cannot switch it off with an unsampled flag.
    let provider = SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(s.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("idbridge");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    ON.store(true, Ordering::Relaxed);
    let layer: OtelLayer = Box::new(tracing_opentelemetry::layer().with_tracer(tracer));
    Ok((Some(layer), Telemetry(Some(provider))))
}

/// Makes `span` a child of the caller's trace when the request carries a `traceparent`.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(cx);
}

/// Names an exported span (a request's: `GET /api/users/{id}`) once its route is known.
pub fn name_span(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt;
    span.context().span().update_name(name);
}

struct Headers<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
