//! SCIM tokens (`/api/scim/tokens`): per-tenant bearer tokens for an IdP's provisioning
//! connector. Shown once (on create and rotate), stored as SHA-256, named, revocable, last use
//! recorded. They live in `api_tokens` with `kind = 'scim'`; the `/api` authentication refuses
//! them and SCIM refuses every other credential. Tenant admins only (`scim:manage`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::Principal;
use crate::crypto;
use crate::error::Result;
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;
use crate::tokens::api_tokens::{self, Kind, TokenView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_h, create_h))
        .routes(routes!(revoke_h))
        .routes(routes!(rotate_h))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimToken {
    /// 1-100 characters, unique among the tenant's SCIM tokens (e.g. the IdP's name).
    pub name: String,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

pub(crate) const SCIM: Kind = Kind {
    kind: "scim",
    permission: "scim:manage",
    secret_prefix: "scim_",
    audit_prefix: "scim.token_",
    ends_with_creator: false,
};

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateScimToken,
) -> Result<TokenView> {
    let name = api_tokens::check_name(&req.name)?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &t, SCIM.permission).await?;
    let v = api_tokens::insert(&mut tx, p, rid, &SCIM, &t.id, name, None, now).await?;
    tx.commit().await?;
    Ok(v)
}

pub async fn list(state: &AppState, p: &Principal, tenant: Option<&str>) -> Result<Vec<TokenView>> {
    api_tokens::list_kind(state, p, tenant, &SCIM).await
}

/// A new secret for the token; the old one stops working at once.
pub async fn rotate(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<TokenView> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let mut row = api_tokens::load_kind(state, &mut tx, p, id, tenant, &SCIM).await?;
    let token = crypto::new_token(SCIM.secret_prefix);
    row.token_hash = crypto::token_hash(&token);
    store::tokens::set_api_token_hash(tx.conn(), &row.id, &row.token_hash).await?;
    let after = json!({"name": row.name});
    api_tokens::audit_token(
        &mut tx,
        p,
        rid,
        &SCIM,
        "rotate",
        &row,
        None,
        Some(after),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut v = TokenView::from(row);
    v.token = Some(token);
    Ok(v)
}

pub async fn revoke(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<()> {
    api_tokens::delete_kind(state, p, rid, id, tenant, &SCIM, "revoke").await
}

/// The `{id}` of `/api/scim/tokens/{id}/...`.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
struct TokenId(
    /// The SCIM token's id
    String,
);

/// The tenant's SCIM tokens (never their secrets).
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(get, path = "/api/scim/tokens", tag = "scim-admin", params(TenantParam),
    responses(
        (status = 200, body = Page<TokenView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<TokenView>>> {
    Ok(Json(Page::all(list(&s, &p, q.tenant.as_deref()).await?)))
}

/// Creates a SCIM bearer token for an identity provider's provisioning connector.
///
/// The secret (`token`) is in this answer only; it is stored as a hash.
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(post, path = "/api/scim/tokens", tag = "scim-admin", request_body = CreateScimToken,
    responses(
        (status = 201, description = "The token, with its secret", body = TokenView),
        (status = 400, description = "`invalid_name` (field `name`): 1-100 characters", body = ErrorBody),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`token_name_taken`", body = ErrorBody),
    ))]
async fn create_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<CreateScimToken>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// Gives a SCIM token a new secret; the old one stops working at once.
///
/// The new secret (`token`) is in this answer only.
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(post, path = "/api/scim/tokens/{id}/rotate", tag = "scim-admin", params(TokenId, TenantParam),
    responses(
        (status = 200, description = "The token, with its new secret", body = TokenView),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, or no such SCIM token in it", body = ErrorBody),
    ))]
async fn rotate_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<TokenView>> {
    Ok(Json(
        rotate(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?,
    ))
}

/// Revokes a SCIM token: requests with it are refused from now on.
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(delete, path = "/api/scim/tokens/{id}", tag = "scim-admin", params(TokenId, TenantParam),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, or no such SCIM token in it", body = ErrorBody),
    ))]
async fn revoke_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<StatusCode> {
    revoke(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
