//! Integration tokens: named, tenant-scoped bearer tokens for scripts, acting with one role.
//! Shown once, stored as SHA-256, last use recorded. `/api/tokens`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::crypto;
use crate::domain::{new_id, parse_id};
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::{roles, service as rbac};
use crate::state::AppState;
use crate::store::{self, tokens::ApiTokenRow};
use crate::users::service::TenantParam;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tokens", get(list_h).post(create_h))
        .route("/api/tokens/{id}", axum::routing::delete(delete_h))
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role_id: Option<String>,
    #[serde(with = "crate::clock::serde_rfc3339")]
    pub created_at: i64,
    #[serde(with = "crate::clock::serde_rfc3339::option")]
    pub last_used_at: Option<i64>,
    pub created_by: Option<String>,
    /// Only in the response that created it.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_id: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateToken,
) -> Result<TokenView> {
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid_field(
            "invalid_name",
            "name",
            "name must be 1-100 characters",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &t, "tokens:manage").await?;
    let role =
        match roles::resolve(&mut tx, &t, req.role_id.as_deref(), req.role.as_deref()).await? {
            Some(r) => r,
            None => roles::default_role(&mut tx, &t).await?,
        };
    let compiled = rbac::compiled(state, &mut tx, p, &t).await?;
    rbac::require_holds_all(&compiled, &roles::patterns(&mut tx, &role.id).await?)?;
    let token = crypto::new_token("idb_");
    let row = ApiTokenRow {
        id: new_id(),
        tenant_id: t.id.clone(),
        kind: "integration".into(),
        name,
        token_hash: crypto::token_hash(&token),
        role_id: Some(role.id.clone()),
        created_by: p.user_id().map(str::to_string),
        created_at: now,
        last_used_at: None,
    };
    store::tokens::insert_api_token(tx.conn(), &row).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "token.create",
            target_type: "token",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"name": row.name, "role": role.name})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut v = TokenView::from(row);
    v.token = Some(token);
    Ok(v)
}

pub async fn list(state: &AppState, p: &Principal, tenant: Option<&str>) -> Result<Vec<TokenView>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &t, "tokens:manage").await?;
    Ok(
        store::tokens::list_api_tokens(tx.conn(), &t.id, "integration")
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect(),
    )
}

pub async fn delete(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    tenant: Option<&str>,
) -> Result<()> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &t, "tokens:manage").await?;
    let id = parse_id(id, "token")?;
    let row = store::tokens::get_api_token(tx.conn(), &id)
        .await?
        .filter(|r| r.tenant_id == t.id && r.kind == "integration")
        .ok_or(Error::NotFound("token"))?;
    store::tokens::delete_api_token(tx.conn(), &row.id).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "token.delete",
            target_type: "token",
            target_id: Some(&row.id),
            before: Some(json!({"name": row.name})),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

async fn list_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": list(&s, &p, q.tenant.as_deref()).await?, "next_cursor": null}),
    ))
}

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
