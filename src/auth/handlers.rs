//! `/api/auth/*` and `/api/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::invites;
use super::principal::Principal;
use super::service::{self, SignedIn};
use super::verified::MeBody;
use crate::http::extract::Caller;
use crate::http::openapi::ErrorBody;
use crate::http::{ApiResult, AppJson, ClientInfo, RequestId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(switch_tenant))
        .routes(routes!(invite))
        .routes(routes!(signup_exchange))
        .routes(routes!(accept_invite))
        .routes(routes!(revoke_invite))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(me))
}

/// The `{id}` of `/api/auth/invites/{id}`.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct InviteId(
    /// The invite's id
    String,
);

/// The answer to a password-reset request, the same whether or not the account exists.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ResetRequested {
    #[schema(value_type = String)]
    pub message: &'static str,
}

/// Creates the first platform admin and the first tenant of a fresh deployment.
///
/// Open only while there are no users, and only with the `bootstrap_token` that `idbridge
/// serve` printed at start (or run `idbridge bootstrap` on the server instead).
///
/// Permission: none (the bootstrap token).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", security(()), request_body = service::RegisterRequest,
    responses(
        (status = 201, body = service::Registered),
        (status = 400, description = "`invalid_email`, `invalid_name`, `weak_password`, `invalid_slug`, `unknown_preset` (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`registration_closed`: users exist; `bootstrap_token_required`", body = ErrorBody),
        (status = 503, description = "`overloaded`: the password-hash queue is full; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn register(
    State(s): State<AppState>,
    AppJson(body): AppJson<service::RegisterRequest>,
) -> ApiResult<(StatusCode, Json<service::Registered>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::register(&s, body, service::RegisterVia::Api).await?),
    ))
}

/// A sign-in response: the JSON body and the session cookie.
fn signed_in(s: &AppState, status: StatusCode, out: SignedIn) -> Response {
    let cookie = service::session_cookie(s, &out.session_token, out.session_max_age);
    let mut resp = (status, Json(out)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    no_store(resp.headers_mut());
    resp
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Signs in with email and password: an access token in the body, the session in a cookie.
///
/// Failures are throttled per account and per address; a wrong email and a wrong password get
/// the same answer.
///
/// Permission: none (the credentials). The tenant must allow password sign-in.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()), request_body = service::LoginRequest,
    responses(
        (status = 200, body = SignedIn, headers(("Set-Cookie" = String, description = "The session cookie (`__Host-`, Secure, HttpOnly, SameSite=Lax)"))),
        (status = 400, description = "`invalid_credentials`: wrong email or password", body = ErrorBody),
        (status = 403, description = "`account_disabled`, `not_a_member`, `no_tenant`, `password_login_disabled`: the tenant signs in with SSO only", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failed attempts; retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "`overloaded`: the password-hash queue is full; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn login(
    State(s): State<AppState>,
    client: ClientInfo,
    rid: RequestId,
    AppJson(body): AppJson<service::LoginRequest>,
) -> ApiResult<Response> {
    let out = service::login(&s, &client, rid.0.as_deref(), body).await?;
    Ok(signed_in(&s, StatusCode::OK, out))
}

/// Ends the caller's session and clears its cookie.
///
/// Permission: none beyond a session (an integration token has none to end).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out", headers(("Set-Cookie" = String, description = "The session cookie, expired"))),
        (status = 400, description = "`not_a_session`: the caller is an integration token", body = ErrorBody),
    ))]
async fn logout(State(s): State<AppState>, p: Principal, rid: RequestId) -> ApiResult<Response> {
    service::logout(&s, &p, rid.0.as_deref()).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&service::session_cookie(&s, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Moves the caller's session to another tenant they belong to, with a new access token.
///
/// Permission: membership of the tenant (platform admins: any tenant); the tenant must allow
/// the session's sign-in method.
#[utoipa::path(post, path = "/api/auth/switch-tenant", tag = "auth", request_body = service::SwitchTenantRequest,
    responses(
        (status = 200, body = service::Switched),
        (status = 400, description = "`not_a_session`: integration tokens are bound to one tenant", body = ErrorBody),
        (status = 403, description = "`password_login_disabled`: the tenant signs in with SSO only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, or not a member", body = ErrorBody),
    ))]
async fn switch_tenant(
    State(s): State<AppState>,
    p: Principal,
    AppJson(body): AppJson<service::SwitchTenantRequest>,
) -> ApiResult<Response> {
    let out = service::switch_tenant(&s, &p, body).await?;
    let mut resp = Json(out).into_response();
    no_store(resp.headers_mut());
    Ok(resp)
}

/// Invites a person to the tenant with one role: a one-time link, mailed when mail is set up
/// (otherwise returned in the answer).
///
/// Permission: `users:write` or `rbac:manage` in the tenant, and every permission of the role
/// (an invite is a grant). The email's domain must not be a verified domain of another
/// organisation.
#[utoipa::path(post, path = "/api/auth/invite", tag = "auth", request_body = invites::InviteRequest,
    responses(
        (status = 201, body = invites::InviteCreated),
        (status = 400, description = "`invalid_email`; `role_not_available`: the tenant's RBAC tier does not expose the role", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`: the caller does not hold a permission of the role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant or role", body = ErrorBody),
        (status = 409, description = "`already_member`; `domain_owned`: another organisation verified the email's domain", body = ErrorBody),
    ))]
async fn invite(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<invites::InviteRequest>,
) -> ApiResult<(StatusCode, Json<invites::InviteCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(invites::invite(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// Turns an invite link into an account with the invited role, and signs the new user in.
///
/// Permission: none (the invite token).
#[utoipa::path(post, path = "/api/auth/signup-exchange", tag = "auth", security(()), request_body = service::SignupExchangeRequest,
    responses(
        (status = 201, body = SignedIn, headers(("Set-Cookie" = String, description = "The session cookie (`__Host-`, Secure, HttpOnly, SameSite=Lax)"))),
        (status = 400, description = "`weak_password`, `invalid_name` (the field named by `field`)", body = ErrorBody),
        (status = 409, description = "`account_exists`: sign in and accept the invite instead", body = ErrorBody),
        (status = 410, description = "`invite_invalid`, `invite_used`, `invite_expired`", body = ErrorBody),
        (status = 503, description = "`overloaded`: the password-hash queue is full; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn signup_exchange(
    State(s): State<AppState>,
    client: ClientInfo,
    AppJson(body): AppJson<service::SignupExchangeRequest>,
) -> ApiResult<Response> {
    let out = service::signup_exchange(&s, &client, body).await?;
    Ok(signed_in(&s, StatusCode::CREATED, out))
}

/// Accepts an invite as the signed-in owner of the invited email: joins the tenant with the
/// invited role.
///
/// Permission: a person signed in as the invited email.
#[utoipa::path(post, path = "/api/auth/invites/accept", tag = "auth", request_body = service::AcceptInvite,
    responses(
        (status = 200, description = "The tenant joined", body = crate::tenants::TenantView),
        (status = 403, description = "`not_a_person`: an integration token; `invite_for_another_account`", body = ErrorBody),
        (status = 404, description = "`not_found`: the tenant is gone", body = ErrorBody),
        (status = 410, description = "`invite_invalid`, `invite_used`, `invite_expired`", body = ErrorBody),
    ))]
async fn accept_invite(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<service::AcceptInvite>,
) -> ApiResult<Json<crate::tenants::TenantView>> {
    Ok(Json(
        service::accept_invite(&s, &p, rid.0.as_deref(), body).await?,
    ))
}

/// Revokes an invite that has not been used.
///
/// Permission: `users:write` or `rbac:manage` in the invite's tenant (otherwise the invite is
/// not found).
#[utoipa::path(delete, path = "/api/auth/invites/{id}", tag = "auth", params(InviteId),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`not_found`: no such invite visible to the caller", body = ErrorBody),
        (status = 410, description = "`invite_used`, `invite_expired`", body = ErrorBody),
    ))]
async fn revoke_invite(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<StatusCode> {
    service::revoke_invite(&s, &p, rid.0.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks for a password-reset link by mail.
///
/// The answer is the same, at once, whether or not an active account has the email; links are
/// mailed at most `throttle.forgot_password_per_hour` times an hour per account.
///
/// Permission: none.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth", security(()), request_body = service::ForgotPasswordRequest,
    responses(
        (status = 202, body = ResetRequested),
    ))]
async fn forgot_password(
    State(s): State<AppState>,
    AppJson(body): AppJson<service::ForgotPasswordRequest>,
) -> ApiResult<(StatusCode, Json<ResetRequested>)> {
    service::forgot_password(&s, body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetRequested {
            message: "if an active account has this email, a reset link is on its way",
        }),
    ))
}

/// Sets a new password from a one-time reset link and ends every session of the account.
///
/// Permission: none (the reset token).
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth", security(()), request_body = service::ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is set"),
        (status = 400, description = "`weak_password`", body = ErrorBody),
        (status = 410, description = "`reset_invalid`, `reset_used`, `reset_expired`", body = ErrorBody),
        (status = 503, description = "`overloaded`: the password-hash queue is full; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn reset_password(
    State(s): State<AppState>,
    AppJson(body): AppJson<service::ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    service::reset_password(&s, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller: their user (or integration token), current tenant, roles, effective
/// permissions and the tenants they may switch to.
///
/// Permission: none beyond being signed in.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses(
        (status = 200, body = service::Me),
    ))]
async fn me(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    // Read before the store is: a write committed meanwhile leaves the body stale-stamped.
    let (writes, now) = (s.generations.writes(), s.now_ms());
    let json = match caller.verified.me(writes, now) {
        Some(json) => json,
        None => {
            let me = service::me(&s, &caller.principal()).await?;
            let json = axum::body::Bytes::from(
                serde_json::to_vec(&me).map_err(crate::error::Error::internal)?,
            );
            caller.verified.keep_me(MeBody {
                writes,
                built_ms: now,
                json: json.clone(),
            });
            json
        }
    };
    Ok(crate::http::json_response(json))
}

/// `GET /api/me` for a caller whose entry and body are cached and current: answered before
/// routing (see `http::router`), with the handler's answer; `None` otherwise (the handler then
/// answers, and keeps the body).
pub fn me_from_cache(
    s: &AppState,
    _peer: std::net::SocketAddr,
    req: &axum::extract::Request,
) -> Option<(Response, Option<std::sync::Arc<super::verified::Verified>>)> {
    use super::authenticate::{Credential, Scope, cached};
    if req.uri().query().is_some() {
        return None;
    }
    let credential = Credential::of(s, req.headers()).ok()??;
    let v = cached(s, &credential.key(Scope::default()))?;
    let body = v.me(s.generations.writes(), s.now_ms())?;
    Some((crate::http::json_response(body), Some(v)))
}
