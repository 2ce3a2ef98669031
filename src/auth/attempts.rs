//! Sign-in attempts against the throttles: the per-address limit checked before routing, and
//! the per-account back-off kept in the database (see [`super::throttle`] for the rules).

use std::net::IpAddr;
use std::time::Duration;

use super::throttle::{UNKNOWN, key_of};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

/// The routes whose per-address limit is checked before routing (every sign-in attempt, however
/// it is made).
pub const SIGN_IN_PATHS: [&str; 6] = [
    "/api/auth/login",
    "/login",
    "/api/auth/signup-exchange",
    "/api/auth/reset-password",
    "/api/auth/forgot-password",
    "/api/auth/invites/accept",
];

/// Before routing (the server's dispatch): a sign-in attempt from an address over its limit is
/// answered 429 at once, without reading its body or running the middleware, so a flood of
/// them costs about what a cached forward-auth answer costs and cannot crowd out other
/// requests. `None`: not a sign-in, or within the limit (the attempt goes on).
pub fn refuse_early(
    s: &AppState,
    peer: std::net::SocketAddr,
    req: &axum::extract::Request,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    if req.method() != axum::http::Method::POST || !SIGN_IN_PATHS.contains(&req.uri().path()) {
        return None;
    }
    let addr = crate::http::client::client_addr_of(s, Some(peer.ip()), req.headers());
    let Err(e) = s.throttle.sign_in(addr, &s.metrics) else {
        return None;
    };
    if req.uri().path() == "/login" {
        let mut r = crate::web::html::page(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "Sign in",
            &format!(
                "<p class=\"err\">{}</p>",
                crate::engine::markup::escape(&e.to_string())
            ),
        );
        if let Some(secs) = e.retry_after() {
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        return Some(r);
    }
    Some(crate::http::ApiError(e).into_response())
}

fn sources(ip: Option<IpAddr>) -> (String, String) {
    let ip = key_of(ip.unwrap_or(UNKNOWN));
    (format!("ip:{ip}"), format!("ok:{ip}"))
}

/// Before checking a password for `account` from `ip`: refused while it backs off.
pub async fn account_allowed(s: &AppState, account: &str, ip: Option<IpAddr>) -> Result<()> {
    let (here, known) = sources(ip);
    let rows = {
        let mut c = s.store.acquire().await?;
        store::throttle::rows(c.conn(), account, [&here, "*", &known]).await?
    };
    let now = s.now_ms();
    let is_known = rows.iter().any(|r| r.source == known);
    let until = rows
        .iter()
        .filter(|r| r.source == here || (r.source == "*" && !is_known))
        .map(|r| r.blocked_until)
        .max()
        .unwrap_or(0);
    if until > now {
        s.metrics.count("throttled_sign_in");
        return Err(Error::rate_limited(
            Duration::from_millis((until - now) as u64),
            "too many failed sign-ins for this account: wait before trying again, or reset the password",
        ));
    }
    Ok(())
}

/// After a wrong password for `account` from `ip`.
pub async fn account_failed(s: &AppState, account: &str, ip: Option<IpAddr>) -> Result<()> {
    let (here, known) = sources(ip);
    let now = s.now_ms();
    let cfg = &s.settings.throttle;
    let mut tx = s.store.begin().await?;
    let rows = store::throttle::rows(tx.conn(), account, [&here, "*", &known]).await?;
    let count = |src: &str| {
        rows.iter()
            .find(|r| r.source == src)
            .map_or(0, |r| r.failures)
            + 1
    };
    let (n_here, n_all) = (count(&here), count("*"));
    let t = &s.throttle;
    store::throttle::put(
        tx.conn(),
        account,
        &here,
        n_here,
        now + t.delay_ms(n_here, cfg.account_free_failures),
        now,
    )
    .await?;
    store::throttle::put(
        tx.conn(),
        account,
        "*",
        n_all,
        now + t.delay_ms(n_all, cfg.account_wide_free_failures),
        now,
    )
    .await?;
    tx.commit().await
}

/// After a successful sign-in: the back-off ends, and the address becomes known.
pub async fn account_succeeded(s: &AppState, account: &str, ip: Option<IpAddr>) -> Result<()> {
    let (here, known) = sources(ip);
    let now = s.now_ms();
    let mut tx = s.store.begin().await?;
    store::throttle::clear(tx.conn(), account, [&here, "*"]).await?;
    store::throttle::put(tx.conn(), account, &known, 0, 0, now).await?;
    tx.commit().await
}
