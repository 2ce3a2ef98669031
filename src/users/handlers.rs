//! `/api/users/*`: thin handlers over [`super::service`] and the role assignment service.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::UserView;
use super::service::{self, ListParams, PatchUser};
use crate::http::page::{Page, TenantParam};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RevokedSessions {
    /// How many sessions were revoked.
    pub revoked_sessions: u64,
}
use crate::auth::principal::Principal;
use crate::http::openapi::ErrorBody;
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::roles;
use crate::state::AppState;

/// The `{id}` of `/api/users/{id}/...`.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct UserId(
    /// The user's id
    String,
);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(stats))
        .routes(routes!(email_check))
        .routes(routes!(detail, patch, remove))
        .routes(routes!(restore))
        .routes(routes!(revoke_sessions))
        .routes(routes!(reset_link))
        .routes(routes!(user_roles, add_role))
        .routes(routes!(remove_role))
        .routes(routes!(preferences, put_preferences))
        .routes(routes!(import))
}

/// The tenant's users, a page at a time.
///
/// Permission: `users:read` or `rbac:manage` in the tenant.
#[utoipa::path(get, path = "/api/users", tag = "users", params(ListParams),
    responses(
        (status = 200, body = Page<UserView>),
        (status = 400, description = "`invalid_search`, `invalid_status`, `invalid_sort`, `invalid_order`, `invalid_page_size`, `invalid_cursor`", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<ListParams>,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(service::list(&s, &p, q).await?))
}

/// Counts of the tenant's users: total, admins, active, new in the last seven days.
///
/// Permission: `users:read` or `rbac:manage` in the tenant.
#[utoipa::path(get, path = "/api/users/stats", tag = "users", params(TenantParam),
    responses(
        (status = 200, body = service::Stats),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn stats(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<service::Stats>> {
    Ok(Json(service::stats(&s, &p, q.tenant.as_deref()).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmailCheckParams {
    /// The email being typed.
    pub email: String,
    /// Tenant slug or id (default: the caller's tenant).
    pub tenant: Option<String>,
}

/// Whether `POST /api/users` would take this email in the tenant (the New User form checks it as
/// you type): the same email, domain-ownership and uniqueness rules, answered with
/// `available: false` and a message instead of an error.
///
/// Permission: `users:write` in the tenant.
#[utoipa::path(get, path = "/api/users/email-check", tag = "users", params(EmailCheckParams),
    responses(
        (status = 200, body = service::EmailCheck),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn email_check(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<EmailCheckParams>,
) -> ApiResult<Json<service::EmailCheck>> {
    Ok(Json(
        service::email_check(&s, &p, q.tenant.as_deref(), &q.email).await?,
    ))
}

/// Creates a user with a password in the tenant.
///
/// Permission: `users:write` in the tenant. The email's domain must not be a verified domain of
/// another organisation.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = service::CreateUser,
    responses(
        (status = 201, body = UserView),
        (status = 400, description = "`invalid` (the field named by `field`: email, first_name, last_name, password)", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`email_taken`; `domain_owned`: another organisation verified the email's domain", body = ErrorBody),
    ))]
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

/// One user, with the names of their roles in the tenant.
///
/// Permission: none for oneself; otherwise `users:read` or `rbac:manage` in the tenant.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 200, body = UserView),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user in the tenant, or no such tenant", body = ErrorBody),
    ))]
async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(service::get(&s, &p, &id, q.tenant.as_deref()).await?))
}

/// Changes a user's name or status (`active: false` suspends and signs them out).
///
/// Permission: `users:write` in the tenant, and a rank above the user's. The email is
/// immutable.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", params(UserId), request_body = PatchUser,
    responses(
        (status = 200, body = UserView),
        (status = 400, description = "`invalid` (the field named by `field`), `email_immutable`", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `outranked`, `user_in_other_tenants`, `cannot_change_own_status`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`user_deleted`", body = ErrorBody),
    ))]
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

/// Deletes a user (soft: `restore` brings them back), revoking their sessions and tokens.
///
/// Permission: `users:write` in the tenant, and a rank above the user's.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`permission_denied`, `outranked`, `user_in_other_tenants`, `cannot_delete_self`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`user_deleted`", body = ErrorBody),
    ))]
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

/// Restores a deleted user.
///
/// Permission: `users:write` in the tenant, and a rank above the user's.
#[utoipa::path(post, path = "/api/users/{id}/restore", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 200, body = UserView),
        (status = 403, description = "`permission_denied`, `outranked`, `user_in_other_tenants`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`user_not_deleted`", body = ErrorBody),
    ))]
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

/// Signs a user out everywhere: revokes every session of theirs.
///
/// Permission: `users:write` in the tenant, and a rank above the user's.
#[utoipa::path(delete, path = "/api/users/{id}/sessions", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 200, body = RevokedSessions),
        (status = 403, description = "`permission_denied`, `outranked`, `user_in_other_tenants`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn revoke_sessions(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<RevokedSessions>> {
    let revoked_sessions =
        service::revoke_sessions(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(Json(RevokedSessions { revoked_sessions }))
}

/// A one-time password reset link for a user, for the admin to pass on.
///
/// Permission: `users:write` in the tenant, and a rank above the user's.
#[utoipa::path(post, path = "/api/users/{id}/password-reset-link", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 201, body = crate::auth::service::ResetLink),
        (status = 403, description = "`permission_denied`, `outranked`, `user_in_other_tenants`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`user_deleted`", body = ErrorBody),
    ))]
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

/// A user's role assignments in the tenant and its subtenants.
///
/// Permission: none for oneself; otherwise `users:read`, `rbac:read` or `rbac:manage`.
#[utoipa::path(get, path = "/api/users/{id}/roles", tag = "users", params(UserId, TenantParam),
    responses(
        (status = 200, body = Page<roles::AssignmentOut>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn user_roles(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<roles::AssignmentOut>>> {
    let items = roles::user_roles(&s, &p, &id, q.tenant.as_deref()).await?;
    Ok(Json(Page::all(items)))
}

/// Assigns a role (by `role` name or `role_id`) to a user, in the tenant or at one subtenant.
///
/// Permission: `rbac:assign` or `rbac:manage` where the role is assigned; the caller must hold
/// every permission of the role and outrank the user.
#[utoipa::path(post, path = "/api/users/{id}/roles", tag = "users", params(UserId), request_body = roles::AddRole,
    responses(
        (status = 201, body = roles::AssignmentOut),
        (status = 400, description = "`role_required`: give `role` or `role_id`; `role_not_available`: the role is beyond the tenant's RBAC tier", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`, `outranked`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user, role or subtenant", body = ErrorBody),
        (status = 409, description = "`role_already_assigned`", body = ErrorBody),
    ))]
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

/// Removes a role assignment from a user.
///
/// Permission: `rbac:assign` or `rbac:manage` where the role is assigned, and a rank above the
/// user's. The tenant's last admin keeps their role.
#[utoipa::path(delete, path = "/api/users/{id}/roles/{role}", tag = "users",
    params(UserId, ("role" = String, Path, description = "The role's name or id"), roles::RemoveRoleParams),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`permission_denied`, `outranked`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user, role, subtenant or assignment", body = ErrorBody),
        (status = 409, description = "`last_admin`", body = ErrorBody),
    ))]
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

/// The caller's console preferences: table layouts (columns, order, widths, page size, sort),
/// kept on the server so that they follow the person from browser to browser.
///
/// Permission: any signed-in user, for their own preferences only.
#[utoipa::path(get, path = "/api/me/preferences", tag = "auth",
    responses(
        (status = 200, body = crate::domain::Preferences),
        (status = 403, description = "`user_required`: an integration token has no preferences", body = ErrorBody),
    ))]
async fn preferences(
    State(s): State<AppState>,
    p: Principal,
) -> ApiResult<Json<crate::domain::Preferences>> {
    Ok(Json(super::preferences::get(&s, &p).await?))
}

/// Replaces the caller's console preferences with the document sent, checked whole first.
///
/// Permission: any signed-in user, for their own preferences only.
#[utoipa::path(put, path = "/api/me/preferences", tag = "auth", request_body = crate::domain::Preferences,
    responses(
        (status = 200, body = crate::domain::Preferences),
        (status = 400, description = "`invalid_preferences` (the field named by `field`: an unknown field, a name that is not `[a-z][a-z0-9_]*`, a column listed twice, a width outside 40-2000, a page size not 10/25/50/100/200, more than 32 tables or 64 columns, more than 16 KiB)", body = ErrorBody),
        (status = 403, description = "`user_required`: an integration token has no preferences", body = ErrorBody),
    ))]
async fn put_preferences(
    State(s): State<AppState>,
    p: Principal,
    AppJson(body): AppJson<serde_json::Value>,
) -> ApiResult<Json<crate::domain::Preferences>> {
    Ok(Json(super::preferences::put(&s, &p, body).await?))
}

/// Imports users from CSV (`email,name,initial_roles`; several roles in one quoted cell,
/// comma-separated): new emails become placeholder profiles without a password, accounts of
/// the organisation join the tenant, roles are granted with source `csv`. Each row is checked
/// whole and reported; the rows that pass are committed together. `dry_run=true` reports the
/// same and writes nothing. Re-running a file changes nothing.
///
/// Permission: `users:write` in the tenant, and every permission of each role granted.
#[utoipa::path(post, path = "/api/users/import", tag = "users", params(super::import::ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = super::import::ImportReport, description = "per-row results: `created`, `added`, `unchanged`, `failed` with `error.code` (`invalid_email`, `invalid_name`, `duplicate_row`, `role_refused`, `account_deleted`, `other_organisation`, `domain_owned`, `outranked`, ...)"),
        (status = 400, description = "`invalid_csv` (no header naming email and name, a row of another width, more than 10,000 rows)", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: send Content-Type: text/csv", body = ErrorBody),
    ))]
async fn import(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppQuery(q): AppQuery<super::import::ImportParams>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        });
    if !csv {
        return Ok(crate::http::error::body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file with Content-Type: text/csv",
        ));
    }
    Ok(Json(super::import::import(&s, &p, rid.0.as_deref(), q, &body).await?).into_response())
}
