//! Extractors: JSON and query bodies whose rejections speak our error format, the caller's
//! principal and the request id (the client's address: [`super::client`]).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use std::sync::Arc;

use super::error::ApiError;
use crate::auth::authenticate::authenticated;
use crate::auth::principal::Principal;
use crate::auth::verified::Verified;
use crate::error::Error;
use crate::state::AppState;
use crate::web::csrf::refused;

/// `Json<T>` whose rejections are 400/413/415 in the `/api` error format.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> axum::response::Response {
    let text = rej.body_text();
    match rej.status() {
        StatusCode::PAYLOAD_TOO_LARGE => super::error::body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than server.body_limit_bytes",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => super::error::body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        _ => super::error::body(StatusCode::BAD_REQUEST, "invalid_json", &text),
    }
}

/// `Query<T>` whose rejection is a 400 in the `/api` error format.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AppQuery(q.0))
            .map_err(|rej: QueryRejection| {
                ApiError(Error::invalid("invalid_query", rej.body_text()))
            })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state)
            .await
            .map(|c| c.principal())
    }
}

/// The caller and their verified entry: the compiled permissions in their current tenant and
/// `/api/me`'s cached body (for the handlers that answer from it).
pub struct Caller {
    pub verified: Arc<Verified>,
    pub via_cookie: bool,
}

impl Caller {
    pub fn principal(&self) -> Principal {
        self.verified.principal(self.via_cookie)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (verified, via_cookie) = authenticated(state, &parts.headers).await?;
        super::access::RequestTenant::record(parts, verified.tenant_id());
        if via_cookie && !is_safe(&parts.method) {
            check_browser_write(state, parts)?;
        }
        Ok(Caller {
            verified,
            via_cookie,
        })
    }
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Cookie-authenticated writes pass the one browser-write rule ([`crate::web::csrf::refused`]):
/// our own origin, and the session's token in `x-csrf-token`.
fn check_browser_write(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    let cookie = crate::web::cookies::value(&parts.headers, &state.cookie_name).unwrap_or("");
    let presented = parts
        .headers
        .get(crate::web::csrf::HEADER)
        .and_then(|v| v.to_str().ok());
    if refused(state, &parts.headers, cookie, presented) {
        return Err(ApiError(Error::forbidden(
            "csrf",
            "cross-site request refused: a cookie-authorised write must come from idbridge's own pages (same origin, with the page's x-csrf-token); other clients use a Bearer token",
        )));
    }
    Ok(())
}

/// The request id set by the request-id middleware (also echoed in `x-request-id`).
#[derive(Debug, Clone, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ))
    }
}
