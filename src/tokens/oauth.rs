//! idbridge as an OAuth 2.0 authorization server for apps: client registration
//! (`/api/oauth-clients`), the token endpoint (RFC 6749 §4.4 `client_credentials`),
//! introspection (RFC 7662) and revocation (RFC 7009). Errors at `/oauth2/*` follow RFC 6749 §5.2.
//!
//! The browser side (authorize, code exchange, refresh, userinfo, logout, discovery) is in
//! `provider/`; back-channel logout in `backchannel.rs`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::protocol::{OAuthError, OAuthErrorBody, OAuthForm, TokenResponse};
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::crypto;
use crate::domain::new_id;
use crate::engine::jwt;
use crate::error::{Error, Result};
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, ClientInfo, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, oauth::ClientRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_h, create_h))
        .routes(routes!(get_h, patch_h, delete_h))
        .routes(routes!(token_h))
        .routes(routes!(introspect_h))
        .routes(routes!(revoke_h))
}

const GRANTS: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

// ---------------------------------------------------------------------------------------------
// Client registration

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    /// 1-100 characters.
    pub name: String,
    /// Exact redirect URIs: absolute https (http only on 127.0.0.1, localhost or [::1]), no
    /// fragment, no wildcard. At least one for `authorization_code`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A confidential client gets a secret (default `true`); a public one (SPA, native app)
    /// authenticates with its id alone and must use PKCE.
    #[serde(default = "yes")]
    pub confidential: bool,
    /// Of `authorization_code`, `refresh_token`, `client_credentials` (confidential clients
    /// only); default: `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// The scopes the client may ask for; default: `openid`, `profile`, `email`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Where RP-initiated logout may send the browser back to (the same rules as
    /// `redirect_uris`).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect back-channel logout: idbridge posts a logout token here when a session
    /// ends. It must not point to a private address.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// A client of every tenant (platform admins only).
    #[serde(default)]
    pub global: bool,
    /// Signs users in without a consent screen (platform admins only: a first-party app of
    /// the deployment).
    #[serde(default)]
    pub first_party: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// `null` for a global client (of every tenant).
    pub tenant_id: Option<String>,
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Signs users in without a consent screen.
    pub first_party: bool,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Only in the response that created a confidential client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<ClientRow> for ClientView {
    fn from(r: ClientRow) -> Self {
        Self {
            redirect_uris: r.redirect_uris.to_vec(),
            post_logout_redirect_uris: r.post_logout_redirect_uris.to_vec(),
            grant_types: r.grant_types.to_vec(),
            scopes: r.scopes.to_vec(),
            client_id: r.id,
            name: r.name,
            tenant_id: r.tenant_id,
            confidential: r.confidential,
            backchannel_logout_uri: r.backchannel_logout_uri,
            first_party: r.first_party,
            created_at: r.created_at,
            client_secret: None,
        }
    }
}

/// Redirect URIs are compared exactly, so they must be exact: absolute, https (http only on a
/// loopback host), no fragment, no wildcards.
fn check_uri(uri: &str, field: &'static str) -> Result<()> {
    let bad = |m: &str| {
        Err(Error::invalid_field(
            "invalid_redirect_uri",
            field,
            format!("`{uri}`: {m}"),
        ))
    };
    if uri.len() > 2048 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("not a URL");
    }
    if uri.contains('#') || uri.contains('*') {
        return bad("no fragments or wildcards: redirect URIs match exactly");
    }
    let rest = if let Some(r) = uri.strip_prefix("https://") {
        r
    } else if let Some(r) = uri.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return bad("must be https (http only for 127.0.0.1, localhost or [::1])");
        }
        r
    } else {
        return bad("must be an absolute https URL");
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return bad("needs a host and no user info");
    }
    Ok(())
}

fn check_scope_token(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "invalid_scope",
            "scopes",
            format!("`{s}` is not a scope token"),
        ))
    }
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateClient,
) -> Result<ClientView> {
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid_field(
            "invalid_name",
            "name",
            "name must be 1-100 characters",
        ));
    }
    let grants = req
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if grants.is_empty() {
        return Err(Error::invalid_field(
            "invalid_grant_types",
            "grant_types",
            "give at least one grant type",
        ));
    }
    for g in &grants {
        if !GRANTS.contains(&g.as_str()) {
            return Err(Error::invalid_field(
                "invalid_grant_types",
                "grant_types",
                format!("`{g}` is not one of {}", GRANTS.join(", ")),
            ));
        }
    }
    if grants.iter().any(|g| g == "client_credentials") && !req.confidential {
        return Err(Error::invalid_field(
            "invalid_grant_types",
            "grant_types",
            "client_credentials needs a confidential client",
        ));
    }
    if grants.iter().any(|g| g == "authorization_code") && req.redirect_uris.is_empty() {
        return Err(Error::invalid_field(
            "invalid_redirect_uri",
            "redirect_uris",
            "authorization_code needs at least one redirect URI",
        ));
    }
    for u in &req.redirect_uris {
        check_uri(u, "redirect_uris")?;
    }
    for u in &req.post_logout_redirect_uris {
        check_uri(u, "post_logout_redirect_uris")?;
    }
    if let Some(u) = &req.backchannel_logout_uri {
        check_uri(u, "backchannel_logout_uri")?;
        // idbridge calls this one itself: the outbound rule applies (no private addresses).
        crate::sso::connection::check_fetch_url(state, "backchannel_logout_uri", u)?;
    }
    let scopes = req
        .scopes
        .clone()
        .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
    for s in &scopes {
        check_scope_token(s)?;
    }
    if req.first_party && !p.is_platform_admin() {
        return Err(Error::forbidden(
            "platform_admin_required",
            "only platform administrators mark a client first-party (no consent screen)",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let tenant_id = if req.global {
        if !p.is_platform_admin() {
            return Err(Error::forbidden(
                "platform_admin_required",
                "only platform administrators register global clients",
            ));
        }
        None
    } else {
        let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
        rbac::require(state, &mut tx, p, &t, "clients:manage").await?;
        Some(t.id)
    };
    let secret = req.confidential.then(|| crypto::new_token(""));
    let row = ClientRow {
        id: format!("idb-{}", crypto::hex(&crypto::random_bytes::<12>())),
        tenant_id,
        name,
        secret_hash: secret.as_deref().map(crypto::token_hash),
        confidential: req.confidential,
        redirect_uris: req.redirect_uris.clone().into(),
        post_logout_redirect_uris: req.post_logout_redirect_uris.clone().into(),
        grant_types: grants.clone().into(),
        scopes: scopes.clone().into(),
        backchannel_logout_uri: req.backchannel_logout_uri.clone(),
        created_by: p.user_id().map(str::to_string),
        created_at: now,
        updated_at: now,
        first_party: req.first_party,
    };
    store::oauth::insert(tx.conn(), &row).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: row.tenant_id.as_deref(),
            action: "oauth_client.create",
            target_type: "oauth_client",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"name": row.name, "grant_types": grants, "redirect_uris": req.redirect_uris})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut v = ClientView::from(row);
    v.client_secret = secret;
    Ok(v)
}

/// A client the caller may manage: of their tenant (with `clients:manage`), or global for
/// platform admins. Others are 404.
async fn load_managed(
    state: &AppState,
    p: &Principal,
    id: &str,
    tenant: Option<&str>,
) -> Result<(ClientRow, crate::store::Tx)> {
    let mut tx = state.store.begin().await?;
    let row = store::oauth::get(tx.conn(), id)
        .await?
        .ok_or(Error::NotFound("client"))?;
    match &row.tenant_id {
        None if p.is_platform_admin() => {}
        None => return Err(Error::NotFound("client")),
        Some(tid) => {
            let t = rbac::tenant_for(&mut tx, p, tenant).await?;
            if &t.id != tid {
                return Err(Error::NotFound("client"));
            }
            rbac::require(state, &mut tx, p, &t, "clients:manage").await?;
        }
    }
    Ok((row, tx))
}

pub async fn list(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<ClientView>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &t, "clients:manage").await?;
    let mut rows = store::oauth::list(tx.conn(), Some(&t.id)).await?;
    if p.is_platform_admin() {
        rows.extend(store::oauth::list(tx.conn(), None).await?);
    }
    Ok(rows.into_iter().map(ClientView::from).collect())
}

pub async fn delete(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<()> {
    let (row, mut tx) = load_managed(state, p, id, tenant).await?;
    store::oauth::delete(tx.conn(), &row.id).await?;
    audit::record(
        tx.conn(),
        state.now_ms(),
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: row.tenant_id.as_deref(),
            action: "oauth_client.delete",
            target_type: "oauth_client",
            target_id: Some(&row.id),
            before: Some(json!({"name": row.name})),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

// ---------------------------------------------------------------------------------------------
// /oauth2/*: RFC 6749 errors and client authentication

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'%' => return None,
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Authenticates the client: `client_secret_basic`, `client_secret_post`, or `none` (public
/// clients, client id only). Secrets compare in constant time (as SHA-256 digests).
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    addr: Option<std::net::IpAddr>,
    form: &OAuthForm,
) -> Result<ClientRow, OAuthError> {
    state.throttle.client_auth_allowed(addr, &state.metrics)?;
    let out = authenticate_client_once(state, headers, form).await;
    if matches!(&out, Err(e) if e.error == "invalid_client") {
        state.throttle.client_auth_failed(addr);
    }
    out
}

async fn authenticate_client_once(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<ClientRow, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let (id, secret, via_basic) = match basic {
        Some(b) => {
            let raw = STANDARD
                .decode(b.trim())
                .map_err(|_| OAuthError::invalid_client(true))?;
            let text = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client(true))?;
            let (id, secret) = text
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let id = percent_decode(id).ok_or_else(|| OAuthError::invalid_client(true))?;
            let secret = percent_decode(secret).ok_or_else(|| OAuthError::invalid_client(true))?;
            if form.client_secret.is_some() {
                return Err(OAuthError::new(
                    "invalid_request",
                    "use one client authentication method, not two",
                ));
            }
            (id, Some(secret), true)
        }
        None => (
            form.client_id
                .clone()
                .ok_or_else(|| OAuthError::invalid_client(false))?,
            form.client_secret.clone(),
            false,
        ),
    };
    let row = {
        let mut c = state.store.acquire().await?;
        store::oauth::get(c.conn(), &id).await?
    };
    // Hash even when the client is unknown, so timing says nothing about which ids exist.
    let presented = crypto::token_hash(secret.as_deref().unwrap_or(""));
    let Some(row) = row else {
        return Err(OAuthError::invalid_client(via_basic));
    };
    let ok = match (&row.secret_hash, &secret) {
        (Some(stored), Some(_)) => crypto::ct_eq(stored.as_bytes(), presented.as_bytes()),
        (None, None) => !row.confidential,
        _ => false,
    };
    if ok {
        Ok(row)
    } else {
        Err(OAuthError::invalid_client(via_basic))
    }
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

/// Claims of a `client_credentials` access token (RFC 9068): the subject is the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

impl jwt::HasTimes for ClientClaims {
    fn times(&self) -> (i64, i64) {
        (self.exp, self.nbf)
    }
}

/// The token endpoint (RFC 6749 §3.2): `client_credentials` (§4.4), `authorization_code`
/// with PKCE (§4.1.3, RFC 7636) and `refresh_token` (§6, rotating: a spent refresh token
/// presented again revokes its whole family).
///
/// The client authenticates with HTTP Basic (`client_secret_basic`), with `client_id` and
/// `client_secret` form fields (`client_secret_post`), or, for a public client, with
/// `client_id` alone. Repeated failed client authentications from one address are refused for
/// a while (429).
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth",
    security(("client_credentials" = []), ()),
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, description = "`invalid_request` (no `grant_type`, `code` or `refresh_token`; two client authentication methods), `invalid_grant` (unknown, expired or used code or refresh token; `redirect_uri` or `code_verifier` mismatch; the session ended), `unauthorized_client` (the grant type is not the client's), `invalid_scope`, `unsupported_grant_type`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: client authentication failed (with `WWW-Authenticate: Basic` when it came as HTTP Basic)", body = OAuthErrorBody),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse (a field given twice)", content_type = "text/plain", body = String),
        (status = 429, description = "`temporarily_unavailable`: too many failed client authentications from this address; `Retry-After` says when to try again", body = OAuthErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn token_h(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Form(form): Form<OAuthForm>,
) -> Response {
    match token(&s, &headers, client.addr, form).await {
        Ok(body) => {
            let mut resp = Json(body).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn token(
    s: &AppState,
    headers: &HeaderMap,
    addr: Option<std::net::IpAddr>,
    form: OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let grant = form
        .grant_type
        .clone()
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
    let client = authenticate_client(s, headers, addr, &form).await?;
    let allowed = &client.grant_types;
    match grant.as_str() {
        "client_credentials" => {
            if !client.confidential || !allowed.iter().any(|g| g == "client_credentials") {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "this client may not use client_credentials",
                ));
            }
            let allowed_scopes = &client.scopes;
            let scopes: Vec<String> = match form
                .scope
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                None => allowed_scopes.to_vec(),
                Some(asked) => asked
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            };
            if let Some(bad) = scopes.iter().find(|s| !allowed_scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("scope `{bad}` is not allowed for this client"),
                ));
            }
            let now = s.clock.now_secs();
            let ttl = s.settings.session.access_token_ttl_secs;
            let claims = ClientClaims {
                iss: s.public_url.clone(),
                sub: client.id.clone(),
                // Issued to the client: never idbridge's own API audience.
                aud: client.id.clone(),
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti: new_id(),
                client_id: client.id.clone(),
                scope: scopes.join(" "),
                tid: client.tenant_id.clone(),
            };
            let access_token = jwt::mint_any(&s.keys, &claims)?;
            Ok(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: ttl,
                scope: claims.scope,
                id_token: None,
                refresh_token: None,
            })
        }
        "authorization_code" => super::provider::exchange_code(s, &client, &form).await,
        "refresh_token" => {
            if !allowed.iter().any(|g| g == "refresh_token") {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "this client may not use refresh tokens",
                ));
            }
            super::provider::refresh(s, &client, &form).await
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("`{other}` is not a supported grant type"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection (RFC 7662) and revocation (RFC 7009)

/// What a token turned out to be.
enum Inspected {
    User(jwt::AccessClaims),
    Client(ClientClaims),
}

/// Verifies a token of either kind; `None` for anything not currently valid.
async fn inspect(s: &AppState, token: &str) -> Result<Option<Inspected>> {
    let Ok((kid, _)) = jwt::peek(token) else {
        return Ok(None);
    };
    let Some(key) = s.keys.verifying_key(&kid) else {
        return Ok(None);
    };
    let now = s.clock.now_secs();
    // A user token is active while its session is (verified once, session checked).
    if let Ok((_, c)) = crate::auth::authenticate::authenticate_access_token(
        s,
        token,
        crate::auth::authenticate::Audience::AnyOfOurs,
    )
    .await
    {
        return Ok(Some(Inspected::User(c)));
    }
    let Ok(c) = jwt::verify_generic::<ClientClaims>(&key, token, &s.public_url, None, now) else {
        return Ok(None);
    };
    if c.aud != c.client_id {
        return Ok(None);
    }
    let mut conn = s.store.acquire().await?;
    if store::oauth::is_revoked(conn.conn(), &c.jti).await?
        || store::oauth::get(conn.conn(), &c.client_id)
            .await?
            .is_none()
    {
        return Ok(None);
    }
    Ok(Some(Inspected::Client(c)))
}

/// An introspection answer (RFC 7662 §2.2). A token that is not valid now, or that belongs to
/// another tenant than the client's, is `{"active": false}` alone.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The user (user tokens) or the client (`client_credentials` tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// User tokens: the user's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `client_credentials` tokens: the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `client_credentials` tokens: the granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// User tokens: the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// User tokens: the tenant's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// User tokens: the tenant's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// User tokens: the user's roles in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// Token introspection (RFC 7662): whether an access token is valid now, and its claims.
///
/// For confidential clients only, authenticated like at the token endpoint. A tenant's client
/// learns only about tokens of its own tenant; a global client about every token.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth",
    security(("client_credentials" = []), ()),
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = Introspection, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (no `token`; two client authentication methods), `unauthorized_client` (a public client)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: client authentication failed (with `WWW-Authenticate: Basic` when it came as HTTP Basic)", body = OAuthErrorBody),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse (a field given twice)", content_type = "text/plain", body = String),
        (status = 429, description = "`temporarily_unavailable`: too many failed client authentications from this address; `Retry-After` says when to try again", body = OAuthErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn introspect_h(
    State(s): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<OAuthForm>,
) -> Response {
    let result: Result<Introspection, OAuthError> = async {
        let client = authenticate_client(&s, &headers, info.addr, &form).await?;
        if !client.confidential {
            return Err(OAuthError::new(
                "unauthorized_client",
                "only confidential clients may introspect",
            ));
        }
        let token = form
            .token
            .clone()
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        // A tenant's client only learns about tokens of its own tenant.
        let visible =
            |tid: Option<&str>| client.tenant_id.is_none() || client.tenant_id.as_deref() == tid;
        Ok(match inspect(&s, &token).await? {
            Some(Inspected::User(c)) if visible(Some(&c.tid)) => Introspection {
                active: true,
                token_type: Some("Bearer"),
                sub: Some(c.sub),
                username: Some(c.email),
                exp: Some(c.exp),
                iat: Some(c.iat),
                nbf: Some(c.nbf),
                iss: Some(c.iss),
                aud: Some(c.aud),
                jti: Some(c.jti),
                sid: Some(c.sid),
                tid: Some(c.tid),
                tenant: Some(c.tenant),
                roles: Some(c.roles),
                ..Introspection::default()
            },
            Some(Inspected::Client(c)) if visible(c.tid.as_deref()) => Introspection {
                active: true,
                token_type: Some("Bearer"),
                sub: Some(c.sub),
                client_id: Some(c.client_id),
                scope: Some(c.scope),
                exp: Some(c.exp),
                iat: Some(c.iat),
                nbf: Some(c.nbf),
                iss: Some(c.iss),
                aud: Some(c.aud),
                jti: Some(c.jti),
                ..Introspection::default()
            },
            _ => Introspection::default(),
        })
    }
    .await;
    match result {
        Ok(body) => {
            let mut resp = Json(body).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// Token revocation (RFC 7009): ends an access token before it expires.
///
/// Always 200 for a well-authenticated client (RFC 7009 §2.2), whether or not the token was
/// valid. A client revokes its own `client_credentials` tokens; a tenant's client the user
/// tokens of its tenant, a global client any user token.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth",
    security(("client_credentials" = []), ()),
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (empty body)"),
        (status = 400, description = "`invalid_request` (no `token`; two client authentication methods)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: client authentication failed (with `WWW-Authenticate: Basic` when it came as HTTP Basic)", body = OAuthErrorBody),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse (a field given twice)", content_type = "text/plain", body = String),
        (status = 429, description = "`temporarily_unavailable`: too many failed client authentications from this address; `Retry-After` says when to try again", body = OAuthErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn revoke_h(
    State(s): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<OAuthForm>,
) -> Response {
    let result: Result<(), OAuthError> = async {
        let client = authenticate_client(&s, &headers, info.addr, &form).await?;
        let token = form
            .token
            .clone()
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        let (jti, exp) = match inspect(&s, &token).await? {
            Some(Inspected::Client(c)) if c.client_id == client.id => (c.jti, c.exp),
            Some(Inspected::User(c))
                if client.tenant_id.is_none() || client.tenant_id.as_deref() == Some(&c.tid) =>
            {
                (c.jti, c.exp)
            }
            _ => return Ok(()),
        };
        let mut tx = s.store.begin().await?;
        store::oauth::revoke_jti(tx.conn(), &jti, exp * 1000 + 60_000).await?;
        tx.bump(store::Counter::Auth).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// /api/oauth-clients handlers

/// The tenant's OAuth clients (for platform administrators, the global clients too), without
/// secrets.
///
/// Permission: `clients:manage` in the tenant.
#[utoipa::path(get, path = "/api/oauth-clients", tag = "oauth", params(TenantParam),
    responses(
        (status = 200, body = Page<ClientView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<ClientView>>> {
    Ok(Json(Page::all(list(&s, &p, q.tenant.as_deref()).await?)))
}

/// Registers an OAuth client of the tenant (or a global one); a confidential client's secret is
/// in this response only.
///
/// Permission: `clients:manage` in the tenant; a `global` or `first_party` client: platform
/// administrators only.
#[utoipa::path(post, path = "/api/oauth-clients", tag = "oauth", request_body = CreateClient,
    responses(
        (status = 201, body = ClientView),
        (status = 400, description = "`invalid_name`, `invalid_grant_types`, `invalid_redirect_uri` (the field named by `field`: `redirect_uris`, `post_logout_redirect_uris`, `backchannel_logout_uri`), `url_refused`: the back-channel logout URI points to an address idbridge does not call, `invalid_scope`", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `platform_admin_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn create_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<CreateClient>,
) -> ApiResult<(StatusCode, Json<ClientView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// One OAuth client, without its secret.
///
/// Permission: `clients:manage` in the client's tenant; a global client: platform
/// administrators only (others get 404).
#[utoipa::path(get, path = "/api/oauth-clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The client's id (`client_id`)"), TenantParam),
    responses(
        (status = 200, body = ClientView),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such client in the tenant, or no such tenant", body = ErrorBody),
    ))]
async fn get_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<ClientView>> {
    let (row, _) = load_managed(&s, &p, &id, q.tenant.as_deref()).await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchClient {
    /// Sign users in without a consent screen.
    pub first_party: bool,
}

/// Marks a client first-party (no consent screen) or not.
///
/// Permission: platform administrators only.
#[utoipa::path(patch, path = "/api/oauth-clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The client's id (`client_id`)"), TenantParam),
    request_body = PatchClient,
    responses(
        (status = 200, body = ClientView),
        (status = 403, description = "`platform_admin_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such client in the tenant, or no such tenant", body = ErrorBody),
    ))]
async fn patch_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
    AppJson(body): AppJson<PatchClient>,
) -> ApiResult<Json<ClientView>> {
    if !p.is_platform_admin() {
        return Err(Error::forbidden(
            "platform_admin_required",
            "only platform administrators mark a client first-party (no consent screen)",
        )
        .into());
    }
    let (mut row, mut tx) = load_managed(&s, &p, &id, q.tenant.as_deref()).await?;
    let now = s.now_ms();
    store::oauth::set_first_party(tx.conn(), &row.id, body.first_party, now).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(&p, rid.0.as_deref()),
        Event {
            tenant_id: row.tenant_id.as_deref(),
            action: "oauth_client.update",
            target_type: "oauth_client",
            target_id: Some(&row.id),
            before: Some(json!({"first_party": row.first_party})),
            after: Some(json!({"first_party": body.first_party})),
        },
    )
    .await?;
    tx.commit().await?;
    row.first_party = body.first_party;
    Ok(Json(row.into()))
}

/// Deletes an OAuth client.
///
/// Permission: `clients:manage` in the client's tenant; a global client: platform
/// administrators only (others get 404).
#[utoipa::path(delete, path = "/api/oauth-clients/{id}", tag = "oauth",
    params(("id" = String, Path, description = "The client's id (`client_id`)"), TenantParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such client in the tenant, or no such tenant", body = ErrorBody),
    ))]
async fn delete_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<StatusCode> {
    delete(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
