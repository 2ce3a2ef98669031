//! RBAC decision benchmark: a user holding 1,000 roles with 10,000 permissions in all.
//!
//! `cargo bench --bench rbac` runs the criterion measurements, then prints p50/p99/p99.9 of
//! single decisions timed one by one (the goal is p99 <= 5 µs in process).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use idbridge::domain::{PermissionPattern, RbacTier};
use idbridge::engine::rbac::{CompileInput, Compiled, Grant, compile};

const ROLES: usize = 1_000;
const PERMS_PER_ROLE: usize = 10;

fn grants() -> Vec<Grant> {
    let mut out = Vec::with_capacity(ROLES * PERMS_PER_ROLE);
    for r in 0..ROLES {
        for p in 0..PERMS_PER_ROLE {
            // 10,000 distinct resources, one action each, plus a few wildcards.
            let permission = if r % 100 == 0 && p == 0 {
                format!("area{r}:*")
            } else {
                format!("res{r}x{p}:read")
            };
            out.push(Grant {
                role: format!("role-{r}"),
                role_tier: None,
                permission: Some(permission),
                scope_tenant_id: String::new(),
            });
        }
    }
    out
}

fn compiled() -> Compiled {
    let grants = grants();
    let boundary = [PermissionPattern::parse("*").unwrap()];
    compile(CompileInput {
        tenant_id: "t",
        tenant_active: true,
        member: true,
        platform_admin: false,
        tier: RbacTier::Enterprise,
        boundary: &boundary,
        grants: &grants,
    })
}

fn bench(c: &mut Criterion) {
    let set = compiled();
    let hit = PermissionPattern::parse("res777x3:read").unwrap();
    let wildcard = PermissionPattern::parse("area500:delete").unwrap();
    let miss = PermissionPattern::parse("res777x3:write").unwrap();
    assert!(
        set.decide(&hit).allowed && set.decide(&wildcard).allowed && !set.decide(&miss).allowed
    );
    let mut g = c.benchmark_group("rbac_decide_1k_roles_10k_perms");
    g.bench_function("allowed_exact", |b| {
        b.iter(|| black_box(set.decide(black_box(&hit))))
    });
    g.bench_function("allowed_by_wildcard", |b| {
        b.iter(|| black_box(set.decide(black_box(&wildcard))))
    });
    g.bench_function("denied", |b| {
        b.iter(|| black_box(set.decide(black_box(&miss))))
    });
    g.bench_function("parse_and_decide", |b| {
        b.iter(|| {
            black_box(set.decide(&PermissionPattern::parse(black_box("res777x3:read")).unwrap()))
        })
    });
    g.finish();
    let grants = grants();
    c.bench_function("rbac_compile_1k_roles_10k_perms", |b| {
        let boundary = [PermissionPattern::parse("*").unwrap()];
        b.iter(|| {
            black_box(compile(CompileInput {
                tenant_id: "t",
                tenant_active: true,
                member: true,
                platform_admin: false,
                tier: RbacTier::Enterprise,
                boundary: &boundary,
                grants: &grants,
            }))
        })
    });
}

/// Times decisions one at a time and prints percentiles.
fn percentiles() {
    let set = compiled();
    let requests: Vec<PermissionPattern> = (0..1_000)
        .map(|i| {
            PermissionPattern::parse(&format!(
                "res{}x{}:{}",
                i % ROLES,
                i % PERMS_PER_ROLE,
                if i % 3 == 0 { "write" } else { "read" }
            ))
            .unwrap()
        })
        .collect();
    let mut samples = Vec::with_capacity(1_000_000);
    for round in 0..1_000 {
        for r in &requests {
            let t = Instant::now();
            black_box(set.decide(black_box(r)));
            samples.push(t.elapsed());
        }
        if round == 0 {
            samples.clear(); // warm-up
        }
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let fmt = |d: Duration| format!("{:.0} ns", d.as_nanos() as f64);
    println!(
        "rbac decide, 1k roles x 10k permissions, {} single decisions: p50 {}  p99 {}  p99.9 {}  max {}",
        samples.len(),
        fmt(at(0.50)),
        fmt(at(0.99)),
        fmt(at(0.999)),
        fmt(*samples.last().unwrap())
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    percentiles();
}
