//! Tenant operations. Root tenants (organisations) are created by platform admins from a
//! preset, whose roles become the organisation's built-in roles; subtenants are created inside
//! an organisation by whoever holds `tenants:write` there and use the organisation's roles.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::TenantView;
use crate::audit::{self, Event};
use crate::auth::principal::Principal;
use crate::domain::{
    Boundary, Email, PermissionPattern, RbacTier, RoleSource, Slug, new_id, parse_id,
};
use crate::error::{Error, Result};
use crate::rbac::presets;
use crate::rbac::roles::AdminGuard;
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::roles::{AssignmentRow, RoleRow};
use crate::store::tenants::TenantRow;
use crate::store::{self, Tx};
use crate::tenants::settings::{SettingsPatch, TenantSettings};
use crate::users::UserView;

pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub preset: Option<String>,
    pub parent: Option<TenantRow>,
    pub rbac_tier: Option<String>,
    pub boundary: Option<Vec<String>>,
}

fn parse_tier(raw: &str) -> Result<RbacTier> {
    RbacTier::parse(raw).ok_or_else(|| {
        Error::invalid_field(
            "invalid_rbac_tier",
            "rbac_tier",
            "rbac_tier must be none, basic or enterprise",
        )
    })
}

fn validate_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(Error::invalid_field(
            "invalid_name",
            "name",
            "name must be 1-200 characters",
        ));
    }
    Ok(n.to_string())
}

/// Creates a tenant (and, for an organisation, its preset roles) inside `tx`.
pub async fn create_in_tx(
    state: &AppState,
    tx: &mut Tx,
    actor: &audit::Actor<'_>,
    n: NewTenant,
) -> Result<TenantRow> {
    let slug = Slug::parse(&n.slug)?;
    let name = validate_name(&n.name)?;
    let now = state.now_ms();
    let preset_name = match (&n.parent, &n.preset) {
        (Some(parent), _) => parent.preset.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => state.settings.auth.default_preset.clone(),
    };
    let preset = presets::get(&preset_name)?;
    if let Some(parent) = &n.parent
        && parent.parent_id.is_some()
    {
        return Err(Error::invalid_field(
            "nested_subtenant",
            "parent",
            "subtenants cannot have subtenants: use the organisation as parent",
        ));
    }
    let tier = parse_tier(n.rbac_tier.as_deref().unwrap_or("enterprise"))?;
    let boundary = Boundary::parse(&n.boundary.unwrap_or_else(|| vec!["*".into()]))?;
    let id = new_id();
    let row = TenantRow {
        root_id: n
            .parent
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_else(|| id.clone()),
        id,
        slug: slug.as_str().to_string(),
        name,
        parent_id: n.parent.as_ref().map(|p| p.id.clone()),
        status: crate::domain::TenantStatus::Active,
        preset: preset.name.clone(),
        rbac_tier: tier,
        boundary,
        settings: TenantSettings::default(),
        created_at: now,
        updated_at: now,
    };
    store::tenants::insert(tx, &row).await?;
    if row.parent_id.is_none() {
        for r in &preset.roles {
            let role = RoleRow {
                id: new_id(),
                tenant_id: row.id.clone(),
                name: r.name.clone(),
                name_norm: r.name.to_lowercase(),
                display_name: r.display_name.clone(),
                description: r.description.clone(),
                builtin: true,
                is_admin: r.admin,
                is_default: r.name == preset.default_role,
                tier: r.tier.clone(),
                created_at: now,
                updated_at: now,
            };
            store::roles::insert(tx, &role).await?;
            for p in &r.permissions {
                store::roles::add_permission(
                    tx,
                    &role.id,
                    &PermissionPattern::parse(p)?.as_string(),
                    "",
                )
                .await?;
            }
        }
    }
    audit::record(
        tx.conn(),
        now,
        actor,
        Event {
            tenant_id: Some(&row.id),
            action: "tenant.create",
            target_type: "tenant",
            target_id: Some(&row.id),
            before: None,
            after: Some(json!({"slug": row.slug, "name": row.name, "preset": row.preset, "parent": row.parent_id})),
        },
    )
    .await?;
    Ok(row)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub preset: Option<String>,
    /// Slug of the organisation this is a subtenant of.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub rbac_tier: Option<String>,
    #[serde(default)]
    pub boundary: Option<Vec<String>>,
}

pub async fn create(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    req: CreateTenant,
) -> Result<TenantView> {
    let mut tx = state.store.begin().await?;
    let parent = match req.parent.as_deref().filter(|s| !s.is_empty()) {
        Some(slug) => {
            let parent = store::tenants::get_by_slug(tx.conn(), slug)
                .await?
                .ok_or(Error::NotFound("tenant"))?;
            rbac::require(state, &mut tx, p, &parent, "tenants:write").await?;
            if let Some(b) = &req.boundary {
                within_parent(&parent, &Boundary::parse(b)?)?;
            }
            Some(parent)
        }
        None => {
            if !p.is_platform_admin() {
                return Err(Error::forbidden(
                    "platform_admin_required",
                    "only platform administrators create organisations; create a subtenant with `parent`",
                ));
            }
            None
        }
    };
    if parent.is_some() && req.preset.is_some() {
        return Err(Error::invalid_field(
            "preset_on_subtenant",
            "preset",
            "subtenants use their organisation's roles: leave preset out",
        ));
    }
    let actor = audit::Actor::of(p, rid);
    let row = create_in_tx(
        state,
        &mut tx,
        &actor,
        NewTenant {
            slug: req.slug,
            name: req.name,
            preset: req.preset,
            parent,
            rbac_tier: req.rbac_tier,
            boundary: req.boundary,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

fn within_parent(parent: &TenantRow, boundary: &Boundary) -> Result<()> {
    for b in boundary.patterns() {
        if !parent.boundary.covers(b) {
            return Err(Error::invalid_field(
                "outside_boundary",
                "boundary",
                format!(
                    "`{b}` is outside the boundary of the organisation `{}`",
                    parent.slug
                ),
            ));
        }
    }
    Ok(())
}

pub async fn list(state: &AppState, p: &Principal) -> Result<Vec<TenantView>> {
    let mut tx = state.store.read().await?;
    let rows = if p.is_platform_admin() {
        store::tenants::list(tx.conn()).await?
    } else {
        let mut out: Vec<TenantRow> = Vec::new();
        let mine = match p.user_id() {
            Some(uid) => store::tenants::of_user(tx.conn(), uid).await?,
            None => store::tenants::get(tx.conn(), &p.tenant_id)
                .await?
                .into_iter()
                .collect(),
        };
        for t in mine {
            let children = store::tenants::children(tx.conn(), &t.id).await?;
            for row in std::iter::once(t).chain(children) {
                if !out.iter().any(|o| o.id == row.id) {
                    out.push(row);
                }
            }
        }
        out
    };
    Ok(rows.into_iter().map(TenantView::from).collect())
}

/// A tenant the caller can see (member, member of its organisation, or platform admin).
async fn visible(state: &AppState, tx: &mut Tx, p: &Principal, slug: &str) -> Result<TenantRow> {
    let t = store::tenants::get_by_slug(tx.conn(), slug)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let c = rbac::compiled(state, tx, p, &t).await?;
    if c.member || c.platform_admin {
        Ok(t)
    } else {
        Err(Error::NotFound("tenant"))
    }
}

pub async fn get(state: &AppState, p: &Principal, slug: &str) -> Result<TenantView> {
    let mut tx = state.store.read().await?;
    Ok(visible(state, &mut tx, p, slug).await?.into())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTenant {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub rbac_tier: Option<String>,
    #[serde(default)]
    pub boundary: Option<Vec<String>>,
    #[serde(default)]
    pub settings: Option<SettingsPatch>,
}

/// Name: `tenants:write` in the tenant; settings: what each one needs (`settings::apply`). Status, tier and boundary of an
/// organisation: platform admins only (a tenant admin must not widen their own boundary); of a
/// subtenant: `tenants:write` in its organisation.
pub async fn patch(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    slug: &str,
    req: PatchTenant,
) -> Result<TenantView> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let mut t = visible(state, &mut tx, p, slug).await?;
    let before: TenantView = t.clone().into();
    let structural = req.status.is_some() || req.rbac_tier.is_some() || req.boundary.is_some();
    match (&t.parent_id, structural) {
        (_, false) if req.name.is_none() && req.settings.is_some() => {}
        (_, false) => rbac::require(state, &mut tx, p, &t, "tenants:write").await?,
        (Some(parent_id), true) => {
            let parent = store::tenants::get(tx.conn(), parent_id)
                .await?
                .ok_or(Error::NotFound("tenant"))?;
            rbac::require(state, &mut tx, p, &parent, "tenants:write").await?;
            if let Some(b) = &req.boundary {
                within_parent(&parent, &Boundary::parse(b)?)?;
            }
        }
        (None, true) if !p.is_platform_admin() => {
            return Err(Error::forbidden(
                "platform_admin_required",
                "only platform administrators change an organisation's status, tier or boundary",
            ));
        }
        (None, true) => {}
    }
    if let Some(n) = &req.name {
        t.name = validate_name(n)?;
    }
    if let Some(s) = &req.status {
        t.status = crate::domain::TenantStatus::parse(s).ok_or_else(|| {
            Error::invalid_field(
                "invalid_status",
                "status",
                "status must be active or suspended",
            )
        })?;
    }
    if let Some(tier) = &req.rbac_tier {
        t.rbac_tier = parse_tier(tier)?;
    }
    if let Some(b) = &req.boundary {
        t.boundary = Boundary::parse(b)?;
    }
    if let Some(patch) = req.settings {
        crate::tenants::settings_change::apply(state, &mut tx, p, &mut t, patch).await?;
    }
    t.updated_at = now;
    store::tenants::update(&mut tx, &t).await?;
    let after: TenantView = t.clone().into();
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "tenant.update",
            target_type: "tenant",
            target_id: Some(&t.id),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Members

#[derive(Debug, Serialize)]
pub struct Member {
    #[serde(flatten)]
    pub user: UserView,
}

pub async fn members(state: &AppState, p: &Principal, slug: &str) -> Result<Vec<UserView>> {
    let mut tx = state.store.read().await?;
    let t = visible(state, &mut tx, p, slug).await?;
    rbac::require_any(state, &mut tx, p, &t, &["users:read", "rbac:manage"]).await?;
    let q = store::users::ListQuery {
        tenant_id: t.id.clone(),
        search: None,
        status: None,
        include_deleted: false,
        sort: store::users::SortKey::Name,
        descending: false,
        limit: 10_000,
        after: None,
    };
    let rows = store::users::list(tx.conn(), &q).await?;
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let roles = store::users::role_names(tx.conn(), &t.id, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|u| {
            let mine = roles
                .iter()
                .filter(|(id, _)| *id == u.id)
                .map(|(_, r)| r.clone())
                .collect();
            let mut v = UserView::from(u);
            v.roles = Some(mine);
            v
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Role names to give in this tenant.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// What adding a member did: the person of this organisation joined, or an invite was sent.
pub enum Added {
    Member(UserView),
    Invited(crate::auth::invites::InviteCreated),
}

/// Adds a person to a tenant. Someone who already belongs to this organisation (and only
/// to it) joins directly; anyone else, and any email without an account, gets an invite to
/// accept, with the same answer either way (joining is consented, and the answer says nothing
/// about accounts elsewhere). Platform admins add anyone directly.
pub async fn add_member(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    slug: &str,
    req: AddMember,
) -> Result<Added> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = store::tenants::get_by_slug(tx.conn(), slug)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    rbac::require(state, &mut tx, p, &t, "users:write").await?;
    let org = match &t.parent_id {
        None => t.clone(),
        Some(_) => store::tenants::get(tx.conn(), &t.root_id)
            .await?
            .ok_or(Error::NotFound("tenant"))?,
    };
    let found = match (&req.user_id, &req.email) {
        (Some(id), _) => store::users::get(tx.conn(), &parse_id(id, "user")?).await?,
        (None, Some(e)) => {
            store::users::get_by_email(tx.conn(), Email::parse(e)?.normalized()).await?
        }
        (None, None) => {
            return Err(Error::invalid_field(
                "user_required",
                "user_id",
                "give user_id or email",
            ));
        }
    }
    .filter(|u| u.status != crate::domain::UserStatus::Deleted);
    let ours = match &found {
        Some(u) => {
            p.is_platform_admin()
                || (!store::tenants::of_user(tx.conn(), &u.id).await?.is_empty()
                    && crate::sso::linking::owns_account(&mut tx, &org, &u.id).await?)
        }
        None => false,
    };
    if !ours {
        // An id is known only inside the organisation; an email may be anyone's.
        let Some(email) = req.email.clone() else {
            return Err(Error::NotFound("user"));
        };
        if req.roles.len() > 1 {
            return Err(Error::invalid_field(
                "one_role_per_invite",
                "roles",
                "an invite carries one role: give at most one, add others after it is accepted",
            ));
        }
        drop(tx);
        let invite = crate::auth::invites::invite(
            state,
            p,
            rid,
            crate::auth::invites::InviteRequest {
                email,
                role: req.roles.first().cloned(),
                role_id: None,
                tenant: Some(t.slug.clone()),
            },
        )
        .await?;
        return Ok(Added::Invited(invite));
    }
    let user = found.ok_or(Error::NotFound("user"))?;
    store::tenants::add_member(&mut tx, &t.id, &user.id, now).await?;
    let compiled = rbac::compiled(state, &mut tx, p, &t).await?;
    let mut given = Vec::new();
    for name in &req.roles {
        let role = crate::rbac::roles::resolve(&mut tx, &t, None, Some(name))
            .await?
            .ok_or(Error::NotFound("role"))?;
        rbac::require_any(state, &mut tx, p, &t, &["rbac:assign", "rbac:manage"]).await?;
        rbac::require_holds_all(
            &compiled,
            &crate::rbac::grant::patterns(&mut tx, &role.id).await?,
        )?;
        store::roles::assign(
            &mut tx,
            &AssignmentRow {
                id: new_id(),
                user_id: user.id.clone(),
                tenant_id: t.id.clone(),
                role_id: role.id.clone(),
                source: RoleSource::Manual.as_str().into(),
                assigned_by: p.user_id().map(str::to_string),
                assigned_at: now,
            },
        )
        .await?;
        given.push(role.name);
    }
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "tenant.member_add",
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(json!({"tenant": t.slug, "roles": given})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut v = UserView::from(user);
    v.roles = Some(given);
    Ok(Added::Member(v))
}

/// Removes the membership and every role the user held in the tenant; effective on the next
/// request. The last admin cannot be removed.
pub async fn remove_member(
    state: &AppState,
    p: &Principal,
    rid: Option<&str>,
    slug: &str,
    user_id: &str,
) -> Result<()> {
    let now = state.now_ms();
    let mut tx = state.store.begin().await?;
    let t = store::tenants::get_by_slug(tx.conn(), slug)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    rbac::require(state, &mut tx, p, &t, "users:write").await?;
    let uid = parse_id(user_id, "user")?;
    if !store::tenants::is_member(tx.conn(), &t.id, &uid).await? {
        return Err(Error::NotFound("member"));
    }
    let user = store::users::get(tx.conn(), &uid)
        .await?
        .ok_or(Error::NotFound("member"))?;
    crate::rbac::ordering::require_may_act_on(
        state,
        &mut tx,
        p,
        &t,
        &user,
        crate::rbac::ordering::Reach::Scope,
    )
    .await?;
    let guard = AdminGuard::before_in(&mut tx, &t.id).await?;
    store::tenants::remove_member(&mut tx, &t.id, &uid).await?;
    store::roles::unassign_all_in(&mut tx, &uid, &t.id).await?;
    // Offboarding ends the sessions that are in this tenant at once.
    store::sessions::revoke_for_user_in(&mut tx, &uid, std::slice::from_ref(&t.id), now).await?;
    guard.check(&mut tx).await?;
    audit::record(
        tx.conn(),
        now,
        &audit::Actor::of(p, rid),
        Event {
            tenant_id: Some(&t.id),
            action: "tenant.member_remove",
            target_type: "user",
            target_id: Some(&uid),
            before: Some(json!({"tenant": t.slug})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenants a scope covers: an organisation and its subtenants, or one subtenant.
pub async fn scope_tenants(tx: &mut Tx, scope: &TenantRow) -> Result<Vec<String>> {
    let mut ids = vec![scope.id.clone()];
    if scope.parent_id.is_none() {
        for c in store::tenants::children(tx.conn(), &scope.id).await? {
            ids.push(c.id);
        }
    }
    Ok(ids)
}

/// Offboarding from a scope: the user's memberships and roles in it go, and the sessions that
/// are in it end. Never blocked by what the user holds elsewhere (an organisation can always
/// remove someone from itself); the account itself is untouched.
pub async fn offboard_in_scope(
    tx: &mut Tx,
    scope: &TenantRow,
    user_id: &str,
    now: i64,
) -> Result<()> {
    let ids = scope_tenants(tx, scope).await?;
    for t in &ids {
        store::roles::unassign_all_in(tx, user_id, t).await?;
        store::tenants::remove_member(tx, t, user_id).await?;
    }
    store::sessions::revoke_for_user_in(tx, user_id, &ids, now).await?;
    Ok(())
}
