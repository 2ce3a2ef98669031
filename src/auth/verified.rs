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

/// What a verified credential resolved to in one tenant: only what an answer needs (a few
/// hundred bytes with a shared compiled RBAC set; see `benches/cache_memory.rs`).
pub struct Verified {
    /// Answers kept for this caller, once given: `/api/me`'s body and can-i's (one allocation,
    /// made only for callers of those routes).
    kept: RwLock<Option<Box<Kept>>>,
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
    pub compiled: Arc<crate::engine::rbac::Compiled>,
    /// The identity header values of a 200 (user id, email, tenant slug, roles, groups), in the
    /// order of the cache's header names, then the rest of the principal (see [`Part`]),
    /// concatenated: value `i` ends at `ends[i]`. One allocation instead of ten, and copying them
    /// per response touches no shared reference count (every request of a session reads the
    /// same entry, from every core).
    values: Box<str>,
    ends: [u32; PARTS],
    /// Bit `i` set: header value `i` is a valid header value (else the header is left out).
    valid: u8,
    /// The principal's flags (see [`Verified::principal`]).
    token: bool,
    platform_admin: bool,
    has_role: bool,
    method: crate::auth::principal::Method,
}

/// The parts of `values` after the five header values.
#[derive(Clone, Copy)]
enum Part {
    Name = 5,
    TenantId = 6,
    SessionId = 7,
    TokenId = 8,
    TokenName = 9,
    RoleId = 10,
}
const PARTS: usize = 11;

/// What a caller was answered, kept.
#[derive(Default)]
struct Kept {
    me: Option<Arc<MeBody>>,
    /// can-i's by the permission as asked (they hold as long as the entry does); at most
    /// [`MAX_ANSWERS`].
    answers: Vec<(Box<str>, axum::body::Bytes)>,
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
        compiled: Arc<crate::engine::rbac::Compiled>,
    ) -> Self {
        use crate::auth::principal::Actor;
        let roles = compiled.roles.join(",");
        let (name, session, token_id, token_name, role, platform_admin) = match &principal.actor {
            Actor::User {
                name,
                platform_admin,
                ..
            } => (
                name.as_str(),
                principal.session_id.as_deref().unwrap_or_default(),
                "",
                "",
                None,
                *platform_admin,
            ),
            Actor::Token { id, name, role_id } => (
                "",
                "",
                id.as_str(),
                name.as_str(),
                role_id.as_deref(),
                false,
            ),
        };
        let parts: [&str; PARTS] = [
            principal.user_id().unwrap_or_default(),
            &email,
            &tenant_slug,
            &roles,
            &groups,
            name,
            &principal.tenant_id,
            session,
            token_id,
            token_name,
            role.unwrap_or_default(),
        ];
        let mut values = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let (mut ends, mut valid) = ([0u32; PARTS], 0u8);
        for (i, part) in parts.iter().enumerate() {
            if i < 5 && HeaderValue::from_str(part).is_ok() {
                valid |= 1 << i;
            }
            values.push_str(part);
            ends[i] = values.len() as u32;
        }
        Verified {
            kept: RwLock::new(None),
            deny: None,
            values: values.into_boxed_str(),
            ends,
            valid,
            token: matches!(principal.actor, Actor::Token { .. }),
            platform_admin,
            has_role: role.is_some(),
            method: principal.method,
            claims_prefix: None,
            expires_at_ms,
            auth_generation,
            rbac_generation: principal.rbac_generation,
            compiled,
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
    /// Value `i` of `values`.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.values.get(start..self.ends[i] as usize).unwrap_or("")
    }

    /// The tenant decided in, by slug.
    pub fn tenant_slug(&self) -> &str {
        self.part(2)
    }

    /// The tenant decided in, by id.
    pub fn tenant_id(&self) -> &str {
        self.part(Part::TenantId as usize)
    }

    /// Who the credential signs in (`via_cookie`: as the request presented it).
    pub fn principal(&self, via_cookie: bool) -> Principal {
        use crate::auth::principal::Actor;
        let actor = if self.token {
            Actor::Token {
                id: self.part(Part::TokenId as usize).to_string(),
                name: self.part(Part::TokenName as usize).to_string(),
                role_id: self
                    .has_role
                    .then(|| self.part(Part::RoleId as usize).to_string()),
            }
        } else {
            Actor::User {
                id: self.part(0).to_string(),
                email: self.part(1).to_string(),
                name: self.part(Part::Name as usize).to_string(),
                platform_admin: self.platform_admin,
            }
        };
        Principal {
            actor,
            tenant_id: self.tenant_id().to_string(),
            session_id: (!self.token).then(|| self.part(Part::SessionId as usize).to_string()),
            via_cookie,
            rbac_generation: self.rbac_generation,
            method: self.method,
        }
    }

    /// The cached `/api/me` body while it is current.
    pub fn me(&self, writes: i64, now_ms: i64) -> Option<axum::body::Bytes> {
        let kept = self.kept.read().ok()?;
        let body = kept.as_ref()?.me.as_ref()?;
        (body.writes == writes && now_ms - body.built_ms < MeBody::TTL_MS)
            .then(|| body.json.clone())
    }

    /// The can-i answer kept for `permission`.
    pub fn answer(&self, permission: &str) -> Option<axum::body::Bytes> {
        let kept = self.kept.read().ok()?;
        kept.as_ref()?
            .answers
            .iter()
            .find(|(p, _)| &**p == permission)
            .map(|(_, body)| body.clone())
    }

    /// Keeps a can-i answer (while fewer than [`MAX_ANSWERS`] are kept).
    pub fn keep_answer(&self, permission: &str, body: axum::body::Bytes) {
        if let Ok(mut kept) = self.kept.write() {
            let answers = &mut kept.get_or_insert_with(Box::default).answers;
            if answers.len() < MAX_ANSWERS && !answers.iter().any(|(p, _)| &**p == permission) {
                answers.push((permission.into(), body));
            }
        }
    }

    /// Keeps `/api/me`'s body for this caller.
    pub fn keep_me(&self, body: MeBody) {
        if let Ok(mut kept) = self.kept.write() {
            kept.get_or_insert_with(Box::default).me = Some(Arc::new(body));
        }
    }

    /// Identity header `i` (0 user id, 1 email, 2 tenant, 3 roles, 4 groups), as a fresh value.
    pub fn header(&self, i: usize) -> Option<HeaderValue> {
        if i >= 5 || self.valid & (1 << i) == 0 {
            return None;
        }
        HeaderValue::from_str(self.part(i)).ok()
    }
}

/// The base64url of a user's access-token claims JSON, without its closing brace and without
/// `aud`, `exp`, `iat`, `nbf` and `jti`. The JSON is padded with spaces (insignificant whitespace) to a
/// multiple of 3 bytes, so its encoding is the exact start of every token payload's encoding
/// and only the tail is encoded per token.
pub(crate) fn claims_prefix(claims: &crate::engine::jwt::AccessClaims) -> Result<Box<str>, Error> {
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
