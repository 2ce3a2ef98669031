//! Integration tokens: named, tenant-scoped bearer tokens for scripts, acting with one role.
//! Shown once, stored as SHA-256, last use recorded. `/api/tokens`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::crypto;
use crate::domain::{new_id, parse_id};
use crate::error::{Error, Result};
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::{roles, service as rbac};
use crate::state::AppState;
use crate::store::{self, tokens::ApiTokenRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_h, create_h))
        .routes(routes!(delete_h))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The role the token acts with (integration tokens).
    pub role_id: Option<String>,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<i64>,
    /// The user who created it.
    pub created_by: Option<String>,
    /// The secret: only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<ApiTokenRow> for TokenView {
    fn from(r: ApiTokenRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            role_id: r.role_id,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            created_by: r.created_by,
            token: None,
        }
    }
}

/// A kind of tenant token: integration tokens (`/api/tokens`) and SCIM tokens
/// (`/api/scim/tokens`) share the table, the secret handling and these operations.
pub(crate) struct Kind {
    pub kind: &'static str,
    /// The permission that manages them in the tenant.
    pub permission: &'static str,
    /// Prefix of the secret.
    pub secret_prefix: &'static str,
    /// Prefix of the audit actions, the verb follows (`token.create`, `scim.token_create`).
    pub audit_prefix: &'static str,
    /// The token acts with its creator's grant: it stops working when the creator is
    /// deactivated or deleted (integration tokens; a SCIM token is the IdP's, not a person's).
    pub ends_with_creator: bool,
}

pub(crate) const INTEGRATION: Kind = Kind {
    kind: "integration",
    permission: "tokens:manage",
    secret_prefix: "idb_",
    audit_prefix: "token.",
    ends_with_creator: true,
};

/// The token row for a presented secret, when it is of `kind`; records the use (at most once a
/// minute per token: last use is informative).
pub(crate) async fn authenticate(
    state: &AppState,
    secret: &str,
    kind: &Kind,
) -> Result<Option<ApiTokenRow>> {
    let mut c = state.store.acquire().await?;
    let Some(row) = store::tokens::api_token_by_hash(c.conn(), &crypto::token_hash(secret))
        .await?
        .filter(|r| r.kind == kind.kind)
    else {
        return Ok(None);
    };
    if kind.ends_with_creator
        && let Some(creator) = &row.created_by
        && store::users::get(c.conn(), creator)
            .await?
            .is_none_or(|u| u.status != crate::domain::UserStatus::Active)
    {
        return Ok(None);
    }
    let now = state.now_ms();
    if row.last_used_at.is_none_or(|t| now - t > 60_000) {
        store::tokens::touch_api_token(c.conn(), &row.id, now).await?;
    }
    Ok(Some(row))
}

pub(crate) fn check_name(name: &str) -> Result<String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid_field(
            "invalid_name",
            "name",
            "name must be 1-100 characters",
        ));
    }
    Ok(name)
}

/// Stores a new token of `kind` in `tenant_id` (audited) and returns its view with the secret,
/// shown this once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut store::Tx,
    p: &Principal,
    rid: Option<&str>,
    kind: &Kind,
    tenant_id: &str,
    name: String,
    role: Option<(&str, &str)>,
    now: i64,
) -> Result<TokenView> {
    let token = crypto::new_token(kind.secret_prefix);
    let row = ApiTokenRow {
        id: new_id(),
        tenant_id: tenant_id.to_string(),
        kind: kind.kind.into(),
        name,
        token_hash: crypto::token_hash(&token),
        role_id: role.map(|(id, _)| id.to_string()),
        created_by: p.user_id().map(str::to_string),
        created_at: now,
        last_used_at: None,
    };
    store::tokens::insert_api_token(tx.conn(), &row).await?;
    let mut after = json!({"name": row.name});
    if let Some((_, role_name)) = role {
        after["role"] = json!(role_name);
    }
    audit_token(tx, p, rid, kind, "create", &row, None, Some(after), now).await?;
    let mut v = TokenView::from(row);
    v.token = Some(token);
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit_token(
    tx: &mut store::Tx,
    p: &Principal,
    rid: Option<&str>,
    kind: &Kind,
    verb: &str,
    row: &ApiTokenRow,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: i64,
) -> Result<()> {
    let action = format!("{}{verb}", kind.audit_prefix);
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&row.tenant_id),
            action: &action,
            target_type: "token",
            target_id: Some(&row.id),
            before,
            after,
        },
    )
    .await
}

/// The tenant's tokens of `kind`, without secrets.
pub(crate) async fn list_kind(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
    kind: &Kind,
) -> Result<Vec<TokenView>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &t, kind.permission).await?;
    Ok(store::tokens::list_api_tokens(tx.conn(), &t.id, kind.kind)
        .await?
        .into_iter()
        .map(TokenView::from)
        .collect())
}

/// One of the caller's tenant's tokens of `kind`, inside `tx` (404 for anything else).
pub(crate) async fn load_kind(
    state: &AppState,
    tx: &mut store::Tx,
    p: &Principal,
    id: &str,
    tenant: Option<&str>,
    kind: &Kind,
) -> Result<ApiTokenRow> {
    let t = rbac::tenant_for(tx, p, tenant).await?;
    rbac::require(state, tx, p, &t, kind.permission).await?;
    let id = parse_id(id, "token")?;
    store::tokens::get_api_token(tx.conn(), &id)
        .await?
        .filter(|r| r.tenant_id == t.id && r.kind == kind.kind)
        .ok_or(Error::NotFound("token"))
}

/// Deletes one of the caller's tenant's tokens of `kind` (audited `<prefix><verb>`).
pub(crate) async fn delete_kind(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
    kind: &Kind,
    verb: &str,
) -> Result<()> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let row = load_kind(state, &mut tx, p, id, tenant, kind).await?;
    store::tokens::delete_api_token(tx.conn(), &row.id).await?;
    // A verified token is cached: every replica drops it.
    tx.bump(store::Counter::Auth).await?;
    audit_token(
        &mut tx,
        p,
        rid,
        kind,
        verb,
        &row,
        Some(json!({"name": row.name})),
        None,
        now,
    )
    .await?;
    tx.commit().await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// 1-100 characters, unique among the tenant's tokens.
    pub name: String,
    /// The role the token acts with, by name; default: the tenant's default role.
    #[serde(default)]
    pub role: Option<String>,
    /// The role, by id (wins over `role`).
    #[serde(default)]
    pub role_id: Option<String>,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateToken,
) -> Result<TokenView> {
    let name = check_name(&req.name)?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &t, INTEGRATION.permission).await?;
    let role =
        match roles::resolve(&mut tx, &t, req.role_id.as_deref(), req.role.as_deref()).await? {
            Some(r) => r,
            None => roles::default_role(&mut tx, &t).await?,
        };
    crate::rbac::grant::require_may_grant(state, &mut tx, p, &t, &role, &[INTEGRATION.permission])
        .await?;
    let v = insert(
        &mut tx,
        p,
        rid,
        &INTEGRATION,
        &t.id,
        name,
        Some((&role.id, &role.name)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

pub async fn list(state: &AppState, p: &Principal, tenant: Option<&str>) -> Result<Vec<TokenView>> {
    list_kind(state, p, tenant, &INTEGRATION).await
}

pub async fn delete(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<()> {
    delete_kind(state, p, rid, id, tenant, &INTEGRATION, "delete").await
}

/// The tenant's integration tokens, without their secrets.
///
/// Permission: `tokens:manage` in the tenant.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", params(TenantParam),
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

/// Creates an integration token: a named bearer token of the tenant that acts with one role.
///
/// The secret is in this response only (stored as SHA-256). The token stops working when the
/// user who created it is deactivated or deleted.
///
/// Permission: `tokens:manage` in the tenant; the role must be in the tenant's RBAC tier and
/// the caller must hold every permission of it.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, body = TokenView),
        (status = 400, description = "`invalid_name`; `role_not_available`: the role is beyond the tenant's RBAC tier", body = ErrorBody),
        (status = 403, description = "`permission_denied`; `privilege_escalation`: the caller does not hold every permission of the role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant or role", body = ErrorBody),
        (status = 409, description = "`token_name_taken`", body = ErrorBody),
    ))]
async fn create_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

/// Deletes an integration token: it stops working at once.
///
/// Permission: `tokens:manage` in the tenant.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id"), TenantParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such token in the tenant, or no such tenant", body = ErrorBody),
    ))]
async fn delete_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<StatusCode> {
    delete(&s, &p, rid.0.as_deref(), &id, q.tenant.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
