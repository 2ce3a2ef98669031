//! Privilege ordering: nobody acts on someone more powerful than themselves.
//!
//! An actor may change, reset, sign out, deactivate, delete or re-role a user only when, in
//! every tenant the action reaches where the user belongs or holds a role, the actor holds at
//! least every permission the user holds there. Platform admins are acted on only by platform
//! admins. Every user-affecting path calls [`require_may_act_on`] (the admin API and, through
//! the same services, the console and CSV import); SCIM and SSO act on accounts by the scope
//! rule of `sso::linking` instead.
//!
//! Two reaches:
//! - [`Reach::Account`] (status, profile, password reset, every session): every tenant the user
//!   belongs to, in each of which the actor also needs `users:write` (an admin of one tenant
//!   cannot lock a user out of another);
//! - [`Reach::Scope`] (membership, roles and sessions in one tenant's scope: offboarding): only
//!   the tenants of that scope. An organisation can always remove someone from itself, whatever
//!   they hold elsewhere; within it, ordering still holds.

use std::sync::Arc;

use crate::auth::principal::{Actor, Method, Principal};
use crate::domain::PermissionPattern;
use crate::engine::rbac::Compiled;
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::users::UserRow;
use crate::store::{self, AsConn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The whole account.
    Account,
    /// Membership, roles and sessions inside the scope of the tenant acted in.
    Scope,
}

/// The user as a principal in `tenant`, to compile what they hold there.
pub(crate) fn as_principal(u: &UserRow, tenant: &TenantRow) -> Principal {
    Principal {
        actor: Actor::User {
            id: u.id.clone(),
            email: u.email.clone(),
            name: String::new(),
            platform_admin: u.platform_admin,
        },
        tenant_id: tenant.id.clone(),
        session_id: None,
        via_cookie: false,
        rbac_generation: rbac::UNCACHED,
        // What they hold, however they sign in.
        method: Method::Sso,
    }
}

/// The first permission `target` holds that `actor` does not (pure).
pub fn first_unheld(actor: &Compiled, target: &Compiled) -> Option<String> {
    target.effective().into_iter().find(|p| {
        PermissionPattern::parse(p)
            .map(|pat| !actor.decide(&pat).allowed)
            .unwrap_or(true)
    })
}

/// Refuses (403) unless `p`, working in `tenant`, may act on `target` with `reach`.
pub async fn require_may_act_on(
    state: &AppState,
    db: &mut impl AsConn,
    p: &Principal,
    tenant: &TenantRow,
    target: &UserRow,
    reach: Reach,
) -> Result<()> {
    if target.platform_admin && !p.is_platform_admin() {
        return Err(Error::forbidden(
            "outranked",
            "this user is a platform administrator: only platform administrators act on them",
        ));
    }
    if p.is_platform_admin() {
        return Ok(());
    }
    let write = PermissionPattern::parse("users:write")?;
    for t in store::tenants::reach_of(db.conn(), &target.id).await? {
        let inside = crate::sso::linking::in_scope(tenant, &t);
        if reach == Reach::Scope && !inside {
            continue;
        }
        let mine: Arc<Compiled> = rbac::compiled(state, db, p, &t).await?;
        if reach == Reach::Account && !inside && !mine.decide(&write).allowed {
            return Err(Error::forbidden(
                "user_in_other_tenants",
                "this user also belongs to tenants you do not administer: remove them from your tenant instead (DELETE /api/tenants/{slug}/members/{id})",
            ));
        }
        let theirs = rbac::compiled(state, db, &as_principal(target, &t), &t).await?;
        if let Some(perm) = first_unheld(&mine, &theirs) {
            return Err(Error::forbidden(
                "outranked",
                format!(
                    "this user holds `{perm}` in tenant `{}` and you do not: only someone who holds at least their permissions can do this",
                    t.slug
                ),
            ));
        }
    }
    Ok(())
}
