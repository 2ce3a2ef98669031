//! Shared web plumbing: the error mapping for `/api`, extractors, middleware, health and
//! metrics endpoints, and the router that mounts every feature's routes.

pub mod access;
pub mod client;
pub mod error;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod page;
pub mod router;

pub use client::ClientInfo;
pub use error::{ApiError, ApiResult};
pub use extract::{AppJson, AppQuery, RequestId};

/// A 200 with a JSON body already serialized (an answer kept in a cache).
pub fn json_response(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
