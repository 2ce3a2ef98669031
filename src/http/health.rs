//! `/healthz` (process up), `/readyz` (store reachable), `/metrics` (Prometheus) and the public
//! key set `/.well-known/jwks.json`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::Live;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "message": "the database is not reachable"})),
            )
        }
    }
}

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
