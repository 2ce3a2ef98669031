//! Forward auth for reverse proxies: `GET /auth/verify` (nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz` over HTTP, Caddy `forward_auth`).
//!
//! The caller is authenticated by the session cookie or `Authorization: Bearer` (access token).
//! 200 carries identity headers (oauth2-proxy's names by default); 401 for API clients, or 302 to
//! the sign-in page with `rd=` for top-level browser navigations (not for nginx, which needs the
//! 401: its recipe calls `?mode=status`); 403 when `?permission=` (or a per-host rule) is not held.
//!
//! Hot path: the caller is verified by `auth::authenticate`, whose cache answers a known
//! credential without a database query or a signature check; a request answered from it is
//! decided before any routing (`answer_from_cache`). Any revocation, status, role or
//! membership change moves an epoch: at once on the replica that made it, within the poll
//! interval on the others (LISTEN/NOTIFY: at once).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::authenticate::{self, Credential, Scope};
use crate::auth::verified::Verified;
use crate::domain::PermissionPattern;
use crate::error::Error;
use crate::http::openapi::ErrorBody;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// A permission the caller must hold (`users:read`): in the rule's tenant, else in
    /// `tenant`, which is then required.
    pub permission: Option<String>,
    /// Without a rule for the host: the tenant (slug) the request is decided in.
    pub tenant: Option<String>,
    /// `status`: never redirect, answer 401 (nginx `auth_request`).
    pub mode: Option<String>,
    /// Where to send the browser after sign-in (checked against the allow-list).
    pub rd: Option<String>,
}

/// Forward auth for reverse proxies: may this request pass, and as whom?
///
/// The proxy sends the browser's session cookie, or `Authorization: Bearer` with an access
/// token whose audience is the upstream's (only for hosts with a forward_auth rule naming an
/// audience; API tokens are never accepted here). The request is decided in the tenant of the
/// forward_auth rule matching `X-Forwarded-Host` and `X-Forwarded-Uri` (read from trusted
/// proxies only), else in `tenant`, else in the caller's current tenant. 200 carries the
/// identity headers (oauth2-proxy's names by default, `forward_auth.*_header`), and with
/// `forward_auth.pass_access_token` a fresh access token for the upstream. Every answer has
/// `Cache-Control: no-store` and `Vary: Cookie, Authorization`.
///
/// Permission: membership of the tenant (platform administrators pass everywhere), plus the
/// rule's `permission` and `permission` when given.
#[utoipa::path(get, path = "/auth/verify", tag = "tokens",
    params(
        VerifyParams,
        ("X-Forwarded-Host" = Option<String>, Header, description = "The original host, from a trusted proxy (else `Host`)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The original path and query, from a trusted proxy: picks the forward_auth rule and the return address"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "The original scheme, from a trusted proxy (default `https`)"),
    ),
    responses(
        (status = 200, description = "The caller may pass: the identity headers of the user (those whose value is a valid header value)",
            headers(
                ("X-Auth-Request-User" = String, description = "The user's id (`forward_auth.user_header`)"),
                ("X-Auth-Request-Email" = String, description = "The user's email (`forward_auth.email_header`)"),
                ("X-Auth-Request-Tenant" = String, description = "The tenant's slug (`forward_auth.tenant_header`)"),
                ("X-Auth-Request-Roles" = String, description = "The user's roles in the tenant, comma-separated (`forward_auth.roles_header`)"),
                ("X-Auth-Request-Groups" = String, description = "The user's groups in the tenant, comma-separated (`forward_auth.groups_header`)"),
                ("Authorization" = String, description = "With `forward_auth.pass_access_token`: `Bearer` and an access token for the upstream's audience"),
            )),
        (status = 302, description = "No valid credential, on a top-level browser navigation (`Sec-Fetch-Mode: navigate` or `Accept: text/html`) without `mode=status`: to the sign-in page, with `rd` when the return address is allowed",
            headers(("Location" = String))),
        (status = 400, description = "`tenant_required`: `permission` without a rule for the host needs `tenant`; `invalid_permission`; or (as text) the query does not parse",
            content(
                (ErrorBody = "application/json"),
                (String = "text/plain"),
            )),
        (status = 401, description = "No valid credential, for an API client or with `mode=status` (with `WWW-Authenticate: Bearer realm=\"idbridge\"`)", body = ErrorBody),
        (status = 403, description = "`not_a_member`, `tenant_suspended`, `password_login_disabled`: the tenant signs in with SSO only, `tenant_unknown`: the rule's tenant does not exist, `permission_denied`", body = ErrorBody),
    ))]
pub async fn verify(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<VerifyParams>,
    // The whole request, to borrow its headers: the `HeaderMap` extractor would clone them all.
    req: axum::extract::Request,
) -> Response {
    finish(match decide(&s, peer, &q, req.headers()).await {
        Ok(r) => r,
        Err(e) => crate::http::ApiError(e).into_response(),
    })
}

/// The hot path without a future: the answer for a caller whose credential is in the cache and
/// still current, or `None` when the full path must run (cache miss, stale entry, no
/// credential, unreadable query). Called by the server's dispatch before any routing.
pub fn answer_from_cache(
    s: &AppState,
    peer: SocketAddr,
    req: &axum::extract::Request,
) -> Option<(Response, Option<std::sync::Arc<Verified>>)> {
    let headers = req.headers();
    let q = match req.uri().query() {
        None => VerifyParams::default(),
        Some(_) => Query::<VerifyParams>::try_from_uri(req.uri()).ok()?.0,
    };
    let host = forwarded_host(s, peer, headers);
    let t = target(s, &q, host, forwarded(s, peer, headers, "x-forwarded-uri")).ok()?;
    let key = credential(s, headers, &t)?.key(t.scope());
    let now = s.now_ms();
    let answer = s.verified.with(&key, |v| {
        authenticate::current(s, v, now).then(|| respond(s, &t, host, v))
    })?;
    Some((
        finish(match answer {
            Ok(r) => r,
            Err(e) => crate::http::ApiError(e).into_response(),
        }),
        None,
    ))
}

/// Headers every answer carries: never cached by the proxy, and it varies by credential.
fn finish(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    resp
}

/// `X-Forwarded-*` only from trusted proxies.
fn forwarded<'h>(
    s: &AppState,
    peer: SocketAddr,
    headers: &'h HeaderMap,
    name: &str,
) -> Option<&'h str> {
    crate::http::client::forwarded(s, peer.ip(), headers, name)
}

fn forwarded_host<'h>(s: &AppState, peer: SocketAddr, headers: &'h HeaderMap) -> &'h str {
    forwarded(s, peer, headers, "x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// What a request is decided on: the rule's (or `?tenant=`'s) tenant, the permissions to hold
/// there, and the upstream's audience.
pub struct Target<'a> {
    /// Tenant slug; `None`: the caller's current tenant.
    tenant: Option<&'a str>,
    permissions: [Option<&'a str>; 2],
    /// The rule's audience: bearer tokens are accepted only with it.
    audience: Option<&'a str>,
}

impl Target<'_> {
    fn scope(&self) -> Scope<'_> {
        Scope {
            tenant: self.tenant,
            audience: self.audience,
        }
    }
}

fn target<'a>(
    s: &'a AppState,
    q: &'a VerifyParams,
    host: &str,
    uri: Option<&str>,
) -> Result<Target<'a>, Error> {
    let path = uri
        .map(|u| u.split(['?', '#']).next().unwrap_or(u))
        .unwrap_or("/");
    match s.settings.forward_auth.rule_for(host, path) {
        Some(r) => Ok(Target {
            tenant: Some(&r.tenant),
            permissions: [r.permission.as_deref(), q.permission.as_deref()],
            audience: r.audience.as_deref(),
        }),
        None => {
            let tenant = q.tenant.as_deref().filter(|t| !t.is_empty());
            if q.permission.is_some() && tenant.is_none() {
                return Err(Error::invalid_field(
                    "tenant_required",
                    "tenant",
                    "`permission` needs the tenant it is held in: add `&tenant=<slug>`, or a forward_auth rule for this host",
                ));
            }
            Ok(Target {
                tenant,
                permissions: [q.permission.as_deref(), None],
                audience: None,
            })
        }
    }
}

async fn decide(
    s: &AppState,
    peer: SocketAddr,
    q: &VerifyParams,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let host = forwarded_host(s, peer, headers);
    let t = target(s, q, host, forwarded(s, peer, headers, "x-forwarded-uri"))?;
    let denied = || {
        unauthenticated(
            s,
            q,
            headers,
            forwarded(s, peer, headers, "x-forwarded-proto"),
            host,
            forwarded(s, peer, headers, "x-forwarded-uri"),
        )
    };
    let Some(credential) = credential(s, headers, &t) else {
        return Ok(denied());
    };
    match authenticate::verified(s, credential, t.scope()).await {
        Ok(v) => respond(s, &t, host, &v),
        Err(Error::Unauthenticated) => Ok(denied()),
        Err(e) => Err(e),
    }
}

/// The answer for a verified caller: 403 when they may not pass in the tenant or lack a wanted
/// permission, else 200 with the identity headers (and a fresh access token when configured).
fn respond(s: &AppState, t: &Target<'_>, host: &str, v: &Verified) -> Result<Response, Error> {
    if let Some((code, message)) = &v.deny {
        return Err(Error::forbidden(*code, message.clone()));
    }
    for p in t.permissions.iter().flatten() {
        let p = PermissionPattern::parse(p)?;
        if !v.compiled.decide(&p).allowed {
            return Err(Error::missing_permission(&p.to_string()));
        }
    }
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.reserve(8);
    for (i, name) in s.verified.names.iter().enumerate() {
        if let (Some(n), Some(value)) = (name, v.header(i)) {
            h.insert(n.clone(), value);
        }
    }
    if let Some(prefix) = &v.claims_prefix
        && let Ok(value) = mint_from_prefix(s, prefix, t.audience, host)
    {
        h.insert(header::AUTHORIZATION, value);
    }
    Ok(resp)
}

/// `Authorization: Bearer` with a fresh access token from the cached claims: only the times and
/// `jti` are new, so minting costs one signature, about 120 bytes of base64 and no database
/// query. The token is built in the header value's own buffer.
fn mint_from_prefix(
    s: &AppState,
    prefix_b64: &str,
    audience: Option<&str>,
    host: &str,
) -> Result<HeaderValue, Error> {
    use base64::Engine;
    let tail = claims_tail(
        &upstream_audience(audience, host),
        s.clock.now_secs(),
        s.settings.session.access_token_ttl_secs,
    );
    let key = s.keys.signing_key()?;
    let header = key.header_b64("at+jwt");
    const BEARER: &str = "Bearer ";
    let mut out = String::with_capacity(
        BEARER.len() + header.len() + prefix_b64.len() + tail.len() * 2 + 100,
    );
    out.push_str(BEARER);
    out.push_str(&header);
    out.push('.');
    out.push_str(prefix_b64);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(tail.as_bytes(), &mut out);
    crate::engine::jwt::append_signature(&key, &mut out, BEARER.len())?;
    HeaderValue::try_from(out).map_err(Error::internal)
}

/// The audience of a token passed upstream: the rule's, else `https://<host>` (never idbridge's
/// own API audience, so it cannot be replayed against `/api`).
fn upstream_audience(rule: Option<&str>, host: &str) -> String {
    match rule {
        Some(a) => a.to_string(),
        None => format!("https://{}", host.split(':').next().unwrap_or(host)),
    }
}

/// The rest of a token's claims after `claims_prefix`: the audience, the times, a new `jti` and
/// the brace.
fn claims_tail(aud: &str, now: i64, ttl_secs: i64) -> String {
    use std::fmt::Write;
    let mut tail = String::with_capacity(160);
    tail.push_str(",\"aud\":");
    tail.push_str(&serde_json::Value::String(aud.to_string()).to_string());
    let _ = write!(
        tail,
        ",\"exp\":{},\"iat\":{now},\"nbf\":{now},\"jti\":\"",
        now + ttl_secs,
    );
    crate::crypto::push_unique_id(&mut tail);
    tail.push_str("\"}");
    tail
}

/// The credential forward auth takes: the bearer token (only for a rule naming the upstream's
/// audience: never idbridge's API tokens or integration tokens), else the session cookie. An
/// `Authorization` header that is not one forward auth takes is no credential (401 or 302).
fn credential<'a>(s: &AppState, headers: &'a HeaderMap, t: &Target<'_>) -> Option<Credential<'a>> {
    match Credential::of(s, headers) {
        Ok(Some(Credential::Bearer(token))) => (t.audience.is_some() && !token.starts_with("idb_"))
            .then_some(Credential::Bearer(token)),
        Ok(c) => c,
        Err(_) => None,
    }
}

/// 302 to sign-in for a browser navigation (unless `mode=status`), else 401.
fn unauthenticated(
    s: &AppState,
    q: &VerifyParams,
    headers: &HeaderMap,
    proto: Option<&str>,
    host: &str,
    uri: Option<&str>,
) -> Response {
    let navigation = headers
        .get("sec-fetch-mode")
        .is_some_and(|v| v == "navigate")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if q.mode.as_deref() == Some("status") || !navigation {
        return crate::http::ApiError(Error::Unauthenticated).into_response();
    }
    let wanted =
        q.rd.clone()
            .or_else(|| uri.map(|u| format!("{}://{}{}", proto.unwrap_or("https"), host, u)));
    let target = wanted.filter(|rd| s.settings.forward_auth.redirect_allowed(rd, &s.public_url));
    let mut login = format!("{}/login", s.public_url);
    if let Some(rd) = target {
        login.push_str("?rd=");
        login.push_str(&crate::engine::url::url_encode(&rd));
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&login) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::claims_tail;
    use crate::auth::verified::claims_prefix;
    use crate::engine::jwt::AccessClaims;

    /// Names of every length modulo 3: the encoded prefix followed by the encoded tail must
    /// decode to the whole claims set, with only the audience, the times and `jti` new.
    #[test]
    fn encoded_prefix_and_tail_make_the_whole_payload() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for name in ["A", "Ad", "Ada", "Ada L", "Ada Lo"] {
            let claims = AccessClaims {
                iss: "https://id.example.com".into(),
                sub: "u1".into(),
                aud: "idbridge".into(),
                exp: 0,
                iat: 0,
                nbf: 0,
                jti: String::new(),
                sid: "s1".into(),
                tid: "t1".into(),
                tenant: "acme".into(),
                email: "ada@example.com".into(),
                name: name.into(),
                roles: vec!["admin".into()],
                permissions: Some(vec!["users:read".into()]),
                client_id: None,
                scope: None,
            };
            let prefix = claims_prefix(&claims).unwrap();
            let tail = claims_tail("https://app.example.com", 1_000, 600);
            let payload = format!("{prefix}{}", b64.encode(tail.as_bytes()));
            let decoded: AccessClaims =
                serde_json::from_slice(&b64.decode(&payload).unwrap()).unwrap();
            assert_eq!(
                (decoded.exp, decoded.iat, decoded.nbf),
                (1_600, 1_000, 1_000)
            );
            assert_eq!(decoded.jti.len(), 40);
            assert_eq!(
                decoded.aud, "https://app.example.com",
                "the upstream's audience"
            );
            assert_eq!(
                decoded,
                AccessClaims {
                    aud: "https://app.example.com".into(),
                    exp: 1_600,
                    iat: 1_000,
                    nbf: 1_000,
                    jti: decoded.jti.clone(),
                    ..claims
                }
            );
        }
    }

    #[test]
    fn each_tail_has_a_new_jti() {
        assert_ne!(claims_tail("a", 1, 1), claims_tail("a", 1, 1));
    }
}
