//! Compiled permission sets per (principal, tenant), dropped whenever the store's `rbac`
//! generation moves. Every request's authentication reads the generation in the same query, so
//! a change made on any replica is seen on the next request everywhere.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::engine::Compiled;

const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct RbacCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: i64,
    map: HashMap<(String, String), Arc<Compiled>>,
}

impl RbacCache {
    /// Records the generation a request saw; a new one empties the cache.
    pub fn observe(&self, generation: i64) {
        let stale = self
            .inner
            .read()
            .map(|g| g.generation != generation)
            .unwrap_or(true);
        if stale
            && let Ok(mut g) = self.inner.write()
            && g.generation != generation
        {
            g.map.clear();
            g.generation = generation;
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
            }
            g.map
                .insert((principal.to_string(), tenant.to_string()), value);
        }
    }

    /// Drops everything (after this replica changed roles, memberships or boundaries).
    pub fn invalidate(&self) {
        if let Ok(mut g) = self.inner.write() {
            g.map.clear();
            g.generation = i64::MIN;
        }
    }
}
