//! `/healthz` (process up), `/readyz` (store reachable), `/metrics` (Prometheus) and the public
//! key set `/.well-known/jwks.json`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Live;

/// `{"status": ...}`, and a message when not ready.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Status {
    /// `ok`, `ready` or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(jwks))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Status)))]
async fn healthz() -> impl IntoResponse {
    Json(Status {
        status: "ok",
        message: None,
    })
}

/// The process is up and its database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, body = Status),
        (status = 503, description = "The database is not reachable", body = Status),
    ))]
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Status {
                status: "ready",
                message: None,
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Status {
                    status: "unavailable",
                    message: Some("the database is not reachable"),
                }),
            )
        }
    }
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)))]
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&live_gauges(&s)),
    )
}

/// The gauges read at scrape time: database pool, hashing queue, in-memory caches.
fn live_gauges(s: &AppState) -> Vec<Live> {
    let (in_use, idle, max) = s.store.pool_stats();
    let (hashing, hash_capacity) = s.hasher.in_line();
    let (rbac_users, rbac_sets) = s.rbac.len();
    let gauge = |name, help, label, value: f64| Live {
        name,
        help,
        label,
        value,
    };
    let pool = "Database connections of the pool, by state.";
    let cache = "Entries of the in-memory caches.";
    vec![
        gauge(
            "db_pool_connections",
            pool,
            Some(("state", "in_use")),
            in_use.into(),
        ),
        gauge(
            "db_pool_connections",
            pool,
            Some(("state", "idle")),
            idle.into(),
        ),
        gauge(
            "db_pool_max_connections",
            "The most connections the database pool opens.",
            None,
            max.into(),
        ),
        gauge(
            "password_hashes_in_line",
            "Password hashes running or waiting for a slot.",
            None,
            hashing as f64,
        ),
        gauge(
            "password_hash_queue_capacity",
            "Password hashes that may run or wait before sign-ins are refused with 503 overloaded.",
            None,
            hash_capacity as f64,
        ),
        gauge(
            "cache_entries",
            cache,
            Some(("cache", "forward_auth")),
            s.verified.len() as f64,
        ),
        gauge(
            "cache_entries",
            cache,
            Some(("cache", "rbac_user_tenant")),
            rbac_users as f64,
        ),
        gauge(
            "cache_entries",
            cache,
            Some(("cache", "rbac_compiled_set")),
            rbac_sets as f64,
        ),
        gauge(
            "cache_entries",
            cache,
            Some(("cache", "sso_connection")),
            s.sso.len() as f64,
        ),
    ]
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "health", security(()),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer")),
    responses(
        (status = 200, description = "The public signing keys (RFC 7517)", body = Object,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The keys are those of the ETag given"),
    ))]
/// The JWK Set: cacheable for `keys.jwks_max_age_secs`, with an ETag (304 on a match).
async fn jwks(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let doc = s.keys.jwks();
    let cache = format!("public, max-age={}", s.settings.keys.jwks_max_age_secs);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == doc.etag || t.trim() == "*")
        });
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::CACHE_CONTROL, cache),
                (header::ETAG, doc.etag.clone()),
            ],
        )
            .into_response();
    }
    (
        [
            (header::CACHE_CONTROL, cache),
            (header::ETAG, doc.etag.clone()),
            (header::CONTENT_TYPE, "application/json".to_string()),
        ],
        doc.body.clone(),
    )
        .into_response()
}
