//! A tenant's settings, typed once: read from the tenant row's JSON with [`TenantSettings::of`]
//! (an unreadable value refuses, it never falls back to defaults that would, for example,
//! re-enable password sign-in), and changed only through [`super::settings_change::apply`],
//! which holds the rules of who may change what.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::tenants::TenantRow;

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
