//! Extractors: JSON and query bodies whose rejections speak our error format, the caller's
//! principal, the client address and the request id.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::principal::Principal;
use crate::error::Error;
use crate::state::AppState;

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
        let principal = crate::auth::service::authenticate(state, &parts.headers).await?;
        super::access::RequestTenant::record(parts, &principal.tenant_id);
        if principal.via_cookie && !is_safe(&parts.method) {
            check_same_origin(state, parts)?;
        }
        Ok(principal)
    }
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Cookie-authenticated writes must come from our own origin.
fn check_same_origin(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    if cross_origin(state, &parts.headers) {
        return Err(ApiError(Error::forbidden(
            "csrf",
            "cross-site request refused: call the API from the same origin or with a Bearer token",
        )));
    }
    Ok(())
}

/// The one same-origin rule for every browser write that a cookie authorises (the API, the
/// sign-in, sign-out, tenant switch and consent forms), after OWASP's CSRF cheat sheet: Fetch
/// Metadata first (`Sec-Fetch-Site: cross-site` is refused), then `Origin`, which must be
/// idbridge's own (`null`, a sibling subdomain or any other origin is refused). A request with
/// neither header comes from a non-browser client or an old browser, and passes.
pub fn cross_origin(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => false,
        Some(Ok(origin)) => !origin.eq_ignore_ascii_case(origin_of(&state.public_url)),
        Some(Err(_)) => true,
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> &str {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[start..].find('/') {
        Some(j) => &url[..start + j],
        None => url,
    }
}

/// The client's address (from a trusted proxy's `X-Forwarded-For` when configured) and agent.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The same address, parsed (the throttles key on it).
    pub addr: Option<IpAddr>,
}

/// The client's address: the peer, or the last `X-Forwarded-For` hop when the peer is one of
/// `server.trusted_proxies`.
pub fn client_addr(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer: Option<IpAddr> = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    client_addr_of(state, peer, &parts.headers)
}

/// [`client_addr`] from the peer address and the headers.
pub fn client_addr_of(
    state: &AppState,
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
) -> Option<IpAddr> {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next_back())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    match (peer, forwarded) {
        (Some(p), Some(f)) if state.settings.server.trusted_proxies.contains(&p) => Some(f),
        (p, _) => p,
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_addr(state, parts);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(ClientInfo {
            ip: ip.map(|i| i.to_string()),
            user_agent,
            addr: ip,
        })
    }
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

/// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
