//! The access log: one line per request (target `idbridge::access`, level INFO) with its
//! request id, method, route template, status, latency and the tenant it acted in. The tenant
//! is filled in by whichever extractor authenticated the request ([`RequestTenant::record`]).
//! Never a path's raw ids, a query string, a header or a body: nothing secret can reach it.
//! Silence it with a filter such as `log.level = "info,idbridge::access=warn"`.

use std::sync::{Arc, OnceLock};

use axum::http::request::Parts;

/// The tenant a request acted in, for its access log line.
#[derive(Clone, Default)]
pub struct RequestTenant(Arc<OnceLock<String>>);

impl RequestTenant {
    /// Notes the tenant of the request (the first one recorded wins).
    pub fn record(parts: &Parts, tenant_id: &str) {
        if let Some(t) = parts.extensions.get::<RequestTenant>() {
            let _ = t.0.set(tenant_id.to_string());
        }
    }

    pub fn get(&self) -> &str {
        self.0.get().map_or("", String::as_str)
    }
}

/// Writes the request's line.
pub fn log(request_id: &str, method: &str, route: &str, status: u16, micros: u64, tenant: &str) {
    let latency_ms = micros as f64 / 1000.0;
    if status >= 500 {
        tracing::warn!(target: "idbridge::access", request_id, method, route, status, latency_ms, tenant, "request");
    } else {
        tracing::info!(target: "idbridge::access", request_id, method, route, status, latency_ms, tenant, "request");
    }
}
