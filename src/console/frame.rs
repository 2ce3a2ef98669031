//! The frame around every console page: who is signed in, the tenant and the switcher, and the
//! navigation, which shows only what the signed-in user's permissions allow in the current
//! tenant (the same compiled permissions `/api/me` reports).

use std::sync::Arc;

use crate::auth::principal::Actor;
use crate::domain::PermissionPattern;
use crate::engine::rbac::Compiled;
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store;
use crate::web::session::Browser;

pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

pub struct TenantLink {
    pub slug: String,
    pub name: String,
    pub current: bool,
}

/// A message shown once after a form's redirect, picked by a fixed code (never reflected text).
pub struct Flash {
    pub kind: &'static str,
    pub text: &'static str,
}

pub struct Frame {
    pub title: String,
    pub csrf: String,
    pub user_name: String,
    pub initials: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    /// The tenant's RBAC tier (`basic`, `enterprise`).
    pub tenant_tier: String,
    pub tenants: Vec<TenantLink>,
    pub nav: Vec<NavItem>,
    pub flash: Option<Flash>,
    compiled: Arc<Compiled>,
}

/// The console's sections: label, path, and the permissions any one of which shows it.
const SECTIONS: [(&str, &str, &[&str]); 2] = [
    ("Users", "/console/users", &["users:read", "rbac:manage"]),
    (
        "Roles",
        "/console/roles",
        &["rbac:read", "rbac:manage", "users:read"],
    ),
];

impl Frame {
    /// The frame for `b` on the section at `href`.
    pub async fn new(state: &AppState, b: &Browser, title: &str, href: &str) -> Result<Self> {
        let p = &b.principal;
        let mut tx = state.store.read().await?;
        let tenant = store::tenants::get(tx.conn(), &p.tenant_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let compiled = rbac::compiled(state, &mut tx, p, &tenant).await?;
        let (user_name, email) = match &p.actor {
            Actor::User { id, email, .. } => {
                let name = store::users::get(tx.conn(), id)
                    .await?
                    .map(|u| crate::domain::display_name(&u.first_name, u.last_name.as_deref()))
                    .unwrap_or_default();
                (name, email.clone())
            }
            _ => (p.label(), String::new()),
        };
        let tenants = match p.user_id() {
            Some(uid) => store::tenants::of_user(tx.conn(), uid)
                .await?
                .into_iter()
                .map(|t| TenantLink {
                    current: t.id == tenant.id,
                    slug: t.slug,
                    name: t.name,
                })
                .collect(),
            None => Vec::new(),
        };
        let mut frame = Frame {
            title: title.to_string(),
            csrf: b.csrf.clone(),
            initials: initials(if user_name.is_empty() {
                &email
            } else {
                &user_name
            }),
            user_name: if user_name.is_empty() {
                email
            } else {
                user_name
            },
            tenant_name: tenant.name.clone(),
            tenant_slug: tenant.slug.clone(),
            tenant_tier: tenant.rbac_tier.as_str().to_string(),
            tenants,
            nav: Vec::new(),
            flash: None,
            compiled,
        };
        frame.nav = SECTIONS
            .iter()
            .filter(|(_, _, needs)| needs.is_empty() || needs.iter().any(|n| frame.allows(n)))
            .map(|(label, path, _)| NavItem {
                label,
                href: path,
                current: *path == href,
            })
            .collect();
        Ok(frame)
    }

    /// Whether the signed-in user holds `permission` in the current tenant (what decides which
    /// links and buttons a page shows; the services decide what is done).
    pub fn allows(&self, permission: &str) -> bool {
        PermissionPattern::parse(permission).is_ok_and(|w| self.compiled.decide(&w).allowed)
    }

    pub fn with_flash(mut self, code: Option<&str>) -> Self {
        self.flash = code.and_then(flash);
        self
    }
}

/// Up to two letters of a name or email for an avatar.
pub fn initials(name: &str) -> String {
    let mut out: String = name
        .split(|c: char| c.is_whitespace() || c == '.' || c == '@' || c == '-' || c == '_')
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .collect();
    if out.is_empty() {
        out.push('?');
    }
    out.to_uppercase()
}

fn flash(code: &str) -> Option<Flash> {
    let (kind, text) = match code {
        "created" => ("success", "User created."),
        "updated" => ("success", "Saved."),
        "deactivated" => ("success", "User deactivated: their sessions have ended."),
        "activated" => ("success", "User activated."),
        "deleted" => (
            "success",
            "User deleted. Include deleted users to restore them.",
        ),
        "restored" => ("success", "User restored."),
        "reset_sent" => ("success", "Password reset link sent."),
        "role_added" => ("success", "Role assigned."),
        "role_removed" => ("success", "Role removed."),
        "bulk_done" => ("success", "Roles updated for the selected users."),
        "password_changed" => ("success", "Password changed."),
        "signed_out_everywhere" => ("success", "Your other sessions have been signed out."),
        _ => return None,
    };
    Some(Flash { kind, text })
}

/// A refusal from a service, in words for a page.
pub fn message(e: &Error) -> String {
    match e {
        Error::Invalid { message, .. }
        | Error::Forbidden { message, .. }
        | Error::Conflict { message, .. }
        | Error::Rule { message, .. }
        | Error::Gone { message, .. }
        | Error::RateLimited { message, .. } => message.clone(),
        Error::NotFound(what) => format!("No such {what}."),
        other => {
            tracing::error!(error = %other, "a console action failed");
            "Something went wrong; try again.".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_take_the_first_letters() {
        assert_eq!(super::initials("Ada Lovelace"), "AL");
        assert_eq!(super::initials("ada.lovelace@example.com"), "AL");
        assert_eq!(super::initials("Zoë"), "Z");
        assert_eq!(super::initials("  "), "?");
    }
}
