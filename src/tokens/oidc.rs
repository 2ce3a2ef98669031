//! The OpenID Connect provider for apps, browser side: discovery, the authorization code flow
//! with PKCE (OIDC Core §3.1, RFC 7636, RFC 9207 `iss`), ID tokens, rotating refresh tokens with
//! reuse detection, userinfo, RP-initiated logout, and the minimal `/login` page the flow sends
//! browsers to. The token endpoint itself lives in `oauth.rs` and calls [`exchange_code`] and
//! [`refresh`] here.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::jwt;
use super::protocol::{OAuthError, OAuthForm, TokenResponse, list_of};
use crate::audit::{self, Event};
use crate::crypto;
use crate::domain::new_id;
use crate::error::Error;
use crate::http::client::ClientInfo;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, oauth::ClientRow};
use crate::web::html::{escape, no_store, page, redirect};
use crate::web::redirect::safe_rd;
use crate::web::url::{append_query, url_encode};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(authorize))
        // HTML pages for people, left out of the OpenAPI document on purpose.
        .route("/oauth2/consent", axum::routing::post(consent_submit))
        .routes(routes!(userinfo))
        .routes(routes!(logout))
        .route("/login", get(login_page).post(login_submit))
}

const CODE_TTL_MS: i64 = 60_000;

// ---------------------------------------------------------------------------------------------
// Discovery

/// The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovery {
    /// `server.public_url`.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    /// `keys.algorithm`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

/// The OpenID Connect discovery document: endpoints, supported grants, scopes and claims.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc", security(()),
    responses(
        (status = 200, body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    ))]
async fn discovery(State(s): State<AppState>) -> Response {
    let u = |p: &str| format!("{}{p}", s.public_url);
    let alg = s.settings.keys.algorithm.clone();
    let doc = Discovery {
        issuer: s.public_url.clone(),
        authorization_endpoint: u("/oauth2/authorize"),
        token_endpoint: u("/oauth2/token"),
        userinfo_endpoint: u("/oauth2/userinfo"),
        jwks_uri: u("/.well-known/jwks.json"),
        introspection_endpoint: u("/oauth2/introspect"),
        revocation_endpoint: u("/oauth2/revoke"),
        end_session_endpoint: u("/oauth2/logout"),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec![alg],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported: vec!["S256"],
        scopes_supported: vec![
            "openid",
            "profile",
            "email",
            "roles",
            "groups",
            "offline_access",
        ],
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "email",
            "name",
            "given_name",
            "family_name",
            "roles",
            "groups",
            "tenant",
        ],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    };
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint

#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeParams {
    /// The client; an unknown one gets an error page.
    pub client_id: Option<String>,
    /// One of the client's registered redirect URIs, exactly; another gets an error page.
    pub redirect_uri: Option<String>,
    /// `code`, the only one supported.
    pub response_type: Option<String>,
    /// Space-separated scopes the client may ask for (plus `offline_access`); default `openid`.
    pub scope: Option<String>,
    /// Returned as it is with the code or the error.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636): the S256 challenge, 43-128 characters; required for public clients.
    pub code_challenge: Option<String>,
    /// `S256`, the only one supported.
    pub code_challenge_method: Option<String>,
    /// Space-separated: `none` (never show a page: fail with `login_required` or
    /// `consent_required`), `login` (sign in again), `consent` (ask again).
    pub prompt: Option<String>,
    /// Accepted and not used.
    pub login_hint: Option<String>,
    /// Seconds: an older sign-in must be repeated.
    pub max_age: Option<i64>,
}

impl AuthorizeParams {
    /// The same request as a relative URL (for `/login?rd=`), without `prompt`.
    fn retry_url(&self) -> String {
        let mut again = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = again.as_object_mut() {
            o.remove("prompt");
            o.retain(|_, v| !v.is_null());
        }
        let pairs: Vec<(String, String)> = again
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        append_query("/oauth2/authorize", &refs)
    }
}

/// The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): the code flow with PKCE.
///
/// A signed-in browser (the session cookie) goes back to the client's redirect URI with a code
/// (valid one minute) and `iss` (RFC 9207), after a consent page when the client is not
/// first-party and the user has not yet allowed these scopes in the tenant. A browser that is
/// not signed in (or must sign in again: `prompt=login`, `max_age`) goes to `/login` and
/// returns here after. The tenant is the client's, or the session's for a global client.
/// Errors about the client or the redirect URI are shown, never redirected (RFC 6749
/// §4.1.2.1).
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oidc",
    security(("session" = []), ()),
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The consent page (Allow / Deny)", content_type = "text/html", body = String,
            headers(("X-Frame-Options" = String, description = "`DENY`"), ("Content-Security-Policy" = String, description = "`frame-ancestors 'none'`"))),
        (status = 302, description = "To the redirect URI with `code`, `state` and `iss`; or with `error` (`unsupported_response_type`, `unauthorized_client`, `invalid_scope`, `invalid_request`, `login_required`, `consent_required`, `access_denied`), `error_description`, `state` and `iss`; or to `/login?rd=...` to sign in first (`/login?force=1&rd=...` to sign in again)",
            headers(("Location" = String))),
        (status = 400, description = "An HTML error page: the query does not parse, the client is unknown, or the redirect URI is not registered for it", content_type = "text/html", body = String),
    ))]
async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in request not valid",
            "<p>The application sent a malformed sign-in request.</p>",
        );
    };
    match authorize_inner(&s, &headers, q).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "authorize failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Please try again.</p>",
            )
        }
    }
}

async fn authorize_inner(
    s: &AppState,
    headers: &HeaderMap,
    q: AuthorizeParams,
) -> Result<Response, Error> {
    // 1. Client and redirect URI: errors here are shown, never redirected (RFC 6749 §4.1.2.1).
    let client = match &q.client_id {
        Some(id) => {
            let mut c = s.store.acquire().await?;
            store::oauth::get(c.conn(), id).await?
        }
        None => None,
    };
    let Some(client) = client else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "<p>This sign-in request names an application idbridge does not know.</p>",
        ));
    };
    let redirect_uri = q.redirect_uri.clone().unwrap_or_default();
    if !list_of(&client.redirect_uris).contains(&redirect_uri) {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Redirect address not registered",
            "<p>The application asked to return to an address that is not registered for it. Its administrator must register the exact redirect URI.</p>",
        ));
    }
    let state = q.state.clone().unwrap_or_default();
    let fail = |error: &str, description: &str| {
        let mut p: Vec<(&str, &str)> = vec![("error", error), ("error_description", description)];
        if !state.is_empty() {
            p.push(("state", &state));
        }
        p.push(("iss", &s.public_url));
        redirect(&append_query(&redirect_uri, &p))
    };
    // 2. The request itself.
    if q.response_type.as_deref() != Some("code") {
        return Ok(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !list_of(&client.grant_types)
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Ok(fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let scope = q.scope.clone().unwrap_or_else(|| "openid".into());
    let allowed = list_of(&client.scopes);
    if let Some(bad) = scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .find(|x| !allowed.iter().any(|a| a == x) && *x != "offline_access")
    {
        return Ok(fail(
            "invalid_scope",
            &format!("scope `{bad}` is not allowed for this client"),
        ));
    }
    match (&q.code_challenge, q.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => {}
        (Some(_), _) => {
            return Ok(fail(
                "invalid_request",
                "code_challenge_method must be S256 with a valid challenge",
            ));
        }
        (None, _) if !client.confidential => {
            return Ok(fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required",
            ));
        }
        (None, _) => {}
    }
    // 3. Who is signed in.
    let principal = crate::web::session::signed_in(s, headers).await;
    let now = s.now_ms();
    let session = match &principal {
        Some(p) => {
            let mut c = s.store.acquire().await?;
            store::sessions::auth_by_id(c.conn(), p.session_id.as_deref().unwrap_or_default())
                .await?
        }
        None => None,
    };
    let too_old = match (&session, q.max_age) {
        (Some(sess), Some(max)) => {
            now - sess_created(s, &sess.session_id).await? > max.max(0) * 1000
        }
        _ => false,
    };
    let prompt = q.prompt.clone().unwrap_or_default();
    let (Some(principal), Some(session)) = (principal, session) else {
        if prompt.split(' ').any(|p| p == "none") {
            return Ok(fail("login_required", "the user is not signed in"));
        }
        return Ok(redirect(&format!(
            "/login?rd={}",
            url_encode(&q.retry_url())
        )));
    };
    if prompt.split(' ').any(|p| p == "login") || too_old {
        if prompt.split(' ').any(|p| p == "none") {
            return Ok(fail("login_required", "a fresh sign-in is required"));
        }
        return Ok(redirect(&format!(
            "/login?force=1&rd={}",
            url_encode(&q.retry_url())
        )));
    }
    // 4. The tenant the tokens are for: the client's, or the session's for a global client.
    let tenant_id = client
        .tenant_id
        .clone()
        .unwrap_or(principal.tenant_id.clone());
    let mut tx = s.store.read().await?;
    let tenant = store::tenants::get(tx.conn(), &tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let mut as_tenant = principal.clone();
    as_tenant.tenant_id = tenant.id.clone();
    let compiled = rbac::compiled(s, &mut tx, &as_tenant, &tenant).await?;
    drop(tx);
    if let Some(reason) = &compiled.refusal {
        return Ok(fail("access_denied", &reason.message(&tenant.slug, "")));
    }
    if !compiled.member && !compiled.platform_admin {
        return Ok(fail(
            "access_denied",
            "you are not a member of this application's tenant",
        ));
    }
    // 4b. Consent: a client that a platform admin did not mark first-party asks the user once
    // for its scopes in this tenant (again when it asks for more, or with prompt=consent).
    if !client.first_party {
        let uid = principal.user_id().unwrap_or_default();
        let granted = {
            let mut c = s.store.acquire().await?;
            store::oauth::consent(c.conn(), uid, &client.id, &tenant.id).await?
        };
        let covered = granted.is_some_and(|g| {
            scope
                .split(' ')
                .filter(|x| !x.is_empty())
                .all(|x| has_scope(&g, x))
        });
        if !covered || prompt.split(' ').any(|p| p == "consent") {
            if prompt.split(' ').any(|p| p == "none") {
                return Ok(fail(
                    "consent_required",
                    "the user has not allowed this application yet",
                ));
            }
            let ticket = ConsentTicket {
                sid: session.session_id.clone(),
                client_id: client.id.clone(),
                tenant_id: tenant.id.clone(),
                scope: scope.clone(),
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                retry: q.retry_url(),
                exp: now + CONSENT_TTL_MS,
            };
            return consent_page(s, &client, &tenant, &ticket);
        }
    }
    // 5. The code.
    let code = crypto::new_token("ac_");
    let row = store::oauth::CodeRow {
        code_hash: crypto::token_hash(&code),
        client_id: client.id.clone(),
        user_id: principal.user_id().unwrap_or_default().to_string(),
        session_id: session.session_id.clone(),
        tenant_id: tenant.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        nonce: q.nonce.clone(),
        code_challenge: q.code_challenge.clone(),
        auth_time: sess_created(s, &session.session_id).await?,
        created_at: now,
        expires_at: now + CODE_TTL_MS,
        used_at: None,
    };
    let mut tx = s.store.begin().await?;
    store::oauth::insert_code(tx.conn(), &row).await?;
    tx.commit().await?;
    let mut p: Vec<(&str, &str)> = vec![("code", &code)];
    if !state.is_empty() {
        p.push(("state", &state));
    }
    p.push(("iss", &s.public_url));
    Ok(redirect(&append_query(&redirect_uri, &p)))
}

const CONSENT_TTL_MS: i64 = 10 * 60_000;

/// What a consent form carries, sealed with the master key: the form can only answer the one
/// request it was shown for, in the session that saw it, for ten minutes.
#[derive(Debug, Serialize, Deserialize)]
struct ConsentTicket {
    sid: String,
    client_id: String,
    tenant_id: String,
    scope: String,
    redirect_uri: String,
    state: String,
    /// The authorization request again (a path on idbridge).
    retry: String,
    exp: i64,
}

fn scope_text(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in (your idbridge user id)",
        "email" => "Your email address",
        "profile" => "Your name",
        "roles" => "Your roles in this organisation",
        "groups" => "Your groups in this organisation",
        "offline_access" => "Stay signed in when you are away (refresh tokens)",
        _ => "An application-defined permission",
    }
}

fn consent_page(
    s: &AppState,
    client: &ClientRow,
    tenant: &store::tenants::TenantRow,
    t: &ConsentTicket,
) -> Result<Response, Error> {
    let sealed = s.master_key.seal(
        "oauth_consent",
        &serde_json::to_vec(t).map_err(Error::internal)?,
    )?;
    let items: String = t
        .scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(|x| {
            format!(
                "<li><code>{}</code>: {}</li>",
                escape(x),
                escape(scope_text(x))
            )
        })
        .collect();
    let body = format!(
        "<p><strong>{client}</strong> wants to use your account in <strong>{tenant}</strong>. It will get:</p>\
         <ul>{items}</ul><form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(&client.name),
        tenant = escape(&tenant.name),
        ticket = escape(&sealed),
    );
    let mut r = page(StatusCode::OK, "Allow access?", &body);
    // Never framed: a consent click must be the user's own (clickjacking).
    r.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    pub ticket: String,
    pub decision: String,
}

/// The consent form's answer: same-origin only, from the session that was shown the form.
async fn consent_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> Response {
    let refused = |m: &str| {
        page(
            StatusCode::FORBIDDEN,
            "Allow access?",
            &format!("<p class=\"err\">{}</p>", escape(m)),
        )
    };
    if crate::web::csrf::cross_origin(&s, &headers) {
        return refused("Cross-site request refused.");
    }
    let Some(t) = s
        .master_key
        .open("oauth_consent", &f.ticket)
        .ok()
        .and_then(|b| serde_json::from_slice::<ConsentTicket>(&b).ok())
        .filter(|t| t.exp > s.now_ms() && t.retry.starts_with("/oauth2/authorize?"))
    else {
        return refused(
            "This consent form has expired: go back to the application and sign in again.",
        );
    };
    let principal = crate::web::session::signed_in(&s, &headers).await;
    let Some(p) = principal.filter(|p| p.session_id.as_deref() == Some(t.sid.as_str())) else {
        return refused("Sign in again: this form belongs to another sign-in.");
    };
    if f.decision != "allow" {
        let mut q: Vec<(&str, &str)> = vec![
            ("error", "access_denied"),
            ("error_description", "the user denied access"),
        ];
        if !t.state.is_empty() {
            q.push(("state", &t.state));
        }
        q.push(("iss", &s.public_url));
        return redirect(&append_query(&t.redirect_uri, &q));
    }
    let result = async {
        let now = s.now_ms();
        let mut tx = s.store.begin().await?;
        store::oauth::grant_consent(
            tx.conn(),
            p.user_id().unwrap_or_default(),
            &t.client_id,
            &t.tenant_id,
            &t.scope,
            now,
        )
        .await?;
        audit::record(
            tx.conn(),
            now,
            &audit::Actor::of(&p, None),
            Event {
                tenant_id: Some(&t.tenant_id),
                action: "oauth.consent",
                target_type: "oauth_client",
                target_id: Some(&t.client_id),
                before: None,
                after: Some(json!({"scope": t.scope})),
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => redirect(&t.retry),
        Err(e) => {
            tracing::error!(error = %e, "recording a consent failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Please try again.</p>",
            )
        }
    }
}

/// When the session signed in (`auth_time`), in epoch ms.
async fn sess_created(s: &AppState, session_id: &str) -> Result<i64, Error> {
    let mut c = s.store.acquire().await?;
    store::sessions::created_at(c.conn(), session_id)
        .await?
        .ok_or(Error::Unauthenticated)
}

// ---------------------------------------------------------------------------------------------
// Token endpoint: authorization_code and refresh_token

#[derive(Debug, Serialize, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    azp: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    tenant: String,
}

struct Grant<'a> {
    client: &'a ClientRow,
    user_id: String,
    session_id: String,
    tenant_id: String,
    scope: String,
    nonce: Option<String>,
    auth_time_ms: i64,
    family: Option<String>,
    /// Refresh grant: the presented token's hash, spent in the transaction that stores its
    /// successor (rotation is atomic).
    spend: Option<String>,
}

fn has_scope(scope: &str, want: &str) -> bool {
    scope.split(' ').any(|x| x == want)
}

/// Issues the access token, the ID token (scope `openid`) and a new refresh token (when the
/// client may refresh) for a live session.
async fn issue(s: &AppState, g: Grant<'_>) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    // Plain pooled reads, no transaction: each row is read once and checked on its own.
    let rbac_generation = s.generations.rbac();
    let mut tx = s.store.acquire().await?;
    let auth = store::sessions::auth_by_id(tx.conn(), &g.session_id)
        .await?
        .ok_or_else(|| invalid("the sign-in session has ended"))?;
    let mut p = crate::auth::authenticate::principal_from_session(
        s,
        auth,
        Some(g.tenant_id.clone()),
        false,
        rbac_generation,
    )
    .map_err(|_| invalid("the sign-in session has ended"))?;
    p.tenant_id = g.tenant_id.clone();
    if p.user_id() != Some(g.user_id.as_str()) {
        return Err(invalid("the sign-in session has ended"));
    }
    let user = store::users::get(tx.conn(), &g.user_id)
        .await?
        .ok_or_else(|| invalid("unknown user"))?;
    let tenant = store::tenants::get(tx.conn(), &g.tenant_id)
        .await?
        .ok_or_else(|| invalid("unknown tenant"))?;
    let mut claims =
        crate::auth::service::access_claims_for(s, &mut tx, &p, &user, &tenant).await?;
    let groups = store::users::group_names(tx.conn(), &user.id, &tenant.id).await?;
    drop(tx);
    // Issued to the client, for the one tenant it was authorized in: never accepted by `/api`.
    claims.aud = g.client.id.clone();
    claims.client_id = Some(g.client.id.clone());
    claims.scope = Some(g.scope.clone());
    let access_token = jwt::mint(&s.keys, &claims)?;
    let mut body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: s.settings.session.access_token_ttl_secs,
        scope: g.scope.clone(),
        id_token: None,
        refresh_token: None,
    };
    if has_scope(&g.scope, "openid") {
        let profile = has_scope(&g.scope, "profile");
        let id = IdClaims {
            iss: s.public_url.clone(),
            sub: user.id.clone(),
            aud: g.client.id.clone(),
            azp: g.client.id.clone(),
            exp: claims.exp,
            iat: claims.iat,
            auth_time: g.auth_time_ms / 1000,
            nonce: g.nonce.clone(),
            sid: g.session_id.clone(),
            email: has_scope(&g.scope, "email").then(|| user.email.clone()),
            name: profile.then(|| claims.name.clone()),
            given_name: profile.then(|| user.first_name.clone()),
            family_name: if profile {
                user.last_name.clone()
            } else {
                None
            },
            roles: has_scope(&g.scope, "roles").then(|| claims.roles.clone()),
            groups: has_scope(&g.scope, "groups").then_some(groups),
            tenant: tenant.slug.clone(),
        };
        body.id_token = Some(jwt::mint_typed(&s.keys, &id, "JWT")?);
    }
    if list_of(&g.client.grant_types)
        .iter()
        .any(|x| x == "refresh_token")
    {
        let token = crypto::new_token("rt_");
        let now = s.now_ms();
        let row = store::oauth::RefreshRow {
            token_hash: crypto::token_hash(&token),
            family_id: g.family.clone().unwrap_or_else(new_id),
            client_id: g.client.id.clone(),
            user_id: user.id.clone(),
            session_id: g.session_id.clone(),
            tenant_id: tenant.id.clone(),
            scope: g.scope.clone(),
            auth_time: g.auth_time_ms,
            created_at: now,
            expires_at: now + s.settings.session.lifetime_secs * 1000,
            used_at: None,
            revoked_at: None,
        };
        let mut tx = s.store.begin().await?;
        if let Some(spent) = &g.spend
            && !store::oauth::spend_refresh(tx.conn(), spent, now).await?
        {
            drop(tx);
            return Err(reused(
                s,
                &row.family_id,
                &row.tenant_id,
                &row.user_id,
                &row.client_id,
            )
            .await);
        }
        store::oauth::insert_refresh(tx.conn(), &row).await?;
        tx.commit().await?;
        body.refresh_token = Some(token);
    }
    Ok(body)
}

/// `grant_type=authorization_code` (OIDC Core §3.1.3.2, RFC 7636 §4.6).
pub async fn exchange_code(
    s: &AppState,
    client: &ClientRow,
    form: &OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    if !list_of(&client.grant_types)
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err(OAuthError::from_parts(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::from_parts("invalid_request", "code is required"))?;
    let hash = crypto::token_hash(code);
    let row = {
        let mut c = s.store.acquire().await?;
        store::oauth::code(c.conn(), &hash).await?
    }
    .ok_or_else(|| invalid("unknown or expired code"))?;
    if row.client_id != client.id || row.expires_at <= s.now_ms() {
        return Err(invalid("unknown or expired code"));
    }
    if form.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&row.code_challenge, &form.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = crypto::b64url(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
            );
            if !(43..=128).contains(&verifier.len())
                || !crypto::ct_eq(computed.as_bytes(), challenge.as_bytes())
            {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid("code_verifier is required")),
        (None, Some(_)) => {
            return Err(invalid(
                "no code_challenge was sent with the authorization request",
            ));
        }
        (None, None) if !client.confidential => {
            return Err(invalid("PKCE is required for public clients"));
        }
        (None, None) => {}
    }
    {
        let mut tx = s.store.begin().await?;
        if !store::oauth::use_code(tx.conn(), &hash, s.now_ms()).await? {
            return Err(invalid("this code was already used"));
        }
        if has_scope(&row.scope, "openid") {
            // The client now holds an ID token for this session: tell it when the session ends.
            store::backchannel::record_client_session(
                tx.conn(),
                &row.session_id,
                &client.id,
                &row.user_id,
                s.now_ms(),
            )
            .await?;
        }
        tx.commit().await?;
    }
    issue(
        s,
        Grant {
            client,
            user_id: row.user_id,
            session_id: row.session_id,
            tenant_id: row.tenant_id,
            scope: row.scope,
            nonce: row.nonce,
            auth_time_ms: row.auth_time,
            family: None,
            spend: None,
        },
    )
    .await
}

/// `grant_type=refresh_token`: rotates; presenting a spent token revokes its whole family.
pub async fn refresh(
    s: &AppState,
    client: &ClientRow,
    form: &OAuthForm,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |m: &str| OAuthError::from_parts("invalid_grant", m);
    let token = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::from_parts("invalid_request", "refresh_token is required"))?;
    let hash = crypto::token_hash(token);
    let now = s.now_ms();
    // Read first; the rotation itself (spend + successor) is one short write transaction in
    // `issue`, so the writer lock is held for two statements only.
    let row = {
        let mut c = s.store.acquire().await?;
        store::oauth::refresh(c.conn(), &hash).await?
    }
    .ok_or_else(|| invalid("unknown refresh token"))?;
    if row.client_id != client.id {
        return Err(invalid("unknown refresh token"));
    }
    if row.used_at.is_some() {
        return Err(reused(
            s,
            &row.family_id,
            &row.tenant_id,
            &row.user_id,
            &row.client_id,
        )
        .await);
    }
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(invalid("this refresh token is no longer valid"));
    }
    if !list_of(&client.grant_types)
        .iter()
        .any(|g| g == "refresh_token")
    {
        return Err(OAuthError::from_parts(
            "unauthorized_client",
            "this client may not use refresh tokens",
        ));
    }
    let scope = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        None => row.scope.clone(),
        Some(asked) => {
            if let Some(bad) = asked.split(' ').find(|x| !has_scope(&row.scope, x)) {
                return Err(OAuthError::from_parts(
                    "invalid_scope",
                    &format!("scope `{bad}` was not granted"),
                ));
            }
            asked.to_string()
        }
    };
    issue(
        s,
        Grant {
            client,
            user_id: row.user_id,
            session_id: row.session_id,
            tenant_id: row.tenant_id,
            scope,
            nonce: None,
            auth_time_ms: row.auth_time,
            family: Some(row.family_id),
            spend: Some(hash),
        },
    )
    .await
}

/// A spent refresh token came back: someone holds a copy. Ends the whole family (audited).
async fn reused(
    s: &AppState,
    family: &str,
    tenant_id: &str,
    user_id: &str,
    client_id: &str,
) -> OAuthError {
    let result = async {
        let now = s.now_ms();
        let mut tx = s.store.begin().await?;
        let n = store::oauth::revoke_family(tx.conn(), family, now).await?;
        audit::record(
            tx.conn(),
            now,
            &audit::Actor::system("oauth"),
            Event {
                tenant_id: Some(tenant_id),
                action: "oauth.refresh_reuse",
                target_type: "user",
                target_id: Some(user_id),
                before: None,
                after: Some(json!({"client_id": client_id, "family": family, "revoked": n})),
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        return e.into();
    }
    tracing::warn!(client = %client_id, user = %user_id, "refresh token reused: family revoked");
    OAuthError::from_parts("invalid_grant", "this refresh token was already used")
}

// ---------------------------------------------------------------------------------------------
// Userinfo

/// The userinfo answer (OIDC Core §5.3.2): the claims the token's scope grants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user's id.
    pub sub: String,
    /// The slug of the token's tenant.
    pub tenant: String,
    /// Scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Scope `profile`, when the user has a last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Scope `roles`: the user's roles in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Scope `groups`: the user's groups in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// A refused bearer token (RFC 6750 §3.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BearerError {
    /// `invalid_token`.
    pub error: &'static str,
}

/// Userinfo (OIDC Core §5.3): the signed-in user's claims, as the access token's scope allows.
///
/// Takes `Authorization: Bearer` with an access token idbridge issued (to a client, or
/// first-party: a first-party token, which has no scope, sees every claim) for a session that
/// is still live. API tokens (`idb_...`) are refused.
#[utoipa::path(method(get, post), path = "/oauth2/userinfo", tag = "oidc",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserInfo, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "`invalid_token`: no bearer token, or not a valid access token of a live session (with `WWW-Authenticate: Bearer error=\"invalid_token\"`)", body = BearerError),
    ))]
async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let invalid = || {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(BearerError {
                error: "invalid_token",
            }),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        no_store(r)
    };
    let Some(token) = crate::auth::bearer::of(&headers) else {
        return invalid();
    };
    let Ok((p, claims)) = crate::auth::authenticate::authenticate_access_token(
        &s,
        token,
        crate::auth::authenticate::Audience::AnyOfOurs,
    )
    .await
    else {
        return invalid();
    };
    let result = async {
        let mut c = s.store.acquire().await?;
        let user = store::users::get(c.conn(), p.user_id().unwrap_or_default())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let groups = store::users::group_names(c.conn(), &user.id, &claims.tid).await?;
        Ok::<_, Error>((user, groups))
    }
    .await;
    let Ok((user, groups)) = result else {
        return invalid();
    };
    // First-party tokens (no scope) see everything; client tokens what their scope grants.
    let scope = claims.scope.clone();
    let has = |w: &str| scope.as_deref().is_none_or(|sc| has_scope(sc, w));
    let profile = has("profile");
    let body = UserInfo {
        email: has("email").then(|| user.email.clone()),
        name: profile.then(|| claims.name.clone()),
        given_name: profile.then(|| user.first_name.clone()),
        family_name: user.last_name.clone().filter(|_| profile),
        roles: has("roles").then(|| claims.roles.clone()),
        groups: has("groups").then_some(groups),
        sub: user.id,
        tenant: claims.tenant,
    };
    no_store(Json(body).into_response())
}

// ---------------------------------------------------------------------------------------------
// RP-initiated logout

#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct LogoutParams {
    /// An ID token idbridge signed, for the browser's session (or one that has ended): signs out
    /// without asking.
    pub id_token_hint: Option<String>,
    /// Where to go after: one of the hint's client's registered post-logout redirect URIs.
    pub post_logout_redirect_uri: Option<String>,
    /// Returned as it is with the redirect.
    pub state: Option<String>,
    /// When given, it must be the hint's client.
    pub client_id: Option<String>,
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an `id_token_hint` that
/// idbridge signed (for the session in the browser, or after it ended), the session ends and
/// the browser returns to a `post_logout_redirect_uri` registered for the hint's client. Without
/// a valid hint nothing happens on a GET (a cross-site link must neither sign anyone out nor
/// redirect anywhere): the user gets a confirmation form, and its same-origin POST signs out
/// and never redirects off idbridge.
#[utoipa::path(method(get, post), path = "/oauth2/logout", tag = "oidc",
    security(("session" = []), ()),
    params(LogoutParams),
    request_body(content = Option<LogoutParams>, content_type = "application/x-www-form-urlencoded",
        description = "POST only: the same fields as a form; a non-empty body replaces the query's fields"),
    responses(
        (status = 200, description = "An HTML page: the sign-out confirmation form (without a valid `id_token_hint`, on a GET), or \"signed out\" (with the session cookie cleared)", content_type = "text/html", body = String,
            headers(("Set-Cookie" = String, description = "Clears the session cookie, once signed out"))),
        (status = 302, description = "Signed out: back to `post_logout_redirect_uri` with `state`",
            headers(("Location" = String), ("Set-Cookie" = String, description = "Clears the session cookie"))),
        (status = 400, description = "The query does not parse (a field given twice)", content_type = "text/plain", body = String),
        (status = 403, description = "A cross-site POST without a valid `id_token_hint`: refused (an HTML page)", content_type = "text/html", body = String),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
    ))]
async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    method: axum::http::Method,
    Query(q): Query<LogoutParams>,
    body: axum::body::Bytes,
) -> Response {
    // A POST carries its fields in the form body (OIDC allows both).
    let q = if method == axum::http::Method::POST && !body.is_empty() {
        serde_urlencoded::from_bytes::<LogoutParams>(&body).unwrap_or_default()
    } else {
        q
    };
    let current = crate::web::session::signed_in(&s, &headers).await;
    let hint = q
        .id_token_hint
        .as_deref()
        .and_then(|t| jwt::id_token_hint(&s.keys, t, &s.public_url))
        // The hint names the browser's session (or the browser has none any more).
        .filter(|(_, sid)| {
            current
                .as_ref()
                .is_none_or(|p| p.session_id.as_deref() == Some(sid))
        })
        .filter(|(aud, _)| q.client_id.as_deref().is_none_or(|c| c == aud));
    let confirmed =
        method == axum::http::Method::POST && !crate::web::csrf::cross_origin(&s, &headers);
    if hint.is_none() && !confirmed {
        if method == axum::http::Method::POST {
            return page(
                StatusCode::FORBIDDEN,
                "Sign out",
                "<p class=\"err\">Cross-site sign-out refused.</p>",
            );
        }
        return page(
            StatusCode::OK,
            "Sign out",
            "<p>Sign out of idbridge?</p><form method=\"post\" action=\"/oauth2/logout\"><button type=\"submit\">Sign out</button></form>",
        );
    }
    if let Some(p) = &current
        && let Err(e) = crate::auth::service::logout(&s, p, None).await
    {
        tracing::warn!(error = %e, "logout failed");
    }
    let client = match &hint {
        Some((aud, _)) => match s.store.acquire().await {
            Ok(mut c) => store::oauth::get(c.conn(), aud).await.ok().flatten(),
            Err(_) => None,
        },
        None => None,
    };
    let mut resp = match (&q.post_logout_redirect_uri, client) {
        (Some(uri), Some(client)) if list_of(&client.post_logout_redirect_uris).contains(uri) => {
            let mut p: Vec<(&str, &str)> = Vec::new();
            if let Some(st) = &q.state {
                p.push(("state", st));
            }
            redirect(&append_query(uri, &p))
        }
        _ => page(
            StatusCode::OK,
            "Signed out",
            "<p>You are signed out of idbridge.</p>",
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(&s, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// The sign-in page

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub rd: Option<String>,
    pub force: Option<String>,
    /// Show this tenant's SSO connections (also taken from a `<slug>.<public host>` host name).
    pub tenant: Option<String>,
}

fn login_form(rd: &str, error: Option<&str>) -> String {
    format!(
        "{err}<form method=\"post\" action=\"/login\"><label>Email<input name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus></label>\
         <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\"><button type=\"submit\">Sign in</button></form>\
         <h2>Single sign-on</h2><form method=\"post\" action=\"/sso/discover\"><label>Work email<input name=\"email\" type=\"email\" required></label>\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\"><button type=\"submit\">Continue with SSO</button></form>",
        err = error
            .map(|e| format!("<p class=\"err\">{}</p>", escape(e)))
            .unwrap_or_default(),
        rd = escape(rd)
    )
}

async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let rd = safe_rd(&s, q.rd.as_deref()).unwrap_or_default();
    if q.force.is_none()
        && let Some(p) = crate::web::session::signed_in(&s, &headers).await
    {
        if !rd.is_empty() {
            return redirect(&rd);
        }
        let who = match &p.actor {
            crate::auth::principal::Actor::User { email, .. } => email.clone(),
            _ => String::new(),
        };
        let switcher = crate::sso::pages::tenant_switcher(&s, &p).await;
        return page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "<p>You are signed in as {}.</p>{switcher}<form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>",
                escape(&who)
            ),
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let tenant = crate::sso::pages::tenant_of_request(&s, q.tenant.as_deref(), host);
    let (buttons, password) = crate::sso::pages::tenant_sign_in(&s, tenant.as_deref(), &rd).await;
    let form = if password {
        login_form(&rd, None)
    } else {
        String::new()
    };
    page(StatusCode::OK, "Sign in", &format!("{buttons}{form}"))
}

#[derive(Debug, Deserialize)]
pub struct LoginSubmit {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub rd: String,
}

async fn login_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Form(f): Form<LoginSubmit>,
) -> Response {
    // Login CSRF: a cross-site form must not sign the browser into someone else's account.
    if crate::web::csrf::cross_origin(&s, &headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Sign in",
            "<p class=\"err\">Cross-site sign-in refused.</p>",
        );
    }
    let rd = safe_rd(&s, Some(&f.rd)).unwrap_or_default();
    let req = crate::auth::service::LoginRequest {
        email: f.email,
        password: f.password,
        tenant: None,
    };
    match crate::auth::service::login(&s, &client, None, req).await {
        Ok(signed) => {
            let target = if rd.is_empty() {
                "/login".to_string()
            } else {
                rd
            };
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(
                &s,
                &signed.session_token,
                signed.session_max_age,
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            no_store(r)
        }
        Err(e) => {
            let retry = e.retry_after();
            let (status, msg) = match &e {
                Error::Invalid { .. } => (
                    StatusCode::BAD_REQUEST,
                    "Wrong email or password.".to_string(),
                ),
                Error::Forbidden { message, .. } => (StatusCode::FORBIDDEN, message.clone()),
                Error::RateLimited { message, .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, message.clone())
                }
                Error::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                other => {
                    tracing::error!(error = %other, "sign-in failed");
                    (
                        StatusCode::BAD_REQUEST,
                        "Sign-in failed; try again.".to_string(),
                    )
                }
            };
            let mut r = page(status, "Sign in", &login_form(&f.rd, Some(&msg)));
            if let Some(secs) = retry {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        }
    }
}
