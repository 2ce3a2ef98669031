//! Changing a tenant's settings: who may change what.
//!
//! Naming a role in a setting is a grant (`jit_default_role`, `group_role_map`): the caller must
//! hold `sso:manage` and every permission of the role ([`crate::rbac::grant`]).

use super::settings::{SettingsPatch, TenantSettings};
use crate::auth::principal::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::{self, Tx};

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
    let before = t.settings.clone();
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
    t.settings = s.clone();
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
