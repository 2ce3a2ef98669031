//! The OpenID Connect relying party toward a tenant's IdP, on the `openidconnect` crate.
//!
//! `begin` builds the authorization request (code flow, PKCE S256, `state`, `nonce`) and the
//! pending sign-in kept server-side; `finish` checks the callback and returns the verified
//! external identity. On top of what the crate verifies (signature with an algorithm allow-list,
//! `iss`, `aud`, `exp`, `nonce`) this module checks: `state` single use and bound to the browser,
//! RFC 9207 `iss` in the authorization response, `azp`, an `iat` window, `at_hash` when present,
//! userinfo `sub`. The issuer's metadata and JWKS are cached per connection; an unknown `kid`
//! refetches the JWKS at most once per `JWKS_COOLDOWN`.

use std::sync::Arc;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ExternalIdentity;
use super::cache::Metadata;
use super::connection::{OidcConfig, client_secret, config_of, redirect_uri};
use super::fail::{Fail, fail};
use crate::crypto;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, sso::ConnectionRow, sso::PendingRow};

const PENDING_TTL_MS: i64 = 10 * 60_000;
/// ID tokens issued longer ago than this (plus the skew) are refused.
const MAX_IAT_AGE_SECS: i64 = 600;

/// Fetches and checks the issuer's discovery document and JWKS. `strict` (saving a connection):
/// the error names the cause for the admin.
pub async fn discover(state: &AppState, cfg: &OidcConfig, strict: bool) -> Result<Metadata> {
    let issuer = IssuerUrl::new(cfg.issuer.clone())
        .map_err(|e| Error::invalid_field("invalid_issuer", "issuer", format!("issuer: {e}")))?;
    let m = Metadata::discover_async(issuer, &state.outbound)
        .await
        .map_err(|e| {
            let detail = token_error_detail(&e);
            if let openidconnect::DiscoveryError::Request(inner) = &e
                && inner.is_refused()
            {
                return Error::invalid_field("url_refused", "issuer", inner.to_string());
            }
            if strict {
                Error::rule(
                    "discovery_failed",
                    format!(
                        "cannot use {}/.well-known/openid-configuration: {detail}",
                        cfg.issuer
                    ),
                )
            } else {
                Error::internal(format!("OIDC discovery of {} failed: {detail}", cfg.issuer))
            }
        })?;
    let code_flow = m
        .response_types_supported()
        .iter()
        .any(|r| serde_json::to_value(r).ok() == Some(Value::String("code".into())));
    if strict && !code_flow {
        return Err(Error::rule(
            "discovery_failed",
            "the issuer does not support the authorization code flow",
        ));
    }
    Ok(m)
}

pub async fn metadata(
    state: &AppState,
    row: &ConnectionRow,
    cfg: &OidcConfig,
) -> Result<Arc<Metadata>> {
    if let Some(m) = state.sso.get(&row.id, &cfg.issuer) {
        return Ok(m);
    }
    let m = Arc::new(discover(state, cfg, false).await?);
    state.sso.put(&row.id, &cfg.issuer, m.clone());
    Ok(m)
}

/// The IdP's `end_session_endpoint`, when its metadata has one.
pub async fn end_session_endpoint(
    state: &AppState,
    row: &ConnectionRow,
    cfg: &OidcConfig,
) -> Option<String> {
    let meta = metadata(state, row, cfg).await.ok()?;
    meta.additional_metadata()
        .end_session_endpoint
        .clone()
        .filter(|u| state.outbound.check_url(u).is_ok())
}

fn algs(cfg: &OidcConfig) -> Vec<CoreJwsSigningAlgorithm> {
    cfg.id_token_algs
        .iter()
        .filter_map(|a| serde_json::from_value(Value::String(a.clone())).ok())
        .collect()
}

/// Where to send the browser, and the value of the pre-auth cookie that binds the callback to it.
pub struct Begun {
    pub authorize_url: String,
    pub binding: String,
}

pub async fn begin(
    state: &AppState,
    row: &ConnectionRow,
    return_to: Option<String>,
    login_hint: Option<&str>,
) -> Result<Begun> {
    let cfg = config_of(row)?;
    let meta = metadata(state, row, &cfg).await?;
    let client = CoreClient::from_provider_metadata(
        (*meta).clone(),
        ClientId::new(cfg.client_id.clone()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri(state, &row.id)).map_err(Error::internal)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in cfg.scopes.iter().filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(s.clone()));
    }
    if let Some(h) = login_hint.filter(|h| !h.is_empty() && h.len() <= 256) {
        req = req.add_extra_param("login_hint", h.to_string());
    }
    let (url, csrf, nonce) = req.url();
    let binding = crypto::new_token("");
    let now = state.now_ms();
    let pending = PendingRow {
        state_hash: crypto::token_hash(csrf.secret()),
        connection_id: row.id.clone(),
        binding_hash: crypto::token_hash(&binding),
        nonce: nonce.secret().clone(),
        pkce_sealed: state
            .master_key
            .seal("sso_pkce", verifier.secret().as_bytes())?,
        issuer: cfg.issuer.clone(),
        return_to,
        created_at: now,
        expires_at: now + PENDING_TTL_MS,
    };
    let mut tx = state.store.begin().await?;
    store::sso::insert_pending(tx.conn(), &pending).await?;
    tx.commit().await?;
    Ok(Begun {
        authorize_url: url.to_string(),
        binding,
    })
}

/// The callback's query (the IdP's authorization response).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` of the authorization request, single use.
    pub state: Option<String>,
    /// The issuer of the response (RFC 9207), required when the IdP announces it.
    pub iss: Option<String>,
    /// The IdP's error code, instead of a code.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A verified sign-in: the identity and where the browser goes next.
pub struct Finished {
    pub identity: ExternalIdentity,
    pub return_to: Option<String>,
    /// The raw ID token, kept (sealed) for `id_token_hint` at logout.
    pub id_token: String,
}

pub async fn finish(
    state: &AppState,
    row: &ConnectionRow,
    q: &CallbackParams,
    binding: Option<&str>,
) -> std::result::Result<Finished, Fail> {
    if let Some(e) = &q.error {
        return Err(fail(
            "oidc.idp_error",
            format!("{e}: {}", q.error_description.as_deref().unwrap_or("")),
        ));
    }
    let st = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail("oidc.state_missing", "no state"))?;
    let pending = {
        let mut tx = state.store.begin().await.map_err(Fail::from)?;
        let p = store::sso::take_pending(tx.conn(), &crypto::token_hash(st), state.now_ms())
            .await
            .map_err(Fail::from)?;
        tx.commit().await.map_err(Fail::from)?;
        p
    }
    .ok_or_else(|| fail("oidc.state_unknown", "unknown, used or expired state"))?;
    if pending.connection_id != row.id {
        return Err(fail(
            "oidc.state_mismatch",
            "the state belongs to another connection",
        ));
    }
    let bound = binding.is_some_and(|b| {
        crypto::ct_eq(
            crypto::token_hash(b).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        return Err(fail(
            "oidc.browser_mismatch",
            "the callback came from another browser than the one that started",
        ));
    }
    let cfg = config_of(row).map_err(Fail::from)?;
    if cfg.issuer != pending.issuer {
        return Err(fail(
            "oidc.issuer_changed",
            "the connection's issuer changed during sign-in",
        ));
    }
    let meta = metadata(state, row, &cfg).await.map_err(Fail::from)?;
    // RFC 9207: the authorization response names its issuer.
    match &q.iss {
        Some(iss) if iss.trim_end_matches('/') != pending.issuer => {
            return Err(fail(
                "oidc.iss_mismatch",
                format!(
                    "authorization response from {iss}, expected {}",
                    pending.issuer
                ),
            ));
        }
        None if meta
            .additional_metadata()
            .authorization_response_iss_parameter_supported =>
        {
            return Err(fail(
                "oidc.iss_missing",
                "the IdP announces RFC 9207 but sent no iss",
            ));
        }
        _ => {}
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| fail("oidc.code_missing", "no code"))?;
    let verifier = state
        .master_key
        .open("sso_pkce", &pending.pkce_sealed)
        .map_err(Fail::from)?;
    let verifier = PkceCodeVerifier::new(
        String::from_utf8(verifier).map_err(|e| Fail::from(Error::internal(e)))?,
    );
    let secret = client_secret(state, row).map_err(Fail::from)?;
    let client = CoreClient::from_provider_metadata(
        (*meta).clone(),
        ClientId::new(cfg.client_id.clone()),
        secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(
        RedirectUrl::new(redirect_uri(state, &row.id))
            .map_err(|e| Fail::from(Error::internal(e)))?,
    );
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| fail("oidc.no_token_endpoint", e.to_string()))?
        .set_pkce_verifier(verifier)
        .request_async(&state.outbound)
        .await
        .map_err(|e| fail("oidc.token_exchange_failed", token_error_detail(&e)))?;
    let (identity, id_token) =
        check_token_response(state, row, &cfg, meta, secret, &pending.nonce, &tokens).await?;
    Ok(Finished {
        identity,
        return_to: pending.return_to,
        id_token,
    })
}

/// The checks of a token response from the IdP (the ID token, `at_hash`, userinfo, groups),
/// separate from the network exchange so that a pre-fetched response can be checked
/// (`benches/sso_login.rs`). Returns the identity and the raw ID token.
pub async fn check_token_response(
    state: &AppState,
    row: &ConnectionRow,
    cfg: &OidcConfig,
    meta: Arc<Metadata>,
    secret: Option<String>,
    nonce: &str,
    tokens: &CoreTokenResponse,
) -> std::result::Result<(ExternalIdentity, String), Fail> {
    let id_token = tokens
        .id_token()
        .ok_or_else(|| fail("oidc.no_id_token", "the token response has no id_token"))?;
    let nonce = Nonce::new(nonce.to_string());
    let now_ms = state.now_ms();
    let skew_ms = i64::from(cfg.clock_skew_secs) * 1000;
    let make_verifier = |meta: &Metadata| {
        let id = ClientId::new(cfg.client_id.clone());
        let (issuer, jwks) = (meta.issuer().clone(), meta.jwks().clone());
        match secret.clone() {
            Some(s) => {
                CoreIdTokenVerifier::new_confidential_client(id, ClientSecret::new(s), issuer, jwks)
            }
            None => CoreIdTokenVerifier::new_public_client(id, issuer, jwks),
        }
        .set_allowed_algs(algs(cfg))
        // Leeway for `exp`: verify as of `skew` ago.
        .set_time_fn(move || at_ms(now_ms - skew_ms))
        .set_issue_time_verifier_fn(move |iat| {
            let iat = iat.timestamp_millis();
            if iat > now_ms + skew_ms {
                Err("iat is in the future".into())
            } else if iat < now_ms - skew_ms - MAX_IAT_AGE_SECS * 1000 {
                Err("iat is too old".into())
            } else {
                Ok(())
            }
        })
    };
    let mut meta = meta;
    let claims = loop {
        let verifier = make_verifier(&meta);
        match id_token.claims(&verifier, &nonce) {
            Ok(c) => {
                // at_hash, when present, binds the access token to the ID token.
                if let Some(expected) = c.access_token_hash() {
                    let alg = id_token
                        .signing_alg()
                        .map_err(|e| fail("oidc.at_hash", e.to_string()))?;
                    let key = id_token
                        .signing_key(&verifier)
                        .map_err(|e| fail("oidc.at_hash", e.to_string()))?;
                    let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                        .map_err(|e| fail("oidc.at_hash", e.to_string()))?;
                    if actual != *expected {
                        return Err(fail(
                            "oidc.at_hash_mismatch",
                            "at_hash does not match the access token",
                        ));
                    }
                }
                break c.clone();
            }
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if state.sso.may_refresh_jwks(&row.id) => {
                let jwks = CoreJsonWebKeySet::fetch_async(meta.jwks_uri(), &state.outbound)
                    .await
                    .map_err(|e| fail("oidc.jwks_fetch_failed", e.to_string()))?;
                meta = state
                    .sso
                    .set_jwks(&row.id, jwks)
                    .ok_or_else(|| fail("oidc.jwks_fetch_failed", "cache"))?;
            }
            Err(e) => return Err(fail(verification_reason(&e), e.to_string())),
        }
    };
    // azp (OIDC Core 3.1.3.7 steps 4-5): required with several audiences, and must be us.
    let auds = claims.audiences();
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != cfg.client_id => {
            return Err(fail(
                "oidc.azp_mismatch",
                format!("azp is {}", azp.as_str()),
            ));
        }
        None if auds.len() > 1 => {
            return Err(fail("oidc.azp_missing", "several audiences and no azp"));
        }
        _ => {}
    }
    let subject = claims.subject().as_str().to_string();
    if subject.is_empty() || subject.len() > 255 {
        return Err(fail("oidc.sub_invalid", "sub is empty or too long"));
    }
    // The verified token's payload, for the configured claim names (groups, roles, ...).
    let mut raw = payload(&id_token.to_string())
        .ok_or_else(|| fail("oidc.malformed", "unreadable ID token payload"))?;
    if cfg.use_userinfo
        && let Some(url) = meta.userinfo_endpoint()
    {
        let info = fetch_json(state, url.as_str(), tokens.access_token().secret())
            .await
            .map_err(|e| fail("oidc.userinfo_failed", e))?;
        if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
            return Err(fail(
                "oidc.userinfo_sub_mismatch",
                "userinfo sub differs from the ID token's",
            ));
        }
        for (k, v) in info {
            // The ID token's claims win; userinfo only adds what is missing.
            raw.entry(k).or_insert(v);
        }
    }
    let mut groups = strings(raw.get(&cfg.groups_claim));
    groups.extend(strings(raw.get(&cfg.roles_claim)));
    let overage = raw
        .get("_claim_names")
        .and_then(|n| n.get(&cfg.groups_claim))
        .is_some()
        || raw.get("hasgroups").and_then(Value::as_bool) == Some(true);
    let groups = if overage {
        match &cfg.groups_endpoint {
            Some(url) => {
                let v = fetch_json(state, url, tokens.access_token().secret())
                    .await
                    .map_err(|e| fail("oidc.groups_endpoint_failed", e))?;
                Some(graph_groups(&Value::Object(v)))
            }
            None => {
                tracing::warn!(connection = %row.id, subject = %subject,
                    "group overage: the IdP sent too many groups to fit in the token and no groups_endpoint is set; keeping the groups of the last login");
                None
            }
        }
    } else {
        Some(groups)
    };
    let text = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_string);
    let email_verified = match raw.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    Ok((
        ExternalIdentity {
            connection_id: row.id.clone(),
            tenant_id: row.tenant_id.clone(),
            issuer: claims.issuer().as_str().trim_end_matches('/').to_string(),
            subject,
            email: text(&cfg.email_claim),
            email_verified,
            allow_email_linking: cfg.allow_email_linking,
            platform_managed: row.platform_managed,
            name: text(&cfg.name_claim),
            given_name: text(&cfg.given_name_claim),
            family_name: text(&cfg.family_name_claim),
            groups,
        },
        id_token.to_string(),
    ))
}

fn at_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn verification_reason(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "oidc.expired",
        ClaimsVerificationError::InvalidAudience(_) => "oidc.aud_invalid",
        ClaimsVerificationError::InvalidIssuer(_) => "oidc.iss_invalid",
        ClaimsVerificationError::InvalidNonce(_) => "oidc.nonce_mismatch",
        ClaimsVerificationError::SignatureVerification(_) => "oidc.signature_invalid",
        _ => "oidc.id_token_invalid",
    }
}

/// An error and its chain of causes, for the log and the admin's 422.
fn token_error_detail<E: std::error::Error + 'static>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn payload(jwt: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A claim that is a list of strings or one string.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .take(2000)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Groups from a Graph-style response (`{"value": [{"id", "displayName"}]}`) or `{"groups": [...]}`.
fn graph_groups(v: &Value) -> Vec<String> {
    if let Some(items) = v.get("value").and_then(Value::as_array) {
        let mut out = Vec::new();
        for it in items {
            for k in ["id", "displayName"] {
                if let Some(s) = it.get(k).and_then(Value::as_str) {
                    out.push(s.to_string());
                }
            }
        }
        return out;
    }
    strings(v.get("groups"))
}

async fn fetch_json(
    state: &AppState,
    url: &str,
    bearer: &str,
) -> std::result::Result<Map<String, Value>, String> {
    let checked = state.outbound.check_url(url).map_err(|e| e.to_string())?;
    let a = state
        .outbound
        .send(
            state
                .outbound
                .request(reqwest::Method::GET, checked)
                .bearer_auth(bearer)
                .header("accept", "application/json"),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !a.status.is_success() {
        return Err(format!("{url} answered {}", a.status));
    }
    serde_json::from_slice(&a.body).map_err(|e| format!("{url}: not a JSON object: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_claims_accept_lists_strings_and_graph_pages() {
        assert_eq!(strings(Some(&serde_json::json!(["a", 1, "b"]))), ["a", "b"]);
        assert_eq!(strings(Some(&serde_json::json!("solo"))), ["solo"]);
        assert!(strings(None).is_empty());
        let g =
            graph_groups(&serde_json::json!({"value": [{"id": "g1", "displayName": "Helpdesk"}]}));
        assert_eq!(g, ["g1", "Helpdesk"]);
    }
}
