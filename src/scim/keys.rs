//! SCIM group keys (`/api/scim/group-keys`): the names and externalIds SCIM groups map to roles
//! by. A key belongs to the first group of the tenant that bore it and stays with it through
//! renames and deletion, so a group renamed to "Admins", or created as "Admins" after the old one
//! went, gains nothing from a map entry for "Admins". A group provisioned again with a deleted
//! group's externalId is that IdP group and takes its keys back. Everything else is an admin's
//! decision: [`held`] lists the keys whose holder no longer bears them, [`release`] moves one to
//! the group bearing it now. Releasing a key hands out the roles it maps to, so it takes
//! `scim:manage` and the right to grant each of those roles.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::http::openapi::ErrorBody;
use crate::http::page::{Page, TenantParam};
use crate::http::{ApiResult, AppJson, AppQuery, RequestId};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(held_h))
        .routes(routes!(release_h))
}

/// A key whose holder no longer bears it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldKeyView {
    /// The displayName or externalId, lower-cased.
    pub key: String,
    /// The SCIM group that holds the key.
    pub group_id: String,
    /// The holder's displayName now; null once the holder is deleted.
    pub group_display_name: Option<String>,
    pub group_deleted: bool,
    /// The roles the key maps to today.
    pub roles: Vec<String>,
    /// When the holder claimed the key.
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseKey {
    /// A displayName or externalId, matched case-insensitively.
    pub key: String,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Released {
    /// The key, lower-cased.
    pub key: String,
    /// The group that held the key.
    pub from_group: String,
    /// The group bearing it now, which holds it from now on; null when none does (the next
    /// group to bear it will).
    pub to_group: Option<String>,
    /// How many users below either group had their roles reconciled.
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
    Ok(out)
}

/// The tenant's group keys whose holder was renamed away from them or deleted.
///
/// Such a key still maps to roles only through the group that holds it; `release` moves it on.
///
/// Permission: `scim:manage` in the tenant.
#[utoipa::path(get, path = "/api/scim/group-keys", tag = "scim-admin", params(TenantParam),
    responses(
        (status = 200, body = Page<HeldKeyView>),
        (status = 403, description = "`permission_denied`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    ))]
async fn held_h(
    State(s): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<TenantParam>,
) -> ApiResult<Json<Page<HeldKeyView>>> {
    Ok(Json(Page::all(held(&s, &p, q.tenant.as_deref()).await?)))
}

/// Moves a group key from its holder to the tenant's group bearing it now.
///
/// The group bearing the key as its displayName (else externalId) holds it from now on (none:
/// the next group to bear it will), and the roles of every user below either group are
/// reconciled, in one transaction.
///
/// Permission: `scim:manage` in the tenant; the caller must also hold every permission of each
/// role the key maps to, and each such role must be within the tenant's RBAC tier.
#[utoipa::path(post, path = "/api/scim/group-keys/release", tag = "scim-admin", request_body = ReleaseKey,
    responses(
        (status = 200, body = Released),
        (status = 400, description = "`invalid_key` (field `key`): 1-256 characters; `role_not_available` (field `role`): a role the key maps to is beyond the tenant's RBAC tier", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `privilege_escalation`: a role the key maps to has a permission the caller does not hold", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant, or no group holds the key", body = ErrorBody),
    ))]
async fn release_h(
    State(s): State<AppState>,
    p: Principal,
    rid: RequestId,
    AppJson(body): AppJson<ReleaseKey>,
) -> ApiResult<Json<Released>> {
    Ok(Json(release(&s, &p, rid.0.as_deref(), body).await?))
}
