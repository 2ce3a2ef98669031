//! The RBAC decision, in one place and in memory.
//!
//! A user's effective permissions in tenant T are the union of the permissions of their roles
//! assigned in T (and, when T is a subtenant, in its parent organisation), keeping a permission
//! scoped to a subtenant only when T is that subtenant, intersected with T's boundary. The tier
//! `none` lets every member do everything the boundary allows. Nothing inherits across tenants.
//!
//! [`PermissionSet`] indexes patterns by resource then action, so a decision is at most four
//! hash lookups whatever the number of roles and permissions.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::{PermissionPattern, RbacTier};

/// Patterns, sorted and packed: one string arena, 12 bytes per pattern, and the roles that
/// granted them (for the "why" of a decision). A lookup is at most four binary searches
/// (`resource:action`, `resource:*`, `*:action`, `*`), so a decision stays in the microsecond
/// range with 10,000 patterns, and a set of ten patterns takes a few hundred bytes: this is
/// what every cached forward-auth session holds (docs/benchmarks.md). Built with
/// [`PermissionSetBuilder`].
#[derive(Debug, Default, Clone)]
pub struct PermissionSet {
    /// Each pattern's resource then action, back to back.
    arena: Box<str>,
    /// Sorted by (resource, action).
    entries: Box<[Entry]>,
    /// The granting roles, distinct; entries point here.
    roles: Box<[Arc<str>]>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    resource_len: u16,
    action_len: u16,
    role: u32,
}

/// Collects patterns (the first role that grants a pattern is the one remembered).
#[derive(Debug, Default)]
pub struct PermissionSetBuilder {
    items: Vec<(Box<str>, Box<str>, Arc<str>)>,
}

impl PermissionSetBuilder {
    pub fn insert(&mut self, p: &PermissionPattern, granted_by: &Arc<str>) {
        self.items
            .push((p.resource().into(), p.action().into(), granted_by.clone()));
    }

    pub fn build(mut self) -> PermissionSet {
        // Stable: among equal patterns the first inserted (its role) stays.
        self.items.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        self.items
            .dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
        let mut arena =
            String::with_capacity(self.items.iter().map(|(r, a, _)| r.len() + a.len()).sum());
        let mut roles: Vec<Arc<str>> = Vec::new();
        let mut index: HashMap<Arc<str>, usize> = HashMap::new();
        let mut entries = Vec::with_capacity(self.items.len());
        for (r, a, role) in self.items {
            let idx = *index.entry(role.clone()).or_insert_with(|| {
                roles.push(role);
                roles.len() - 1
            });
            entries.push(Entry {
                start: arena.len() as u32,
                // Segments are at most 64 bytes (`PermissionPattern::parse`).
                resource_len: r.len() as u16,
                action_len: a.len() as u16,
                role: idx as u32,
            });
            arena.push_str(&r);
            arena.push_str(&a);
        }
        PermissionSet {
            arena: arena.into_boxed_str(),
            entries: entries.into_boxed_slice(),
            roles: roles.into_boxed_slice(),
        }
    }
}

impl PermissionSet {
    /// The set that allows everything (the default boundary).
    pub fn everything() -> Self {
        let mut b = PermissionSetBuilder::default();
        b.insert(
            &PermissionPattern::parse("*").unwrap_or_else(|_| unreachable!()),
            &Arc::from("*"),
        );
        b.build()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn parts(&self, e: &Entry) -> (&str, &str) {
        let start = e.start as usize;
        let mid = start + usize::from(e.resource_len);
        let end = mid + usize::from(e.action_len);
        (&self.arena[start..mid], &self.arena[mid..end])
    }

    fn find(&self, resource: &str, action: &str) -> Option<&Arc<str>> {
        self.entries
            .binary_search_by(|e| self.parts(e).cmp(&(resource, action)))
            .ok()
            .map(|i| &self.roles[self.entries[i].role as usize])
    }

    /// The role of the first pattern that covers `resource:action`, if any.
    pub fn covering(&self, resource: &str, action: &str) -> Option<&Arc<str>> {
        self.find(resource, action)
            .or_else(|| self.find(resource, "*"))
            .or_else(|| self.find("*", action))
            .or_else(|| self.find("*", "*"))
    }

    pub fn covers(&self, wanted: &PermissionPattern) -> bool {
        self.covering(wanted.resource(), wanted.action()).is_some()
    }

    /// Every pattern, sorted (for `/api/me`).
    pub fn patterns(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .map(|e| match self.parts(e) {
                ("*", "*") => "*".to_string(),
                (r, a) => format!("{r}:{a}"),
            })
            .collect();
        out.sort();
        out
    }
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum Reason {
    GrantedByRole {
        role: String,
    },
    PlatformAdmin,
    TierNone,
    TenantSuspended,
    NotMember,
    NoRole,
    NotGranted,
    OutsideBoundary,
    /// The caller signed in with a password and the tenant signs in with SSO only.
    PasswordSignInRefused,
}

impl Reason {
    pub fn message(&self, tenant: &str, wanted: &str) -> String {
        match self {
            Reason::GrantedByRole { role } => {
                format!("granted by role `{role}` in tenant `{tenant}`")
            }
            Reason::PlatformAdmin => "granted: platform administrators may do everything".into(),
            Reason::TierNone => format!(
                "granted: tenant `{tenant}` has RBAC tier `none`, so every member has full access"
            ),
            Reason::TenantSuspended => format!("denied: tenant `{tenant}` is suspended"),
            Reason::NotMember => format!("denied: not a member of tenant `{tenant}`"),
            Reason::NoRole => format!("denied: no role in tenant `{tenant}`"),
            Reason::NotGranted => {
                format!("denied: none of your roles in tenant `{tenant}` grants `{wanted}`")
            }
            Reason::PasswordSignInRefused => format!(
                "denied: tenant `{tenant}` signs in with SSO only, and this session signed in with a password: sign in through your organisation's SSO"
            ),
            Reason::OutsideBoundary => {
                format!(
                    "denied: `{wanted}` is outside the boundary of tenant `{tenant}`, whatever the roles grant"
                )
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
}

/// Everything a decision for one (principal, tenant) needs, compiled once and cached.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub tenant_active: bool,
    pub member: bool,
    pub platform_admin: bool,
    pub tier: RbacTier,
    /// Roles in effect (names, sorted, deduplicated).
    pub roles: Vec<String>,
    pub granted: PermissionSet,
    pub boundary: PermissionSet,
    /// Set: everything is denied for this reason, whatever the roles (and for platform admins).
    pub refusal: Option<Reason>,
}

impl Compiled {
    /// A set that denies everything for `reason`.
    pub fn refused(reason: Reason) -> Self {
        Compiled {
            tenant_active: true,
            member: false,
            platform_admin: false,
            tier: RbacTier::Enterprise,
            roles: Vec::new(),
            granted: PermissionSet::default(),
            boundary: PermissionSet::default(),
            refusal: Some(reason),
        }
    }

    pub fn decide(&self, wanted: &PermissionPattern) -> Decision {
        if let Some(reason) = &self.refusal {
            return Decision {
                allowed: false,
                reason: reason.clone(),
            };
        }
        let d = self.decide_as_member(wanted);
        if !d.allowed && self.platform_admin {
            return Decision {
                allowed: true,
                reason: Reason::PlatformAdmin,
            };
        }
        d
    }

    fn decide_as_member(&self, wanted: &PermissionPattern) -> Decision {
        let deny = |reason| Decision {
            allowed: false,
            reason,
        };
        if !self.tenant_active {
            return deny(Reason::TenantSuspended);
        }
        if !self.member {
            return deny(Reason::NotMember);
        }
        if self.tier == RbacTier::None {
            return if self.boundary.covers(wanted) {
                Decision {
                    allowed: true,
                    reason: Reason::TierNone,
                }
            } else {
                deny(Reason::OutsideBoundary)
            };
        }
        if self.roles.is_empty() {
            return deny(Reason::NoRole);
        }
        let Some(role) = self.granted.covering(wanted.resource(), wanted.action()) else {
            return deny(Reason::NotGranted);
        };
        if !self.boundary.covers(wanted) {
            return deny(Reason::OutsideBoundary);
        }
        Decision {
            allowed: true,
            reason: Reason::GrantedByRole {
                role: role.to_string(),
            },
        }
    }

    /// The effective permissions: granted patterns inside the boundary. A granted pattern wider
    /// than the boundary is shown as the boundary patterns it covers.
    pub fn effective(&self) -> Vec<String> {
        if self.platform_admin {
            return vec!["*".into()];
        }
        if !self.member || !self.tenant_active {
            return Vec::new();
        }
        let source = if self.tier == RbacTier::None {
            PermissionSet::everything()
        } else {
            self.granted.clone()
        };
        let mut out = Vec::new();
        for p in source.patterns() {
            let Ok(pat) = PermissionPattern::parse(&p) else {
                continue;
            };
            if self.boundary.covers(&pat) {
                out.push(p);
            } else {
                for b in self.boundary.patterns() {
                    if let Ok(bp) = PermissionPattern::parse(&b)
                        && pat.covers(&bp)
                    {
                        out.push(b);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// One granted permission as loaded from the store.
#[derive(Debug, Clone)]
pub struct Grant {
    pub role: String,
    pub role_tier: Option<String>,
    pub permission: Option<String>,
    /// `""` = unscoped; otherwise the subtenant the permission is limited to.
    pub scope_tenant_id: String,
}

/// Inputs of a compilation.
pub struct CompileInput<'a> {
    pub tenant_id: &'a str,
    pub tenant_active: bool,
    pub member: bool,
    pub platform_admin: bool,
    pub tier: RbacTier,
    pub boundary: &'a [PermissionPattern],
    pub grants: &'a [Grant],
}

pub fn compile(input: CompileInput<'_>) -> Compiled {
    let mut granted = PermissionSetBuilder::default();
    let mut roles: Vec<String> = Vec::new();
    let mut names: HashMap<&str, Arc<str>> = HashMap::new();
    for g in input.grants {
        if !input.tier.exposes(g.role_tier.as_deref()) {
            continue;
        }
        let name = names.entry(g.role.as_str()).or_insert_with(|| {
            roles.push(g.role.clone());
            Arc::from(g.role.as_str())
        });
        let in_scope = g.scope_tenant_id.is_empty() || g.scope_tenant_id == input.tenant_id;
        if let (true, Some(p)) = (in_scope, &g.permission)
            && let Ok(p) = PermissionPattern::parse(p)
        {
            granted.insert(&p, name);
        }
    }
    roles.sort();
    roles.dedup();
    let mut boundary = PermissionSetBuilder::default();
    let label: Arc<str> = Arc::from("boundary");
    for b in input.boundary {
        boundary.insert(b, &label);
    }
    let (granted, boundary) = (granted.build(), boundary.build());
    Compiled {
        tenant_active: input.tenant_active,
        member: input.member,
        platform_admin: input.platform_admin,
        tier: input.tier,
        roles,
        granted,
        boundary,
        refusal: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PermissionPattern {
        PermissionPattern::parse(s).unwrap()
    }

    fn grant(role: &str, perm: &str) -> Grant {
        Grant {
            role: role.into(),
            role_tier: None,
            permission: Some(perm.into()),
            scope_tenant_id: String::new(),
        }
    }

    fn compiled(grants: &[Grant], boundary: &[&str], tier: RbacTier) -> Compiled {
        let boundary: Vec<_> = boundary.iter().map(|b| p(b)).collect();
        compile(CompileInput {
            tenant_id: "t1",
            tenant_active: true,
            member: true,
            platform_admin: false,
            tier,
            boundary: &boundary,
            grants,
        })
    }

    #[test]
    fn union_of_roles_grants_and_names_the_role() {
        let c = compiled(
            &[grant("reader", "users:read"), grant("itsm", "itsm:*")],
            &["*"],
            RbacTier::Enterprise,
        );
        assert_eq!(
            c.decide(&p("itsm:write")),
            Decision {
                allowed: true,
                reason: Reason::GrantedByRole {
                    role: "itsm".into()
                }
            }
        );
        assert!(c.decide(&p("users:read")).allowed);
        assert_eq!(c.decide(&p("users:write")).reason, Reason::NotGranted);
    }

    #[test]
    fn boundary_caps_what_roles_grant() {
        let c = compiled(
            &[grant("admin", "*")],
            &["itsm:*", "users:read"],
            RbacTier::Enterprise,
        );
        assert!(c.decide(&p("itsm:read")).allowed);
        assert!(c.decide(&p("users:read")).allowed);
        assert_eq!(c.decide(&p("users:write")).reason, Reason::OutsideBoundary);
        assert_eq!(
            c.effective(),
            vec!["itsm:*".to_string(), "users:read".to_string()]
        );
    }

    #[test]
    fn scoped_permission_applies_only_in_its_subtenant() {
        let mut g = grant("ops", "runbooks:run");
        g.scope_tenant_id = "sub-a".into();
        let here = compiled(std::slice::from_ref(&g), &["*"], RbacTier::Enterprise);
        assert!(!here.decide(&p("runbooks:run")).allowed);
        let there = compile(CompileInput {
            tenant_id: "sub-a",
            tenant_active: true,
            member: true,
            platform_admin: false,
            tier: RbacTier::Enterprise,
            boundary: &[p("*")],
            grants: &[g],
        });
        assert!(there.decide(&p("runbooks:run")).allowed);
    }

    #[test]
    fn tier_none_gives_members_everything_inside_the_boundary() {
        let c = compiled(&[], &["itsm:*"], RbacTier::None);
        assert_eq!(c.decide(&p("itsm:read")).reason, Reason::TierNone);
        assert_eq!(c.decide(&p("users:read")).reason, Reason::OutsideBoundary);
    }

    #[test]
    fn basic_tier_hides_enterprise_roles() {
        let mut g = grant("Integrations.Viewer", "connections:read");
        g.role_tier = Some("enterprise".into());
        let c = compiled(std::slice::from_ref(&g), &["*"], RbacTier::Basic);
        assert_eq!(c.decide(&p("connections:read")).reason, Reason::NoRole);
        let c = compiled(&[g], &["*"], RbacTier::Enterprise);
        assert!(c.decide(&p("connections:read")).allowed);
    }

    #[test]
    fn non_members_and_suspended_tenants_are_denied() {
        let mut c = compiled(&[grant("admin", "*")], &["*"], RbacTier::Enterprise);
        c.member = false;
        assert_eq!(c.decide(&p("users:read")).reason, Reason::NotMember);
        c.member = true;
        c.tenant_active = false;
        assert_eq!(c.decide(&p("users:read")).reason, Reason::TenantSuspended);
    }

    #[test]
    fn no_roles_is_its_own_reason() {
        let c = compiled(&[], &["*"], RbacTier::Enterprise);
        assert_eq!(c.decide(&p("users:read")).reason, Reason::NoRole);
    }
}
