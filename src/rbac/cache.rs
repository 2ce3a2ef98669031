//! Compiled permission sets per (principal, tenant), dropped whenever this process's `rbac`
//! epoch moves (`store::counters::Generations`): at once for a change this process committed,
//! within the watcher's poll for one committed by another replica.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::engine::rbac::Compiled;

const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct RbacCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: i64,
    map: HashMap<(String, String), Arc<Compiled>>,
    /// Compiled sets by the fingerprint of their inputs: users with the same grants in the
    /// same tenant share one set (the forward-auth cache holds these `Arc`s too).
    interned: HashMap<[u8; 32], Arc<Compiled>>,
}

impl RbacCache {
    /// Compiled permission sets held: by (user, tenant), and distinct sets.
    pub fn len(&self) -> (usize, usize) {
        self.inner
            .read()
            .map_or((0, 0), |i| (i.map.len(), i.interned.len()))
    }

    /// Records the `rbac` epoch a request was authenticated under (see
    /// `store::counters::Generations`): a newer one empties the cache. Returns whether the
    /// cache may serve that request: not when its epoch is older than one already seen (it was
    /// read before a change this cache has been emptied for).
    pub fn observe(&self, generation: i64) -> bool {
        let seen = self.inner.read().map(|g| g.generation).unwrap_or(i64::MAX);
        if generation == seen {
            return true;
        }
        if generation < seen {
            return false;
        }
        match self.inner.write() {
            Ok(mut g) => {
                if generation > g.generation {
                    g.map.clear();
                    g.interned.clear();
                    g.generation = generation;
                }
                g.generation == generation
            }
            Err(_) => false,
        }
    }

    pub fn get(&self, principal: &str, tenant: &str) -> Option<Arc<Compiled>> {
        let g = self.inner.read().ok()?;
        g.map
            .get(&(principal.to_string(), tenant.to_string()))
            .cloned()
    }

    /// Caches `value` only if it was computed under the current generation.
    pub fn put(&self, generation: i64, principal: &str, tenant: &str, value: Arc<Compiled>) {
        if let Ok(mut g) = self.inner.write()
            && g.generation == generation
        {
            if g.map.len() >= MAX_ENTRIES {
                g.map.clear();
                g.interned.clear();
            }
            g.map
                .insert((principal.to_string(), tenant.to_string()), value);
        }
    }

    /// The shared compiled set for these inputs (`fingerprint`), compiling it on first use.
    pub fn intern(
        &self,
        fingerprint: [u8; 32],
        compile: impl FnOnce() -> Compiled,
    ) -> Arc<Compiled> {
        if let Some(hit) = self
            .inner
            .read()
            .ok()
            .and_then(|g| g.interned.get(&fingerprint).cloned())
        {
            return hit;
        }
        let fresh = Arc::new(compile());
        match self.inner.write() {
            Ok(mut g) => g.interned.entry(fingerprint).or_insert(fresh).clone(),
            Err(_) => fresh,
        }
    }
}

#[cfg(test)]
mod intern_tests {
    use super::*;
    use crate::domain::RbacTier;
    use crate::engine::rbac::{CompileInput, compile};

    fn empty() -> Compiled {
        compile(CompileInput {
            tenant_id: "t",
            tenant_active: true,
            member: true,
            platform_admin: false,
            tier: RbacTier::Enterprise,
            boundary: &[],
            grants: &[],
        })
    }

    #[test]
    fn same_inputs_share_one_compiled_set_until_the_generation_moves() {
        let c = RbacCache::default();
        c.observe(1);
        let a = c.intern([1; 32], empty);
        let b = c.intern([1; 32], || unreachable!("interned: not compiled again"));
        assert!(Arc::ptr_eq(&a, &b));
        let other = c.intern([2; 32], empty);
        assert!(!Arc::ptr_eq(&a, &other));
        c.observe(2);
        let after = c.intern([1; 32], empty);
        assert!(!Arc::ptr_eq(&a, &after), "a new generation compiles afresh");
    }

    #[test]
    fn a_request_stamped_before_the_last_change_is_not_served_and_does_not_fill() {
        let c = RbacCache::default();
        assert!(c.observe(5));
        c.put(5, "u", "t", Arc::new(empty()));
        assert!(c.get("u", "t").is_some());
        assert!(
            c.observe(6),
            "a newer epoch empties the cache and is served"
        );
        assert!(c.get("u", "t").is_none());
        assert!(!c.observe(5), "an older stamp may not use the cache");
        c.put(5, "u", "t", Arc::new(empty()));
        assert!(c.get("u", "t").is_none(), "nor fill it");
    }
}
