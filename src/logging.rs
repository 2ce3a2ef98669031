//! The log format, in one place for the binary and the tests: JSON (one object per line, the
//! event's fields flat, the request span's fields under `span`) or `pretty` for a terminal;
//! and, when configured, the OpenTelemetry layer that exports spans (`crate::telemetry`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// A span-exporting layer (`crate::telemetry::layer`).
pub type OtelLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// A subscriber writing `format` ("json" or "pretty") to `writer`, filtered by `filter`, and
/// exporting spans through `otel` when given. Each has its own filter: a quiet log
/// (`log.level = "warn"`) still exports every request's span.
pub fn subscriber<W>(
    format: &str,
    filter: EnvFilter,
    writer: W,
    otel: Option<OtelLayer>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt: OtelLayer = if format == "json" {
        Box::new(
            fmt.json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_filter(filter),
        )
    } else {
        Box::new(fmt.with_filter(filter))
    };
    let mut layers = vec![fmt];
    if let Some(otel) = otel {
        let spans = Targets::new().with_target("idbridge", tracing::Level::INFO);
        layers.push(Box::new(otel.with_filter(spans)));
    }
    Box::new(tracing_subscriber::registry().with(layers))
}
