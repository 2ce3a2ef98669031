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

use crate::auth::principal::Principal;
use crate::crypto;
use crate::error::Result;
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;
use crate::tokens::api_tokens::{self, Kind, TokenView};
use crate::users::service::TenantParam;

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
