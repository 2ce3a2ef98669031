//! Access tokens: short-lived JWTs (ES256 by default; EdDSA or RS256) (`typ: at+jwt`, RFC 9068) bound to a session.
//!
//! Verification pins the algorithm, issuer and audience, requires `exp`, `iat`, `nbf`, `sub`,
//! `sid` and `tid`, validates `nbf`, and looks the `kid` up only in the local key ring; header
//! `jku`/`x5u`/`jwk` are never used. The keys come in through [`keys::Keys`].

pub mod keys;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use self::keys::{Keys, SigningKey, VerifyingKey};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: String,
    pub tid: String,
    pub tenant: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Effective permissions in the tenant, when they fit under
    /// `session.max_permissions_claim_bytes`; absent otherwise (ask `/api/me` or `can-i`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// For tokens issued to an OAuth client: the client and the granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

pub fn mint(ring: &impl Keys, claims: &AccessClaims) -> Result<String> {
    mint_any(ring, claims)
}

/// Signs any claims as an access token (`typ: at+jwt`) with the active key.
pub fn mint_any<T: serde::Serialize>(ring: &impl Keys, claims: &T) -> Result<String> {
    mint_typed(ring, claims, "at+jwt")
}

/// Signs claims with the active key and the given `typ` (`JWT` for ID tokens, so they can never
/// pass as access tokens).
pub fn mint_typed<T: serde::Serialize>(ring: &impl Keys, claims: &T, typ: &str) -> Result<String> {
    let payload = serde_json::to_vec(claims).map_err(Error::internal)?;
    sign_payload(ring, &payload, typ)
}

/// Signs an already serialized claims object as a compact JWS with the active key (the
/// forward-auth hot path builds the payload from a cached prefix).
pub fn sign_payload(ring: &impl Keys, payload: &[u8], typ: &str) -> Result<String> {
    use base64::Engine;
    let key = ring.signing_key()?;
    let header = key.header_b64(typ);
    let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 350);
    out.push_str(&header);
    out.push('.');
    B64.encode_string(payload, &mut out);
    append_signature(&key, &mut out, 0)?;
    Ok(out)
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signs `out[start..]`, a JWS signing input (`header.payload`, base64url), and appends `.` and
/// the signature: the compact JWS then ends `out`.
pub fn append_signature(key: &SigningKey, out: &mut String, start: usize) -> Result<()> {
    use base64::Engine;
    let sig = key.signer.sign(&out.as_bytes()[start..])?;
    out.push('.');
    B64.encode_string(&sig, out);
    Ok(())
}

/// Verifies an access token at `now_secs`; any failure is `Unauthenticated`.
pub fn verify(
    ring: &impl Keys,
    token: &str,
    issuer: &str,
    audience: &str,
    now_secs: i64,
) -> Result<AccessClaims> {
    let (kid, _) = peek(token)?;
    let key = ring.verifying_key(&kid).ok_or(Error::Unauthenticated)?;
    verify_with(&key, token, issuer, Some(audience), now_secs)
}

/// The `kid` and algorithm of a well-formed access-token header (`typ: at+jwt`, an algorithm
/// idbridge signs with), before any signature work.
pub fn peek(token: &str) -> Result<(String, Algorithm)> {
    if token.len() > 8192 {
        return Err(Error::Unauthenticated);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthenticated)?;
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::EdDSA | Algorithm::RS256
    ) || header.typ.as_deref() != Some("at+jwt")
    {
        return Err(Error::Unauthenticated);
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .ok_or(Error::Unauthenticated)?;
    Ok((kid, header.alg))
}

/// Verifies a user access token with a known key. `audience: None` leaves the `aud` check
/// (the claim is still required) to the caller, who knows which audiences it accepts.
pub fn verify_with(
    key: &VerifyingKey,
    token: &str,
    issuer: &str,
    audience: Option<&str>,
    now_secs: i64,
) -> Result<AccessClaims> {
    verify_generic(key, token, issuer, audience, now_secs)
}

/// Verifies with a known key into any claims type; the header's algorithm must be the key's.
pub fn verify_generic<T: serde::de::DeserializeOwned + HasTimes>(
    key: &VerifyingKey,
    token: &str,
    issuer: &str,
    audience: Option<&str>,
    now_secs: i64,
) -> Result<T> {
    let (_, alg) = peek(token)?;
    if alg != key.alg {
        return Err(Error::Unauthenticated);
    }
    let mut v = Validation::new(key.alg);
    v.set_issuer(&[issuer]);
    match audience {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    // jsonwebtoken checks exp/nbf against the wall clock; check against our clock too.
    let c = jsonwebtoken::decode::<T>(token, &key.key, &v)
        .map_err(|_| Error::Unauthenticated)?
        .claims;
    let (exp, nbf) = c.times();
    if exp + 30 < now_secs || nbf > now_secs + 30 {
        return Err(Error::Unauthenticated);
    }
    Ok(c)
}

/// The audience (client) and session of an ID token idbridge issued, checked by signature and
/// issuer only: an `id_token_hint` may have expired (OIDC RP-Initiated Logout §2).
pub fn id_token_hint(ring: &impl Keys, token: &str, issuer: &str) -> Option<(String, String)> {
    if token.len() > 8192 {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("JWT") {
        return None;
    }
    let key = ring.verifying_key(header.kid.as_deref()?)?;
    if header.alg != key.alg {
        return None;
    }
    let mut v = Validation::new(key.alg);
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud", "sub"]);
    #[derive(Deserialize)]
    struct Hint {
        aud: String,
        #[serde(default)]
        sid: String,
    }
    let c = jsonwebtoken::decode::<Hint>(token, &key.key, &v)
        .ok()?
        .claims;
    Some((c.aud, c.sid))
}

/// `exp` and `nbf` of a claims type, for the clock check.
pub trait HasTimes {
    fn times(&self) -> (i64, i64);
}

impl HasTimes for AccessClaims {
    fn times(&self) -> (i64, i64) {
        (self.exp, self.nbf)
    }
}
