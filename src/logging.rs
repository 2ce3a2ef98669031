//! The log format, in one place for the binary and the tests: JSON (one object per line, the
//! event's fields flat, the request span's fields under `span`) or `pretty` for a terminal;
//! and, when configured, the OpenTelemetry layer that exports spans (`crate::telemetry`).

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// A span-exporting layer (`crate::telemetry::layer`).
pub type OtelLayer = Box<dyn Layer<Registry> + Send + Sync>;

type WithOtel = Layered<Option<OtelLayer>, Registry>;

/// A subscriber writing `format` ("json" or "pretty") to `writer`, filtered by `filter`, and
/// exporting spans through `otel` when given.
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
    let fmt: Box<dyn Layer<WithOtel> + Send + Sync> = if format == "json" {
        Box::new(
            fmt.json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false),
        )
    } else {
        Box::new(fmt)
    };
    Box::new(
        tracing_subscriber::registry()
            .with(otel)
            .with(fmt)
            .with(filter),
    )
}
