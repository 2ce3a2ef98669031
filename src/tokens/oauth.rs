//! idbridge as an OAuth 2.0 authorization server for apps: client registration
//! (`/api/oauth-clients`), the token endpoint (RFC 6749 §4.4 `client_credentials`),
//! introspection (RFC 7662) and revocation (RFC 7009). Errors at `/oauth2/*` follow RFC 6749 §5.2.
//!
//! The browser side (authorize, code exchange, refresh, userinfo, logout, discovery) is in
//! `oidc.rs`. Not built yet: back-channel logout.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::jwt;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::crypto;
use crate::domain::new_id;
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppJson, AppQuery, ClientInfo, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, oauth::ClientRow};
use crate::users::service::TenantParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/oauth-clients", get(list_h).post(create_h))
        .route(
            "/api/oauth-clients/{id}",
            get(get_h).patch(patch_h).delete(delete_h),
        )
        .route("/oauth2/token", post(token_h))
        .route("/oauth2/introspect", post(introspect_h))
        .route("/oauth2/revoke", post(revoke_h))
}

const GRANTS: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

// ---------------------------------------------------------------------------------------------
// Client registration

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default = "yes")]
    pub confidential: bool,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
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

#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub tenant_id: Option<String>,
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub first_party: bool,
    #[serde(with = "crate::clock::serde_rfc3339")]
    pub created_at: i64,
    /// Only in the response that created the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A JSON array column as strings (empty when malformed).
pub(crate) fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<ClientRow> for ClientView {
    fn from(r: ClientRow) -> Self {
        Self {
            redirect_uris: list_of(&r.redirect_uris),
            post_logout_redirect_uris: list_of(&r.post_logout_redirect_uris),
            grant_types: list_of(&r.grant_types),
            scopes: list_of(&r.scopes),
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
        crate::sso::connections::check_fetch_url(state, "backchannel_logout_uri", u)?;
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
        redirect_uris: json!(req.redirect_uris).to_string(),
        post_logout_redirect_uris: json!(req.post_logout_redirect_uris).to_string(),
        grant_types: json!(grants).to_string(),
        scopes: json!(scopes).to_string(),
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

/// An RFC 6749 §5.2 error.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
    retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with a code from RFC 6749 §5.2 and a description for the developer.
    pub fn from_parts(error: &'static str, description: &str) -> Self {
        Self::new(error, description)
    }

    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
            retry_after: None,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error at the token endpoint");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "internal error".into(),
                    basic_challenge: false,
                    retry_after: None,
                }
            }
            e @ (Error::RateLimited { .. } | Error::Overloaded) => Self {
                status: if matches!(e, Error::Overloaded) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::TOO_MANY_REQUESTS
                },
                // RFC 6749 has no code for it; `temporarily_unavailable` is the closest (§4.1.2.1).
                error: "temporarily_unavailable",
                retry_after: e.retry_after(),
                description: e.to_string(),
                basic_challenge: false,
            },
            other => Self::new("invalid_request", other.to_string()),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"idbridge\""),
            );
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The form fields every `/oauth2/*` endpoint may carry.
#[derive(Debug, Default, Deserialize)]
pub struct OAuthForm {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

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
) -> Result<serde_json::Value, OAuthError> {
    let grant = form
        .grant_type
        .clone()
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
    let client = authenticate_client(s, headers, addr, &form).await?;
    let allowed: Vec<String> = list_of(&client.grant_types);
    match grant.as_str() {
        "client_credentials" => {
            if !client.confidential || !allowed.iter().any(|g| g == "client_credentials") {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "this client may not use client_credentials",
                ));
            }
            let allowed_scopes = list_of(&client.scopes);
            let scopes: Vec<String> = match form
                .scope
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                None => allowed_scopes.clone(),
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
            Ok(
                json!({"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": claims.scope}),
            )
        }
        "authorization_code" => super::oidc::exchange_code(s, &client, &form).await,
        "refresh_token" => {
            if !allowed.iter().any(|g| g == "refresh_token") {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "this client may not use refresh tokens",
                ));
            }
            super::oidc::refresh(s, &client, &form).await
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
    if let Ok((_, c)) = crate::auth::service::authenticate_access_token(
        s,
        token,
        crate::auth::service::Audience::AnyOfOurs,
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

async fn introspect_h(
    State(s): State<AppState>,
    headers: HeaderMap,
    info: ClientInfo,
    Form(form): Form<OAuthForm>,
) -> Response {
    let result: Result<serde_json::Value, OAuthError> = async {
        let client = authenticate_client(&s, &headers, info.addr, &form).await?;
        if !client.confidential {
            return Err(OAuthError::new("unauthorized_client", "only confidential clients may introspect"));
        }
        let token = form.token.clone().ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        // A tenant's client only learns about tokens of its own tenant.
        let visible = |tid: Option<&str>| client.tenant_id.is_none() || client.tenant_id.as_deref() == tid;
        Ok(match inspect(&s, &token).await? {
            Some(Inspected::User(c)) if visible(Some(&c.tid)) => json!({
                "active": true, "token_type": "Bearer", "sub": c.sub, "username": c.email, "exp": c.exp, "iat": c.iat,
                "nbf": c.nbf, "iss": c.iss, "aud": c.aud, "jti": c.jti, "sid": c.sid, "tid": c.tid, "tenant": c.tenant,
                "roles": c.roles,
            }),
            Some(Inspected::Client(c)) if visible(c.tid.as_deref()) => json!({
                "active": true, "token_type": "Bearer", "sub": c.sub, "client_id": c.client_id, "scope": c.scope,
                "exp": c.exp, "iat": c.iat, "nbf": c.nbf, "iss": c.iss, "aud": c.aud, "jti": c.jti,
            }),
            _ => json!({"active": false}),
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

/// Always 200 for a well-authenticated client (RFC 7009 §2.2), whether or not the token was valid.
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
        store::bump_counter(tx.conn(), "auth").await?;
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

async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": list(&s, &p, q.tenant.as_deref()).await?, "next_cursor": null}),
    ))
}

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

async fn get_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<ClientView>> {
    let (row, _) = load_managed(&s, &p, &id, q.tenant.as_deref()).await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchClient {
    pub first_party: bool,
}

/// Marks a client first-party or not: platform admins only.
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
