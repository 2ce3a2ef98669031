//! `/api/roles`, `/api/rbac/*`: thin handlers over [`super::roles`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::roles;
use crate::auth::authenticate::{self, Credential, Scope};
use crate::auth::principal::Principal;
use crate::auth::verified::Verified;
use crate::domain::PermissionPattern;
use crate::http::extract::Caller;
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(bulk_assign))
        .routes(routes!(detail, patch, delete))
        .routes(routes!(can_i))
        .routes(routes!(get_permissions, put_permissions))
}

/// The roles of the tenant's organisation: built-in and custom, with their permissions and
/// how many users hold each.
///
/// Roles belong to the organisation (root tenant) and are used in it and its subtenants;
/// `available` says whether the tenant's RBAC tier exposes the role.
///
/// Permission: `rbac:read`, `rbac:manage` or `users:read` in the tenant.
#[utoipa::path(get, path = "/api/roles", tag = "roles", params(TenantParam),
    responses(
        (status = 200, body = Page<roles::RoleView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<roles::RoleView>>> {
    let items = roles::list(&s, &p, q.tenant.as_deref()).await?;
    Ok(Json(Page::all(items)))
}

/// Creates a custom role in the tenant's organisation.
///
/// Every permission must lie inside the organisation's boundary, and the caller must hold each
/// one ("you cannot grant what you do not hold").
///
/// Permission: `rbac:manage` in the organisation (the root tenant of `tenant`).
#[utoipa::path(post, path = "/api/roles", tag = "roles", request_body = roles::CreateRole,
    responses(
        (status = 201, body = roles::RoleView),
        (status = 400, description = "`invalid_role_name`, `too_many_permissions`, `invalid_permission`, `outside_boundary`: a permission the organisation's boundary does not allow", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `privilege_escalation`: the caller does not hold one of the permissions", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`role_name_taken`", body = ErrorBody),
    ))]
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

/// One role, with its permissions by entity, its scoped permissions and its holders.
///
/// Permission: `rbac:read`, `rbac:manage` or `users:read` in the tenant.
#[utoipa::path(get, path = "/api/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "The role's id"), TenantParam),
    responses(
        (status = 200, body = roles::RoleDetail),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role in the tenant's organisation, or no such tenant", body = ErrorBody),
    ))]
async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<roles::RoleDetail>> {
    Ok(Json(roles::get(&s, &p, &id, q.tenant.as_deref()).await?))
}

/// Renames a role, changes its display name or description, or replaces its permissions.
///
/// Built-in roles keep their name, and the built-in admin role keeps `*`. Removing permissions
/// is always allowed; each added one must lie inside the boundary and be held by the caller.
///
/// Permission: `rbac:manage` in the organisation (the root tenant of `tenant`).
#[utoipa::path(patch, path = "/api/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "The role's id")),
    request_body = roles::PatchRole,
    responses(
        (status = 200, body = roles::RoleView),
        (status = 400, description = "`invalid_role_name`, `too_many_permissions`, `invalid_permission`, `outside_boundary`", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `builtin_role`: a built-in role cannot be renamed, and the admin role keeps `*`; `privilege_escalation`: an added permission the caller does not hold", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role or tenant", body = ErrorBody),
        (status = 409, description = "`role_name_taken`", body = ErrorBody),
    ))]
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

/// Deletes a custom role, and with it every assignment of it.
///
/// Permission: `rbac:manage` in the organisation (the root tenant of `tenant`).
#[utoipa::path(delete, path = "/api/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "The role's id"), TenantParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`permission_denied`; `builtin_role`: built-in roles cannot be deleted", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role or tenant", body = ErrorBody),
    ))]
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

/// Adds, removes or replaces roles for many users at once, in the tenant or one of its
/// subtenants: all of it or nothing.
///
/// `replace` removes every role the users hold there first (with no roles given it only
/// removes). The tenant's last active admin keeps their role.
///
/// Permission: `rbac:assign` or `rbac:manage` where the roles are assigned (the tenant, or
/// `subtenant`); to add, the caller must hold every permission of each role; the caller must
/// outrank each user.
#[utoipa::path(post, path = "/api/roles/bulk-assign", tag = "roles", request_body = roles::BulkAssign,
    responses(
        (status = 200, body = roles::BulkResult),
        (status = 400, description = "`invalid_user_ids`: give 1 to 10000; `role_required`: give `role_ids` or `roles`; `role_not_available`: a role beyond the tenant's RBAC tier", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`, `outranked`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, subtenant, role or user", body = ErrorBody),
        (status = 409, description = "`last_admin`: the tenant would have no active admin", body = ErrorBody),
    ))]
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

/// Whether the caller holds a permission in a tenant (or one of its subtenants), and why.
///
/// Permission: any signed-in user (the answer is about the caller).
#[utoipa::path(get, path = "/api/rbac/can-i", tag = "roles", params(roles::CanIParams),
    responses(
        (status = 200, body = roles::CanI),
        (status = 400, description = "`invalid_permission`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant or subtenant", body = ErrorBody),
    ))]
async fn can_i(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    AppQuery(q): AppQuery<roles::CanIParams>,
) -> ApiResult<Json<roles::CanI>> {
    let wanted = PermissionPattern::parse(&q.permission)?;
    if q.subtenant.as_deref().is_some_and(|s| !s.is_empty()) {
        return Ok(Json(roles::can_i(&s, &caller.principal(), q).await?));
    }
    let Some(slug) = q.tenant.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(Json(roles::can_i_in(&caller.verified, &wanted)));
    };
    // Verified for that tenant (and cached: the next call is answered before routing).
    {
        let mut c = s.store.acquire().await?;
        crate::rbac::service::tenant_for(&mut c, &caller.principal(), Some(slug)).await?;
    }
    let credential = Credential::of(&s, &headers)?.ok_or(crate::error::Error::Unauthenticated)?;
    let scope = Scope {
        tenant: Some(slug),
        audience: None,
    };
    let v = authenticate::verified(&s, credential, scope).await?;
    Ok(Json(roles::can_i_in(&v, &wanted)))
}

/// `GET /api/rbac/can-i` for a caller whose entry for the asked tenant is in the
/// verified-credential cache and current: answered before routing (see `http::router`),
/// with the router's answer. `None` for anything else (no credential, a miss, `subtenant`, a
/// query that does not parse): the handler above then answers.
pub fn can_i_from_cache(
    s: &AppState,
    _peer: std::net::SocketAddr,
    req: &axum::extract::Request,
) -> Option<(axum::response::Response, Option<Arc<Verified>>)> {
    let (permission, tenant) = plain_query(req.uri().query()?)?;
    let credential = Credential::of(s, req.headers()).ok()??;
    let scope = Scope {
        tenant,
        audience: None,
    };
    let v = authenticate::cached(s, &credential.key(scope))?;
    let body = match v.answer(permission) {
        Some(body) => body,
        None => {
            let wanted = PermissionPattern::parse(permission).ok()?;
            let body =
                axum::body::Bytes::from(serde_json::to_vec(&roles::can_i_in(&v, &wanted)).ok()?);
            v.keep_answer(permission, body.clone());
            body
        }
    };
    Some((crate::http::json_response(body), Some(v)))
}

/// `permission=...` and an optional `tenant=...`, each once and without escapes; `None` for
/// anything else (`subtenant`, an unknown or repeated parameter, an escape), which the router
/// parses and answers.
fn plain_query(q: &str) -> Option<(&str, Option<&str>)> {
    let (mut permission, mut tenant) = (None, None);
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=')?;
        if v.contains(['%', '+']) {
            return None;
        }
        match k {
            "permission" if permission.is_none() => permission = Some(v),
            "tenant" if tenant.is_none() => tenant = Some(v),
            _ => return None,
        }
    }
    Some((permission?, tenant.filter(|t| !t.is_empty())))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RoleIdParam {
    /// The role's id.
    role_id: String,
}

/// A role's permissions with their scopes (the subtenant each is limited to).
///
/// Permission: `rbac:read` or `rbac:manage` in the caller's current tenant.
#[utoipa::path(get, path = "/api/rbac/role-permissions", tag = "roles", params(RoleIdParam),
    responses(
        (status = 200, body = roles::RolePermissions),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role in the organisation of the caller's current tenant, or no such tenant", body = ErrorBody),
    ))]
async fn get_permissions(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<RoleIdParam>,
) -> ApiResult<Json<roles::RolePermissions>> {
    Ok(Json(roles::get_permissions(&s, &p, &q.role_id).await?))
}

/// Replaces a role's permissions, each everywhere the role applies or limited to one
/// subtenant of the organisation.
///
/// Removing permissions is always allowed; each added one must lie inside the boundary and be
/// held by the caller. The built-in admin role keeps `*`.
///
/// Permission: `rbac:manage` in the organisation of the caller's current tenant.
#[utoipa::path(put, path = "/api/rbac/role-permissions", tag = "roles", params(RoleIdParam),
    request_body = roles::PutPermissions,
    responses(
        (status = 200, body = roles::RolePermissions),
        (status = 400, description = "`too_many_permissions`, `invalid_permission`, `invalid_scope`: not a subtenant of the organisation, `outside_boundary`", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`, `builtin_role`: the admin role keeps `*`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such role in the organisation of the caller's current tenant, or no such tenant", body = ErrorBody),
    ))]
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
