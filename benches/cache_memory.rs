//! Memory held by forward auth's verified-credential cache for 100,000 active sessions
//! (issue 3: goal <= 48 MiB per 100k).
//!
//! `cargo bench --bench cache_memory` fills a `VerifiedCache` with 100,000 entries built by the
//! same constructor the slow path uses (`Verified::new`), each a distinct user with realistic
//! strings (UUID ids, e-mail, tenant, two roles, three groups). Two cases: each entry with its
//! own compiled RBAC set (every user with different grants: the worst case), and the sets
//! shared (the server interns compiled sets by their inputs, so users with the same grants in a
//! tenant share one). A counting global allocator reports the bytes live after filling minus
//! before. The revocation
//! "set" costs nothing per session: revocation is two generation counters (see
//! `store::counters`), not a list.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use idbridge::auth::principal::{Actor, Principal};
use idbridge::auth::verified::{Verified, VerifiedCache};
use idbridge::config::ForwardAuthSettings;
use idbridge::domain::{PermissionPattern, RbacTier};
use idbridge::engine::rbac::{CompileInput, Grant, compile};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SESSIONS: usize = 100_000;

fn main() {
    let names = ForwardAuthSettings::default();
    // The itsm preset's fulfiller and requester roles.
    let grants: Vec<Grant> = [
        ("fulfiller", "itsm:*"),
        ("fulfiller", "incidents:*"),
        ("fulfiller", "tickets:*"),
        ("fulfiller", "changes:*"),
        ("fulfiller", "kedb:*"),
        ("fulfiller", "knowledge:read"),
        ("requester", "itsm:read"),
        ("requester", "itsm:write"),
        ("requester", "knowledge:read"),
    ]
    .iter()
    .map(|(role, p)| Grant {
        role: role.to_string(),
        role_tier: None,
        permission: Some(p.to_string()),
        scope_tenant_id: String::new(),
    })
    .collect();
    let boundary = [PermissionPattern::parse("*").unwrap()];
    for shared in [false, true] {
        measure(&names, &grants, &boundary, shared);
    }
}

fn measure(
    names: &ForwardAuthSettings,
    grants: &[Grant],
    boundary: &[PermissionPattern],
    shared: bool,
) {
    let one = Arc::new(compile(CompileInput {
        tenant_id: "t",
        tenant_active: true,
        member: true,
        platform_admin: false,
        tier: RbacTier::Enterprise,
        boundary,
        grants,
    }));
    let cache = VerifiedCache::new(names);
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..SESSIONS {
        let user_id = uuid::Uuid::now_v7().to_string();
        let principal = Principal {
            actor: Actor::User {
                id: user_id,
                email: format!("user{i}@customer-{}.example.com", i % 1000),
                name: format!("Firstname{i} Lastname"),
                platform_admin: false,
            },
            tenant_id: uuid::Uuid::now_v7().to_string(),
            session_id: Some(uuid::Uuid::now_v7().to_string()),
            via_cookie: true,
            rbac_generation: 1,
            method: idbridge::auth::principal::Method::Sso,
        };
        let compiled = if shared {
            one.clone()
        } else {
            Arc::new(compile(CompileInput {
                tenant_id: &principal.tenant_id,
                tenant_active: true,
                member: true,
                platform_admin: false,
                tier: RbacTier::Enterprise,
                boundary,
                grants,
            }))
        };
        let v = Verified::new(
            principal,
            format!("customer-{}", i % 1000),
            format!("user{i}@customer-{}.example.com", i % 1000),
            "Helpdesk,Employees,VPN-Users".into(),
            i64::MAX,
            1,
            compiled,
        );
        let mut key = [0u8; 33];
        key[0] = b'c';
        key[1..].copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &i.to_le_bytes()).as_ref(),
        );
        cache.put(key, Arc::new(v));
    }
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(cache.len(), SESSIONS);
    let bytes = (after - before) as f64;
    println!(
        "verified-credential cache, {}: {SESSIONS} sessions hold {:.1} MiB ({:.0} bytes per session; goal <= 48 MiB)",
        if shared {
            "compiled RBAC sets shared"
        } else {
            "one compiled RBAC set per session"
        },
        bytes / (1024.0 * 1024.0),
        bytes / SESSIONS as f64
    );
}
