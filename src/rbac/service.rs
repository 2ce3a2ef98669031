//! RBAC decisions for a principal in a tenant (compiled once, cached), and the role and
//! assignment operations.

use std::sync::Arc;

use crate::auth::principal::{Actor, Principal};
use crate::domain::PermissionPattern;
use crate::engine::rbac::{self as engine, Compiled, Decision, Grant};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::{self, AsConn};

/// The intersection of two patterns, if they overlap.
pub fn intersect(a: &PermissionPattern, b: &PermissionPattern) -> Option<PermissionPattern> {
    let seg = |x: &str, y: &str| -> Option<String> {
        if x == "*" {
            Some(y.to_string())
        } else if y == "*" || x == y {
            Some(x.to_string())
        } else {
            None
        }
    };
    let r = seg(a.resource(), b.resource())?;
    let act = seg(a.action(), b.action())?;
    PermissionPattern::parse(&format!("{r}:{act}")).ok()
}

/// Compiles (or fetches from cache) what `principal` may do in `tenant`.
/// The `rbac_generation` of a principal built inside a transaction that may still change roles
/// or roll back (sign-in, JIT): its compiled sets bypass the cache entirely, neither read nor
/// written, and the cache is left as it is.
pub const UNCACHED: i64 = i64::MIN + 1;

pub async fn compiled(
    state: &AppState,
    db: &mut impl AsConn,
    principal: &Principal,
    tenant: &TenantRow,
) -> Result<Arc<Compiled>> {
    if principal.method.is_password()
        && !principal.is_platform_admin()
        && password_refused(db, tenant).await?
    {
        return Ok(Arc::new(Compiled::refused(
            crate::engine::rbac::Reason::PasswordSignInRefused,
        )));
    }
    let key = principal.cache_key();
    // A principal stamped before this process's last RBAC change (or UNCACHED) neither reads
    // nor fills the cache.
    let cached =
        principal.rbac_generation != UNCACHED && state.rbac.observe(principal.rbac_generation);
    if cached && let Some(hit) = state.rbac.get(&key, &tenant.id) {
        return Ok(hit);
    }
    let parent = match &tenant.parent_id {
        Some(pid) => store::tenants::get(db.conn(), pid).await?,
        None => None,
    };
    let mut boundary = tenant.boundary.patterns().to_vec();
    if let Some(parent) = &parent {
        let outer = parent.boundary.patterns();
        boundary = boundary
            .iter()
            .flat_map(|a| outer.iter().filter_map(move |b| intersect(a, b)))
            .collect();
    }
    let active = tenant.status == crate::domain::TenantStatus::Active
        && parent
            .as_ref()
            .is_none_or(|p| p.status == crate::domain::TenantStatus::Active);
    let tier = tenant.rbac_tier;
    let (member, grants, platform_admin) = match &principal.actor {
        Actor::User {
            id, platform_admin, ..
        } => {
            let mut member = store::tenants::is_member(db.conn(), &tenant.id, id).await?;
            if !member && let Some(p) = &parent {
                member = store::tenants::is_member(db.conn(), &p.id, id).await?;
            }
            let rows = store::roles::grants(db.conn(), id, &tenant.id, tenant.parent_id.as_deref())
                .await?;
            let grants = rows
                .into_iter()
                .map(|r| Grant {
                    role: r.role_name,
                    role_tier: r.tier,
                    permission: r.permission,
                    scope_tenant_id: r.scope_tenant_id.unwrap_or_default(),
                })
                .collect::<Vec<_>>();
            (member, grants, *platform_admin)
        }
        Actor::Token { role_id, .. } => {
            // A token acts only in its own tenant, with its one role.
            let member = principal.tenant_id == tenant.id;
            let mut grants = Vec::new();
            if let (true, Some(role_id)) = (member, role_id)
                && let Some(role) = store::roles::get(db.conn(), role_id).await?
            {
                for p in store::roles::permissions(db.conn(), role_id).await? {
                    grants.push(Grant {
                        role: role.name.clone(),
                        role_tier: role.tier.clone(),
                        permission: Some(p.permission),
                        scope_tenant_id: p.scope_tenant_id,
                    });
                }
            }
            (member, grants, false)
        }
    };
    if !cached {
        return Ok(Arc::new(engine::compile(engine::CompileInput {
            tenant_id: &tenant.id,
            tenant_active: active,
            member,
            platform_admin,
            tier,
            boundary: &boundary,
            grants: &grants,
        })));
    }
    let fingerprint = {
        // Everything the compilation reads, in a canonical order.
        let mut sorted: Vec<&Grant> = grants.iter().collect();
        sorted.sort_by(|a, b| {
            (&a.role, &a.role_tier, &a.permission, &a.scope_tenant_id).cmp(&(
                &b.role,
                &b.role_tier,
                &b.permission,
                &b.scope_tenant_id,
            ))
        });
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut field = |s: &str| {
            ctx.update(&(s.len() as u64).to_le_bytes());
            ctx.update(s.as_bytes());
        };
        field(&tenant.id);
        field(&format!("{active}/{member}/{platform_admin}/{tier:?}"));
        for b in &boundary {
            field(&b.to_string());
        }
        field("grants");
        for g in sorted {
            field(&g.role);
            field(g.role_tier.as_deref().unwrap_or("\u{0}"));
            field(g.permission.as_deref().unwrap_or("\u{0}"));
            field(&g.scope_tenant_id);
        }
        let mut fp = [0u8; 32];
        fp.copy_from_slice(ctx.finish().as_ref());
        fp
    };
    let compiled = state.rbac.intern(fingerprint, || {
        engine::compile(engine::CompileInput {
            tenant_id: &tenant.id,
            tenant_active: active,
            member,
            platform_admin,
            tier,
            boundary: &boundary,
            grants: &grants,
        })
    });
    state.rbac.put(
        principal.rbac_generation,
        &key,
        &tenant.id,
        compiled.clone(),
    );
    Ok(compiled)
}

/// Whether `tenant` (or its organisation) signs in with SSO only. Platform admins keep their
/// password (break-glass); everyone else's password session is refused there by every path,
/// because every decision in a tenant comes through [`compiled`].
async fn password_refused(db: &mut impl AsConn, tenant: &TenantRow) -> Result<bool> {
    if !tenant.settings.password_login() {
        return Ok(true);
    }
    match &tenant.parent_id {
        Some(pid) => match store::tenants::get(db.conn(), pid).await? {
            Some(parent) => Ok(!parent.settings.password_login()),
            None => Ok(false),
        },
        None => Ok(false),
    }
}

/// Refuses (403 `password_login_disabled`) a password session in a tenant that signs in with
/// SSO only: sign-in, tenant switch and the OIDC provider say so plainly instead of "not a member".
pub async fn require_sign_in_allowed(
    state: &AppState,
    db: &mut impl AsConn,
    principal: &Principal,
    tenant: &TenantRow,
) -> Result<()> {
    let c = compiled(state, db, principal, tenant).await?;
    match &c.refusal {
        Some(r) => Err(Error::forbidden(
            "password_login_disabled",
            r.message(&tenant.slug, ""),
        )),
        None => Ok(()),
    }
}

/// The decision for one permission.
pub async fn decide(
    state: &AppState,
    db: &mut impl AsConn,
    principal: &Principal,
    tenant: &TenantRow,
    permission: &PermissionPattern,
) -> Result<Decision> {
    Ok(compiled(state, db, principal, tenant)
        .await?
        .decide(permission))
}

/// Fails with 403 naming the permission unless the principal holds it in `tenant`.
pub async fn require(
    state: &AppState,
    db: &mut impl AsConn,
    principal: &Principal,
    tenant: &TenantRow,
    permission: &str,
) -> Result<()> {
    require_any(state, db, principal, tenant, &[permission]).await
}

/// Fails with 403 unless the principal holds one of `permissions` in `tenant`.
pub async fn require_any(
    state: &AppState,
    db: &mut impl AsConn,
    principal: &Principal,
    tenant: &TenantRow,
    permissions: &[&str],
) -> Result<()> {
    let c = compiled(state, db, principal, tenant).await?;
    for p in permissions {
        if c.decide(&PermissionPattern::parse(p)?).allowed {
            return Ok(());
        }
    }
    Err(Error::missing_permission(&permissions.join("` or `")))
}

/// "You can't grant what you don't hold": every permission must be held by the caller.
pub fn require_holds_all(c: &Compiled, permissions: &[PermissionPattern]) -> Result<()> {
    for p in permissions {
        if !c.decide(p).allowed {
            return Err(Error::forbidden(
                "privilege_escalation",
                format!("you cannot grant `{p}`: you do not hold it in this tenant"),
            ));
        }
    }
    Ok(())
}

/// Resolves the tenant a request works in: `slug` when given, else the caller's current one.
pub async fn tenant_for(
    db: &mut impl AsConn,
    principal: &Principal,
    slug: Option<&str>,
) -> Result<TenantRow> {
    let found = match slug.filter(|s| !s.is_empty()) {
        Some(slug) => store::tenants::get_by_slug(db.conn(), slug).await?,
        None => store::tenants::get(db.conn(), &principal.tenant_id).await?,
    };
    found.ok_or(Error::NotFound("tenant"))
}

/// The organisation (root tenant) that owns the roles used in `tenant`.
pub fn org_of(t: &TenantRow) -> &str {
    &t.root_id
}
