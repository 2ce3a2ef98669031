//! SCIM groups drive roles: a linked user's assignments with source `scim` become exactly what
//! their groups (direct and nested, by displayName or externalId) give through the tenant's
//! `group_role_map` and the global map, with the same defaults as SSO. Manual, SSO, CSV and
//! invite assignments are never touched. A tenant whose role source is `local` keeps roles out
//! of the IdP's hands: SCIM then changes none.

use std::collections::HashMap;

use super::error::ScimError;
use crate::sso::jit;
use crate::sso::mapping::Mapped;
use crate::state::AppState;
use crate::store::{self, Tx, tenants::TenantRow};

/// Gives a SCIM record created in this transaction its roles: it is in no group yet, so it gets
/// the defaults. `created` says the linked user was created with it (nothing to remove).
pub async fn reconcile_new(
    state: &AppState,
    tx: &mut Tx,
    tenant: &TenantRow,
    user_id: &str,
    created: bool,
    now: i64,
) -> Result<(), ScimError> {
    if jit::role_source(tenant) == "local" {
        return Ok(());
    }
    let wanted = jit::decide_roles(state, tx, tenant, &[]).await?;
    jit::reconcile(tx, user_id, tenant, &wanted, now, created, "scim").await?;
    Ok(())
}

/// Reconciles (SCIM id, linked user id) pairs; unlinked records have no roles to change.
pub async fn reconcile(
    state: &AppState,
    tx: &mut Tx,
    tenant: &TenantRow,
    pairs: &[(String, Option<String>)],
    now: i64,
) -> Result<(), ScimError> {
    if jit::role_source(tenant) == "local" {
        return Ok(());
    }
    // Many users share a group set: map each distinct set once.
    let mut decided: HashMap<Vec<String>, Vec<Mapped>> = HashMap::new();
    for (scim_id, user_id) in pairs {
        let Some(user_id) = user_id else {
            continue;
        };
        let mut keys = Vec::new();
        for (_, name, external, _) in store::scim::effective_groups(tx.conn(), scim_id).await? {
            keys.push(name);
            if let Some(e) = external.filter(|e| !e.is_empty()) {
                keys.push(e);
            }
        }
        keys.sort();
        keys.dedup();
        let wanted = match decided.get(&keys) {
            Some(w) => w.clone(),
            None => {
                let w = jit::decide_roles(state, tx, tenant, &keys).await?;
                decided.insert(keys, w.clone());
                w
            }
        };
        jit::reconcile(tx, user_id, tenant, &wanted, now, false, "scim").await?;
    }
    Ok(())
}
