//! The shared application context every service receives.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::mail::Mailer;
use crate::auth::password::PasswordHasher;
use crate::auth::verified::VerifiedCache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::metrics::Metrics;
use crate::rbac::cache::RbacCache;
use crate::store::Store;
use crate::store::generations::Generations;
use crate::tokens::keys::{KeyPolicy, KeyRing};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Issuer and base of every link, without a trailing slash.
    pub public_url: String,
    pub cookie_name: String,
    pub master_key: MasterKey,
    pub keys: KeyRing,
    pub key_policy: KeyPolicy,
    /// This process's view of the store's generation counters (`store.generations()`): moved
    /// by this process's commits and by a background watcher.
    pub generations: Arc<Generations>,
    /// Forward auth's verified-credential cache.
    pub verified: VerifiedCache,
    pub rbac: RbacCache,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    pub metrics: Metrics,
    /// The one outbound HTTP client (public https addresses only, no redirects, caps).
    pub outbound: crate::net::Outbound,
    /// The DNS resolver for domain verification.
    pub dns: crate::net::dns::Resolver,
    /// Upstream identity providers' metadata and keys, per connection.
    pub sso: crate::sso::cache::SsoCache,
    /// Rate limits per route class (`auth::throttle`).
    pub throttle: crate::auth::throttle::Throttle,
    /// The last SCIM requests per tenant (`GET /api/scim/log`).
    pub scim_log: crate::scim::log::Log,
    /// What SCIM list pages remember between requests (cursors, counts, anchors).
    pub scim_lists: crate::scim::list_cache::ListCaches,
    /// The users page's counts per tenant (`users::stats_cache`).
    pub user_stats: crate::users::stats_cache::StatsCache,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
