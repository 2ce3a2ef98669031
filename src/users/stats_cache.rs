//! The users page's four counts per tenant, kept between requests: counting 100,000 members
//! takes the database tens of milliseconds, and the cards are on every load of the page. An
//! entry answers while no write has committed in this process since it was counted (so this
//! process's own changes show at once) and for [`TTL_MS`]; after that, while no write of this
//! process intervened, it still answers once more while one request counts again in the
//! background (changes made by another replica show within a few seconds, and no visitor waits
//! for the count).

use std::collections::HashMap;
use std::sync::Mutex;

/// The users page's four cards (`GET /api/users/stats`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub total: i64,
    pub admins: i64,
    pub active: i64,
    pub new_this_week: i64,
}

/// How long counts may lag changes made by another replica.
pub const TTL_MS: i64 = 5_000;
/// Tenants remembered before the cache starts over.
const MAX_TENANTS: usize = 10_000;

struct Entry {
    writes: i64,
    counted_ms: i64,
    stats: Stats,
    /// A recount is under way (only one at a time).
    recounting: bool,
}

/// What the cache holds for a tenant.
pub enum Cached {
    /// Current: answer with it.
    Fresh(Stats),
    /// Older than the TTL but after the last write here: answer with it, and recount (the
    /// caller was chosen to, so it is the only one).
    Stale(Stats),
    /// Nothing usable: count now.
    Missing,
}

#[derive(Default)]
pub struct StatsCache(Mutex<HashMap<String, Entry>>);

impl StatsCache {
    /// The counts of `tenant`, if counted after the last write (`writes`) and less than
    /// [`TTL_MS`] before `now_ms`.
    pub fn get(&self, tenant: &str, writes: i64, now_ms: i64) -> Option<Stats> {
        match self.lookup(tenant, writes, now_ms) {
            Cached::Fresh(s) => Some(s),
            _ => None,
        }
    }

    /// [`Self::get`], with the stale case: the first caller to find an entry past its TTL gets
    /// [`Cached::Stale`] (and must recount); the others get the same counts as fresh meanwhile.
    pub fn lookup(&self, tenant: &str, writes: i64, now_ms: i64) -> Cached {
        let Ok(mut map) = self.0.lock() else {
            return Cached::Missing;
        };
        let Some(e) = map.get_mut(tenant) else {
            return Cached::Missing;
        };
        if e.writes != writes || now_ms < e.counted_ms {
            return Cached::Missing;
        }
        if now_ms - e.counted_ms < TTL_MS || e.recounting {
            return Cached::Fresh(e.stats.clone());
        }
        e.recounting = true;
        Cached::Stale(e.stats.clone())
    }

    /// Drops a tenant's counts (a recount failed: the next request counts again).
    pub fn forget(&self, tenant: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(tenant);
        }
    }

    /// Keeps counts made with `writes` read before counting.
    pub fn keep(&self, tenant: &str, writes: i64, now_ms: i64, stats: &Stats) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_TENANTS && !map.contains_key(tenant) {
                map.clear();
            }
            map.insert(
                tenant.to_string(),
                Entry {
                    writes,
                    counted_ms: now_ms,
                    stats: stats.clone(),
                    recounting: false,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(total: i64) -> Stats {
        Stats {
            total,
            admins: 1,
            active: total,
            new_this_week: 0,
        }
    }

    #[test]
    fn an_entry_answers_until_a_write_or_the_ttl() {
        let c = StatsCache::default();
        c.keep("t", 7, 1_000, &stats(3));
        assert_eq!(c.get("t", 7, 1_000 + TTL_MS - 1).map(|s| s.total), Some(3));
        assert!(c.get("t", 8, 1_001).is_none(), "a write since");
        assert!(c.get("t", 7, 1_000 + TTL_MS).is_none(), "too old");
        assert!(c.get("t", 7, 999).is_none(), "a clock that went back");
        assert!(c.get("other", 7, 1_001).is_none());
    }

    #[test]
    fn past_the_ttl_one_caller_recounts_while_the_others_keep_the_counts() {
        let c = StatsCache::default();
        c.keep("t", 7, 1_000, &stats(3));
        let later = 1_000 + TTL_MS;
        assert!(matches!(c.lookup("t", 7, later), Cached::Stale(s) if s.total == 3));
        assert!(matches!(c.lookup("t", 7, later), Cached::Fresh(s) if s.total == 3));
        c.keep("t", 7, later, &stats(4));
        assert!(matches!(c.lookup("t", 7, later + 1), Cached::Fresh(s) if s.total == 4));
        // A write here: count again, now.
        assert!(matches!(c.lookup("t", 8, later + 1), Cached::Missing));
        // A recount that failed leaves nothing stale behind.
        assert!(matches!(
            c.lookup("t", 7, later + TTL_MS + 1),
            Cached::Stale(_)
        ));
        c.forget("t");
        assert!(matches!(
            c.lookup("t", 7, later + TTL_MS + 2),
            Cached::Missing
        ));
    }
}
