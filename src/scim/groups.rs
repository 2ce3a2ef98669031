//! SCIM Groups: displayName (unique per tenant, case-insensitive: Entra matches groups by it),
//! externalId, members (users and nested groups of the same tenant only). Members live in
//! `group_members`, never in the resource JSON: PATCH member changes are set operations in
//! batches, so adding 10,000 members is one transaction without quadratic work. Every
//! membership change reconciles the roles of exactly the users it touched.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::auth::ScimClient;
use super::roles;
use super::users::{Result, actor, tenant};
use super::wire;
use crate::audit::{self, Event};
use crate::domain::new_id;
use crate::engine::scim::error::ScimError;
use crate::engine::scim::patch::{self, Member, MemberChange};
use crate::engine::scim::resource::{self, Selector};
use crate::engine::scim::schema::{self, Kind};
use crate::state::AppState;
use crate::store::{self, Tx, scim::GroupRow, tenants::TenantRow};

fn derive_name(r: &Map<String, Value>) -> (String, Option<String>) {
    (
        r.get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        r.get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string),
    )
}

/// Whether the projection leaves `members` out (then the member query is skipped: a 50,000
/// member group listed with `excludedAttributes=members` costs nothing).
pub fn wants_members(include: &[Selector], exclude: &[Selector]) -> bool {
    let named = |s: &Selector| {
        s.urn.is_none()
            && s.attr
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case("members"))
    };
    if !include.is_empty() {
        return include.iter().any(named);
    }
    !exclude.iter().any(|s| named(s) && s.sub.is_none())
}

pub fn render(
    row: &GroupRow,
    base: &str,
    members: Option<&[store::scim::MemberRow]>,
) -> Result<Map<String, Value>> {
    let mut r = wire::stored(&row.resource)?;
    let schemas = wire::schemas_of(schema::GROUP, &r);
    r.insert("schemas".into(), schemas);
    r.insert("id".into(), Value::String(row.id.clone()));
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let list = members
            .iter()
            .map(|m| {
                let endpoint = if m.member_type == "Group" {
                    "Groups"
                } else {
                    "Users"
                };
                let mut v = json!({
                    "value": m.member_id,
                    "$ref": format!("{base}/{endpoint}/{}", m.member_id),
                    "type": m.member_type,
                });
                if let Some(d) = &m.display {
                    v["display"] = json!(d);
                }
                v
            })
            .collect();
        r.insert("members".into(), Value::Array(list));
    }
    r.insert(
        "meta".into(),
        wire::meta(
            "Group",
            base,
            "Groups",
            &row.id,
            row.created_at,
            row.updated_at,
            row.version,
        ),
    );
    Ok(r)
}

async fn respond(
    tx: &mut Tx,
    row: &GroupRow,
    base: &str,
    include: &[Selector],
    exclude: &[Selector],
) -> Result<Map<String, Value>> {
    let members = if wants_members(include, exclude) {
        Some(store::scim::members(tx.conn(), &row.id).await?)
    } else {
        None
    };
    Ok(resource::project(
        Kind::Group,
        render(row, base, members.as_deref())?,
        include,
        exclude,
    ))
}

/// The member list a client sent with a whole group (an empty list too), taken out of the
/// stored form.
fn split_members(body: &Value, r: &mut Map<String, Value>) -> Result<Option<Vec<Member>>> {
    r.remove("members");
    let sent = body.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("members"))
            .map(|(_, v)| v)
    });
    match sent {
        None => Ok(None),
        Some(v) => Ok(Some(patch::members_of(Some(v))?)),
    }
}

async fn check_name(tx: &mut Tx, tenant_id: &str, name: &str, id: Option<&str>) -> Result<()> {
    let clash = store::scim::group_by_name(tx.conn(), tenant_id, &name.to_lowercase()).await?;
    if clash.is_some_and(|g| Some(g.id.as_str()) != id) {
        return Err(ScimError::uniqueness(format!(
            "a group named {name} already exists in this tenant"
        )));
    }
    Ok(())
}

/// Applies member changes; returns the SCIM users whose groups changed.
async fn apply_members(
    tx: &mut Tx,
    tenant: &TenantRow,
    group_id: &str,
    changes: Vec<MemberChange>,
) -> Result<BTreeSet<(String, Option<String>)>> {
    let mut touched_users: HashSet<String> = HashSet::new();
    let mut touched_groups: HashSet<String> = HashSet::new();
    for change in changes {
        match change {
            MemberChange::Add(members) => {
                add(
                    tx,
                    tenant,
                    group_id,
                    &members,
                    &mut touched_users,
                    &mut touched_groups,
                )
                .await?;
            }
            MemberChange::Remove(ids) => {
                remove(
                    tx,
                    tenant,
                    group_id,
                    &ids,
                    &mut touched_users,
                    &mut touched_groups,
                )
                .await?;
            }
            MemberChange::RemoveAll => {
                let ids = store::scim::member_ids(tx.conn(), group_id).await?;
                remove(
                    tx,
                    tenant,
                    group_id,
                    &ids,
                    &mut touched_users,
                    &mut touched_groups,
                )
                .await?;
            }
            MemberChange::Replace(members) => {
                let have: HashSet<String> = store::scim::member_ids(tx.conn(), group_id)
                    .await?
                    .into_iter()
                    .collect();
                let want: HashSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
                let gone: Vec<String> = have
                    .iter()
                    .filter(|id| !want.contains(id.as_str()))
                    .cloned()
                    .collect();
                remove(
                    tx,
                    tenant,
                    group_id,
                    &gone,
                    &mut touched_users,
                    &mut touched_groups,
                )
                .await?;
                // Members already there only get their display refreshed.
                add(
                    tx,
                    tenant,
                    group_id,
                    &members,
                    &mut touched_users,
                    &mut touched_groups,
                )
                .await?;
                touched_users.retain(|u| !have.contains(u) || !want.contains(u.as_str()));
                touched_groups.retain(|g| !have.contains(g) || !want.contains(g.as_str()));
            }
        }
    }
    let mut out = BTreeSet::new();
    for id in &touched_users {
        if let Some(row) = store::scim::get_user(tx.conn(), &tenant.id, id, false).await? {
            out.insert((row.id, row.user_id));
        }
    }
    for g in &touched_groups {
        out.extend(store::scim::users_below(tx.conn(), g).await?);
    }
    Ok(out)
}

async fn add(
    tx: &mut Tx,
    tenant: &TenantRow,
    group_id: &str,
    members: &[Member],
    users: &mut HashSet<String>,
    groups: &mut HashSet<String>,
) -> Result<()> {
    if members.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let kinds: std::collections::HashMap<String, String> =
        store::scim::kinds_of(tx.conn(), &tenant.id, &ids)
            .await?
            .into_iter()
            .collect();
    let mut rows = Vec::with_capacity(members.len());
    for m in members {
        // Ids of other tenants are as unknown as made-up ones: no cross-tenant edge, no oracle.
        let ty = kinds.get(&m.id).ok_or_else(|| {
            ScimError::invalid_value(format!(
                "member {} is not a user or group of this tenant",
                m.id
            ))
        })?;
        if m.id == group_id {
            return Err(ScimError::invalid_value(
                "a group cannot be a member of itself",
            ));
        }
        if ty == "Group" {
            groups.insert(m.id.clone());
        } else {
            users.insert(m.id.clone());
        }
        rows.push((m.id.clone(), ty.clone(), m.display.clone()));
    }
    store::scim::add_members(tx.conn(), group_id, &rows).await?;
    Ok(())
}

async fn remove(
    tx: &mut Tx,
    tenant: &TenantRow,
    group_id: &str,
    ids: &[String],
    users: &mut HashSet<String>,
    groups: &mut HashSet<String>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // Removing a non-member is not an error (idempotent, as Entra and Okta expect).
    for (id, ty) in store::scim::kinds_of(tx.conn(), &tenant.id, ids).await? {
        if ty == "Group" {
            groups.insert(id);
        } else {
            users.insert(id);
        }
    }
    // Users below a removed nested group lose it: collect them before the edge goes.
    let nested: Vec<String> = groups.iter().cloned().collect();
    for g in nested {
        for (u, _) in store::scim::users_below(tx.conn(), &g).await? {
            users.insert(u);
        }
    }
    store::scim::remove_members(tx.conn(), group_id, ids).await?;
    Ok(())
}

pub async fn create(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    base: &str,
    body: &Value,
    p: &wire::Projection,
) -> Result<(Map<String, Value>, i64)> {
    let mut r = resource::canonicalize(Kind::Group, body)?;
    let members = split_members(body, &mut r)?;
    let (include, exclude) = p.selectors(Kind::Group)?;
    let (name, external_id) = derive_name(&r);
    let now = state.now_ms();
    // Read before the write turn: the turn is the write path's bottleneck.
    let tenant = tenant(&mut state.store.acquire().await?, client).await?;
    let mut tx = state.store.begin().await?;
    check_name(&mut tx, &tenant.id, &name, None).await?;
    let row = GroupRow {
        id: new_id(),
        tenant_id: tenant.id.clone(),
        display_name_norm: name.to_lowercase(),
        display_name: name,
        external_id,
        resource: Value::Object(r).to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    store::scim::insert_group(tx.conn(), &row).await?;
    let held = store::scim::claim_group_keys(tx.conn(), &row, now).await?;
    let n = members.as_ref().map_or(0, Vec::len);
    let touched = match members {
        Some(m) => apply_members(&mut tx, &tenant, &row.id, vec![MemberChange::Add(m)]).await?,
        None => BTreeSet::new(),
    };
    let touched: Vec<_> = touched.into_iter().collect();
    roles::reconcile(state, &mut tx, &tenant, &touched, now).await?;
    audit::record(
        tx.conn(),
        now,
        &actor(client, rid),
        Event {
            tenant_id: Some(&tenant.id),
            action: "scim.group_created",
            target_type: "scim_group",
            target_id: Some(&row.id),
            before: None,
            after: Some(
                json!({"displayName": row.display_name, "externalId": row.external_id,
                "members": n, "keys_held_by_other_groups": held}),
            ),
        },
    )
    .await?;
    let out = respond(&mut tx, &row, base, &include, &exclude).await?;
    tx.commit().await?;
    Ok((out, row.version))
}

async fn load(tx: &mut Tx, tenant_id: &str, id: &str, lock: bool) -> Result<GroupRow> {
    store::scim::get_group(tx.conn(), tenant_id, id, lock)
        .await?
        .ok_or_else(|| ScimError::not_found("Group"))
}

pub async fn get(
    state: &AppState,
    client: &ScimClient,
    base: &str,
    id: &str,
    p: &wire::Projection,
) -> Result<(Map<String, Value>, i64)> {
    let (include, exclude) = p.selectors(Kind::Group)?;
    let mut tx = state.store.read().await?;
    tenant(&mut tx, client).await?;
    let row = load(&mut tx, &client.tenant_id, id, false).await?;
    let out = respond(&mut tx, &row, base, &include, &exclude).await?;
    Ok((out, row.version))
}

pub async fn version(state: &AppState, client: &ScimClient, id: &str) -> Result<i64> {
    let mut c = state.store.acquire().await?;
    Ok(
        store::scim::get_group(c.conn(), &client.tenant_id, id, false)
            .await?
            .ok_or_else(|| ScimError::not_found("Group"))?
            .version,
    )
}

#[allow(clippy::too_many_arguments)]
pub async fn update(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    base: &str,
    id: &str,
    change: super::users::Change<'_>,
    headers: &axum::http::HeaderMap,
    p: &wire::Projection,
) -> Result<Option<(Map<String, Value>, i64)>> {
    let (include, exclude) = p.selectors(Kind::Group)?;
    let (new_body, ops) = match change {
        super::users::Change::Replace(b) => {
            let mut r = resource::canonicalize(Kind::Group, b)?;
            // PUT replaces the whole group: no members sent, no members kept.
            let members = split_members(b, &mut r)?.unwrap_or_default();
            (Some((r, Some(members))), None)
        }
        super::users::Change::Patch(b) => (None, Some(patch::parse(b)?)),
    };
    let is_patch = ops.is_some();
    let now = state.now_ms();
    // Read before the write turn: the turn is the write path's bottleneck.
    let tenant = tenant(&mut state.store.acquire().await?, client).await?;
    let mut tx = state.store.begin().await?;
    let mut row = load(&mut tx, &tenant.id, id, true).await?;
    wire::check_if_match(headers, row.version)?;
    let old = wire::stored(&row.resource)?;
    let (r, changes) = match (new_body, ops) {
        (Some((r, members)), _) => (
            r,
            members
                .map(|m| vec![MemberChange::Replace(m)])
                .unwrap_or_default(),
        ),
        (None, Some(ops)) => {
            let mut r = old.clone();
            let changes = patch::apply(Kind::Group, &row.id, &mut r, &ops)?;
            r.remove("members");
            (r, changes)
        }
        (None, None) => (old.clone(), Vec::new()),
    };
    let (name, external_id) = derive_name(&r);
    // A rename claims the new name if no group holds it; the group keeps the keys it holds.
    let renamed = name != row.display_name || external_id != row.external_id;
    if name.to_lowercase() != row.display_name_norm {
        check_name(&mut tx, &tenant.id, &name, Some(&row.id)).await?;
    }
    let n_changes = changes.len();
    let mut touched = apply_members(&mut tx, &tenant, &row.id, changes).await?;
    if renamed {
        // The group may gain keys: everyone below it may change.
        touched.extend(store::scim::users_below(tx.conn(), &row.id).await?);
    }
    if r != old || n_changes > 0 {
        row.display_name_norm = name.to_lowercase();
        row.display_name = name;
        row.external_id = external_id;
        row.resource = Value::Object(r).to_string();
        row.version += 1;
        row.updated_at = now;
        store::scim::update_group(tx.conn(), &row).await?;
        let held = if renamed {
            store::scim::claim_group_keys(tx.conn(), &row, now).await?
        } else {
            Vec::new()
        };
        let touched: Vec<_> = touched.into_iter().collect();
        roles::reconcile(state, &mut tx, &tenant, &touched, now).await?;
        audit::record(
            tx.conn(),
            now,
            &actor(client, rid),
            Event {
                tenant_id: Some(&tenant.id),
                action: "scim.group_updated",
                target_type: "scim_group",
                target_id: Some(&row.id),
                before: Some(json!({"displayName": old.get("displayName")})),
                after: Some(
                    json!({"displayName": row.display_name, "member_changes": n_changes,
                    "users_reconciled": touched.len(), "keys_held_by_other_groups": held}),
                ),
            },
        )
        .await?;
    }
    // A PATCH that only changed members answers 204 unless attributes were asked for: large
    // member lists are not echoed (Entra: "returning all members isn't advisable").
    let out = if is_patch && include.is_empty() && exclude.is_empty() && n_changes > 0 && !renamed {
        None
    } else {
        Some((
            respond(&mut tx, &row, base, &include, &exclude).await?,
            row.version,
        ))
    };
    tx.commit().await?;
    Ok(out)
}

pub async fn delete(
    state: &AppState,
    client: &ScimClient,
    rid: Option<&str>,
    id: &str,
    headers: &axum::http::HeaderMap,
) -> Result<()> {
    let now = state.now_ms();
    // Read before the write turn: the turn is the write path's bottleneck.
    let tenant = tenant(&mut state.store.acquire().await?, client).await?;
    let mut tx = state.store.begin().await?;
    let row = load(&mut tx, &tenant.id, id, true).await?;
    wire::check_if_match(headers, row.version)?;
    let below: Vec<_> = store::scim::users_below(tx.conn(), &row.id).await?;
    store::scim::delete_group(tx.conn(), &tenant.id, &row.id).await?;
    roles::reconcile(state, &mut tx, &tenant, &below, now).await?;
    audit::record(
        tx.conn(),
        now,
        &actor(client, rid),
        Event {
            tenant_id: Some(&tenant.id),
            action: "scim.group_deleted",
            target_type: "scim_group",
            target_id: Some(&row.id),
            before: Some(json!({"displayName": row.display_name})),
            after: Some(json!({"users_reconciled": below.len()})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
