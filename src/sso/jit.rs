//! Just-in-time users and role reconciliation for SSO sign-ins, whatever the protocol.
//!
//! The identity key is (connection, issuer, subject), never the email. A first sign-in creates
//! the user (or links an existing one by email when the connection allows it and the IdP says
//! the email is verified), makes them a member of the connection's tenant and assigns roles;
//! later sign-ins update the profile. Roles follow the tenant's `role_source`: `idp` (default)
//! reconciles the assignments with source `sso` to what the groups give at every sign-in and
//! never touches other sources; `local` gives a first role once; `scim` never changes roles.

use serde::Serialize;
use serde_json::json;

use super::ExternalIdentity;
use super::fail::{Fail, fail, refuse};
use super::linking;
use crate::audit::{self, Event};
use crate::domain::{Email, PersonName, new_id};
use crate::engine::group_map::{Mapped, Maps, map_groups, parse_global};
use crate::error::Result;
use crate::state::AppState;
use crate::store::stmt::{Batch, Stmt};
use crate::store::{self, AsConn, Tx, roles::AssignmentRow, tenants::TenantRow, users::UserRow};
use crate::tenants::settings::RoleSource;

/// The roles a tenant gives for these groups under its policy, with the rule behind each.
pub async fn decide_roles(
    state: &AppState,
    db: &mut impl AsConn,
    tenant: &TenantRow,
    groups: &[String],
) -> Result<Vec<Mapped>> {
    let settings = &tenant.settings;
    let global = parse_global(&state.settings.sso.group_role_map).unwrap_or_default();
    let roles = store::roles::list(db.conn(), &tenant.root_id).await?;
    let preset_default = roles
        .iter()
        .find(|r| r.is_default)
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let mut mapped = map_groups(
        groups,
        &Maps {
            tenant: &settings.group_role_map,
            global: &global,
            tenant_default: &settings.jit_default_role,
            global_default: &state.settings.sso.jit_default_role,
            preset_default: &preset_default,
        },
    );
    for m in &mut mapped {
        m.resolved = roles
            .iter()
            .find(|r| r.name_norm == m.role)
            .map(|r| (r.id.clone(), r.name.clone()));
    }
    Ok(mapped)
}

pub fn role_source(tenant: &TenantRow) -> Result<RoleSource> {
    Ok(tenant.settings.role_source())
}

/// What a sign-in did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(skip)]
    pub user: UserRow,
    #[serde(skip)]
    pub tenant: TenantRow,
    pub created: bool,
    pub linked: bool,
    pub roles_added: Vec<String>,
    pub roles_removed: Vec<String>,
}

fn names(ext: &ExternalIdentity, email: &Email) -> (PersonName, Option<PersonName>) {
    let parse = |s: &Option<String>, f: &'static str| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| PersonName::parse(s, f).ok())
    };
    let mut first = parse(&ext.given_name, "first_name");
    let mut last = parse(&ext.family_name, "last_name");
    if first.is_none()
        && let Some(full) = ext.name.as_deref().map(str::trim).filter(|n| !n.is_empty())
    {
        let (f, l) = full.split_once(' ').unwrap_or((full, ""));
        first = PersonName::parse(f, "first_name").ok();
        if last.is_none() && !l.trim().is_empty() {
            last = PersonName::parse(l.trim(), "last_name").ok();
        }
    }
    let first = first.unwrap_or_else(|| {
        let local = email.as_str().split('@').next().unwrap_or("user");
        PersonName::parse(local, "first_name")
            .unwrap_or_else(|_| PersonName::parse("User", "first_name").expect("valid name"))
    });
    (first, last)
}

/// Runs a sign-in inside the caller's transaction.
pub async fn sign_in(
    state: &AppState,
    tx: &mut Tx,
    ext: &ExternalIdentity,
    rid: Option<&str>,
) -> std::result::Result<Outcome, Fail> {
    let now = state.now_ms();
    let tenant = store::tenants::get(tx.conn(), &ext.tenant_id)
        .await?
        .filter(|t| t.status == crate::domain::TenantStatus::Active)
        .ok_or_else(|| {
            refuse(
                "sso.tenant_inactive",
                "the connection's tenant is missing or suspended",
            )
        })?;
    let known =
        store::sso::identity(tx.conn(), &ext.connection_id, &ext.issuer, &ext.subject).await?;
    let (mut created, mut linked) = (false, false);
    let user = match &known {
        Some(idn) => {
            let mut u = store::users::get(tx.conn(), &idn.user_id)
                .await?
                .ok_or_else(|| refuse("sso.user_deleted", "the linked user no longer exists"))?;
            usable(&u)?;
            if u.platform_admin && !ext.platform_managed {
                // Someone other than a platform admin changed the connection since it was
                // linked: it no longer signs in a platform admin.
                return Err(refuse(
                    "link.platform_admin",
                    "the account is a platform admin and this connection is no longer managed by platform admins",
                ));
            }
            let before = u.clone();
            // Profile attributes follow the IdP; the identity key does not move.
            if let Some(email) = ext.email.as_deref().and_then(|e| Email::parse(e).ok())
                && email.normalized() != u.email_norm
            {
                let taken = store::users::get_by_email(tx.conn(), email.normalized())
                    .await?
                    .is_some();
                if taken {
                    tracing::warn!(user = %u.id, "the IdP's new email belongs to another user; keeping the old one");
                } else {
                    u.email = email.as_str().to_string();
                    u.email_norm = email.normalized().to_string();
                }
            }
            if let Ok(email) = Email::parse(&u.email) {
                let (first, last) = names(ext, &email);
                u.first_name = first.into_inner();
                if let Some(l) = last {
                    u.last_name = Some(l.into_inner());
                }
            }
            crate::users::refresh_keys(&mut u);
            if (&u.email, &u.first_name, &u.last_name)
                != (&before.email, &before.first_name, &before.last_name)
            {
                u.updated_at = now;
                store::users::update(tx.conn(), &u).await?;
            }
            u
        }
        None => {
            let email = ext
                .email
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .ok_or_else(|| fail("sso.email_missing", "the IdP sent no usable email"))?;
            let domain = email
                .normalized()
                .rsplit('@')
                .next()
                .unwrap_or("")
                .to_string();
            let allowed = store::sso::domains(tx.conn(), &ext.connection_id).await?;
            if !allowed.is_empty() && !allowed.contains(&domain) {
                return Err(refuse(
                    "sso.domain_not_allowed",
                    format!("email domain {domain} is not allowed for this connection"),
                ));
            }
            match store::users::get_by_email(tx.conn(), email.normalized()).await? {
                Some(u) => {
                    let via = linking::Via::Sso {
                        allow_email_linking: ext.allow_email_linking,
                        email_verified: ext.email_verified,
                        platform_managed: ext.platform_managed,
                    };
                    if let linking::Verdict::Refuse { reason, detail } =
                        linking::check(tx, &tenant, &u, via).await?
                    {
                        return Err(Fail {
                            status: axum::http::StatusCode::CONFLICT,
                            reason,
                            detail: format!("{}: {detail}", email.as_str()),
                        });
                    }
                    usable(&u)?;
                    linked = true;
                    u
                }
                None => {
                    // Only the organisation that verified the domain creates its accounts.
                    crate::tenants::domains::require_may_create(tx, &email, &tenant)
                        .await
                        .map_err(|e| refuse("sso.domain_owned", e.to_string()))?;
                    let (first, last) = names(ext, &email);
                    let u = crate::users::new_user_row(&email, first, last, None, now);
                    store::users::insert(tx.conn(), &u).await?;
                    created = true;
                    u
                }
            }
        }
    };
    store::tenants::ensure_member(tx, &tenant.id, &user.id, now).await?;
    // Groups: this login's, or the last known ones (overage without an endpoint).
    let groups = match (&ext.groups, &known) {
        (Some(g), _) => g.clone(),
        (None, Some(k)) => k.groups.to_vec(),
        (None, None) => Vec::new(),
    };
    let (roles_added, roles_removed) = match role_source(&tenant)? {
        RoleSource::Scim => (Vec::new(), Vec::new()),
        RoleSource::Local => {
            let has_any =
                !store::users::role_names(tx.conn(), &tenant.id, std::slice::from_ref(&user.id))
                    .await?
                    .is_empty();
            if has_any {
                (Vec::new(), Vec::new())
            } else {
                let first = decide_roles(state, tx, &tenant, &[]).await?;
                reconcile(tx, &user.id, &tenant, &first, now, created, "sso").await?
            }
        }
        RoleSource::Idp => {
            let wanted = decide_roles(state, tx, &tenant, &groups).await?;
            reconcile(tx, &user.id, &tenant, &wanted, now, created, "sso").await?
        }
    };
    store::sso::upsert_identity(
        tx.conn(),
        &store::sso::IdentityRow {
            connection_id: ext.connection_id.clone(),
            issuer: ext.issuer.clone(),
            subject: ext.subject.clone(),
            user_id: user.id.clone(),
            email: ext.email.clone(),
            groups: groups.clone().into(),
            created_at: now,
            last_login_at: now,
        },
    )
    .await?;
    let actor = audit::Actor {
        id: Some(&user.id),
        label: user.email.clone(),
        source: "sso",
        request_id: rid,
    };
    audit::record(
        tx.conn(),
        now,
        &actor,
        Event {
            tenant_id: Some(&tenant.id),
            action: if created { "sso.user_created" } else { "sso.login" },
            target_type: "user",
            target_id: Some(&user.id),
            before: None,
            after: Some(json!({
                "connection": ext.connection_id, "issuer": ext.issuer, "subject": ext.subject,
                "linked": linked, "groups": groups, "roles_added": roles_added, "roles_removed": roles_removed,
            })),
        },
    )
    .await?;
    Ok(Outcome {
        user,
        tenant,
        created,
        linked,
        roles_added,
        roles_removed,
    })
}

fn usable(u: &UserRow) -> std::result::Result<(), Fail> {
    if u.deleted_at.is_some() || u.status == crate::domain::UserStatus::Deleted {
        return Err(refuse(
            "sso.user_deleted",
            format!("user {} is deleted", u.id),
        ));
    }
    if u.status != crate::domain::UserStatus::Active {
        return Err(refuse(
            "sso.user_inactive",
            format!("user {} is deactivated", u.id),
        ));
    }
    Ok(())
}

/// The (id, name) of the mapped roles the tenant has; the others are logged and skipped.
fn resolved<'a>(wanted: &'a [Mapped], tenant: &TenantRow) -> Vec<&'a (String, String)> {
    let mut want = Vec::new();
    for m in wanted {
        match &m.resolved {
            Some(r) => want.push(r),
            None => tracing::warn!(role = %m.role, rule = %m.rule, tenant = %tenant.slug,
                "group mapping names a role this tenant does not have; skipped"),
        }
    }
    want
}

/// What makes a user's assignments with one source exactly the wanted roles.
#[derive(Debug, Default)]
pub struct RoleChanges {
    pub stmts: Vec<Stmt>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The statements that turn `have` (the user's (role id, name) with `source` in the tenant) into
/// `wanted` (from [`decide_roles`]).
pub fn role_changes(
    user_id: &str,
    tenant: &TenantRow,
    wanted: &[Mapped],
    have: &[(String, String)],
    now: i64,
    source: &str,
) -> RoleChanges {
    let want = resolved(wanted, tenant);
    let mut out = RoleChanges::default();
    for (id, name) in have {
        if !want.iter().any(|(w, _)| w == id) {
            out.stmts.push(store::roles::unassign_stmt(
                user_id,
                &tenant.id,
                id,
                Some(source),
            ));
            out.removed.push(name.clone());
        }
    }
    for (role_id, role_name) in want {
        if !have.iter().any(|(id, _)| id == role_id) {
            out.stmts.push(store::roles::assign_stmt(&AssignmentRow {
                id: new_id(),
                user_id: user_id.to_string(),
                tenant_id: tenant.id.clone(),
                role_id: role_id.clone(),
                source: source.into(),
                assigned_by: None,
                assigned_at: now,
            }));
            out.added.push(role_name.clone());
        }
    }
    out
}

/// Makes the user's assignments with `source` (`sso`, `scim`) in the tenant exactly `wanted`
/// (from [`decide_roles`]: role names the tenant does not have are logged and skipped); other
/// sources are never touched. A user created in this transaction (`new_user`) has nothing to
/// remove and nothing cached. Returns (added, removed) role names.
pub async fn reconcile(
    tx: &mut Tx,
    user_id: &str,
    tenant: &TenantRow,
    wanted: &[Mapped],
    now: i64,
    new_user: bool,
    source: &'static str,
) -> Result<(Vec<String>, Vec<String>)> {
    let have = if new_user {
        Vec::new()
    } else {
        store::sso::roles_from(tx.conn(), user_id, &tenant.id, source).await?
    };
    let changes = role_changes(user_id, tenant, wanted, &have, now, source);
    let mut batch = Batch::default();
    if new_user {
        batch.extend(changes.stmts.into_iter().map(Stmt::for_user_created_here));
    } else {
        batch.extend(changes.stmts);
    }
    tx.run(batch).await?;
    Ok((changes.added, changes.removed))
}
