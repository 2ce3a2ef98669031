//! A change of a tenant's settings (the settings themselves are typed once in
//! `domain::tenant_settings`, and changed only through [`super::settings_change::apply`]).

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::domain::tenant_settings::{RoleSource, TenantSettings};

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
