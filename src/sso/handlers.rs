//! HTTP for SSO: the connections API, the tenant's SSO settings, the explain dry run
//! (`super::explain`), and the browser flow (`/sso/{connection}/start`, the OIDC callback, the
//! SAML ACS, home-realm discovery) over the sign-in transaction (`super::signin`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{AnyOfBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connections::{
    self, ConnectionView, CreateConnection, PatchConnection, SsoConfigUpdate, SsoConfigView,
};
use super::explain::{self, ExplainRequest, Explained};
use super::fail::{Fail, fail};
use super::saml_sp::SamlBody;
use super::{oidc, signin};
use crate::auth::principal::Principal;
use crate::engine::markup::escape;
use crate::http::openapi::ErrorBody;
use crate::http::page::TenantParam;
use crate::http::{ApiResult, AppJson, AppQuery, ClientInfo, RequestId};
use crate::state::AppState;
use crate::store;
use crate::web::cookies::{self, SameSite};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_h, create_h))
        .routes(routes!(get_h, patch_h, delete_h))
        .routes(routes!(refresh_metadata_h))
        .routes(routes!(config_h, config_update_h))
        .routes(routes!(explain_h))
        .routes(routes!(start_h))
        .routes(routes!(callback_h))
        .routes(routes!(saml_metadata_h))
        .routes(routes!(saml_acs_h))
        .routes(routes!(saml_slo_get_h, saml_slo_post_h))
        .routes(routes!(discover_h))
        // HTML pages for people, left out of the API document on purpose.
        .route("/logout", get(logout_page).post(logout_submit))
        .route("/login/tenant", post(switch_tenant_submit))
}

/// The `{id}` of `/api/sso/connections/{id}/...` and of the browser flow's paths.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct ConnectionId(
    /// The connection's id
    String,
);

/// The create body, documented: the handler reads JSON and the service dispatches on `kind`.
struct NewConnection;

impl PartialSchema for NewConnection {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .description(Some(
                "An OIDC connection (`kind: \"oidc\"`) or a SAML one (`kind: \"saml\"`).",
            ))
            .item(Ref::from_schema_name(CreateConnection::name()))
            .item(Ref::from_schema_name(SamlBody::name()))
            .into()
    }
}

impl ToSchema for NewConnection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        with_references::<CreateConnection>(schemas);
        with_references::<SamlBody>(schemas);
    }
}

/// The PATCH body, documented: its fields are those of the connection's kind.
struct ConnectionPatch;

impl PartialSchema for ConnectionPatch {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .description(Some(
                "The fields of the connection's kind: OIDC or SAML (`kind` and `tenant` cannot change).",
            ))
            .item(Ref::from_schema_name(PatchConnection::name()))
            .item(Ref::from_schema_name(SamlBody::name()))
            .into()
    }
}

impl ToSchema for ConnectionPatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        with_references::<PatchConnection>(schemas);
        with_references::<SamlBody>(schemas);
    }
}

fn with_references<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// The tenant's SSO connections.
///
/// Permission: `sso:read` in the tenant.
#[utoipa::path(get, path = "/api/sso/connections", tag = "sso", params(TenantParam),
    responses(
        (status = 200, body = Vec<ConnectionView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    Ok(Json(connections::list(&s, &p, q.tenant.as_deref()).await?))
}

/// Creates an OIDC or a SAML connection (`kind`).
///
/// An OIDC issuer must answer OpenID discovery before the connection is saved; its client
/// secret is sealed and never shown again. A SAML connection reads the IdP's metadata from the
/// upload or fetches it from its URL, and gets an SP key pair of its own.
///
/// Permission: `sso:manage` in the tenant. The email domains must be verified domains of the
/// organisation.
#[utoipa::path(post, path = "/api/sso/connections", tag = "sso", request_body = NewConnection,
    responses(
        (status = 201, body = ConnectionView),
        (status = 400, description = "`unsupported_kind`, `invalid_name`, `invalid_domain`, `domain_not_verified`, `deployment_setting`, `invalid_clock_skew`, `url_refused`; OIDC: `invalid_issuer`, `invalid_client_id`, `invalid_scopes`, `invalid_algorithms`, `invalid_claim_name`; SAML: `invalid_attribute`, `invalid_name_id_format`, `metadata_required`, `ambiguous_metadata`, `invalid_metadata`, `metadata_unreachable` (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`name_taken`; `domain_taken`: another connection owns one of the email domains", body = ErrorBody),
        (status = 422, description = "`discovery_failed`: the OIDC issuer's discovery document cannot be fetched or does not offer the code flow", body = ErrorBody),
    ))]
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

/// One SSO connection.
///
/// Permission: `sso:read` in the connection's tenant (without it the connection is not found).
#[utoipa::path(get, path = "/api/sso/connections/{id}", tag = "sso", params(ConnectionId),
    responses(
        (status = 200, body = ConnectionView),
        (status = 404, description = "`not_found`: no such connection, or not one the caller may read", body = ErrorBody),
    ))]
async fn get_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(connections::get(&s, &p, &id).await?))
}

/// Changes a connection: the fields of its kind (absent fields stay as they are).
///
/// An OIDC connection whose issuer changes must answer discovery again. An empty
/// `client_secret` removes the secret.
///
/// Permission: `sso:manage` in the connection's tenant (without it the connection is not
/// found).
#[utoipa::path(patch, path = "/api/sso/connections/{id}", tag = "sso", params(ConnectionId),
    request_body = ConnectionPatch,
    responses(
        (status = 200, body = ConnectionView),
        (status = 400, description = "`invalid_name`, `invalid_domain`, `domain_not_verified`, `deployment_setting`, `invalid_clock_skew`, `url_refused`; OIDC: `invalid_issuer`, `invalid_client_id`, `invalid_scopes`, `invalid_algorithms`, `invalid_claim_name`; SAML: `immutable_field`, `invalid_attribute`, `invalid_name_id_format`, `ambiguous_metadata`, `invalid_metadata`, `metadata_unreachable` (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such connection, or not one the caller may manage", body = ErrorBody),
        (status = 409, description = "`name_taken`; `domain_taken`: another connection owns one of the email domains", body = ErrorBody),
        (status = 422, description = "`discovery_failed`: the new OIDC issuer's discovery document cannot be fetched or does not offer the code flow", body = ErrorBody),
    ))]
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

/// What a metadata refresh did.
#[derive(Serialize, ToSchema)]
pub struct MetadataRefreshed {
    /// Whether the fetched metadata differs from what was stored.
    pub changed: bool,
    /// The connection after the refresh.
    pub connection: ConnectionView,
}

/// Refetches a SAML connection's metadata from its URL now (new signing certificates).
///
/// Permission: `sso:manage` in the connection's tenant (without it the connection is not
/// found).
#[utoipa::path(post, path = "/api/sso/connections/{id}/metadata/refresh", tag = "sso",
    params(ConnectionId),
    responses(
        (status = 200, body = MetadataRefreshed),
        (status = 400, description = "`no_metadata_url`: the metadata was uploaded (or the connection is OIDC); `url_refused`, `metadata_unreachable`, `invalid_metadata` (field `idp_metadata_url`)", body = ErrorBody),
        (status = 403, description = "`csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such connection, or not one the caller may manage", body = ErrorBody),
    ))]
async fn refresh_metadata_h(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MetadataRefreshed>> {
    // The caller must be allowed to manage the connection (404 otherwise).
    connections::get_managed(&s, &p, &id).await?;
    let changed = super::saml_sp::refresh_metadata(&s, &id).await?;
    let connection = connections::get(&s, &p, &id).await?;
    Ok(Json(MetadataRefreshed {
        changed,
        connection,
    }))
}

/// Deletes a connection; sign-ins through it stop at once.
///
/// Permission: `sso:manage` in the connection's tenant (without it the connection is not
/// found).
#[utoipa::path(delete, path = "/api/sso/connections/{id}", tag = "sso", params(ConnectionId),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such connection, or not one the caller may manage", body = ErrorBody),
    ))]
async fn delete_h(
    State(s): State<AppState>,
    p: Principal,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    connections::delete(&s, &p, rid.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's SSO settings and connections.
///
/// Its connections, group-to-role map, default role, role source and whether passwords are
/// allowed, beside the deployment-wide map and default role.
///
/// Permission: `sso:read` in the tenant.
#[utoipa::path(get, path = "/api/auth/sso-config", tag = "sso", params(TenantParam),
    responses(
        (status = 200, body = SsoConfigView),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn config_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<SsoConfigView>> {
    Ok(Json(
        connections::sso_config(&s, &p, q.tenant.as_deref()).await?,
    ))
}

/// Changes the tenant's SSO settings (absent fields stay as they are).
///
/// Permission: `sso:manage` in the tenant; `scim_email_linking` also needs `scim:manage`.
/// Naming a role (`jit_default_role`, a new or changed `group_role_map` entry) is a grant: the
/// caller must hold every permission of the role.
#[utoipa::path(post, path = "/api/auth/sso-config", tag = "sso", request_body = SsoConfigUpdate,
    responses(
        (status = 200, body = SsoConfigView),
        (status = 400, description = "`too_many_groups`, `invalid_group` (field `group_role_map`); `unknown_role` (field `settings.jit_default_role` or `settings.group_role_map`); `role_not_available`: the role needs another RBAC tier", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `privilege_escalation`: the caller does not hold a permission of the role named; `csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
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

/// A dry run of a sign-in: the identity, account and roles these claims would give.
///
/// Nothing is written. The same functions as the sign-in decide (identity, email linking,
/// domain ownership, group-to-role mapping).
///
/// Permission: `sso:read` in the connection's tenant.
#[utoipa::path(post, path = "/api/sso/explain", tag = "sso", request_body = ExplainRequest,
    responses(
        (status = 200, body = Explained),
        (status = 400, description = "`invalid_claims` (field `claims`): no `sub` (OIDC) or `name_id` (SAML)", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `csrf`: a cookie-authenticated write from another origin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such connection", body = ErrorBody),
    ))]
async fn explain_h(
    State(s): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<ExplainRequest>,
) -> ApiResult<Json<Explained>> {
    Ok(Json(explain::explain(&s, &p, req).await?))
}

// ---------------------------------------------------------------------------------------------
// Browser flow

/// The pre-auth cookie binding a callback to the browser that started the sign-in.
fn binding_cookie_name(s: &AppState) -> &'static str {
    if cookies::secure(s) {
        "__Host-idbridge_sso"
    } else {
        "idbridge_sso"
    }
}

fn binding_cookie(s: &AppState, value: &str, max_age: i64) -> String {
    let secure = cookies::secure(s);
    cookies::set_cookie(
        binding_cookie_name(s),
        value,
        max_age,
        SameSite::Lax,
        "",
        secure,
    )
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    crate::web::html::no_store(r)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// Where to go after the sign-in: a local path, or a URL forward auth may redirect to;
    /// anything else is ignored.
    pub rd: Option<String>,
    /// Passed on to the IdP (OIDC `login_hint`; at most 256 characters, longer is dropped).
    pub login_hint: Option<String>,
}

/// Starts a sign-in through a connection: sends the browser to the IdP.
///
/// OIDC: an authorization request (code flow, PKCE, `state`, `nonce`). SAML: an AuthnRequest
/// over the HTTP-Redirect binding. A pre-auth cookie binds the answer to this browser. A
/// failure shows one generic HTML page with a reference; the cause goes to the log.
#[utoipa::path(get, path = "/sso/{id}/start", tag = "sso", security(()),
    params(ConnectionId, StartParams),
    responses(
        (status = 303, description = "To the IdP, with the pre-auth cookie",
            headers(
                ("Location" = String, description = "The IdP's authorization endpoint (OIDC) or single sign-on service (SAML)"),
                ("Set-Cookie" = String, description = "The pre-auth cookie (10 minutes)"),
            )),
        (status = 400, description = "The sign-in failure page (HTML): no enabled connection with this id, or its issuer is refused",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 500, description = "The sign-in failure page: the IdP's discovery document cannot be fetched", content_type = "text/html", body = String),
    ))]
async fn start_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<StartParams>,
) -> Response {
    let clear = binding_cookie(&s, "", 0);
    let row = match signin::enabled_connection(&s, &id, None).await {
        Ok(r) => r,
        Err(f) => return f.page(rid.as_deref(), &clear),
    };
    let rd = crate::web::redirect::safe_rd(&s, q.rd.as_deref());
    let saml = row.kind == crate::domain::ConnectionKind::Saml;
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
    if cookies::secure(s) {
        "__Host-idbridge_saml"
    } else {
        "idbridge_saml"
    }
}

fn saml_binding_cookie(s: &AppState, value: &str, max_age: i64) -> String {
    let secure = cookies::secure(s);
    let name = saml_binding_cookie_name(s);
    cookies::set_cookie(name, value, max_age, SameSite::None, "", secure)
}

/// A SAML logout message over the HTTP-POST binding.
#[derive(Debug, Deserialize, ToSchema)]
struct SloForm {
    /// The IdP's `LogoutRequest`, base64.
    #[serde(rename = "SAMLRequest")]
    request: Option<String>,
    /// The IdP's `LogoutResponse` to ours, base64.
    #[serde(rename = "SAMLResponse")]
    response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// Single logout from the IdP over HTTP-Redirect.
///
/// A LogoutRequest, or the LogoutResponse to ours. The query is the binding's: `SAMLRequest`
/// or `SAMLResponse`, `RelayState`, `SigAlg`, `Signature`, verified against the IdP's
/// certificates. A LogoutRequest ends the sessions it names and is answered with a signed
/// LogoutResponse.
#[utoipa::path(get, path = "/sso/saml/{id}/slo", tag = "sso", security(()), params(ConnectionId),
    responses(
        (status = 303, description = "A LogoutRequest was handled: to the IdP's single logout service with the LogoutResponse",
            headers(("Location" = String))),
        (status = 200, description = "The IdP answered our logout: the signed-out page", content_type = "text/html", body = String),
        (status = 400, description = "The failure page (HTML): no enabled SAML connection with this id, no or a malformed message, a bad signature, or no single logout service to answer", content_type = "text/html", body = String),
    ))]
async fn saml_slo_get_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    saml_slo(&s, rid.as_deref(), &id, uri.query(), None).await
}

/// Single logout from the IdP over HTTP-POST.
///
/// The form carries `SAMLRequest` or `SAMLResponse`, and `RelayState`; the message is
/// verified against the IdP's certificates. A LogoutRequest ends the sessions it names and is
/// answered with a signed LogoutResponse.
#[utoipa::path(post, path = "/sso/saml/{id}/slo", tag = "sso", security(()), params(ConnectionId),
    request_body(content = SloForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "A LogoutRequest was handled: to the IdP's single logout service with the LogoutResponse",
            headers(("Location" = String))),
        (status = 200, description = "The IdP answered our logout: the signed-out page", content_type = "text/html", body = String),
        (status = 400, description = "The failure page (HTML): no enabled SAML connection with this id, no or a malformed message, a bad signature, or no single logout service to answer", content_type = "text/html", body = String),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse", content_type = "text/plain", body = String),
    ))]
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
        let row =
            signin::enabled_connection(s, id, Some(crate::domain::ConnectionKind::Saml)).await?;
        super::saml_sp::handle_logout(s, &row, query, posted, rid).await
    }
    .await;
    match result {
        Ok(super::saml_sp::SloOutcome::Redirect(to)) => see_other(&to),
        Ok(super::saml_sp::SloOutcome::Done) => crate::web::html::page(
            StatusCode::OK,
            "Signed out",
            "<p>You are signed out.</p><p><a href=\"/login\">Sign in again</a></p>",
        ),
        Err(f) => f.page(rid, ""),
    }
}

/// The SP metadata of a SAML connection, for the IdP's administrator.
///
/// Public, like every SP's. Its URL is also the SP's entity id. It names the ACS and single
/// logout URLs and the SP's certificate.
#[utoipa::path(get, path = "/sso/saml/{id}/metadata", tag = "sso", security(()), params(ConnectionId),
    responses(
        (status = 200, description = "The SP's `EntityDescriptor`", content_type = "application/samlmetadata+xml", body = String),
        (status = 400, description = "The failure page (HTML): no enabled SAML connection with this id", content_type = "text/html", body = String),
    ))]
async fn saml_metadata_h(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
) -> Response {
    let row = match signin::enabled_connection(&s, &id, Some(crate::domain::ConnectionKind::Saml))
        .await
    {
        Ok(r) => r,
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

/// The assertion consumer service (HTTP-POST binding): the IdP's response signs the browser in.
///
/// The response must answer a pending AuthnRequest of this browser (`RelayState` and the
/// pre-auth cookie), or be unsolicited on a connection that allows IdP-initiated sign-in. It is
/// verified (signature, audience, recipient, validity window, single use), then the user is
/// found, linked or created and a session starts. A failure shows one generic HTML page with a
/// reference; the cause goes to the log.
#[utoipa::path(post, path = "/sso/saml/{id}/acs", tag = "sso", security(()), params(ConnectionId),
    request_body(content = super::saml_sp::AcsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the `rd` of the start (or an allowed RelayState target), else `/login`, with the session cookie. An unsolicited response for another user in a signed-in browser keeps that session and goes to `/login`",
            headers(
                ("Location" = String),
                ("Set-Cookie" = String, description = "The session cookie; the pre-auth cookie cleared"),
            )),
        (status = 400, description = "The sign-in failure page (HTML): no enabled SAML connection with this id, an unknown or used request, another browser, an unsolicited response the connection does not allow, a response that does not verify, a replay, a transient NameID, no usable email", content_type = "text/html", body = String),
        (status = 403, description = "The access-denied page (HTML): the sign-in worked but the account may not use it here (tenant suspended, user deactivated or deleted, email domain not allowed or owned by another organisation)", content_type = "text/html", body = String),
        (status = 409, description = "The account-needs-linking page (HTML): an account with this email exists and may not be linked automatically", content_type = "text/html", body = String),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse (no `SAMLResponse`)", content_type = "text/plain", body = String),
    ))]
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
        let row = signin::enabled_connection(&s, &id, Some(crate::domain::ConnectionKind::Saml)).await?;
        let binding =
            crate::web::cookies::value(&headers, saml_binding_cookie_name(&s));
        let done = super::saml_sp::finish(&s, &row, form, binding).await?;
        // An unsolicited response must not silently replace the browser's session with another
        // user's (login CSRF through IdP-initiated sign-in): the existing session is kept.
        if done.consume.pending_state_hash.is_none()
            && let Some(current) = crate::web::session::signed_in(&s, &headers).await
            && signin::is_another_user(&s, &current, &done.identity).await?
        {
            tracing::warn!(connection = %row.id, "an IdP-initiated sign-in for another user arrived in a signed-in browser; the existing session is kept");
            return Ok(see_other("/login"));
        }
        let (signed, return_to) = signin::complete(
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

/// The OIDC redirect URI: the IdP's authorization response signs the browser in.
///
/// `state` must be a pending sign-in of this browser (the pre-auth cookie); the code is
/// exchanged (PKCE) and the ID token verified, then the user is found, linked or created and a
/// session starts. A failure shows one generic HTML page with a reference; the cause goes to
/// the log.
#[utoipa::path(get, path = "/sso/oidc/{id}/callback", tag = "sso", security(()),
    params(ConnectionId, oidc::CallbackParams),
    responses(
        (status = 303, description = "Signed in: to the `rd` of the start, else `/login`, with the session cookie",
            headers(
                ("Location" = String),
                ("Set-Cookie" = String, description = "The session cookie; the pre-auth cookie cleared"),
            )),
        (status = 400, description = "The sign-in failure page (HTML): no enabled OIDC connection with this id, the IdP's `error`, a missing, unknown, used or expired `state`, another browser, an issuer mismatch, a failed code exchange, an ID token that does not verify, no usable email",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 403, description = "The access-denied page (HTML): the sign-in worked but the account may not use it here (tenant suspended, user deactivated or deleted, email domain not allowed or owned by another organisation)", content_type = "text/html", body = String),
        (status = 409, description = "The account-needs-linking page (HTML): an account with this email exists and may not be linked automatically", content_type = "text/html", body = String),
        (status = 500, description = "The sign-in failure page: the IdP's discovery document cannot be fetched", content_type = "text/html", body = String),
    ))]
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
    let row = signin::enabled_connection(s, id, Some(crate::domain::ConnectionKind::Oidc)).await?;
    let binding = crate::web::cookies::value(headers, binding_cookie_name(s));
    let done = oidc::finish(s, &row, q, binding).await?;
    let (signed, return_to) = signin::complete(
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

/// The sign-in page's "Continue with SSO" form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DiscoverForm {
    /// The work email; its domain picks the connection.
    pub email: String,
    /// Where to go after the sign-in (as `rd` of the start).
    #[serde(default)]
    pub rd: String,
}

/// Home-realm discovery: the email's domain picks the connection.
///
/// The connection whose email domains hold the email's domain starts the sign-in, with the
/// email as `login_hint`.
#[utoipa::path(post, path = "/sso/discover", tag = "sso", security(()),
    request_body(content = DiscoverForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the connection's start (`/sso/{id}/start?login_hint=...`)",
            headers(("Location" = String))),
        (status = 200, description = "No connection for this email domain: the sign-in page says so", content_type = "text/html", body = String),
        (status = 413, description = "The body is larger than `server.body_limit_bytes`", content_type = "text/plain", body = String),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", content_type = "text/plain", body = String),
        (status = 422, description = "The form does not parse (no `email`)", content_type = "text/plain", body = String),
    ))]
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
                crate::engine::url::url_encode(f.email.trim())
            );
            if let Some(rd) = crate::web::redirect::safe_rd(&s, Some(&f.rd)) {
                to.push_str("&rd=");
                to.push_str(&crate::engine::url::url_encode(&rd));
            }
            see_other(&to)
        }
        None => crate::web::html::page(
            StatusCode::OK,
            "Sign in",
            "<p class=\"err\">No single sign-on is set up for this email domain. Sign in with your password, or ask your administrator.</p><p><a href=\"/login\">Back</a></p>",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Logout: the idbridge session, then the IdP's (OIDC RP-initiated logout) when it offers one.

async fn logout_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let field = crate::web::session::csrf_field(&crate::web::session::csrf_of(&s, &headers));
    crate::web::html::page(
        StatusCode::OK,
        "Sign out",
        &format!(
            "<form method=\"post\" action=\"/logout\">{field}<button type=\"submit\">Sign out</button></form>"
        ),
    )
}

/// Signs the browser out: a form of idbridge's own pages only (the one browser-write rule, so a
/// foreign page cannot sign people out).
async fn logout_submit(
    State(s): State<AppState>,
    RequestId(rid): RequestId,
    crate::web::session::BrowserForm { browser, .. }: crate::web::session::BrowserForm<
        crate::web::session::NoFields,
    >,
) -> Response {
    let mut to = "/login".to_string();
    {
        let p = &browser.principal;
        let upstream =
            signin::idp_logout_url(&s, p.session_id.as_deref().unwrap_or_default()).await;
        if let Err(e) = crate::auth::service::logout(&s, p, rid.as_deref()).await {
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

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    pub tenant: String,
}

/// The sign-in page's tenant switcher: moves the browser's session to another of the user's
/// tenants. Same-origin forms only.
async fn switch_tenant_submit(
    State(s): State<AppState>,
    crate::web::session::BrowserForm { browser, form: f }: crate::web::session::BrowserForm<
        SwitchForm,
    >,
) -> Response {
    match crate::auth::service::switch_tenant(
        &s,
        &browser.principal,
        crate::auth::service::SwitchTenantRequest { tenant: f.tenant },
    )
    .await
    {
        Ok(_) => see_other("/login"),
        Err(e) => {
            let text = e.to_string();
            crate::web::html::page(
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
