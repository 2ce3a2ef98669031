//! `/api/auth/*` and `/api/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use super::principal::Principal;
use super::service::{self, SignedIn};
use crate::http::{ApiResult, AppJson, ClientInfo, RequestId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/switch-tenant", post(switch_tenant))
        .route("/api/auth/invite", post(invite))
        .route("/api/auth/signup-exchange", post(signup_exchange))
        .route("/api/auth/invites/accept", post(accept_invite))
        .route(
            "/api/auth/invites/{id}",
            axum::routing::delete(revoke_invite),
        )
        .route("/api/auth/forgot-password", post(forgot_password))
        .route("/api/auth/reset-password", post(reset_password))
        .route("/api/me", get(me))
}

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

async fn login(
    State(s): State<AppState>,
    client: ClientInfo,
    rid: RequestId,
    AppJson(body): AppJson<service::LoginRequest>,
) -> ApiResult<Response> {
    let out = service::login(&s, &client, rid.0.as_deref(), body).await?;
    Ok(signed_in(&s, StatusCode::OK, out))
}

async fn logout(State(s): State<AppState>, p: Principal, rid: RequestId) -> ApiResult<Response> {
    service::logout(&s, &p, rid.0.as_deref()).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&service::session_cookie(&s, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

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

async fn invite(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<service::InviteRequest>,
) -> ApiResult<(StatusCode, Json<service::InviteCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::invite(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

async fn signup_exchange(
    State(s): State<AppState>,
    client: ClientInfo,
    AppJson(body): AppJson<service::SignupExchangeRequest>,
) -> ApiResult<Response> {
    let out = service::signup_exchange(&s, &client, body).await?;
    Ok(signed_in(&s, StatusCode::CREATED, out))
}

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

async fn revoke_invite(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<StatusCode> {
    service::revoke_invite(&s, &p, rid.0.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn forgot_password(
    State(s): State<AppState>,
    AppJson(body): AppJson<service::ForgotPasswordRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    service::forgot_password(&s, body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "if an active account has this email, a reset link is on its way"})),
    ))
}

async fn reset_password(
    State(s): State<AppState>,
    AppJson(body): AppJson<service::ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    service::reset_password(&s, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(s): State<AppState>, p: Principal) -> ApiResult<Json<service::Me>> {
    Ok(Json(service::me(&s, &p).await?))
}
