//! HTTP for SSO: the connections API, the tenant's SSO settings, the explain dry run, and the
//! browser flow (`/sso/{connection}/start`, the OIDC callback, home-realm discovery).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::connections::{self, ConnectionView, SsoConfigUpdate, SsoConfigView};
use super::fail::{Fail, fail};
use super::{ExternalIdentity, jit, oidc};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppJson, AppQuery, ClientInfo, RequestId};
use crate::state::AppState;
use crate::store;
use crate::tenants::settings::RoleSource;
use crate::tokens::oidc::escape;
use crate::users::service::TenantParam;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sso/connections", get(list_h).post(create_h))
        .route(
            "/api/sso/connections/{id}",
            get(get_h).patch(patch_h).delete(delete_h),
        )
        .route(
            "/api/sso/connections/{id}/metadata/refresh",
            post(refresh_metadata_h),
        )
        .route("/api/auth/sso-config", get(config_h).post(config_update_h))
        .route("/api/sso/explain", post(explain_h))
        .route("/sso/{id}/start", get(start_h))
        .route("/sso/oidc/{id}/callback", get(callback_h))
        .route("/sso/saml/{id}/metadata", get(saml_metadata_h))
        .route("/sso/saml/{id}/acs", post(saml_acs_h))
        .route(
            "/sso/saml/{id}/slo",
            get(saml_slo_get_h).post(saml_slo_post_h),
        )
        .route("/sso/discover", post(discover_h))
        .route("/logout", get(logout_page).post(logout_submit))
        .route("/login/tenant", post(switch_tenant_submit))
}

async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    Ok(Json(connections::list(&s, &p, q.tenant.as_deref()).await?))
}

async fn create_h(
    State(s): State<AppState>,
    p: Principal,
    RequestId(rid): RequestId,
    AppJson(req): AppJson<Value>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    Ok((
        StatusCode::CREATED,
        Json(connections::create(&s, &p, rid.as_deref(), req).await?),
    ))
}

async fn get_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(connections::get(&s, &p, &id).await?))
}

async fn patch_h(
    State(s): State<AppState>,
    p: Principal,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    AppJson(req): AppJson<Value>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(
        connections::patch(&s, &p, rid.as_deref(), &id, req).await?,
    ))
}

/// Refetches a SAML connection's metadata from its URL now (new signing certificates).
async fn refresh_metadata_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    // The caller must be allowed to manage the connection (404 otherwise).
    connections::get_managed(&s, &p, &id).await?;
    let changed = super::saml_sp::refresh_metadata(&s, &id).await?;
    let view = connections::get(&s, &p, &id).await?;
    Ok(Json(json!({"changed": changed, "connection": view})))
}

async fn delete_h(
    State(s): State<AppState>,
    p: Principal,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    connections::delete(&s, &p, rid.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn config_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<SsoConfigView>> {
    Ok(Json(
        connections::sso_config(&s, &p, q.tenant.as_deref()).await?,
    ))
}

async fn config_update_h(
    State(s): State<AppState>,
    p: Principal,
    RequestId(rid): RequestId,
    AppJson(req): AppJson<SsoConfigUpdate>,
) -> ApiResult<Json<SsoConfigView>> {
    Ok(Json(
        connections::update_sso_config(&s, &p, rid.as_deref(), req).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Explain: a dry run of a sign-in.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub connection: String,
    /// Claims as the IdP would send them (ID token or userinfo), with the connection's names.
    pub claims: Value,
}

async fn explain_h(
    State(s): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<ExplainRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(explain(&s, &p, req).await?))
}

pub async fn explain(s: &AppState, p: &Principal, req: ExplainRequest) -> Result<Value> {
    let mut tx = s.store.read().await?;
    let row = store::sso::get(tx.conn(), &req.connection)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    let tenant = store::tenants::get(tx.conn(), &row.tenant_id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    crate::rbac::service::require(s, &mut tx, p, &tenant, "sso:read").await?;
    let c = &req.claims;
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| match c.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(x)) => vec![x.clone()],
        _ => Vec::<String>::new(),
    };
    // The same identity the sign-in would build, from claims (OIDC) or attributes (SAML).
    let (subject, issuer, email, verified, groups, allow_linking) = if row.kind == "saml" {
        let cfg = super::saml_sp::config_of(&row)?;
        let name_id = text("name_id").or_else(|| text("sub")).ok_or_else(|| {
            Error::invalid_field(
                "invalid_claims",
                "claims",
                "claims.name_id (the NameID) is required",
            )
        })?;
        let attributes = c
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "name_id" && *k != "sub")
            .map(|(k, _)| (k.clone(), list(k)))
            .collect();
        let asserted = super::saml::Asserted {
            id: String::new(),
            remember_until_ms: 0,
            name_id,
            name_id_format: None,
            session_index: None,
            attributes,
        };
        let ext = super::saml_sp::identity(&row, &cfg, &asserted);
        (
            ext.subject,
            ext.issuer,
            ext.email,
            ext.email_verified,
            ext.groups.unwrap_or_default(),
            cfg.allow_email_linking,
        )
    } else {
        let cfg = connections::config_of(&row)?;
        let mut groups = list(&cfg.groups_claim);
        groups.extend(list(&cfg.roles_claim));
        let subject = text("sub").ok_or_else(|| {
            Error::invalid_field("invalid_claims", "claims", "claims.sub is required")
        })?;
        let verified = matches!(c.get("email_verified"), Some(Value::Bool(true)))
            || text("email_verified").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        (
            subject,
            text("iss").unwrap_or_else(|| cfg.issuer.clone()),
            text(&cfg.email_claim),
            verified,
            groups,
            cfg.allow_email_linking,
        )
    };
    let via = super::linking::Via::Sso {
        allow_email_linking: allow_linking,
        email_verified: verified,
        platform_managed: row.platform_managed,
    };
    let user = explain_user(&mut tx, p, &row, &tenant, &issuer, &subject, email, via).await?;
    let source = jit::role_source(&tenant)?;
    let roles = match source {
        RoleSource::Idp => {
            serde_json::to_value(jit::decide_roles(s, &mut tx, &tenant, &groups).await?)
                .map_err(Error::internal)?
        }
        RoleSource::Local => {
            json!([{"rule": "role_source local: roles are managed in idbridge; a new user gets the default role once"}])
        }
        RoleSource::Scim => {
            json!([{"rule": "role_source scim: SCIM decides roles; sign-in never changes them"}])
        }
    };
    Ok(json!({
        "connection": row.id, "tenant": tenant.slug, "issuer": issuer, "subject": subject,
        "groups": groups, "role_source": source.as_str(), "user": user, "roles": roles,
    }))
}

/// What a sign-in would do with the account, decided by the same functions as the sign-in
/// (`sso::linking`, domain ownership). An account outside the caller's organisation is never
/// revealed: "no account of yours" and "an account elsewhere" read the same to a tenant admin.
#[allow(clippy::too_many_arguments)]
async fn explain_user(
    tx: &mut store::Tx,
    p: &Principal,
    row: &store::sso::ConnectionRow,
    tenant: &store::tenants::TenantRow,
    issuer: &str,
    subject: &str,
    email: Option<String>,
    via: super::linking::Via,
) -> Result<Value> {
    let hidden = || {
        json!({"match": "create_or_refused", "email": email,
            "reason": "no account of this organisation has this email: a sign-in creates one, unless the email belongs to an account outside the organisation (then it is refused)"})
    };
    if let Some(i) = store::sso::identity(tx.conn(), &row.id, issuer, subject).await? {
        return Ok(json!({"match": "identity", "user_id": i.user_id}));
    }
    let Some(e) = email
        .as_deref()
        .and_then(|e| crate::domain::Email::parse(e).ok())
    else {
        return Ok(
            json!({"match": "refused", "reason": "sso.email_missing: the IdP sent no usable email"}),
        );
    };
    // Domain ownership is public (DNS says it): a refusal for it reveals no account.
    if let Err(err) = crate::tenants::domains::require_may_create(tx, &e, tenant).await {
        return Ok(json!({"match": "refused", "reason": format!("sso.domain_owned: {err}")}));
    }
    let Some(u) = store::users::get_by_email(tx.conn(), e.normalized()).await? else {
        return Ok(if p.is_platform_admin() {
            json!({"match": "create", "email": email})
        } else {
            hidden()
        });
    };
    let verdict = super::linking::check(tx, tenant, &u, via).await?;
    Ok(match verdict {
        super::linking::Verdict::Link => json!({"match": "email_link", "user_id": u.id}),
        v if v.reveals_other_organisation() && !p.is_platform_admin() => hidden(),
        super::linking::Verdict::Refuse { reason, detail } => {
            json!({"match": "refused", "user_id": u.id, "reason": format!("{reason}: {detail}")})
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Browser flow

/// The pre-auth cookie binding a callback to the browser that started the sign-in.
fn binding_cookie_name(s: &AppState) -> &'static str {
    if s.settings.server.insecure_dev_cookies {
        "idbridge_sso"
    } else {
        "__Host-idbridge_sso"
    }
}

fn binding_cookie(s: &AppState, value: &str, max_age: i64) -> String {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
        binding_cookie_name(s)
    );
    if !s.settings.server.insecure_dev_cookies {
        c.push_str("; Secure");
    }
    c
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    crate::tokens::oidc::no_store(r)
}

#[derive(Debug, Default, Deserialize)]
pub struct StartParams {
    pub rd: Option<String>,
    pub login_hint: Option<String>,
}

async fn start_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<StartParams>,
) -> Response {
    let clear = binding_cookie(&s, "", 0);
    let row = match load_enabled(&s, &id).await {
        Ok(r) => r,
        Err(f) => return f.page(rid.as_deref(), &clear),
    };
    let rd = crate::tokens::oidc::safe_rd(&s, q.rd.as_deref());
    let saml = row.kind == "saml";
    let begun = if saml {
        super::saml_sp::begin(&s, &row, rd).await
    } else {
        oidc::begin(&s, &row, rd, q.login_hint.as_deref()).await
    };
    match begun {
        Ok(b) => {
            let mut r = see_other(&b.authorize_url);
            let cookie = if saml {
                saml_binding_cookie(&s, &b.binding, 600)
            } else {
                binding_cookie(&s, &b.binding, 600)
            };
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => Fail::from(e).page(rid.as_deref(), &clear),
    }
}

/// The SAML pre-auth cookie. The IdP returns the browser with a cross-site POST, which a
/// `SameSite=Lax` cookie would not accompany, so this one is `SameSite=None` (hence `Secure`).
fn saml_binding_cookie_name(s: &AppState) -> &'static str {
    if s.settings.server.insecure_dev_cookies {
        "idbridge_saml"
    } else {
        "__Host-idbridge_saml"
    }
}

fn saml_binding_cookie(s: &AppState, value: &str, max_age: i64) -> String {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; Max-Age={max_age}",
        saml_binding_cookie_name(s)
    );
    if !s.settings.server.insecure_dev_cookies {
        c.push_str("; Secure; SameSite=None");
    }
    c
}

#[derive(Debug, Deserialize)]
struct SloForm {
    #[serde(rename = "SAMLRequest")]
    request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// Single logout from the IdP over HTTP-Redirect (a LogoutRequest, or the LogoutResponse to
/// ours).
async fn saml_slo_get_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    saml_slo(&s, rid.as_deref(), &id, uri.query(), None).await
}

/// Single logout from the IdP over HTTP-POST.
async fn saml_slo_post_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    Form(f): Form<SloForm>,
) -> Response {
    let Some(message) = f.request.or(f.response) else {
        return fail("saml.malformed", "no SAMLRequest or SAMLResponse").page(rid.as_deref(), "");
    };
    saml_slo(
        &s,
        rid.as_deref(),
        &id,
        None,
        Some((message, f.relay_state)),
    )
    .await
}

async fn saml_slo(
    s: &AppState,
    rid: Option<&str>,
    id: &str,
    query: Option<&str>,
    posted: Option<(String, Option<String>)>,
) -> Response {
    let result = async {
        let row = load_enabled(s, id).await?;
        if row.kind != "saml" {
            return Err(fail("sso.connection_unknown", "not a SAML connection"));
        }
        super::saml_sp::handle_logout(s, &row, query, posted, rid).await
    }
    .await;
    match result {
        Ok(super::saml_sp::SloOutcome::Redirect(to)) => see_other(&to),
        Ok(super::saml_sp::SloOutcome::Done) => crate::tokens::oidc::page(
            StatusCode::OK,
            "Signed out",
            "<p>You are signed out.</p><p><a href=\"/login\">Sign in again</a></p>",
        ),
        Err(f) => f.page(rid, ""),
    }
}

/// SP metadata for the IdP administrator (public, like every SP's).
async fn saml_metadata_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
) -> Response {
    let row = match load_enabled(&s, &id).await {
        Ok(r) if r.kind == "saml" => r,
        Ok(_) => {
            return fail("sso.connection_unknown", "not a SAML connection")
                .page(rid.as_deref(), "");
        }
        Err(f) => return f.page(rid.as_deref(), ""),
    };
    match super::saml_sp::sp_metadata(&s, &row) {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => Fail::from(e).page(rid.as_deref(), ""),
    }
}

/// The assertion consumer service (HTTP-POST binding).
async fn saml_acs_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    client: ClientInfo,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<super::saml_sp::AcsForm>,
) -> Response {
    let clear = saml_binding_cookie(&s, "", 0);
    let result = async {
        let row = load_enabled(&s, &id).await?;
        if row.kind != "saml" {
            return Err(fail("sso.connection_unknown", "not a SAML connection"));
        }
        let binding =
            crate::auth::service::session_cookie_value(&headers, saml_binding_cookie_name(&s));
        let done = super::saml_sp::finish(&s, &row, form, binding).await?;
        // An unsolicited response must not silently replace the browser's session with another
        // user's (login CSRF through IdP-initiated sign-in): the existing session is kept.
        if done.consume.pending_state_hash.is_none()
            && let Some(cookie) =
                crate::auth::service::session_cookie_value(&headers, &s.cookie_name)
            && let Ok(current) = crate::auth::service::authenticate_cookie(&s, cookie).await
        {
            let incoming = {
                let mut c = s.store.acquire().await?;
                store::sso::identity(
                    c.conn(),
                    &done.identity.connection_id,
                    &done.identity.issuer,
                    &done.identity.subject,
                )
                .await?
                .map(|i| i.user_id)
            };
            if incoming.as_deref() != current.user_id() {
                tracing::warn!(connection = %row.id, "an IdP-initiated sign-in for another user arrived in a signed-in browser; the existing session is kept");
                return Ok(see_other("/login"));
            }
        }
        let (signed, return_to) = complete(
            &s,
            rid.as_deref(),
            &client,
            &done.identity,
            done.return_to.clone(),
            None,
            Some(&done.consume),
        )
        .await?;
        let mut r = see_other(&return_to);
        if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(
            &s,
            &signed.session_token,
            signed.session_max_age,
        )) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok::<_, Fail>(r)
    }
    .await;
    match result {
        Ok(mut r) => {
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(f) => f.page(rid.as_deref(), &clear),
    }
}

async fn load_enabled(
    s: &AppState,
    id: &str,
) -> std::result::Result<store::sso::ConnectionRow, Fail> {
    if id.len() > 64 {
        return Err(fail("sso.connection_unknown", "connection id too long"));
    }
    let mut c = s.store.acquire().await?;
    store::sso::get(c.conn(), id)
        .await?
        .filter(|r| r.enabled)
        .ok_or_else(|| {
            fail(
                "sso.connection_unknown",
                format!("no enabled connection {id}"),
            )
        })
}

async fn callback_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    client: ClientInfo,
    headers: HeaderMap,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<oidc::CallbackParams>,
) -> Response {
    let clear = binding_cookie(&s, "", 0);
    match callback(&s, rid.as_deref(), &client, &headers, &id, &q).await {
        Ok(mut r) => {
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(f) => f.page(rid.as_deref(), &clear),
    }
}

async fn callback(
    s: &AppState,
    rid: Option<&str>,
    client: &ClientInfo,
    headers: &HeaderMap,
    id: &str,
    q: &oidc::CallbackParams,
) -> std::result::Result<Response, Fail> {
    let row = load_enabled(s, id).await?;
    if row.kind != "oidc" {
        return Err(fail("sso.connection_unknown", "not an OIDC connection"));
    }
    let binding = crate::auth::service::session_cookie_value(headers, binding_cookie_name(s));
    let done = oidc::finish(s, &row, q, binding).await?;
    let (signed, return_to) = complete(
        s,
        rid,
        client,
        &done.identity,
        done.return_to,
        Some(&done.id_token),
        None,
    )
    .await?;
    let mut r = see_other(&return_to);
    if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(
        s,
        &signed.session_token,
        signed.session_max_age,
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// JIT, roles and the idbridge session, in one transaction (shared with SAML).
pub async fn complete(
    s: &AppState,
    rid: Option<&str>,
    client: &ClientInfo,
    ext: &ExternalIdentity,
    return_to: Option<String>,
    id_token: Option<&str>,
    saml: Option<&super::saml_sp::Consume>,
) -> std::result::Result<(crate::auth::service::SignedIn, String), Fail> {
    let sealed = id_token
        .map(|t| s.master_key.seal("sso_id_token", t.as_bytes()))
        .transpose()?;
    let mut tx = s.store.begin().await?;
    if let Some(c) = saml {
        // Single use, in the transaction that signs in: the pending request and the assertion.
        c.consume(s, &mut tx).await?;
    }
    let out = jit::sign_in(s, &mut tx, ext, rid).await?;
    let signed = crate::auth::service::start_session(
        s,
        &mut tx,
        &out.user,
        &out.tenant,
        client,
        crate::auth::principal::Method::Sso,
        Some(&ext.connection_id),
        false,
    )
    .await?;
    store::sso::insert_session(
        tx.conn(),
        &signed.session_id,
        &ext.connection_id,
        sealed.as_deref(),
        saml.map(|c| &c.subject),
        s.now_ms(),
    )
    .await?;
    tx.commit().await?;
    s.metrics.count(if out.created {
        "sso_jit_user_created"
    } else {
        "sso_login"
    });
    Ok((signed, return_to.unwrap_or_else(|| "/login".into())))
}

#[derive(Debug, Deserialize)]
pub struct DiscoverForm {
    pub email: String,
    #[serde(default)]
    pub rd: String,
}

/// Home-realm discovery: the email's domain picks the connection.
async fn discover_h(State(s): State<AppState>, Form(f): Form<DiscoverForm>) -> Response {
    let domain = f
        .email
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let found = match s.store.acquire().await {
        Ok(mut c) => store::sso::by_domain(c.conn(), &domain)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    match found {
        Some(row) => {
            let mut to = format!(
                "/sso/{}/start?login_hint={}",
                row.id,
                crate::http::extract::url_encode(f.email.trim())
            );
            if let Some(rd) = crate::tokens::oidc::safe_rd(&s, Some(&f.rd)) {
                to.push_str("&rd=");
                to.push_str(&crate::http::extract::url_encode(&rd));
            }
            see_other(&to)
        }
        None => crate::tokens::oidc::page(
            StatusCode::OK,
            "Sign in",
            "<p class=\"err\">No single sign-on is set up for this email domain. Sign in with your password, or ask your administrator.</p><p><a href=\"/login\">Back</a></p>",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Logout: the idbridge session, then the IdP's (OIDC RP-initiated logout) when it offers one.

async fn logout_page() -> Response {
    crate::tokens::oidc::page(
        StatusCode::OK,
        "Sign out",
        "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>",
    )
}

async fn logout_submit(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    headers: HeaderMap,
) -> Response {
    if crate::http::extract::cross_origin(&s, &headers) {
        return crate::tokens::oidc::page(
            StatusCode::FORBIDDEN,
            "Sign out",
            "<p class=\"err\">Cross-site sign-out refused.</p>",
        );
    }
    let mut to = "/login".to_string();
    if let Some(cookie) = crate::auth::service::session_cookie_value(&headers, &s.cookie_name)
        && let Ok(p) = crate::auth::service::authenticate_cookie(&s, cookie).await
    {
        let upstream = idp_logout_url(&s, p.session_id.as_deref().unwrap_or_default()).await;
        if let Err(e) = crate::auth::service::logout(&s, &p, rid.as_deref()).await {
            tracing::warn!(error = %e, "sign-out failed");
        }
        if let Some(u) = upstream {
            to = u;
        }
    }
    let mut r = see_other(&to);
    if let Ok(v) = HeaderValue::from_str(&crate::auth::service::session_cookie(&s, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The IdP's end-session URL for a session that came from an OIDC connection whose IdP
/// announces `end_session_endpoint`.
pub async fn idp_logout_url(s: &AppState, session_id: &str) -> Option<String> {
    let (sealed, row) = {
        let mut c = s.store.acquire().await.ok()?;
        let (conn_id, sealed) = store::sso::session(c.conn(), session_id).await.ok()??;
        (sealed, store::sso::get(c.conn(), &conn_id).await.ok()??)
    };
    if row.kind == "saml" {
        return super::saml_sp::logout_url(s, &row, session_id).await;
    }
    let cfg = connections::config_of(&row).ok()?;
    let end = oidc::end_session_endpoint(s, &row, &cfg).await?;
    let mut url = format!(
        "{end}{}client_id={}&post_logout_redirect_uri={}",
        if end.contains('?') { '&' } else { '?' },
        crate::http::extract::url_encode(&cfg.client_id),
        crate::http::extract::url_encode(&connections::post_logout_uri(s)),
    );
    if let Some(t) = sealed
        .and_then(|x| s.master_key.open("sso_id_token", &x).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        url.push_str("&id_token_hint=");
        url.push_str(&crate::http::extract::url_encode(&t));
    }
    Some(url)
}

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    pub tenant: String,
}

/// The sign-in page's tenant switcher: moves the browser's session to another of the user's
/// tenants. Same-origin forms only.
async fn switch_tenant_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SwitchForm>,
) -> Response {
    if crate::http::extract::cross_origin(&s, &headers) {
        return crate::tokens::oidc::page(
            StatusCode::FORBIDDEN,
            "Switch organisation",
            "<p class=\"err\">Cross-site request refused.</p>",
        );
    }
    let Some(p) = (match crate::auth::service::session_cookie_value(&headers, &s.cookie_name) {
        Some(c) => crate::auth::service::authenticate_cookie(&s, c).await.ok(),
        None => None,
    }) else {
        return see_other("/login");
    };
    match crate::auth::service::switch_tenant(
        &s,
        &p,
        crate::auth::service::SwitchTenantRequest { tenant: f.tenant },
    )
    .await
    {
        Ok(_) => see_other("/login"),
        Err(e) => {
            let text = e.to_string();
            crate::tokens::oidc::page(
                crate::http::ApiError(e).status(),
                "Switch organisation",
                &format!(
                    "<p class=\"err\">{}</p><p><a href=\"/login\">Back</a></p>",
                    escape(&text)
                ),
            )
        }
    }
}
