//! A tenant's settings, typed once: the tenant row holds them parsed (`store::types` reads the
//! stored JSON with this strict schema, so an unreadable value refuses the request; it never
//! falls back to defaults that would, for example, re-enable password sign-in). They are changed
//! only through `tenants::settings_change::apply`, which holds the rules of who may change what.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub fn password_login(&self) -> bool {
        self.password_login.unwrap_or(true)
    }

    pub fn role_source(&self) -> RoleSource {
        self.role_source.unwrap_or_default()
    }
}
