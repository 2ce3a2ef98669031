//! `/api/roles`, `/api/rbac/*`: thin handlers over [`super::roles`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use super::roles;
use crate::auth::principal::Principal;
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::state::AppState;
use crate::users::service::TenantParam;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/roles", get(list).post(create))
        .route("/api/roles/bulk-assign", post(bulk_assign))
        .route("/api/roles/{id}", get(detail).patch(patch).delete(delete))
        .route("/api/rbac/can-i", get(can_i))
        .route(
            "/api/rbac/role-permissions",
            get(get_permissions).put(put_permissions),
        )
}

async fn list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    let items = roles::list(&s, &p, q.tenant.as_deref()).await?;
    Ok(Json(
        serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

async fn create(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<roles::CreateRole>,
) -> ApiResult<(StatusCode, Json<roles::RoleView>)> {
    Ok((
        StatusCode::CREATED,
        Json(roles::create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<roles::RoleDetail>> {
    Ok(Json(roles::get(&s, &p, &id, q.tenant.as_deref()).await?))
}

async fn patch(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppJson(body): AppJson<roles::PatchRole>,
) -> ApiResult<Json<roles::RoleView>> {
    Ok(Json(
        roles::patch(&s, &p, rid.0.as_deref(), &id, body).await?,
    ))
}

async fn delete(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<StatusCode> {
    roles::delete(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bulk_assign(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<roles::BulkAssign>,
) -> ApiResult<Json<roles::BulkResult>> {
    Ok(Json(
        roles::bulk_assign(&s, &p, rid.0.as_deref(), body).await?,
    ))
}

async fn can_i(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<roles::CanIParams>,
) -> ApiResult<Json<roles::CanI>> {
    Ok(Json(roles::can_i(&s, &p, q).await?))
}

#[derive(Deserialize)]
struct RoleIdParam {
    role_id: String,
}

async fn get_permissions(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<RoleIdParam>,
) -> ApiResult<Json<roles::RolePermissions>> {
    Ok(Json(roles::get_permissions(&s, &p, &q.role_id).await?))
}

async fn put_permissions(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppQuery(q): AppQuery<RoleIdParam>,
    AppJson(body): AppJson<roles::PutPermissions>,
) -> ApiResult<Json<roles::RolePermissions>> {
    Ok(Json(
        roles::put_permissions(&s, &p, rid.0.as_deref(), &q.role_id, body).await?,
    ))
}
