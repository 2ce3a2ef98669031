//! Forward auth for reverse proxies: `GET /auth/verify` (nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz` over HTTP, Caddy `forward_auth`).
//!
//! The caller is authenticated by the session cookie or `Authorization: Bearer` (access token).
//! 200 carries identity headers (oauth2-proxy's names by default); 401 for API clients, or 302 to
//! the sign-in page with `rd=` for top-level browser navigations (not for nginx, which needs the
//! 401: its recipe calls `?mode=status`); 403 when `?permission=` (or a per-host rule) is not held.
//!
//! Hot path: a verified session is cached in memory, stamped with the `auth` and `rbac`
//! generations it was verified under. While both are unchanged (see `generations`), a request is
//! answered without a database query or a signature check. Any revocation, status, role or
//! membership change moves a generation and every replica drops its stale entries within the
//! poll interval (LISTEN/NOTIFY: at once).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::principal::Principal;
use crate::domain::PermissionPattern;
use crate::error::Error;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;

/// Bounded cache of verified callers, keyed by the SHA-256 of the credential.
pub struct VerifiedCache {
    map: RwLock<HashMap<CacheKey, Arc<Verified>>>,
    /// The identity header names (user, email, tenant, roles, groups), parsed once.
    names: [Option<HeaderName>; 5],
}

/// The kind of credential (cookie or bearer) and the SHA-256 of its value: no allocation.
pub type CacheKey = [u8; 33];

/// What a verified credential resolved to: only what a 200 needs (about 1 KB with a shared
/// compiled RBAC set; see `benches/cache_memory.rs`).
pub struct Verified {
    pub expires_at_ms: i64,
    pub auth_generation: i64,
    pub rbac_generation: i64,
    /// With `forward_auth.pass_access_token`: the access token's claims, serialized once.
    pub claims_prefix: Option<Box<str>>,
    /// Compiled RBAC for `?permission=` checks.
    pub compiled: Arc<crate::rbac::engine::Compiled>,
    /// The identity header values of a 200 (user id, email, tenant slug, roles, groups), built
    /// once, in the order of the cache's header names.
    pub headers: [Option<HeaderValue>; 5],
}

const MAX_ENTRIES: usize = 200_000;

impl VerifiedCache {
    pub fn new(names: &crate::config::ForwardAuthSettings) -> Self {
        let parse = |n: &str| HeaderName::try_from(n).ok();
        Self {
            map: RwLock::default(),
            names: [
                parse(&names.user_header),
                parse(&names.email_header),
                parse(&names.tenant_header),
                parse(&names.roles_header),
                parse(&names.groups_header),
            ],
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Arc<Verified>> {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Caches a verified caller (public for the memory benchmark, `benches/cache_memory.rs`).
    pub fn put(&self, key: CacheKey, v: Arc<Verified>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                // Cheap bound: drop everything; live callers re-verify once.
                m.clear();
            }
            m.insert(key, v);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.write() {
            m.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct VerifyParams {
    /// A permission the caller must hold in their tenant (`users:read`).
    pub permission: Option<String>,
    /// `status`: never redirect, answer 401 (nginx `auth_request`).
    pub mode: Option<String>,
    /// Where to send the browser after sign-in (checked against the allow-list).
    pub rd: Option<String>,
}

pub async fn verify(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<VerifyParams>,
    // The whole request, to borrow its headers: the `HeaderMap` extractor would clone them all.
    req: axum::extract::Request,
) -> Response {
    let mut resp = match decide(&s, peer, &q, req.headers()).await {
        Ok(r) => r,
        Err(e) => crate::http::ApiError(e).into_response(),
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    resp
}

async fn decide(
    s: &AppState,
    peer: SocketAddr,
    q: &VerifyParams,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let trusted = s.settings.server.trusted_proxies.contains(&peer.ip());
    let forwarded = |name: &str| {
        if trusted {
            headers.get(name).and_then(|v| v.to_str().ok())
        } else {
            None
        }
    };
    let host = forwarded("x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("");
    let Some((key, credential)) = credential(s, headers) else {
        return Ok(unauthenticated(
            s,
            q,
            headers,
            forwarded("x-forwarded-proto"),
            host,
            forwarded("x-forwarded-uri"),
        ));
    };
    let now = s.now_ms();
    let cached = s.verified.get(&key).filter(|v| {
        v.expires_at_ms > now
            && v.auth_generation == s.generations.auth()
            && v.rbac_generation == s.generations.rbac()
    });
    let v = match cached {
        Some(v) => v,
        None => match load(s, credential).await {
            Ok(v) => {
                let v = Arc::new(v);
                s.verified.put(key, v.clone());
                v
            }
            Err(Error::Unauthenticated) => {
                return Ok(unauthenticated(
                    s,
                    q,
                    headers,
                    forwarded("x-forwarded-proto"),
                    host,
                    forwarded("x-forwarded-uri"),
                ));
            }
            Err(e) => return Err(e),
        },
    };
    let wanted = q.permission.clone().or_else(|| {
        s.settings
            .forward_auth
            .permission_for_host(host)
            .map(str::to_string)
    });
    if let Some(p) = wanted {
        let p = PermissionPattern::parse(&p)?;
        if !v.compiled.decide(&p).allowed {
            return Err(Error::missing_permission(&p.to_string()));
        }
    }
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.reserve(8);
    for (name, value) in s.verified.names.iter().zip(&v.headers) {
        if let (Some(n), Some(v)) = (name, value) {
            h.insert(n.clone(), v.clone());
        }
    }
    if let Some(prefix) = &v.claims_prefix
        && let Ok(token) = mint_from_prefix(s, prefix)
        && let Ok(value) = HeaderValue::try_from(format!("Bearer {token}"))
    {
        h.insert(header::AUTHORIZATION, value);
    }
    Ok(resp)
}

/// A fresh access token from the cached claims: only the times and `jti` are new, so minting
/// costs one signature and no database query.
fn mint_from_prefix(s: &AppState, prefix: &str) -> Result<String, Error> {
    use std::fmt::Write;
    let now = s.clock.now_secs();
    let mut payload = String::with_capacity(prefix.len() + 120);
    payload.push_str(prefix);
    let _ = write!(
        payload,
        ",\"exp\":{},\"iat\":{now},\"nbf\":{now},\"jti\":\"{}\"}}",
        now + s.settings.session.access_token_ttl_secs,
        crate::crypto::unique_id()
    );
    crate::tokens::jwt::sign_payload(&s.keys, payload.as_bytes(), "at+jwt")
}

/// The JSON of a user's access-token claims without its closing brace and without `exp`, `iat`,
/// `nbf` and `jti`.
fn claims_prefix(claims: &crate::tokens::jwt::AccessClaims) -> Result<Box<str>, Error> {
    let mut v = serde_json::to_value(claims).map_err(Error::internal)?;
    if let Some(m) = v.as_object_mut() {
        for k in ["exp", "iat", "nbf", "jti"] {
            m.remove(k);
        }
    }
    let mut json = v.to_string();
    json.pop();
    Ok(json.into_boxed_str())
}

/// The credential and its cache key: the bearer token, else the session cookie.
fn credential<'a>(s: &AppState, headers: &'a HeaderMap) -> Option<(CacheKey, Credential<'a>)> {
    let key = |kind: u8, value: &str| {
        let mut k = [0u8; 33];
        k[0] = kind;
        k[1..].copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes()).as_ref(),
        );
        k
    };
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))?
            .trim();
        return Some((key(b'b', token), Credential::Bearer(token)));
    }
    let cookie = crate::auth::service::session_cookie_value(headers, &s.cookie_name)?;
    Some((key(b'c', cookie), Credential::Cookie(cookie)))
}

enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

/// The slow path: the same checks as the API's authentication, plus roles and groups.
async fn load(s: &AppState, credential: Credential<'_>) -> Result<Verified, Error> {
    let auth_generation = s.generations.auth();
    let principal = match credential {
        Credential::Bearer(t) => crate::auth::service::authenticate_bearer(s, t).await?,
        Credential::Cookie(c) => crate::auth::service::authenticate_cookie(s, c).await?,
    };
    let mut tx = s.store.read().await?;
    let tenant = store::tenants::get(tx.conn(), &principal.tenant_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let compiled = rbac::compiled(s, &mut tx, &principal, &tenant).await?;
    let mut prefix = None;
    let (email, expires_at_ms, groups) = match principal.user_id() {
        Some(uid) => {
            let user = store::users::get(tx.conn(), uid)
                .await?
                .ok_or(Error::Unauthenticated)?;
            let groups = store::users::group_names(tx.conn(), uid, &tenant.id).await?;
            let session = store::sessions::auth_by_id(
                tx.conn(),
                principal.session_id.as_deref().unwrap_or_default(),
            )
            .await?
            .ok_or(Error::Unauthenticated)?;
            if s.settings.forward_auth.pass_access_token {
                let claims =
                    crate::auth::service::access_claims_for(s, &mut tx, &principal, &user, &tenant)
                        .await?;
                prefix = Some(claims_prefix(&claims)?);
            }
            (user.email, session.expires_at, groups.join(","))
        }
        None => (String::new(), s.now_ms() + 60_000, String::new()),
    };
    let mut v = Verified::new(
        principal,
        tenant.slug.clone(),
        email,
        groups,
        expires_at_ms,
        auth_generation,
        compiled,
    );
    v.claims_prefix = prefix;
    Ok(v)
}

impl Verified {
    /// Builds the cache entry and its identity headers once.
    pub fn new(
        principal: Principal,
        tenant_slug: String,
        email: String,
        groups: String,
        expires_at_ms: i64,
        auth_generation: i64,
        compiled: Arc<crate::rbac::engine::Compiled>,
    ) -> Self {
        let value = |v: &str| HeaderValue::from_str(v).ok();
        Verified {
            headers: [
                value(principal.user_id().unwrap_or_default()),
                value(&email),
                value(&tenant_slug),
                value(&compiled.roles.join(",")),
                value(&groups),
            ],
            claims_prefix: None,
            expires_at_ms,
            auth_generation,
            rbac_generation: principal.rbac_generation,
            compiled,
        }
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
        login.push_str(&crate::http::extract::url_encode(&rd));
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&login) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
