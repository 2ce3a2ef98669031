//! What SCIM list pages remember between requests, per app (held by `AppState`): where the
//! page after a served page starts, match counts, and anchors into a query's order. Each is
//! valid while the tenant's SCIM write generation on this replica is unchanged (see
//! [`ListCaches::written`]) and for a short time (writes through other replicas).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::scim::Arg;

/// Where the page after a served page starts, per (tenant, query, next startIndex).
pub type CursorKey = (String, String, i64);
/// Per (tenant, query).
pub type CountKey = (String, String);

const MAX_CURSORS: usize = 10_000;
/// Counts answer for at most this long: a forward walk over a million users does not count
/// them again for every page.
const COUNT_TTL: Duration = Duration::from_secs(2);

/// Every `ANCHOR_STEP`-th position of a query's order: a page at a `startIndex` no earlier page
/// ended at is a keyset query from the anchor before it plus an OFFSET under one step, not an
/// OFFSET over everything before it. Anchors answer for at most [`ANCHOR_TTL`] and are rebuilt
/// at most once per [`ANCHOR_REBUILD`] per query (OFFSET meanwhile).
pub const ANCHOR_STEP: i64 = 1_000;
const ANCHOR_TTL: Duration = Duration::from_secs(10);
const ANCHOR_REBUILD: Duration = Duration::from_secs(5);
const MAX_ANCHOR_SETS: usize = 256;

/// A query's anchors, shared with the pages that use them.
pub type Anchors = Arc<Vec<(Arg, String)>>;

struct AnchorSet {
    generation: u64,
    built: Instant,
    /// `at[i]` is the (sort value, id) of position `(i + 1) * ANCHOR_STEP`.
    at: Anchors,
}

#[derive(Default)]
pub struct ListCaches {
    cursors: Mutex<HashMap<CursorKey, (Arg, String)>>,
    /// (write generation when counted, when, count).
    counts: Mutex<HashMap<CountKey, (u64, Instant, i64)>>,
    writes: Mutex<HashMap<String, u64>>,
    anchors: Mutex<HashMap<CountKey, AnchorSet>>,
}

impl ListCaches {
    /// A SCIM write in the tenant: what was remembered of its queries is stale.
    pub fn written(&self, tenant_id: &str) {
        if let Ok(mut m) = self.writes.lock() {
            *m.entry(tenant_id.to_string()).or_default() += 1;
        }
    }

    /// The tenant's write generation: read it before any query, so that a write landing
    /// meanwhile makes what is read stale.
    pub fn generation(&self, tenant_id: &str) -> u64 {
        self.writes
            .lock()
            .ok()
            .and_then(|m| m.get(tenant_id).copied())
            .unwrap_or(0)
    }

    pub fn cached_count(&self, key: &CountKey) -> Option<i64> {
        let g = self.generation(&key.0);
        let m = self.counts.lock().ok()?;
        let (gen_at, at, n) = m.get(key)?;
        (*gen_at == g && at.elapsed() < COUNT_TTL).then_some(*n)
    }

    /// `g` is the generation read before counting.
    pub fn remember_count(&self, key: CountKey, g: u64, n: i64) {
        if let Ok(mut m) = self.counts.lock() {
            if m.len() >= MAX_CURSORS {
                m.clear();
            }
            m.insert(key, (g, Instant::now(), n));
        }
    }

    pub fn cursor(&self, key: &CursorKey) -> Option<(Arg, String)> {
        self.cursors.lock().ok()?.get(key).cloned()
    }

    pub fn keep_cursor(&self, key: CursorKey, at: (Arg, String)) {
        if let Ok(mut m) = self.cursors.lock() {
            if m.len() >= MAX_CURSORS {
                m.clear();
            }
            m.insert(key, at);
        }
    }

    /// The anchors of a query built under generation `g`: `Some(Some(_))` while they answer,
    /// `Some(None)` when they are stale but were built too recently to rebuild, `None`: build.
    #[allow(clippy::option_option)]
    pub fn anchors(&self, key: &CountKey, g: u64) -> Option<Option<Anchors>> {
        let m = self.anchors.lock().ok()?;
        let set = m.get(key)?;
        if set.generation == g && set.built.elapsed() < ANCHOR_TTL {
            Some(Some(set.at.clone()))
        } else if set.built.elapsed() < ANCHOR_REBUILD {
            Some(None)
        } else {
            None
        }
    }

    pub fn keep_anchors(&self, key: CountKey, g: u64, at: Anchors) {
        if let Ok(mut m) = self.anchors.lock() {
            if m.len() >= MAX_ANCHOR_SETS {
                m.clear();
            }
            m.insert(
                key,
                AnchorSet {
                    generation: g,
                    built: Instant::now(),
                    at,
                },
            );
        }
    }
}
