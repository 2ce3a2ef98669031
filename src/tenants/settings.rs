//! A tenant's settings, typed once: read from the tenant row's JSON with [`TenantSettings::of`]
//! (an unreadable value refuses, it never falls back to defaults that would, for example,
//! re-enable password sign-in), and changed only through [`apply`], which holds the rules of who
//! may change what.
//!
//! Naming a role in a setting is a grant (`jit_default_role`, `group_role_map`): the caller must
//! hold `sso:manage` and every permission of the role ([`crate::rbac::grant`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::{self, Tx};

/// Who decides roles at SSO sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleSource {
    /// The IdP's groups, reconciled at every sign-in (default).
    #[default]
    Idp,
    /// idbridge: a new user gets the default role once.
    Local,
    /// SCIM groups; sign-in never changes roles.
    Scim,
}

impl RoleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idp => "idp",
            Self::Local => "local",
            Self::Scim => "scim",
        }
    }
}

/// A tenant's settings (stored as JSON on the tenant row).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Role for JIT users and invites when nothing else is said (name); empty = the preset default.
    pub jit_default_role: String,
    /// IdP group -> role name.
    pub group_role_map: BTreeMap<String, String>,
    /// Whether members may sign in with a password (absent: yes).
    pub password_login: Option<bool>,
    /// Who decides roles at SSO sign-in (absent: `idp`).
    pub role_source: Option<RoleSource>,
    /// Whether this tenant's SCIM client may link a new record to an existing account of the
    /// organisation by email (on a verified domain of the organisation).
    pub scim_email_linking: bool,
}

impl TenantSettings {
    /// The settings of a tenant; an unreadable value is an error (fail closed).
    pub fn of(t: &TenantRow) -> Result<Self> {
        serde_json::from_str(&t.settings).map_err(|e| {
            Error::internal(format!(
                "tenant `{}` has unreadable settings ({e}); set them again with PATCH /api/tenants/{}",
                t.slug, t.slug
            ))
        })
    }

    pub fn password_login(&self) -> bool {
        self.password_login.unwrap_or(true)
    }

    pub fn role_source(&self) -> RoleSource {
        self.role_source.unwrap_or_default()
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(Error::internal)
    }
}

/// A change of settings: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// The role (name) JIT users and invitations get when nothing else says; empty: the
    /// preset's default. Naming a role is a grant: the caller must hold all its permissions.
    #[serde(default)]
    pub jit_default_role: Option<String>,
    /// IdP group (name or id) -> role name; replaces the whole map (at most 1000 entries).
    #[serde(default)]
    pub group_role_map: Option<BTreeMap<String, String>>,
    /// Whether members may sign in with a password.
    #[serde(default)]
    pub password_login: Option<bool>,
    #[serde(default)]
    pub role_source: Option<RoleSource>,
    /// Whether the tenant's SCIM client may link a new record to an existing account of the
    /// organisation by email (needs `scim:manage`).
    #[serde(default)]
    pub scim_email_linking: Option<bool>,
}

impl SettingsPatch {
    pub fn is_empty(&self) -> bool {
        self.jit_default_role.is_none()
            && self.group_role_map.is_none()
            && self.password_login.is_none()
            && self.role_source.is_none()
            && self.scim_email_linking.is_none()
    }
}

/// Checks and applies a settings change to `t` (not yet stored): SSO fields need `sso:manage`,
/// `scim_email_linking` needs `scim:manage`, and every role named is a grant the caller must be
/// able to make. Returns the settings before and after.
pub async fn apply(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    t: &mut TenantRow,
    patch: SettingsPatch,
) -> Result<(TenantSettings, TenantSettings)> {
    let before = TenantSettings::of(t)?;
    let mut s = before.clone();
    let sso = patch.jit_default_role.is_some()
        || patch.group_role_map.is_some()
        || patch.password_login.is_some()
        || patch.role_source.is_some();
    if sso {
        crate::rbac::service::require(state, tx, p, t, "sso:manage").await?;
    }
    if patch.scim_email_linking.is_some() {
        crate::rbac::service::require(state, tx, p, t, "scim:manage").await?;
    }
    if let Some(map) = patch.group_role_map {
        if map.len() > 1000 {
            return Err(Error::invalid_field(
                "too_many_groups",
                "group_role_map",
                "a group map has at most 1000 entries",
            ));
        }
        for (g, r) in &map {
            if g.trim().is_empty() || g.len() > 256 {
                return Err(Error::invalid_field(
                    "invalid_group",
                    "group_role_map",
                    "group names are 1-256 characters",
                ));
            }
            // Only new or changed entries are grants; keeping an entry grants nothing new.
            if before.group_role_map.get(g) != Some(r) {
                named_grant(state, tx, p, t, r, "group_role_map").await?;
            }
        }
        s.group_role_map = map;
    }
    if let Some(r) = patch.jit_default_role {
        let r = r.trim().to_string();
        if !r.is_empty() && !r.eq_ignore_ascii_case(&before.jit_default_role) {
            named_grant(state, tx, p, t, &r, "jit_default_role").await?;
        }
        s.jit_default_role = r;
    }
    if let Some(src) = patch.role_source {
        s.role_source = Some(src);
    }
    if let Some(pl) = patch.password_login {
        s.password_login = Some(pl);
    }
    if let Some(l) = patch.scim_email_linking {
        s.scim_email_linking = l;
    }
    t.settings = s.to_json()?;
    Ok((before, s))
}

/// A role named in a setting: it must exist in the tenant's organisation and be grantable.
async fn named_grant(
    state: &AppState,
    tx: &mut Tx,
    p: &Principal,
    t: &TenantRow,
    name: &str,
    field: &str,
) -> Result<()> {
    let role = store::roles::get_by_name(tx.conn(), &t.root_id, &name.to_lowercase())
        .await?
        .ok_or_else(|| {
            Error::invalid_field(
                "unknown_role",
                format!("settings.{field}"),
                format!("no role `{name}` in this tenant"),
            )
        })?;
    crate::rbac::grant::require_may_grant(state, tx, p, t, &role, &["sso:manage"]).await
}
