//! A grant is a grant wherever it is written: assigning a role, inviting with a role, giving an
//! integration token a role, or naming a role in a setting (default role, group maps). Every
//! such write calls [`require_may_grant`]: the caller needs the permission of the place where the
//! role is named, the role must be usable in the tenant's RBAC tier, and the caller must hold
//! every permission of the role in that tenant ("you cannot grant what you do not hold").

use crate::auth::principal::Principal;
use crate::domain::PermissionPattern;
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::roles::RoleRow;
use crate::store::tenants::TenantRow;
use crate::store::{self, AsConn};

/// Fails unless `p` may hand out `role` in `tenant` through a place that needs one of
/// `permission` (`rbac:assign`, `sso:manage`, `users:write`, ...).
pub async fn require_may_grant(
    state: &AppState,
    db: &mut impl AsConn,
    p: &Principal,
    tenant: &TenantRow,
    role: &RoleRow,
    permission: &[&str],
) -> Result<()> {
    rbac::require_any(state, db, p, tenant, permission).await?;
    let tier = tenant.rbac_tier;
    if !tier.exposes(role.tier.as_deref()) {
        return Err(Error::invalid_field(
            "role_not_available",
            "role",
            format!(
                "`{}` needs RBAC tier `{}`; tenant `{}` is `{}`",
                role.name,
                role.tier.as_deref().unwrap_or("-"),
                tenant.slug,
                tenant.rbac_tier.as_str()
            ),
        ));
    }
    let perms = patterns(db, &role.id).await?;
    let compiled = rbac::compiled(state, db, p, tenant).await?;
    rbac::require_holds_all(&compiled, &perms)
}

/// A role's permissions as patterns.
pub async fn patterns(db: &mut impl AsConn, role_id: &str) -> Result<Vec<PermissionPattern>> {
    Ok(store::roles::permissions(db.conn(), role_id)
        .await?
        .iter()
        .filter_map(|p| PermissionPattern::parse(&p.permission).ok())
        .collect())
}
