//! `/api/tenants/*`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::TenantView;
use super::{domains, service};
use crate::auth::invites::InviteCreated;
use crate::auth::principal::Principal;
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::state::AppState;
use crate::users::UserView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(detail, patch))
        .routes(routes!(members, add_member))
        .routes(routes!(remove_member))
        .routes(routes!(domains_list, domains_claim))
        .routes(routes!(domains_conflicts))
        .routes(routes!(domains_delete))
        .routes(routes!(domains_verify))
}

/// The `{slug}` of `/api/tenants/{slug}/...`.
#[derive(utoipa::IntoParams)]
#[into_params(names("slug"), parameter_in = Path)]
#[allow(dead_code)]
struct Slug(
    /// The tenant's slug
    String,
);

/// The `{slug}` and `{user_id}` of `/api/tenants/{slug}/members/{user_id}`.
#[derive(utoipa::IntoParams)]
#[into_params(names("slug", "user_id"), parameter_in = Path)]
#[allow(dead_code)]
struct SlugAndUser(
    /// The tenant's slug
    String,
    /// The member's user id
    String,
);

/// The `{id}` of `/api/domains/{id}/...`.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct DomainId(
    /// The domain claim's id
    String,
);

/// The email domains the tenant's organisation has claimed, verified or pending, with the TXT
/// record each one needs.
///
/// Permission: `tenants:write`, `sso:read` or `sso:manage` in the organisation.
#[utoipa::path(get, path = "/api/domains", tag = "domains", params(TenantParam),
    responses(
        (status = 200, body = Page<domains::DomainView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn domains_list(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<domains::DomainView>>> {
    Ok(Json(Page::all(
        domains::list(&s, &p, q.tenant.as_deref()).await?,
    )))
}

/// Claims an email domain for the tenant's organisation; it stays pending until verified by
/// its DNS TXT record.
///
/// Permission: `tenants:write` in the organisation.
#[utoipa::path(post, path = "/api/domains", tag = "domains", request_body = domains::Claim,
    responses(
        (status = 201, body = domains::DomainView),
        (status = 400, description = "`invalid_domain`", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`domain_claimed`: the organisation already claimed it", body = ErrorBody),
    ))]
async fn domains_claim(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<domains::Claim>,
) -> ApiResult<(StatusCode, Json<domains::DomainView>)> {
    Ok((
        StatusCode::CREATED,
        Json(domains::claim(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// Verifies a claimed domain: looks its TXT record up (`dns`, the default), or, for a platform
/// admin, `{"method": "admin"}` without DNS. A verified domain answers as it is.
///
/// Permission: `tenants:write`, `sso:read` or `sso:manage` in the organisation; `admin`:
/// platform admins only.
#[utoipa::path(post, path = "/api/domains/{id}/verify", tag = "domains", params(DomainId), request_body = Option<domains::Verify>,
    responses(
        (status = 200, body = domains::DomainView),
        (status = 400, description = "`invalid_json`; `invalid_method`", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `platform_admin_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such domain claim visible to the caller", body = ErrorBody),
        (status = 409, description = "`domain_verified_elsewhere`", body = ErrorBody),
        (status = 422, description = "`verification_failed`: the TXT record is not there (yet)", body = ErrorBody),
    ))]
async fn domains_verify(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<domains::DomainView>> {
    let req: domains::Verify = if body.iter().all(u8::is_ascii_whitespace) {
        domains::Verify::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| crate::error::Error::invalid("invalid_json", e.to_string()))?
    };
    Ok(Json(
        domains::verify(&s, &p, rid.0.as_deref(), &id, req).await?,
    ))
}

/// Releases a domain claim, verified or not.
///
/// Permission: `tenants:write`, `sso:read` or `sso:manage` in the organisation.
#[utoipa::path(delete, path = "/api/domains/{id}", tag = "domains", params(DomainId),
    responses(
        (status = 204, description = "Released"),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such domain claim visible to the caller", body = ErrorBody),
    ))]
async fn domains_delete(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    domains::delete(&s, &p, rid.0.as_deref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accounts on a verified domain that belong to another organisation (or are platform admins):
/// the owner's SSO refuses to link them until this is resolved.
///
/// Permission: platform admins only.
#[utoipa::path(get, path = "/api/domains/conflicts", tag = "domains",
    responses(
        (status = 200, body = Page<domains::Conflict>),
        (status = 403, description = "`platform_admin_required`", body = ErrorBody),
    ))]
async fn domains_conflicts(
    State(s): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Page<domains::Conflict>>> {
    Ok(Json(Page::all(domains::conflicts(&s, &p).await?)))
}

/// The tenants the caller can see: those they belong to and their subtenants (platform
/// admins: all).
///
/// Permission: none beyond being signed in.
#[utoipa::path(get, path = "/api/tenants", tag = "tenants",
    responses(
        (status = 200, body = Page<TenantView>),
    ))]
async fn list(State(s): State<AppState>, p: Principal) -> ApiResult<Json<Page<TenantView>>> {
    Ok(Json(Page::all(service::list(&s, &p).await?)))
}

/// Creates an organisation (platform admins) or, with `parent`, a subtenant of one.
///
/// Permission: platform admin for an organisation; `tenants:write` in `parent` for a
/// subtenant, whose `boundary` must lie inside its organisation's.
#[utoipa::path(post, path = "/api/tenants", tag = "tenants", request_body = service::CreateTenant,
    responses(
        (status = 201, body = TenantView),
        (status = 400, description = "`invalid_slug`, `invalid_name`, `unknown_preset`, `invalid_rbac_tier`, `invalid_boundary`, `outside_boundary`, `nested_subtenant`, `preset_on_subtenant` (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`platform_admin_required`, `permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such parent", body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
    ))]
async fn create(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<service::CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// One tenant, with its settings.
///
/// Permission: membership of the tenant or of its organisation (platform admins: any).
#[utoipa::path(get, path = "/api/tenants/{slug}", tag = "tenants", params(Slug),
    responses(
        (status = 200, body = TenantView),
        (status = 404, description = "`not_found`: no such tenant visible to the caller", body = ErrorBody),
    ))]
async fn detail(
    State(s): State<AppState>,
    p: Principal,
    Path(slug): Path<String>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(service::get(&s, &p, &slug).await?))
}

/// Changes a tenant's name, settings, status, RBAC tier or boundary.
///
/// Permission: name: `tenants:write` in the tenant; settings: `sso:manage` for the SSO fields,
/// `scim:manage` for `scim_email_linking`, and every permission of a role they name; status,
/// tier and boundary: platform admins for an organisation, `tenants:write` in the organisation
/// for a subtenant.
#[utoipa::path(patch, path = "/api/tenants/{slug}", tag = "tenants", params(Slug), request_body = service::PatchTenant,
    responses(
        (status = 200, body = TenantView),
        (status = 400, description = "`invalid_name`, `invalid_status`, `invalid_rbac_tier`, `invalid_boundary`, `outside_boundary`, `invalid` settings (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `platform_admin_required`, `privilege_escalation`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant visible to the caller, or a role named in the settings", body = ErrorBody),
    ))]
async fn patch(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(slug): Path<String>,
    AppJson(body): AppJson<service::PatchTenant>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(
        service::patch(&s, &p, rid.0.as_deref(), &slug, body).await?,
    ))
}

/// The tenant's members, with their roles in it.
///
/// Permission: `users:read` or `rbac:manage` in the tenant.
#[utoipa::path(get, path = "/api/tenants/{slug}/members", tag = "tenants", params(Slug),
    responses(
        (status = 200, body = Page<UserView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant visible to the caller", body = ErrorBody),
    ))]
async fn members(
    State(s): State<AppState>,
    p: Principal,
    Path(slug): Path<String>,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(Json(Page::all(service::members(&s, &p, &slug).await?)))
}

/// Adds a person to the tenant: someone of this organisation only joins at once (201); anyone
/// else, and an email without an account, gets an invite to accept (202). Platform admins add
/// anyone at once.
///
/// Permission: `users:write` in the tenant, and every permission of the roles given.
#[utoipa::path(post, path = "/api/tenants/{slug}/members", tag = "tenants", params(Slug), request_body = service::AddMember,
    responses(
        (status = 201, description = "The member", body = UserView),
        (status = 202, description = "An invite was sent (or returned, without mail)", body = InviteCreated),
        (status = 400, description = "`user_required`, `invalid_email`, `one_role_per_invite`, `role_not_available` (the field named by `field`)", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, user or role", body = ErrorBody),
        (status = 409, description = "`already_member`; `domain_owned`: another organisation verified the email's domain", body = ErrorBody),
    ))]
async fn add_member(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(slug): Path<String>,
    AppJson(body): AppJson<service::AddMember>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    Ok(
        match service::add_member(&s, &p, rid.0.as_deref(), &slug, body).await? {
            service::Added::Member(v) => (StatusCode::CREATED, Json(v)).into_response(),
            service::Added::Invited(i) => (StatusCode::ACCEPTED, Json(i)).into_response(),
        },
    )
}

/// Removes a member from the tenant with all their roles in it.
///
/// Permission: `users:write` in the tenant, and a rank above the member's. The last admin
/// stays.
#[utoipa::path(delete, path = "/api/tenants/{slug}/members/{user_id}", tag = "tenants", params(SlugAndUser),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`permission_denied`, `outranked`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant or member", body = ErrorBody),
        (status = 409, description = "`last_admin`: the tenant would have no active admin left", body = ErrorBody),
    ))]
async fn remove_member(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path((slug, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    service::remove_member(&s, &p, rid.0.as_deref(), &slug, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
