//! Who is calling: a credential (the session cookie, a first-party access token, an
//! integration token, or at forward auth an upstream's access token) to a [`Principal`] and
//! what it may do in one tenant.
//!
//! Every route asks here. A verified credential is cached in memory (`super::verified`), stamped
//! with this process's `auth` and `rbac` epochs read before the store was; while both are
//! unchanged it is answered without a database query or a signature check. A revocation,
//! sign-out, status, role or membership change moves an epoch: at commit on the replica that
//! made it (`store::Tx::bump`), and on every other within `forward_auth.revocation_poll_ms` (at
//! once on a PostgreSQL notification).

use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::principal::{Actor, Method, Principal};
use super::verified::{CacheKey, Verified};
use crate::crypto;
use crate::domain::display_name;
use crate::engine::jwt::{self, AccessClaims};
use crate::error::{Error, Result};
use crate::rbac::service as rbac;
use crate::state::AppState;
use crate::store::{self, sessions::SessionAuth};

const API_TOKEN_PREFIX: &str = "idb_";

/// How long a verified integration token answers before it is looked up again (its last use
/// is then recorded; deleting it moves the `auth` epoch at once).
const TOKEN_RECHECK_MS: i64 = 60_000;

/// A request's credential: `Authorization: Bearer` wins over the session cookie.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
}

impl<'a> Credential<'a> {
    /// The request's credential. `Err`: an `Authorization` header that is not a bearer token
    /// (the cookie is then not looked at); `Ok(None)`: neither.
    pub fn of(state: &AppState, headers: &'a HeaderMap) -> Result<Option<Self>> {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let value = v.to_str().map_err(|_| Error::Unauthenticated)?;
            let token = super::bearer::token(value).ok_or(Error::Unauthenticated)?;
            return Ok(Some(Credential::Bearer(token)));
        }
        Ok(crate::web::cookies::value(headers, &state.cookie_name).map(Credential::Cookie))
    }

    /// The cache key: the kind of credential and the SHA-256 of its value, the decision's tenant
    /// and the audience. A bearer token checked for an upstream's audience and one checked for
    /// `/api` are different entries: neither answers for the other.
    pub fn key(&self, scope: Scope<'_>) -> CacheKey {
        let (kind, value) = match (self, scope.audience) {
            (Credential::Cookie(v), _) => (b'c', v),
            (Credential::Bearer(v), Some(_)) => (b'u', v),
            (Credential::Bearer(v), None) => (b'a', v),
        };
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(value.as_bytes());
        ctx.update(&[0xff]);
        ctx.update(scope.tenant.unwrap_or("").as_bytes());
        ctx.update(&[0xff]);
        ctx.update(scope.audience.unwrap_or("").as_bytes());
        let mut k = [0u8; 33];
        k[0] = kind;
        k[1..].copy_from_slice(ctx.finish().as_ref());
        k
    }
}

/// What a credential is checked for: the tenant decided in (slug; `None`: the caller's current
/// tenant) and, for a bearer token at forward auth, the upstream's audience (`None`: `/api`,
/// which takes integration tokens and first-party access tokens).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    pub tenant: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Authenticates a request by `Authorization: Bearer` (first-party access token or integration
/// token) or by the session cookie: what `/api` and the browser pages accept.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal> {
    let (v, via_cookie) = authenticated(state, headers).await?;
    Ok(v.principal(via_cookie))
}

/// [`authenticate`] without building the principal: the verified entry (its compiled
/// permissions in the caller's current tenant, and `/api/me`'s cached body), and whether the
/// session cookie presented it.
pub async fn authenticated(state: &AppState, headers: &HeaderMap) -> Result<(Arc<Verified>, bool)> {
    let credential = Credential::of(state, headers)?.ok_or(Error::Unauthenticated)?;
    let v = verified(state, credential, Scope::default()).await?;
    Ok((v, matches!(credential, Credential::Cookie(_))))
}

/// The cached entry for `key` while it is current.
pub fn cached(state: &AppState, key: &CacheKey) -> Option<Arc<Verified>> {
    let now = state.now_ms();
    state.verified.get(key).filter(|v| current(state, v, now))
}

/// Not expired, and verified under this process's current `auth` and `rbac` epochs.
pub fn current(state: &AppState, v: &Verified, now_ms: i64) -> bool {
    v.expires_at_ms > now_ms
        && v.auth_generation == state.generations.auth()
        && v.rbac_generation == state.generations.rbac()
}

/// The verified entry for a credential in a scope: from the cache while current, else checked
/// against the store and cached.
pub async fn verified(
    state: &AppState,
    credential: Credential<'_>,
    scope: Scope<'_>,
) -> Result<Arc<Verified>> {
    let key = credential.key(scope);
    if let Some(v) = cached(state, &key) {
        return Ok(v);
    }
    let v = Arc::new(load(state, credential, scope).await?);
    state.verified.put(key, v.clone());
    Ok(v)
}

/// The slow path: the credential's principal, then the decision inputs in the scope's tenant
/// (membership, tenant status, sign-in rule), roles and groups there.
async fn load(state: &AppState, credential: Credential<'_>, scope: Scope<'_>) -> Result<Verified> {
    // Read before the store is: a change committed meanwhile leaves this entry stale-stamped.
    let auth_generation = state.generations.auth();
    let (mut principal, expires_at_ms) = match (credential, scope.audience) {
        (Credential::Cookie(c), _) => cookie_until(state, c).await?,
        (Credential::Bearer(token), None) => bearer_until(state, token).await?,
        // An upstream's audience: never an integration token or another audience's token.
        (Credential::Bearer(token), Some(aud)) if !token.starts_with(API_TOKEN_PREFIX) => {
            let (p, _, until) = access_token(state, token, Audience::Exactly(aud)).await?;
            (p, until)
        }
        (Credential::Bearer(_), Some(_)) => return Err(Error::Unauthenticated),
    };
    let mut tx = state.store.read().await?;
    let tenant = match scope.tenant {
        Some(slug) => store::tenants::get_by_slug(tx.conn(), slug).await?,
        None => store::tenants::get(tx.conn(), &principal.tenant_id).await?,
    }
    .ok_or_else(|| {
        Error::forbidden(
            "tenant_unknown",
            "the tenant of this upstream does not exist",
        )
    })?;
    // Decided with the caller's own tenant (an integration token holds its role there only),
    // then speaking for the scope's tenant.
    let compiled = rbac::compiled(state, &mut tx, &principal, &tenant).await?;
    principal.tenant_id = tenant.id.clone();
    let deny = if let Some(r) = &compiled.refusal {
        Some(("password_login_disabled", r.message(&tenant.slug, "")))
    } else if compiled.platform_admin {
        None
    } else if !compiled.tenant_active {
        Some((
            "tenant_suspended",
            format!("tenant `{}` is suspended", tenant.slug),
        ))
    } else if !compiled.member {
        Some((
            "not_a_member",
            format!("you are not a member of tenant `{}`", tenant.slug),
        ))
    } else {
        None
    };
    let mut prefix = None;
    let (email, groups) = match principal.user_id() {
        Some(uid) => {
            let user = store::users::get(tx.conn(), uid)
                .await?
                .ok_or(Error::Unauthenticated)?;
            let groups = store::users::group_names(tx.conn(), uid, &tenant.id).await?;
            if state.settings.forward_auth.pass_access_token && deny.is_none() {
                let claims =
                    super::service::access_claims_for(state, &mut tx, &principal, &user, &tenant)
                        .await?;
                prefix = Some(super::verified::claims_prefix(&claims)?);
            }
            (user.email, groups.join(","))
        }
        None => (String::new(), String::new()),
    };
    let mut v = Verified::new(
        principal,
        tenant.slug.clone(),
        email,
        groups,
        expires_at_ms,
        auth_generation,
        compiled,
    );
    v.claims_prefix = prefix;
    v.deny = deny;
    Ok(v)
}

/// An integration token (`idb_...`) or a first-party access token bound to a live session:
/// what `/api` accepts, and until when it answers. Tokens issued to OAuth clients, and tokens
/// forward auth mints for upstreams, carry another audience and are refused here.
async fn bearer_until(state: &AppState, token: &str) -> Result<(Principal, i64)> {
    if token.starts_with(API_TOKEN_PREFIX) {
        let p = authenticate_api_token(state, token).await?;
        return Ok((p, state.now_ms() + TOKEN_RECHECK_MS));
    }
    let (p, _, until) = access_token(state, token, Audience::FirstParty).await?;
    Ok((p, until))
}

/// Which access tokens a caller accepts.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// idbridge's own: `aud` = `session.audience`, issued to no client (`/api`).
    FirstParty,
    /// Any access token idbridge issued: first-party, or to an OAuth client (`aud` = the
    /// client; userinfo, introspection).
    AnyOfOurs,
    /// Exactly this audience (a forward-auth rule's upstream).
    Exactly(&'a str),
}

/// A user access token bound to a live session: the principal and the verified claims
/// (verified once; userinfo and introspection need both).
pub async fn authenticate_access_token(
    state: &AppState,
    token: &str,
    audience: Audience<'_>,
) -> Result<(Principal, AccessClaims)> {
    access_token(state, token, audience)
        .await
        .map(|(p, claims, _)| (p, claims))
}

/// [`authenticate_access_token`], and until when it answers: the token's `exp` or the end of
/// its session, whichever comes first (milliseconds).
async fn access_token(
    state: &AppState,
    token: &str,
    audience: Audience<'_>,
) -> Result<(Principal, AccessClaims, i64)> {
    let (kid, _) = jwt::peek(token)?;
    let key = match state.keys.verifying_key(&kid) {
        Some(k) => k,
        None => {
            // Another replica may have rotated: reload, at most once per cooldown.
            state
                .keys
                .refresh_on_miss(
                    &state.store,
                    &state.master_key,
                    std::time::Duration::from_secs(5),
                )
                .await?;
            state
                .keys
                .verifying_key(&kid)
                .ok_or(Error::Unauthenticated)?
        }
    };
    let own = state.settings.session.audience.as_str();
    let claims = jwt::verify_with(
        &key,
        token,
        &state.public_url,
        match audience {
            Audience::FirstParty => Some(own),
            Audience::AnyOfOurs => None,
            Audience::Exactly(a) => Some(a),
        },
        state.clock.now_secs(),
    )?;
    let accepted = match audience {
        Audience::FirstParty => claims.client_id.is_none(),
        Audience::AnyOfOurs => match &claims.client_id {
            None => claims.aud == own,
            Some(client) => *client == claims.aud,
        },
        Audience::Exactly(_) => true,
    };
    if !accepted {
        return Err(Error::Unauthenticated);
    }
    let rbac_generation = state.generations.rbac();
    let mut c = state.store.acquire().await?;
    if store::oauth::is_revoked(c.conn(), &claims.jti).await? {
        return Err(Error::Unauthenticated);
    }
    let auth = store::sessions::auth_by_id(c.conn(), &claims.sid)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if auth.user_id != claims.sub {
        return Err(Error::Unauthenticated);
    }
    let until = auth.expires_at.min(claims.exp.saturating_mul(1000));
    let p = principal_from_session(
        state,
        auth,
        Some(claims.tid.clone()),
        false,
        rbac_generation,
    )?;
    Ok((p, claims, until))
}

/// The session cookie's value, checked against the store, and until when the session lasts.
async fn cookie_until(state: &AppState, cookie: &str) -> Result<(Principal, i64)> {
    let rbac_generation = state.generations.rbac();
    let mut c = state.store.acquire().await?;
    let auth = store::sessions::auth_by_token(c.conn(), &crypto::token_hash(cookie))
        .await?
        .ok_or(Error::Unauthenticated)?;
    let until = auth.expires_at;
    let p = principal_from_session(state, auth, None, true, rbac_generation)?;
    Ok((p, until))
}

/// The principal of a live session. `rbac_generation`: this process's `rbac` epoch, read
/// before the session was.
pub fn principal_from_session(
    state: &AppState,
    a: SessionAuth,
    tenant: Option<String>,
    via_cookie: bool,
    rbac_generation: i64,
) -> Result<Principal> {
    let live = a.revoked_at.is_none()
        && a.expires_at > state.now_ms()
        && a.session_version == a.user_session_version
        && a.user_status == crate::domain::UserStatus::Active;
    if !live {
        return Err(Error::Unauthenticated);
    }
    let name = display_name(&a.first_name, a.last_name.as_deref());
    Ok(Principal {
        actor: Actor::User {
            id: a.user_id,
            email: a.email,
            name,
            platform_admin: a.platform_admin,
        },
        tenant_id: tenant.unwrap_or(a.tenant_id),
        session_id: Some(a.session_id),
        via_cookie,
        rbac_generation,
        method: Method::parse(&a.method),
    })
}

async fn authenticate_api_token(state: &AppState, token: &str) -> Result<Principal> {
    use crate::tokens::api_tokens;
    let generation = state.generations.rbac();
    let row = api_tokens::authenticate(state, token, &api_tokens::INTEGRATION)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(Principal {
        actor: Actor::Token {
            id: row.id,
            name: row.name,
            role_id: row.role_id,
        },
        tenant_id: row.tenant_id,
        session_id: None,
        via_cookie: false,
        rbac_generation: generation,
        method: Method::Token,
    })
}
