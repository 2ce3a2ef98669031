//! Roles and assignments: custom roles per organisation (built-ins come from the preset),
//! the scoped permission editor, user role assignment (single and bulk), the last-admin rule,
//! and `can-i`.
//!
//! Roles belong to the organisation (root tenant) and are used in it and its subtenants. A role
//! can never grant beyond the tenant boundary (400 naming the permission), and nobody can grant
//! a permission they do not hold themselves (403).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ordering::{self, Reach};
use super::service as rbac;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::auth::verified::Verified;
use crate::domain::{PermissionPattern, RbacTier, RoleSource, new_id, parse_id};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::roles::{AssignmentRow, AssignmentView, RoleRow};
use crate::store::tenants::TenantRow;
use crate::store::{self, AsConn, Tx};

// ---------------------------------------------------------------------------------------------
// Lookups shared with other features

/// A role given by id or by name in the tenant's organisation; `None` when neither is given.
pub async fn resolve(
    db: &mut impl AsConn,
    tenant: &TenantRow,
    role_id: Option<&str>,
    name: Option<&str>,
) -> Result<Option<RoleRow>> {
    let found = match (role_id, name) {
        (Some(id), _) => {
            let id = parse_id(id, "role")?;
            store::roles::get(db.conn(), &id)
                .await?
                .filter(|r| r.tenant_id == tenant.root_id)
        }
        (None, Some(name)) => {
            store::roles::get_by_name(db.conn(), &tenant.root_id, &name.trim().to_lowercase())
                .await?
        }
        (None, None) => return Ok(None),
    };
    found.map(Some).ok_or(Error::NotFound("role"))
}

/// The tenant's least-privileged role: its `jit_default_role` setting, else the preset default.
pub async fn default_role(db: &mut impl AsConn, tenant: &TenantRow) -> Result<RoleRow> {
    let settings = &tenant.settings;
    if !settings.jit_default_role.is_empty()
        && let Some(r) = store::roles::get_by_name(
            db.conn(),
            &tenant.root_id,
            &settings.jit_default_role.to_lowercase(),
        )
        .await?
    {
        return Ok(r);
    }
    store::roles::list(db.conn(), &tenant.root_id)
        .await?
        .into_iter()
        .find(|r| r.is_default)
        .ok_or_else(|| Error::internal("the tenant has no default role"))
}

/// Fails with 400 naming the first permission that the tenant boundary does not allow.
fn check_boundary(tenant: &TenantRow, perms: &[PermissionPattern]) -> Result<()> {
    for p in perms {
        if !tenant.boundary.covers(p) {
            return Err(Error::invalid_field(
                "outside_boundary",
                "permissions",
                format!(
                    "`{p}` is outside the boundary of tenant `{}`: a role cannot grant it",
                    tenant.slug
                ),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The last-admin rule

/// Remembers which tenants had an active admin before a change, and refuses the change (409)
/// if one of them has none after it.
pub struct AdminGuard {
    tenants: Vec<String>,
}

impl AdminGuard {
    /// Tenants where `user_id` is an active admin now.
    pub async fn before(tx: &mut Tx, user_id: &str) -> Result<Self> {
        let mut tenants = Vec::new();
        // `of_user` is ordered by slug: the locks are always taken in one order (no deadlock).
        for t in store::tenants::of_user(tx.conn(), user_id).await? {
            store::tenants::lock_for_admin_change(tx.conn(), &t.id).await?;
            if store::roles::active_admins(tx.conn(), &t.id)
                .await?
                .iter()
                .any(|u| u == user_id)
            {
                tenants.push(t.id);
            }
        }
        Ok(Self { tenants })
    }

    /// The one tenant, if it has an active admin now.
    pub async fn before_in(tx: &mut Tx, tenant_id: &str) -> Result<Self> {
        store::tenants::lock_for_admin_change(tx.conn(), tenant_id).await?;
        let has = !store::roles::active_admins(tx.conn(), tenant_id)
            .await?
            .is_empty();
        Ok(Self {
            tenants: if has {
                vec![tenant_id.to_string()]
            } else {
                Vec::new()
            },
        })
    }

    /// The tenants that had an active admin before and have none now (for changes that may
    /// not be refused, such as a SCIM deactivation: they are reported, not stopped).
    pub async fn orphaned(self, tx: &mut Tx) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for t in self.tenants {
            if store::roles::active_admins(tx.conn(), &t).await?.is_empty() {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn check(self, tx: &mut Tx) -> Result<()> {
        for t in &self.tenants {
            if store::roles::active_admins(tx.conn(), t).await?.is_empty() {
                let slug = store::tenants::get(tx.conn(), t)
                    .await?
                    .map(|t| t.slug)
                    .unwrap_or_default();
                return Err(Error::conflict(
                    "last_admin",
                    format!(
                        "this would leave tenant `{slug}` without an active admin: make someone else admin first"
                    ),
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// A role of the preset (cannot be renamed or deleted).
    pub builtin: bool,
    /// The admin role (holds `*`; the tenant's last active admin keeps it).
    pub admin: bool,
    /// The organisation's default (least-privileged) role.
    pub default: bool,
    /// The RBAC tier the role needs, if any.
    pub tier: Option<String>,
    /// Whether the tenant's RBAC tier exposes the role.
    pub available: bool,
    pub permissions: Vec<String>,
    /// How many users hold the role.
    pub holder_count: i64,
}

fn view(r: RoleRow, tier: RbacTier, permissions: Vec<String>, holder_count: i64) -> RoleView {
    RoleView {
        available: tier.exposes(r.tier.as_deref()),
        id: r.id,
        name: r.name,
        display_name: r.display_name,
        description: r.description,
        builtin: r.builtin,
        admin: r.is_admin,
        default: r.is_default,
        tier: r.tier,
        permissions,
        holder_count,
    }
}

fn tier_of(t: &TenantRow) -> RbacTier {
    t.rbac_tier
}

pub async fn list(state: &AppState, p: &Principal, tenant: Option<&str>) -> Result<Vec<RoleView>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require_any(
        state,
        &mut tx,
        p,
        &t,
        &["rbac:read", "rbac:manage", "users:read"],
    )
    .await?;
    let roles = store::roles::list(tx.conn(), &t.root_id).await?;
    let counts: BTreeMap<String, i64> = store::roles::holder_counts(tx.conn(), &t.root_id)
        .await?
        .into_iter()
        .collect();
    let mut perms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rp in store::roles::permissions_of_tenant_roles(tx.conn(), &t.root_id).await? {
        perms.entry(rp.role_id).or_default().push(rp.permission);
    }
    let tier = tier_of(&t);
    Ok(roles
        .into_iter()
        .map(|r| {
            let n = counts.get(&r.id).copied().unwrap_or(0);
            let mut ps = perms.remove(&r.id).unwrap_or_default();
            ps.dedup();
            view(r, tier, ps, n)
        })
        .collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleDetail {
    #[serde(flatten)]
    pub role: RoleView,
    /// `{entity: [actions]}`, e.g. `{"users": ["read", "write"]}`.
    pub permissions_by_entity: BTreeMap<String, Vec<String>>,
    pub scoped_permissions: Vec<ScopedPermission>,
    pub holders: Vec<AssignmentOut>,
}

pub async fn get(
    state: &AppState,
    p: &Principal,
    id: &str,
    tenant: Option<&str>,
) -> Result<RoleDetail> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    rbac::require_any(
        state,
        &mut tx,
        p,
        &t,
        &["rbac:read", "rbac:manage", "users:read"],
    )
    .await?;
    let role = resolve(&mut tx, &t, Some(id), None)
        .await?
        .ok_or(Error::NotFound("role"))?;
    let rows = store::roles::permissions(tx.conn(), &role.id).await?;
    let mut by_entity: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut flat = Vec::new();
    let mut scoped = Vec::new();
    for r in &rows {
        if let Ok(pat) = PermissionPattern::parse(&r.permission) {
            by_entity
                .entry(pat.resource().to_string())
                .or_default()
                .push(pat.action().to_string());
        }
        flat.push(r.permission.clone());
        scoped.push(scoped_out(&mut tx, r.permission.clone(), &r.scope_tenant_id).await?);
    }
    flat.dedup();
    let holders = store::roles::holders(tx.conn(), &role.id).await?;
    let count = holders
        .iter()
        .map(|h| &h.user_id)
        .collect::<BTreeSet<_>>()
        .len() as i64;
    Ok(RoleDetail {
        role: view(role, tier_of(&t), flat, count),
        permissions_by_entity: by_entity,
        scoped_permissions: scoped,
        holders: holders.into_iter().map(AssignmentOut::from).collect(),
    })
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopedPermission {
    pub permission: String,
    /// Slug of the subtenant the permission is limited to; absent = everywhere the role applies.
    #[serde(default)]
    pub scope: Option<String>,
}

async fn scoped_out(tx: &mut Tx, permission: String, scope_id: &str) -> Result<ScopedPermission> {
    let scope = if scope_id.is_empty() {
        None
    } else {
        store::tenants::get(tx.conn(), scope_id)
            .await?
            .map(|t| t.slug)
    };
    Ok(ScopedPermission { permission, scope })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentOut {
    pub id: String,
    pub user_id: String,
    pub role_id: String,
    pub role: String,
    pub tenant: String,
    pub source: String,
    pub assigned_by: Option<String>,
    #[serde(with = "crate::clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub assigned_at: i64,
}

impl From<AssignmentView> for AssignmentOut {
    fn from(a: AssignmentView) -> Self {
        Self {
            id: a.id,
            user_id: a.user_id,
            role_id: a.role_id,
            role: a.role_name,
            tenant: a.tenant_slug,
            source: a.source,
            assigned_by: a.assigned_by,
            assigned_at: a.assigned_at,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Role CRUD

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// 1-64 letters, digits, spaces, dots, dashes or underscores; unique in the organisation
    /// (case-insensitive).
    pub name: String,
    /// Default: the name.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `resource:action` patterns (`users:read`, `itsm:*`, `*`), at most 10000.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The tenant's slug (the role goes to its organisation); default: the caller's current
    /// tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

fn parse_role_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || " ._-".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::invalid_field(
            "invalid_role_name",
            "name",
            "role name must be 1-64 letters, digits, spaces, dots, dashes or underscores",
        ))
    }
}

fn parse_permissions(raw: &[String]) -> Result<Vec<PermissionPattern>> {
    if raw.len() > 10_000 {
        return Err(Error::invalid_field(
            "too_many_permissions",
            "permissions",
            "a role can have at most 10000 permissions",
        ));
    }
    raw.iter().map(|p| PermissionPattern::parse(p)).collect()
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateRole,
) -> Result<RoleView> {
    let name = parse_role_name(&req.name)?;
    let perms = parse_permissions(&req.permissions)?;
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    let org = org_tenant(&mut tx, &t).await?;
    rbac::require(state, &mut tx, p, &org, "rbac:manage").await?;
    check_boundary(&org, &perms)?;
    rbac::require_holds_all(&*rbac::compiled(state, &mut tx, p, &org).await?, &perms)?;
    let role = RoleRow {
        id: new_id(),
        tenant_id: org.id.clone(),
        name_norm: name.to_lowercase(),
        display_name: req.display_name.unwrap_or_else(|| name.clone()),
        name,
        description: req.description.unwrap_or_default(),
        builtin: false,
        is_admin: false,
        is_default: false,
        tier: None,
        created_at: now,
        updated_at: now,
    };
    store::roles::insert(&mut tx, &role).await?;
    for perm in &perms {
        store::roles::add_permission(&mut tx, &role.id, &perm.as_string(), "").await?;
    }
    let list: Vec<String> = perms.iter().map(|p| p.as_string()).collect();
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "role.create",
            target_type: "role",
            target_id: Some(&role.id),
            before: None,
            after: Some(json!({"name": role.name, "permissions": list})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view(role, tier_of(&org), list, 0))
}

/// The organisation that owns a tenant's roles.
async fn org_tenant(tx: &mut Tx, t: &TenantRow) -> Result<TenantRow> {
    if t.parent_id.is_none() {
        return Ok(t.clone());
    }
    store::tenants::get(tx.conn(), &t.root_id)
        .await?
        .ok_or(Error::NotFound("tenant"))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRole {
    /// A new name (built-in roles keep theirs).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Replaces every permission of the role (unscoped), when given.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn patch(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    id: &str,
    req: PatchRole,
) -> Result<RoleView> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    let org = org_tenant(&mut tx, &t).await?;
    rbac::require(state, &mut tx, p, &org, "rbac:manage").await?;
    let mut role = resolve(&mut tx, &org, Some(id), None)
        .await?
        .ok_or(Error::NotFound("role"))?;
    let before_perms: Vec<String> = store::roles::permissions(tx.conn(), &role.id)
        .await?
        .into_iter()
        .map(|r| r.permission)
        .collect();
    let before =
        json!({"name": role.name, "display_name": role.display_name, "permissions": before_perms});
    if let Some(name) = &req.name {
        let name = parse_role_name(name)?;
        if role.builtin && name != role.name {
            return Err(Error::forbidden(
                "builtin_role",
                "built-in roles cannot be renamed",
            ));
        }
        role.name_norm = name.to_lowercase();
        role.name = name;
    }
    if let Some(d) = req.display_name {
        role.display_name = d;
    }
    if let Some(d) = req.description {
        role.description = d;
    }
    role.updated_at = now;
    store::roles::update(&mut tx, &role).await?;
    if let Some(raw) = &req.permissions {
        let perms = parse_permissions(raw)?;
        replace_permissions(
            state,
            &mut tx,
            p,
            &org,
            &role,
            perms.into_iter().map(|p| (p, String::new())).collect(),
        )
        .await?;
    }
    let after_perms: Vec<String> = store::roles::permissions(tx.conn(), &role.id)
        .await?
        .into_iter()
        .map(|r| r.permission)
        .collect();
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "role.update",
            target_type: "role",
            target_id: Some(&role.id),
            before: Some(before),
            after: Some(json!({"name": role.name, "display_name": role.display_name, "permissions": after_perms})),
        },
    )
    .await?;
    let holders = store::roles::holders(tx.conn(), &role.id)
        .await?
        .iter()
        .map(|h| h.user_id.clone())
        .collect::<BTreeSet<_>>()
        .len();
    tx.commit().await?;
    Ok(view(role, tier_of(&org), after_perms, holders as i64))
}

/// Replaces a role's permissions after the boundary and escalation checks. Removing
/// permissions is always allowed; each added permission must be held by the caller.
async fn replace_permissions(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    org: &TenantRow,
    role: &RoleRow,
    perms: Vec<(PermissionPattern, String)>,
) -> Result<()> {
    let plain: Vec<PermissionPattern> = perms.iter().map(|(p, _)| p.clone()).collect();
    check_boundary(org, &plain)?;
    let existing: BTreeSet<(String, String)> = store::roles::permissions(tx.conn(), &role.id)
        .await?
        .into_iter()
        .map(|r| (r.permission, r.scope_tenant_id))
        .collect();
    let added: Vec<PermissionPattern> = perms
        .iter()
        .filter(|(pat, scope)| !existing.contains(&(pat.as_string(), scope.clone())))
        .map(|(pat, _)| pat.clone())
        .collect();
    rbac::require_holds_all(&*rbac::compiled(state, tx, p, org).await?, &added)?;
    if role.is_admin
        && !perms
            .iter()
            .any(|(pat, scope)| pat.is_everything() && scope.is_empty())
        && role.builtin
    {
        // The admin role keeps `*`: otherwise the last-admin rule would guard an empty shell.
        return Err(Error::forbidden(
            "builtin_role",
            "the built-in admin role always keeps `*`",
        ));
    }
    store::roles::clear_permissions(tx, &role.id).await?;
    for (pat, scope) in &perms {
        store::roles::add_permission(tx, &role.id, &pat.as_string(), scope).await?;
    }
    Ok(())
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
    let org = org_tenant(&mut tx, &t).await?;
    rbac::require(state, &mut tx, p, &org, "rbac:manage").await?;
    let role = resolve(&mut tx, &org, Some(id), None)
        .await?
        .ok_or(Error::NotFound("role"))?;
    if role.builtin {
        return Err(Error::forbidden(
            "builtin_role",
            format!("`{}` is a built-in role and cannot be deleted", role.name),
        ));
    }
    store::roles::delete(&mut tx, &role.id).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "role.delete",
            target_type: "role",
            target_id: Some(&role.id),
            before: Some(json!({"name": role.name})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scoped permission editor (`/api/rbac/role-permissions?role_id=`)

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolePermissions {
    pub role_id: String,
    /// The role's name.
    pub role: String,
    pub permissions: Vec<ScopedPermission>,
}

pub async fn get_permissions(
    state: &AppState,
    p: &Principal,
    role_id: &str,
) -> Result<RolePermissions> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, None).await?;
    rbac::require_any(state, &mut tx, p, &t, &["rbac:read", "rbac:manage"]).await?;
    let role = resolve(&mut tx, &t, Some(role_id), None)
        .await?
        .ok_or(Error::NotFound("role"))?;
    let mut out = Vec::new();
    for r in store::roles::permissions(tx.conn(), &role.id).await? {
        out.push(scoped_out(&mut tx, r.permission, &r.scope_tenant_id).await?);
    }
    Ok(RolePermissions {
        role_id: role.id,
        role: role.name,
        permissions: out,
    })
}

/// Either `["users:read"]` or `[{"permission": "runbooks:run", "scope": "sub-a"}]`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PermissionEntry {
    Plain(String),
    Scoped(ScopedPermission),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPermissions {
    pub permissions: Vec<PermissionEntry>,
}

pub async fn put_permissions(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    role_id: &str,
    req: PutPermissions,
) -> Result<RolePermissions> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, None).await?;
    let org = org_tenant(&mut tx, &t).await?;
    rbac::require(state, &mut tx, p, &org, "rbac:manage").await?;
    let role = resolve(&mut tx, &org, Some(role_id), None)
        .await?
        .ok_or(Error::NotFound("role"))?;
    if req.permissions.len() > 10_000 {
        return Err(Error::invalid_field(
            "too_many_permissions",
            "permissions",
            "a role can have at most 10000 permissions",
        ));
    }
    let mut perms = Vec::new();
    for e in req.permissions {
        let (perm, scope) = match e {
            PermissionEntry::Plain(s) => (s, None),
            PermissionEntry::Scoped(s) => (s.permission, s.scope),
        };
        let pat = PermissionPattern::parse(&perm)?;
        let scope_id = match scope.filter(|s| !s.is_empty()) {
            None => String::new(),
            Some(slug) => {
                let sub = store::tenants::get_by_slug(tx.conn(), &slug)
                    .await?
                    .filter(|s| s.parent_id.as_deref() == Some(org.id.as_str()));
                sub.ok_or_else(|| {
                    Error::invalid_field(
                        "invalid_scope",
                        "scope",
                        format!("`{slug}` is not a subtenant of `{}`", org.slug),
                    )
                })?
                .id
            }
        };
        perms.push((pat, scope_id));
    }
    let before: Vec<String> = store::roles::permissions(tx.conn(), &role.id)
        .await?
        .into_iter()
        .map(|r| r.permission)
        .collect();
    replace_permissions(state, &mut tx, p, &org, &role, perms).await?;
    let mut out = Vec::new();
    for r in store::roles::permissions(tx.conn(), &role.id).await? {
        out.push(scoped_out(&mut tx, r.permission, &r.scope_tenant_id).await?);
    }
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&org.id),
            action: "role.permissions",
            target_type: "role",
            target_id: Some(&role.id),
            before: Some(json!(before)),
            after: Some(json!(out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(RolePermissions {
        role_id: role.id,
        role: role.name,
        permissions: out,
    })
}

// ---------------------------------------------------------------------------------------------
// Assignments

/// Where an assignment lands: the current tenant, or one of its subtenants.
async fn assignment_tenant(
    tx: &mut Tx,
    t: &TenantRow,
    subtenant: Option<&str>,
) -> Result<TenantRow> {
    match subtenant.filter(|s| !s.is_empty()) {
        None => Ok(t.clone()),
        Some(slug) => store::tenants::get_by_slug(tx.conn(), slug)
            .await?
            .filter(|s| s.parent_id.as_deref() == Some(t.id.as_str()))
            .ok_or(Error::NotFound("subtenant")),
    }
}

/// Checks that `p` may hand out `role` in `target` and that the role is usable there.
async fn check_grantable(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    target: &TenantRow,
    role: &RoleRow,
) -> Result<()> {
    super::grant::require_may_grant(state, tx, p, target, role, &["rbac:assign", "rbac:manage"])
        .await
}

/// The tenant's roles that `p` may hand out there, for a role picker: exactly those that
/// [`check_grantable`] (the tier, the assigning permission and the hold-all rule) lets through, so
/// what a picker offers an assignment accepts.
pub async fn grantable(
    state: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<RoleRow>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    let mut out = Vec::new();
    // Roles belong to the organisation (a subtenant uses its root's).
    for role in store::roles::list(tx.conn(), &t.root_id).await? {
        match check_grantable(state, &mut tx, p, &t, &role).await {
            Ok(()) => out.push(role),
            Err(Error::Forbidden { .. } | Error::Invalid { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

pub async fn user_roles(
    state: &AppState,
    p: &Principal,
    user_id: &str,
    tenant: Option<&str>,
) -> Result<Vec<AssignmentOut>> {
    let mut tx = state.store.read().await?;
    let t = rbac::tenant_for(&mut tx, p, tenant).await?;
    if p.user_id() != Some(user_id) {
        rbac::require_any(
            state,
            &mut tx,
            p,
            &t,
            &["users:read", "rbac:read", "rbac:manage"],
        )
        .await?;
    }
    let uid = parse_id(user_id, "user")?;
    if !store::users::visible_in(tx.conn(), &uid, &t.id).await? {
        return Err(Error::NotFound("user"));
    }
    let rows = store::roles::of_user_in_org(tx.conn(), &uid, &t.root_id).await?;
    Ok(rows
        .into_iter()
        .filter(|a| a.tenant_id == t.id || t.parent_id.is_none())
        .map(AssignmentOut::from)
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRole {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_id: Option<String>,
    /// Assign at this subtenant of the current tenant instead of the tenant itself.
    #[serde(default)]
    pub subtenant: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

pub async fn add_user_role(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    user_id: &str,
    req: AddRole,
) -> Result<AssignmentOut> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    let role = resolve(&mut tx, &t, req.role_id.as_deref(), req.role.as_deref())
        .await?
        .ok_or_else(|| {
            Error::invalid_field("role_required", "role", "give `role` (name) or `role_id`")
        })?;
    let target = assignment_tenant(&mut tx, &t, req.subtenant.as_deref()).await?;
    check_grantable(state, &mut tx, p, &target, &role).await?;
    let uid = parse_id(user_id, "user")?;
    if !store::users::visible_in(tx.conn(), &uid, &t.id).await? {
        return Err(Error::NotFound("user"));
    }
    let user = store::users::get(tx.conn(), &uid)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if user.status == crate::domain::UserStatus::Deleted {
        return Err(Error::NotFound("user"));
    }
    ordering::require_may_act_on(state, &mut tx, p, &target, &user, Reach::Scope).await?;
    ensure_membership(&mut tx, &target, &uid, now).await?;
    let row = AssignmentRow {
        id: new_id(),
        user_id: uid.clone(),
        tenant_id: target.id.clone(),
        role_id: role.id.clone(),
        source: RoleSource::Manual.as_str().into(),
        assigned_by: p.user_id().map(str::to_string),
        assigned_at: now,
    };
    if !store::roles::assign(&mut tx, &row).await? {
        return Err(Error::conflict(
            "role_already_assigned",
            format!("the user already has `{}` here", role.name),
        ));
    }
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&target.id),
            action: "role.assign",
            target_type: "user",
            target_id: Some(&uid),
            before: None,
            after: Some(json!({"role": role.name, "tenant": target.slug, "source": "manual"})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(AssignmentOut {
        id: row.id,
        user_id: row.user_id,
        role_id: role.id,
        role: role.name,
        tenant: target.slug,
        source: row.source,
        assigned_by: row.assigned_by,
        assigned_at: now,
    })
}

/// A user assigned a role in a tenant they cannot reach yet becomes a member of it.
async fn ensure_membership(tx: &mut Tx, target: &TenantRow, user_id: &str, now: i64) -> Result<()> {
    let reach_parent = match &target.parent_id {
        Some(parent) => store::tenants::is_member(tx.conn(), parent, user_id).await?,
        None => false,
    };
    if !reach_parent {
        store::tenants::ensure_member(tx, &target.id, user_id, now).await?;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveRoleParams {
    pub subtenant: Option<String>,
    pub tenant: Option<String>,
}

pub async fn remove_user_role(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    user_id: &str,
    role: &str,
    q: RemoveRoleParams,
) -> Result<()> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, q.tenant.as_deref()).await?;
    let role = match uuid::Uuid::parse_str(role) {
        Ok(_) => resolve(&mut tx, &t, Some(role), None).await?,
        Err(_) => resolve(&mut tx, &t, None, Some(role)).await?,
    }
    .ok_or(Error::NotFound("role"))?;
    let target = assignment_tenant(&mut tx, &t, q.subtenant.as_deref()).await?;
    rbac::require_any(state, &mut tx, p, &target, &["rbac:assign", "rbac:manage"]).await?;
    let uid = parse_id(user_id, "user")?;
    if !store::users::visible_in(tx.conn(), &uid, &t.id).await? {
        return Err(Error::NotFound("user"));
    }
    let user = store::users::get(tx.conn(), &uid)
        .await?
        .ok_or(Error::NotFound("user"))?;
    ordering::require_may_act_on(state, &mut tx, p, &target, &user, Reach::Scope).await?;
    let guard = AdminGuard::before_in(&mut tx, &target.id).await?;
    if store::roles::unassign(&mut tx, &uid, &target.id, &role.id, None).await? == 0 {
        return Err(Error::NotFound("role assignment"));
    }
    guard.check(&mut tx).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&target.id),
            action: "role.unassign",
            target_type: "user",
            target_id: Some(&uid),
            before: Some(json!({"role": role.name, "tenant": target.slug})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkMode {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAssign {
    /// 1 to 10000 user ids.
    pub user_ids: Vec<String>,
    /// Roles by id.
    #[serde(default)]
    pub role_ids: Vec<String>,
    /// Roles by name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `add`, `remove`, or `replace` (every role the users hold there is removed first).
    pub mode: BulkMode,
    /// Assign at this subtenant of the tenant instead of the tenant itself.
    #[serde(default)]
    pub subtenant: Option<String>,
    /// The tenant's slug; default: the caller's current tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Check everything and count what would change, then roll back: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub dry_run: bool,
    /// Distinct users selected.
    pub users: usize,
    /// Of those, the users whose roles change (would change, in a dry run).
    pub changed: usize,
    /// Assignments added.
    pub added: u64,
    /// Assignments removed.
    pub removed: u64,
}

/// Adds, removes or replaces roles for many users at once: all of it or nothing.
pub async fn bulk_assign(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: BulkAssign,
) -> Result<BulkResult> {
    if req.user_ids.is_empty() || req.user_ids.len() > 10_000 {
        return Err(Error::invalid_field(
            "invalid_user_ids",
            "user_ids",
            "give between 1 and 10000 user ids",
        ));
    }
    if req.role_ids.is_empty() && req.roles.is_empty() && req.mode != BulkMode::Replace {
        return Err(Error::invalid_field(
            "role_required",
            "role_ids",
            "give role_ids or roles",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = rbac::tenant_for(&mut tx, p, req.tenant.as_deref()).await?;
    let target = assignment_tenant(&mut tx, &t, req.subtenant.as_deref()).await?;
    rbac::require_any(state, &mut tx, p, &target, &["rbac:assign", "rbac:manage"]).await?;
    let mut roles = Vec::new();
    for id in &req.role_ids {
        roles.push(
            resolve(&mut tx, &t, Some(id), None)
                .await?
                .ok_or(Error::NotFound("role"))?,
        );
    }
    for name in &req.roles {
        roles.push(
            resolve(&mut tx, &t, None, Some(name))
                .await?
                .ok_or(Error::NotFound("role"))?,
        );
    }
    if req.mode != BulkMode::Remove {
        for role in &roles {
            check_grantable(state, &mut tx, p, &target, role).await?;
        }
    }
    let mut users = Vec::new();
    for id in &req.user_ids {
        let uid = parse_id(id, "user")?;
        if !store::users::visible_in(tx.conn(), &uid, &t.id).await? {
            return Err(Error::NotFound("user"));
        }
        let user = store::users::get(tx.conn(), &uid)
            .await?
            .ok_or(Error::NotFound("user"))?;
        ordering::require_may_act_on(state, &mut tx, p, &target, &user, Reach::Scope).await?;
        users.push(uid);
    }
    users.sort();
    users.dedup();
    let guard = AdminGuard::before_in(&mut tx, &target.id).await?;
    let (mut added, mut removed, mut changed) = (0u64, 0u64, 0usize);
    for uid in &users {
        let before = added + removed;
        match req.mode {
            BulkMode::Remove => {
                for role in &roles {
                    removed +=
                        store::roles::unassign(&mut tx, uid, &target.id, &role.id, None).await?;
                }
            }
            BulkMode::Add | BulkMode::Replace => {
                if req.mode == BulkMode::Replace {
                    removed += store::roles::unassign_all_in(&mut tx, uid, &target.id).await?;
                }
                ensure_membership(&mut tx, &target, uid, now).await?;
                for role in &roles {
                    let row = AssignmentRow {
                        id: new_id(),
                        user_id: uid.clone(),
                        tenant_id: target.id.clone(),
                        role_id: role.id.clone(),
                        source: RoleSource::Manual.as_str().into(),
                        assigned_by: p.user_id().map(str::to_string),
                        assigned_at: now,
                    };
                    if store::roles::assign(&mut tx, &row).await? {
                        added += 1;
                    }
                }
            }
        }
        if added + removed != before {
            changed += 1;
        }
    }
    guard.check(&mut tx).await?;
    if req.dry_run {
        // Dropped, the transaction rolls back: the counts are what the real run would do.
        return Ok(BulkResult {
            dry_run: true,
            users: users.len(),
            changed,
            added,
            removed,
        });
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&target.id),
            action: "role.bulk_assign",
            target_type: "users",
            target_id: None,
            before: None,
            after: Some(json!({"mode": format!("{:?}", req.mode).to_lowercase(), "roles": names, "users": users, "added": added, "removed": removed})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(BulkResult {
        dry_run: false,
        users: users.len(),
        changed,
        added,
        removed,
    })
}

// ---------------------------------------------------------------------------------------------
// can-i

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CanIParams {
    /// The permission asked about (`resource:action`, e.g. `users:read`).
    pub permission: String,
    /// The tenant's slug; default: the caller's current tenant.
    pub tenant: Option<String>,
    /// Ask about this subtenant of the tenant instead.
    pub subtenant: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CanI {
    pub allowed: bool,
    /// Why, for a person.
    pub reason: String,
    /// Flattened: `"code": "granted_by_role"` (plus `"role"` when a role grants), not a nested
    /// object.
    #[serde(flatten)]
    pub code: crate::engine::rbac::Reason,
    /// The permission asked about, normalised.
    pub permission: String,
    /// The slug of the tenant (or subtenant) decided in.
    pub tenant: String,
}

pub async fn can_i(state: &AppState, p: &Principal, q: CanIParams) -> Result<CanI> {
    let wanted = PermissionPattern::parse(&q.permission)?;
    let mut c = state.store.acquire().await?;
    let mut t = rbac::tenant_for(&mut c, p, q.tenant.as_deref()).await?;
    if let Some(sub) = q.subtenant.as_deref().filter(|s| !s.is_empty()) {
        t = store::tenants::get_by_slug(c.conn(), sub)
            .await?
            .filter(|s| s.parent_id.as_deref() == Some(t.id.as_str()))
            .ok_or(Error::NotFound("subtenant"))?;
    }
    let d = rbac::decide(state, &mut c, p, &t, &wanted).await?;
    Ok(answer(d, &wanted, t.slug))
}

/// can-i from a verified caller's entry (its compiled permissions in the tenant it was
/// verified for): no store access.
pub fn can_i_in(v: &Verified, wanted: &PermissionPattern) -> CanI {
    answer(
        v.compiled.decide(wanted),
        wanted,
        v.tenant_slug().to_string(),
    )
}

fn answer(d: crate::engine::rbac::Decision, wanted: &PermissionPattern, tenant: String) -> CanI {
    let permission = wanted.to_string();
    CanI {
        allowed: d.allowed,
        reason: d.reason.message(&tenant, &permission),
        code: d.reason,
        permission,
        tenant,
    }
}
