//! The client's address and user agent: the one place that trusts `X-Forwarded-For`, and only
//! from `server.trusted_proxies`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::state::AppState;

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
        (Some(p), Some(f)) if trusted(state, p) => Some(f),
        (p, _) => p,
    }
}

/// Whether `peer` is one of `server.trusted_proxies`: only their `X-Forwarded-*` headers count.
pub fn trusted(state: &AppState, peer: IpAddr) -> bool {
    state.settings.server.trusted_proxies.contains(&peer)
}

/// An `X-Forwarded-*` header (`x-forwarded-host`, ...), only from a trusted proxy.
pub fn forwarded<'h>(
    state: &AppState,
    peer: IpAddr,
    headers: &'h axum::http::HeaderMap,
    name: &str,
) -> Option<&'h str> {
    if trusted(state, peer) {
        headers.get(name).and_then(|v| v.to_str().ok())
    } else {
        None
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
