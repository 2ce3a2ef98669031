//! SCIM groups drive roles: a linked user's assignments with source `scim` become exactly what
//! their groups (direct and nested) give through the tenant's `group_role_map` and the global
//! map, with the same defaults as SSO. A group maps by the keys it holds: the first displayName
//! and externalId it bore that no other group held (`store::scim::claim_group_keys`). Renaming a group keeps its keys,
//! and a group renamed to, or created under, a name another group holds gains nothing from it;
//! an admin moves a key on (`super::keys`). Manual, SSO, CSV and
//! invite assignments are never touched. A tenant whose role source is `local` keeps roles out
//! of the IdP's hands: SCIM then changes none.

use std::collections::HashMap;

use crate::engine::group_map::{Mapped, Maps, parse_global, roles_of_group};
use crate::error::Result;
use crate::sso::jit;
use crate::state::AppState;
use crate::store::stmt::Batch;
use crate::store::{self, AsConn, Tx, tenants::TenantRow};

/// The roles (lower-cased names) the tenant's map, else the global map, gives a group key.
pub fn roles_of_key(state: &AppState, tenant: &TenantRow, key: &str) -> Result<Vec<String>> {
    let settings = &tenant.settings;
    let global = parse_global(&state.settings.sso.group_role_map).unwrap_or_default();
    let maps = Maps {
        tenant: &settings.group_role_map,
        global: &global,
        tenant_default: "",
        global_default: "",
        preset_default: "",
    };
    Ok(roles_of_group(key, &maps)
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// The roles a record in no group maps to (the defaults); None under the tenant's role source
/// `local`, where SCIM changes no roles.
pub async fn defaults(
    state: &AppState,
    db: &mut impl AsConn,
    tenant: &TenantRow,
) -> Result<Option<Vec<Mapped>>> {
    if jit::role_source(tenant)? == crate::tenants::settings::RoleSource::Local {
        return Ok(None);
    }
    Ok(Some(jit::decide_roles(state, db, tenant, &[]).await?))
}

/// Reconciles (SCIM id, linked user id) pairs; unlinked records have no roles to change. Set
/// based: the groups and current roles of all the users are read in a few queries, and every
/// change goes in one batch, so a membership change of 10,000 users is not 10,000 round trips.
pub async fn reconcile(
    state: &AppState,
    tx: &mut Tx,
    tenant: &TenantRow,
    pairs: &[(String, Option<String>)],
    now: i64,
) -> Result<()> {
    if jit::role_source(tenant)? == crate::tenants::settings::RoleSource::Local {
        return Ok(());
    }
    let linked: Vec<(&String, &String)> = pairs
        .iter()
        .filter_map(|(s, u)| u.as_ref().map(|u| (s, u)))
        .collect();
    if linked.is_empty() {
        return Ok(());
    }
    let scim_ids: Vec<String> = linked.iter().map(|(s, _)| (*s).clone()).collect();
    let mut keys_of: HashMap<String, Vec<String>> = HashMap::new();
    for (member, key) in store::scim::effective_keys_of(tx.conn(), &scim_ids).await? {
        keys_of.entry(member).or_default().push(key);
    }
    let user_ids: Vec<String> = linked.iter().map(|(_, u)| (*u).clone()).collect();
    let mut have: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (user, role_id, name) in
        store::sso::roles_from_many(tx.conn(), &user_ids, &tenant.id, "scim").await?
    {
        have.entry(user).or_default().push((role_id, name));
    }
    // Many users share a group set: map each distinct set once.
    let mut decided: HashMap<Vec<String>, Vec<Mapped>> = HashMap::new();
    let mut batch = Batch::default();
    for (scim_id, user_id) in linked {
        let mut keys = keys_of.remove(scim_id).unwrap_or_default();
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
        let have = have.get(user_id).map(Vec::as_slice).unwrap_or_default();
        batch.extend(jit::role_changes(user_id, tenant, &wanted, have, now, "scim").stmts);
    }
    tx.run(batch).await?;
    Ok(())
}
