//! Throttling, per route class. Every refusal is a 429 `rate_limited` with `Retry-After`, and
//! is counted in the metrics.
//!
//! - Per client address (in memory, per replica; `governor`): sign-in attempts, and failed
//!   client authentications (SCIM tokens, `/oauth2/*` client secrets), which are counted only
//!   when they fail.
//! - Per email (in memory): password-reset requests (mail bombing).
//! - Per SCIM token (in memory): requests per second.
//! - Per account (in the database, so it holds across replicas and restarts): failed password
//!   sign-ins. From one address: `account_free_failures` are free, then a delay that doubles
//!   from 1 s to `account_max_delay_secs`. From all addresses together: the same after
//!   `account_wide_free_failures`, except for addresses the account signed in from before, so
//!   spraying from many addresses never locks the owner out. A success resets both. Unknown
//!   emails are counted like known ones (no enumeration).
//!
//! IPv6 addresses count by their /64 (one host usually holds a whole /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ThrottleSettings;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

type Keyed<K> = DefaultKeyedRateLimiter<K>;

pub struct Throttle {
    settings: ThrottleSettings,
    sign_in: Option<Keyed<IpAddr>>,
    forgot: Option<Keyed<String>>,
    failures: Option<Keyed<IpAddr>>,
    /// Addresses whose failure budget ran out, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    scim: Option<Keyed<String>>,
    /// Refusals waiting out `refusal_delay_ms` now.
    held: Arc<AtomicUsize>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(quota: Option<Quota>) -> Option<Keyed<K>> {
    quota.map(RateLimiter::keyed)
}

fn per(n: u32, period: Duration, burst: u32) -> Option<Quota> {
    let n = NonZeroU32::new(n)?;
    let each = period / n.get();
    Some(Quota::with_period(each)?.allow_burst(NonZeroU32::new(burst.max(1))?))
}

/// The key of an address: an IPv6 address counts by its /64.
pub fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v) => {
            let s = v.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

pub const UNKNOWN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

impl Throttle {
    pub fn new(s: &ThrottleSettings) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            sign_in: limiter(per(s.sign_in_per_minute, minute, s.sign_in_burst)),
            forgot: limiter(per(
                s.forgot_password_per_hour,
                Duration::from_secs(3600),
                s.forgot_password_per_hour,
            )),
            // A failure that finds the budget spent blocks the address; with one cell less
            // than the allowance, the allowance's last failure is that one, and the attempt
            // after it is the first refused.
            failures: limiter(per(
                s.auth_failures_per_minute,
                minute,
                s.auth_failures_per_minute.saturating_sub(1),
            )),
            blocked: Mutex::default(),
            scim: limiter(per(
                s.scim_requests_per_second,
                Duration::from_secs(1),
                s.scim_burst,
            )),
            held: Arc::default(),
            settings: s.clone(),
        }
    }

    /// How long to hold a refusal before answering it, and its place among the held ones;
    /// `None`: answer at once (no delay configured, or enough refusals are held already).
    pub fn hold(&self) -> Option<(Duration, Held)> {
        let delay = self.settings.refusal_delay_ms;
        if delay == 0 {
            return None;
        }
        let n = self.held.fetch_add(1, Ordering::Relaxed);
        let place = Held(self.held.clone());
        (n < self.settings.refusal_delay_max_held).then(|| (Duration::from_millis(delay), place))
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        l: &Option<Keyed<K>>,
        key: &K,
    ) -> std::result::Result<(), Duration> {
        match l {
            None => Ok(()),
            Some(l) => l
                .check_key(key)
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// A sign-in attempt from `ip` (password sign-in, invite and reset exchanges,
    /// forgot-password).
    pub fn sign_in(&self, ip: Option<IpAddr>, m: &Metrics) -> Result<()> {
        Self::check(&self.sign_in, &key_of(ip.unwrap_or(UNKNOWN))).map_err(|wait| {
            m.count("throttled_sign_in");
            Error::rate_limited(
                wait,
                "too many sign-in attempts from your address: wait and try again",
            )
        })
    }

    /// A password-reset request for `email` (lower-cased).
    pub fn forgot_password(&self, email: &str, m: &Metrics) -> Result<()> {
        Self::check(&self.forgot, &email.to_string()).map_err(|wait| {
            m.count("throttled_forgot_password");
            Error::rate_limited(
                wait,
                "a reset link was asked for this email several times already: wait for the mail, or try later",
            )
        })
    }

    /// Before authenticating a client (SCIM, `/oauth2/*`): refused while the address's failure
    /// budget is spent.
    pub fn client_auth_allowed(&self, ip: Option<IpAddr>, m: &Metrics) -> Result<()> {
        let key = key_of(ip.unwrap_or(UNKNOWN));
        let until = self.blocked.lock().ok().and_then(|b| b.get(&key).copied());
        match until {
            Some(t) if t > Instant::now() => {
                m.count("throttled_auth_failures");
                Err(Error::rate_limited(
                    t - Instant::now(),
                    "too many failed authentications from your address: check the credentials and wait",
                ))
            }
            _ => Ok(()),
        }
    }

    /// A failed client authentication from `ip`.
    pub fn client_auth_failed(&self, ip: Option<IpAddr>) {
        let key = key_of(ip.unwrap_or(UNKNOWN));
        if let Err(wait) = Self::check(&self.failures, &key)
            && let Ok(mut b) = self.blocked.lock()
        {
            if b.len() > 100_000 {
                b.clear();
            }
            b.insert(key, Instant::now() + wait);
        }
    }

    /// A SCIM request with the token `token_id`.
    pub fn scim_request(&self, token_id: &str, m: &Metrics) -> Result<()> {
        Self::check(&self.scim, &token_id.to_string()).map_err(|wait| {
            m.count("throttled_scim");
            Error::rate_limited(
                wait,
                "too many SCIM requests with this token: slow down (throttle.scim_requests_per_second)",
            )
        })
    }

    /// Drops the state of keys that are back to full (bounded memory).
    pub fn housekeep(&self) {
        for l in [&self.sign_in, &self.failures].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.forgot, &self.scim].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Ok(mut b) = self.blocked.lock() {
            let now = Instant::now();
            b.retain(|_, t| *t > now);
        }
    }

    /// The back-off after `failures` failures of which `free` are free.
    pub fn delay_ms(&self, failures: i64, free: u32) -> i64 {
        let over = failures - i64::from(free);
        if over <= 0 {
            return 0;
        }
        let secs = 1i64
            .checked_shl((over - 1).min(40) as u32)
            .unwrap_or(i64::MAX)
            .min(self.settings.account_max_delay_secs as i64);
        secs * 1000
    }
}

/// A refusal being held (see [`Throttle::hold`]); its place is given back when dropped.
pub struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A refusal answered once its delay has passed (a connection closed meanwhile drops it).
pub struct Delayed {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    answer: Option<axum::response::Response>,
    _held: Held,
}

impl Delayed {
    pub fn new(answer: axum::response::Response, delay: Duration, held: Held) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(delay)),
            answer: Some(answer),
            _held: held,
        }
    }
}

impl std::future::Future for Delayed {
    type Output = Result<axum::response::Response, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::ready!(self.sleep.as_mut().poll(cx));
        let answer = self.answer.take().unwrap_or_default();
        std::task::Poll::Ready(Ok(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_back_off_doubles_from_one_second_to_the_cap() {
        let t = Throttle::new(&ThrottleSettings::default());
        let got: Vec<i64> = (1..=17).map(|n| t.delay_ms(n, 5)).collect();
        assert_eq!(&got[..5], &[0, 0, 0, 0, 0], "5 free");
        assert_eq!(&got[5..9], &[1000, 2000, 4000, 8000]);
        assert_eq!(got[16], 900_000, "capped at 15 min");
        assert_eq!(t.delay_ms(i64::MAX / 2, 5), 900_000);
    }

    #[test]
    fn an_address_gets_its_burst_then_429_and_ipv6_counts_by_its_64() {
        let t = Throttle::new(&ThrottleSettings {
            sign_in_per_minute: 30,
            sign_in_burst: 3,
            ..Default::default()
        });
        let m = Metrics::default();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        for _ in 0..3 {
            t.sign_in(Some(a), &m).unwrap();
        }
        let e = t.sign_in(Some(b), &m).unwrap_err();
        assert!(
            e.retry_after().is_some_and(|s| (1..=3).contains(&s)),
            "{e:?}"
        );
        t.sign_in(Some("2001:db8:1:3::1".parse().unwrap()), &m)
            .unwrap();
    }

    #[test]
    fn client_authentication_is_blocked_only_after_its_failures() {
        let t = Throttle::new(&ThrottleSettings {
            auth_failures_per_minute: 2,
            ..Default::default()
        });
        let m = Metrics::default();
        let ip = Some("10.0.0.1".parse().unwrap());
        for _ in 0..2 {
            t.client_auth_allowed(ip, &m).unwrap();
            t.client_auth_failed(ip);
        }
        assert!(
            t.client_auth_allowed(ip, &m).is_err(),
            "the third attempt waits"
        );
        t.client_auth_allowed(Some("10.0.0.2".parse().unwrap()), &m)
            .unwrap();
    }
}
