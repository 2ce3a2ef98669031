//! The cache of verified callers every route answers from (see `super::authenticate`): per
//! credential hash and tenant, the principal, its decision inputs and its identity headers,
//! stamped with the epochs it was verified under.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderName, HeaderValue};

use crate::auth::principal::Principal;
use crate::error::Error;

/// Bounded cache of verified callers, keyed by the SHA-256 of the credential.
pub struct VerifiedCache {
    map: RwLock<HashMap<CacheKey, Arc<Verified>>>,
    /// The identity header names (user, email, tenant, roles, groups), parsed once.
    pub names: [Option<HeaderName>; 5],
}

/// The kind of credential (cookie or bearer) and the SHA-256 of its value: no allocation.
pub type CacheKey = [u8; 33];

/// What a verified credential resolved to in one tenant: only what an answer needs (about 1 KB
/// with a shared compiled RBAC set; see `benches/cache_memory.rs`).
pub struct Verified {
    /// Who the credential signs in (`via_cookie` unset: the caller sets it).
    pub principal: Principal,
    /// `/api/me`'s answer for this caller, once built (see [`MeBody`]).
    pub me: RwLock<Option<Arc<MeBody>>>,
    /// can-i answers for this caller, rendered, by the permission as asked (they hold as long
    /// as the entry does); at most [`MAX_ANSWERS`].
    answers: RwLock<Vec<(Box<str>, axum::body::Bytes)>>,
    /// Set: the caller may not pass in this tenant (not a member, tenant suspended, password
    /// session where SSO is required): the 403's code and message.
    pub deny: Option<(&'static str, String)>,
    pub expires_at_ms: i64,
    pub auth_generation: i64,
    pub rbac_generation: i64,
    /// With `forward_auth.pass_access_token`: the access token's claims, serialized and
    /// base64url-encoded once (see `claims_prefix`).
    pub claims_prefix: Option<Box<str>>,
    /// Compiled RBAC for `?permission=` checks.
    pub compiled: Arc<crate::rbac::engine::Compiled>,
    /// The identity header values of a 200 (user id, email, tenant slug, roles, groups), in the
    /// order of the cache's header names, concatenated: value `i` ends at `ends[i]`. One
    /// allocation instead of five, and copying them per response touches no shared reference
    /// count (every request of a session reads the same entry, from every core).
    values: Box<str>,
    ends: [u32; 5],
    /// Bit `i` set: value `i` is a valid header value (else the header is left out).
    valid: u8,
}

const MAX_ENTRIES: usize = 200_000;

/// can-i answers kept per entry.
const MAX_ANSWERS: usize = 32;

impl VerifiedCache {
    pub fn new(names: &crate::config::ForwardAuthSettings) -> Self {
        // Backed by a `'static` string, a header name clones without touching a reference count.
        // The five names live as long as the process; they are parsed once per start.
        let parse = |n: &str| {
            let name = HeaderName::try_from(n).ok()?;
            let text: &'static str = Box::leak(name.as_str().to_owned().into_boxed_str());
            Some(HeaderName::from_static(text))
        };
        Self {
            map: RwLock::default(),
            names: [
                parse(&names.user_header),
                parse(&names.email_header),
                parse(&names.tenant_header),
                parse(&names.roles_header),
                parse(&names.groups_header),
            ],
        }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<Verified>> {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Runs `f` on the entry under the read lock, without taking a reference to it.
    pub fn with<T>(&self, key: &CacheKey, f: impl FnOnce(&Verified) -> Option<T>) -> Option<T> {
        f(self.map.read().ok()?.get(key)?)
    }

    /// Caches a verified caller (public for the memory benchmark, `benches/cache_memory.rs`).
    pub fn put(&self, key: CacheKey, v: Arc<Verified>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                // Cheap bound: drop everything; live callers re-verify once.
                m.clear();
            }
            m.insert(key, v);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.write() {
            m.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Verified {
    /// Builds the cache entry and its identity headers once.
    pub fn new(
        principal: Principal,
        tenant_slug: String,
        email: String,
        groups: String,
        expires_at_ms: i64,
        auth_generation: i64,
        compiled: Arc<crate::rbac::engine::Compiled>,
    ) -> Self {
        let roles = compiled.roles.join(",");
        let parts = [
            principal.user_id().unwrap_or_default(),
            &email,
            &tenant_slug,
            &roles,
            &groups,
        ];
        let mut values = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let (mut ends, mut valid) = ([0u32; 5], 0u8);
        for (i, part) in parts.iter().enumerate() {
            if HeaderValue::from_str(part).is_ok() {
                values.push_str(part);
                valid |= 1 << i;
            }
            ends[i] = values.len() as u32;
        }
        Verified {
            me: RwLock::new(None),
            answers: RwLock::default(),
            deny: None,
            values: values.into_boxed_str(),
            ends,
            valid,
            claims_prefix: None,
            expires_at_ms,
            auth_generation,
            rbac_generation: principal.rbac_generation,
            compiled,
            principal,
        }
    }
}

/// `/api/me`'s JSON body for one caller, built under this process's write epoch
/// (`store::counters::Generations::writes`) at `built_ms`: it answers while no write committed
/// here since, for at most [`MeBody::TTL_MS`] (what another replica may have changed).
pub struct MeBody {
    pub writes: i64,
    pub built_ms: i64,
    pub json: axum::body::Bytes,
}

impl MeBody {
    pub const TTL_MS: i64 = 1_000;
}

impl Verified {
    /// The tenant decided in, by slug.
    pub fn tenant_slug(&self) -> &str {
        let start = self.ends[1] as usize;
        self.values.get(start..self.ends[2] as usize).unwrap_or("")
    }

    /// The cached `/api/me` body while it is current.
    pub fn me(&self, writes: i64, now_ms: i64) -> Option<axum::body::Bytes> {
        let me = self.me.read().ok()?;
        let body = me.as_ref()?;
        (body.writes == writes && now_ms - body.built_ms < MeBody::TTL_MS)
            .then(|| body.json.clone())
    }

    /// The can-i answer kept for `permission`.
    pub fn answer(&self, permission: &str) -> Option<axum::body::Bytes> {
        let answers = self.answers.read().ok()?;
        answers
            .iter()
            .find(|(p, _)| &**p == permission)
            .map(|(_, body)| body.clone())
    }

    /// Keeps a can-i answer (while fewer than [`MAX_ANSWERS`] are kept).
    pub fn keep_answer(&self, permission: &str, body: axum::body::Bytes) {
        if let Ok(mut answers) = self.answers.write()
            && answers.len() < MAX_ANSWERS
            && !answers.iter().any(|(p, _)| &**p == permission)
        {
            answers.push((permission.into(), body));
        }
    }

    /// Keeps `/api/me`'s body for this caller.
    pub fn keep_me(&self, body: MeBody) {
        if let Ok(mut me) = self.me.write() {
            *me = Some(Arc::new(body));
        }
    }

    /// Identity header `i` (0 user id, 1 email, 2 tenant, 3 roles, 4 groups), as a fresh value.
    pub fn header(&self, i: usize) -> Option<HeaderValue> {
        if self.valid & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let text = self.values.get(start..self.ends[i] as usize)?;
        HeaderValue::from_str(text).ok()
    }
}

/// The base64url of a user's access-token claims JSON, without its closing brace and without
/// `aud`, `exp`, `iat`, `nbf` and `jti`. The JSON is padded with spaces (insignificant whitespace) to a
/// multiple of 3 bytes, so its encoding is the exact start of every token payload's encoding
/// and only the tail is encoded per token.
pub(crate) fn claims_prefix(claims: &crate::tokens::jwt::AccessClaims) -> Result<Box<str>, Error> {
    let mut v = serde_json::to_value(claims).map_err(Error::internal)?;
    if let Some(m) = v.as_object_mut() {
        for k in ["aud", "exp", "iat", "nbf", "jti"] {
            m.remove(k);
        }
    }
    let mut json = v.to_string();
    json.pop();
    while json.len() % 3 != 0 {
        json.push(' ');
    }
    Ok(crate::crypto::b64url(json.as_bytes()).into_boxed_str())
}
