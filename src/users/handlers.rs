//! `/api/users/*`: thin handlers over [`super::service`] and the role assignment service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::UserView;
use super::service::{self, ListParams, Page, PatchUser, TenantParam};
use crate::auth::principal::Principal;
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::roles;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).post(create))
        .route("/api/users/stats", get(stats))
        .route("/api/users/{id}", get(detail).patch(patch).delete(remove))
        .route("/api/users/{id}/restore", post(restore))
        .route("/api/users/{id}/sessions", delete(revoke_sessions))
        .route("/api/users/{id}/password-reset-link", post(reset_link))
        .route("/api/users/{id}/roles", get(user_roles).post(add_role))
        .route("/api/users/{id}/roles/{role}", delete(remove_role))
}

async fn list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<ListParams>,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(service::list(&s, &p, q).await?))
}

async fn stats(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<service::Stats>> {
    Ok(Json(service::stats(&s, &p, q.tenant.as_deref()).await?))
}

async fn create(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<service::CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(service::get(&s, &p, &id, q.tenant.as_deref()).await?))
}

async fn patch(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppJson(body): AppJson<PatchUser>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        service::patch(&s, &p, rid.0.as_deref(), &id, body).await?,
    ))
}

async fn remove(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<StatusCode> {
    service::delete(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        service::restore(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?,
    ))
}

async fn revoke_sessions(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    let n = service::revoke_sessions(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(Json(serde_json::json!({"revoked_sessions": n})))
}

async fn reset_link(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<(StatusCode, Json<crate::auth::service::ResetLink>)> {
    Ok((
        StatusCode::CREATED,
        Json(crate::auth::service::admin_reset_link(&s, &p, &id, q.tenant.as_deref()).await?),
    ))
}

async fn user_roles(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    let items = roles::user_roles(&s, &p, &id, q.tenant.as_deref()).await?;
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

async fn add_role(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppJson(body): AppJson<roles::AddRole>,
) -> ApiResult<(StatusCode, Json<roles::AssignmentOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(roles::add_user_role(&s, &p, rid.0.as_deref(), &id, body).await?),
    ))
}

async fn remove_role(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path((id, role)): Path<(String, String)>,
    AppQuery(q): AppQuery<roles::RemoveRoleParams>,
) -> ApiResult<StatusCode> {
    roles::remove_user_role(&s, &p, rid.0.as_deref(), &id, &role, q).await?;
    Ok(StatusCode::NO_CONTENT)
}
