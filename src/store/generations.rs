//! This process's view of the store's generation counters: per counter an epoch that only
//! grows, moved by this process's commits (`Tx::bump`) and by the watcher (`counters::watch`).
//! Plain atomics: the hot paths compare against them without touching the database.

use std::sync::atomic::{AtomicI64, Ordering};

/// The notification channel writers signal after a commit that moved a counter.
pub const CHANNEL: &str = "idbridge_changes";

/// A generation counter: moving it tells every replica to drop what it cached under the old
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Sessions and tokens: a revocation, a sign-out, a tenant switch.
    Auth,
    /// Who may do what: roles, assignments, memberships, boundaries, user and tenant status.
    Rbac,
    /// The signing keys.
    Keys,
}

impl Counter {
    pub const ALL: [Counter; 3] = [Counter::Auth, Counter::Rbac, Counter::Keys];

    /// The counter's row in `counters`.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Auth => "auth",
            Counter::Rbac => "rbac",
            Counter::Keys => "keys",
        }
    }

    pub(super) fn bit(self) -> u8 {
        1 << self as u8
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// This process's view of the counters: per counter an epoch that only grows. It moves when
/// the watcher reads a new value from the store (a change made anywhere) and when a
/// transaction of this process that moved the counter commits (before `commit` returns).
/// Caches stamp what they hold with the epoch read *before* reading the store, and an entry
/// answers only while its stamp is the current epoch.
#[derive(Debug, Default)]
pub struct Generations {
    pub(super) epochs: [AtomicI64; 3],
    /// The counters' stored values as last read.
    pub(super) seen: [AtomicI64; 3],
    /// Write transactions this process committed: caches of data no counter covers (`/api/me`'s
    /// body) answer only while it is unchanged, and for a short time (changes elsewhere).
    writes: AtomicI64,
}

impl Generations {
    pub fn get(&self, c: Counter) -> i64 {
        self.epochs[c as usize].load(Ordering::Acquire)
    }

    pub fn auth(&self) -> i64 {
        self.get(Counter::Auth)
    }

    pub fn rbac(&self) -> i64 {
        self.get(Counter::Rbac)
    }

    /// Write transactions this process committed so far.
    pub fn writes(&self) -> i64 {
        self.writes.load(Ordering::Acquire)
    }

    /// A write of this process committed.
    pub(super) fn wrote_here(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// A committed transaction of this process moved the counters in `mask`.
    pub(super) fn moved_here(&self, mask: u8) {
        for c in Counter::ALL {
            if mask & c.bit() != 0 {
                self.epochs[c as usize].fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}
