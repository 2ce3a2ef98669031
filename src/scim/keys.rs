//! SCIM group keys (`/api/scim/group-keys`): the names and externalIds SCIM groups map to roles
//! by. A key belongs to the first group of the tenant that bore it and stays with it through
//! renames and deletion, so a group renamed to "Admins", or created as "Admins" after the old one
//! went, gains nothing from a map entry for "Admins". A group provisioned again with a deleted
//! group's externalId is that IdP group and takes its keys back. Everything else is an admin's
//! decision: [`held`] lists the keys whose holder no longer bears them, [`release`] moves one to
//! the group bearing it now. Releasing a key hands out the roles it maps to, so it takes
//! `scim:manage` and the right to grant each of those roles.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;
use crate::users::service::TenantParam;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/scim/group-keys", get(held_h))
        .route("/api/scim/group-keys/release", post(release_h))
}

/// A key whose holder no longer bears it.
#[derive(Debug, Serialize)]
pub struct HeldKeyView {
    pub key: String,
    pub group_id: String,
    /// The holder's displayName now; null once the holder is deleted.
    pub group_display_name: Option<String>,
    pub group_deleted: bool,
    /// The roles the key maps to today.
    pub roles: Vec<String>,
    #[serde(with = "crate::clock::serde_rfc3339")]
    pub claimed_at: i64,
}

/// The keys of the tenant whose holder was renamed away from them or deleted (`scim:manage`).
pub async fn held(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<HeldKeyView>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require(state, &mut tx, p, &t, super::tokens::SCIM.permission).await?;
    let rows = store::scim::held_keys(tx.conn(), &t.id).await?;
    rows.into_iter()
        .map(|r| {
            Ok(HeldKeyView {
                roles: super::roles::roles_of_key(state, &t, &r.group_key)?,
                key: r.group_key,
                group_id: r.group_id,
                group_deleted: r.display_name.is_none(),
                group_display_name: r.display_name,
                claimed_at: r.claimed_at,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseKey {
    /// A displayName or externalId, matched case-insensitively.
    pub key: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Released {
    pub key: String,
    /// The group that held the key.
    pub from_group: String,
    /// The group bearing it now, which holds it from now on; null when none does (the next
    /// group to bear it will).
    pub to_group: Option<String>,
    pub users_reconciled: usize,
}

/// Moves `key` from its holder to the tenant's group bearing it now (by displayName, else
/// externalId), and reconciles the roles of everyone below either group, in one transaction.
pub async fn release(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: ReleaseKey,
) -> Result<Released> {
    let key = store::scim::group_key(req.key.trim());
    if key.is_empty() || key.len() > 256 {
        return Err(Error::invalid_field(
            "invalid_key",
            "key",
            "a group key is a displayName or externalId of 1-256 characters",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    rbac::require(state, &mut tx, p, &t, super::tokens::SCIM.permission).await?;
    for name in super::roles::roles_of_key(state, &t, &key)? {
        if let Some(role) = store::roles::get_by_name(tx.conn(), &t.root_id, &name).await? {
            crate::rbac::grant::require_may_grant(state, &mut tx, p, &t, &role, &["scim:manage"])
                .await?;
        }
    }
    let from = store::scim::release_group_key(tx.conn(), &t.id, &key)
        .await?
        .ok_or(Error::NotFound("group key"))?;
    let to = store::scim::group_bearing(tx.conn(), &t.id, &key).await?;
    if let Some(g) = &to {
        store::scim::claim_group_keys(tx.conn(), g, now).await?;
    }
    let mut touched = store::scim::users_below(tx.conn(), &from).await?;
    if let Some(g) = to.as_ref().filter(|g| g.id != from) {
        touched.extend(store::scim::users_below(tx.conn(), &g.id).await?);
    }
    touched.sort();
    touched.dedup();
    super::roles::reconcile(state, &mut tx, &t, &touched, now).await?;
    let out = Released {
        key,
        from_group: from,
        to_group: to.map(|g| g.id),
        users_reconciled: touched.len(),
    };
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "scim.group_key_released",
            target_type: "scim_group_key",
            target_id: Some(&out.key),
            before: Some(json!({"group_id": out.from_group})),
            after: Some(
                json!({"group_id": out.to_group, "users_reconciled": out.users_reconciled}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    state.rbac.invalidate();
    Ok(out)
}

async fn held_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({"items": held(&s, &p, q.tenant.as_deref()).await?, "next_cursor": null}),
    ))
}

async fn release_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<ReleaseKey>,
) -> ApiResult<Json<Released>> {
    Ok(Json(release(&s, &p, rid.0.as_deref(), body).await?))
}
