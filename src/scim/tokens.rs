//! SCIM tokens (`/api/scim/tokens`): per-tenant bearer tokens for an IdP's provisioning
//! connector. Shown once (on create and rotate), stored as SHA-256, named, revocable, last use
//! recorded. They live in `api_tokens` with `kind = 'scim'`; the `/api` authentication refuses
//! them and SCIM refuses every other credential. Tenant admins only (`scim:manage`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::crypto;
use crate::domain::{new_id, parse_id};
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, tokens::ApiTokenRow};
use crate::tokens::api_tokens::TokenView;
use crate::users::service::TenantParam;

const KIND: &str = "scim";
const PERMISSION: &str = "scim:manage";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/scim/tokens", get(list_h).post(create_h))
        .route("/api/scim/tokens/{id}", axum::routing::delete(revoke_h))
        .route("/api/scim/tokens/{id}/rotate", post(rotate_h))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateScimToken {
    pub name: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

fn new_secret() -> String {
    crypto::new_token("scim_")
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateScimToken,
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
    rbac::require(state, &mut tx, p, &t, PERMISSION).await?;
    let token = new_secret();
    let row = ApiTokenRow {
        id: new_id(),
        tenant_id: t.id.clone(),
        kind: KIND.into(),
        name,
        token_hash: crypto::token_hash(&token),
        role_id: None,
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
            action: "scim.token_create",
            target_type: "token",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"name": row.name})),
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
    rbac::require(state, &mut tx, p, &t, PERMISSION).await?;
    Ok(store::tokens::list_api_tokens(tx.conn(), &t.id, KIND)
        .await?
        .into_iter()
        .map(TokenView::from)
        .collect())
}

/// Loads one of the tenant's SCIM tokens inside `tx` (404 for anything else).
async fn load(
    state: &AppState,
    tx: &mut store::Tx,
    p: &Principal,
    id: &str,
    tenant: Option<&str>,
) -> Result<(ApiTokenRow, String)> {
    let t = rbac::tenant_for(tx, p, tenant).await?;
    rbac::require(state, tx, p, &t, PERMISSION).await?;
    let id = parse_id(id, "token")?;
    let row = store::tokens::get_api_token(tx.conn(), &id)
        .await?
        .filter(|r| r.tenant_id == t.id && r.kind == KIND)
        .ok_or(Error::NotFound("token"))?;
    Ok((row, t.id))
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
    let (mut row, tenant_id) = load(state, &mut tx, p, id, tenant).await?;
    let token = new_secret();
    row.token_hash = crypto::token_hash(&token);
    store::tokens::set_api_token_hash(tx.conn(), &row.id, &row.token_hash).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&tenant_id),
            action: "scim.token_rotate",
            target_type: "token",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"name": row.name})),
        },
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
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let (row, tenant_id) = load(state, &mut tx, p, id, tenant).await?;
    store::tokens::delete_api_token(tx.conn(), &row.id).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&tenant_id),
            action: "scim.token_revoke",
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
    AppJson(body): AppJson<CreateScimToken>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&s, &p, rid.0.as_deref(), body).await?),
    ))
}

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
