//! AuthnRequests for the HTTP-Redirect binding.

use super::{metadata::*, shared::*};
use chrono::{DateTime, Utc};

/// An AuthnRequest sent over HTTP-Redirect: the URL to send the browser to, and the request id
/// the response must answer.
pub struct Request {
    pub url: String,
    pub id: String,
}

/// Builds the AuthnRequest (signed over the query string when `sign_key_pem` is given).
pub fn authn_request(
    sp: &SpUrls,
    idp: &IdpMetadata,
    name_id_format: Option<&str>,
    relay_state: &str,
    sign_key_pem: Option<&[u8]>,
    now_ms: i64,
) -> Result<Request, SamlError> {
    let fail = |e: Box<dyn std::error::Error>| err("saml.request_failed", e.to_string());
    let provider = samael::service_provider::ServiceProvider {
        entity_id: Some(sp.entity_id.clone()),
        acs_url: Some(sp.acs_url.clone()),
        authn_name_id_format: name_id_format.map(str::to_string),
        ..Default::default()
    };
    let mut req = provider
        .make_authentication_request(&idp.sso_url)
        .map_err(fail)?;
    // 128 random bits, not samael's 32; an XML ID must not start with a digit.
    req.id = format!(
        "_{}",
        crate::crypto::hex(&crate::crypto::random_bytes::<16>())
    );
    req.issue_instant = at(now_ms);
    let url = match sign_key_pem {
        Some(pem) => {
            let key = openssl::pkey::PKey::private_key_from_pem(pem)
                .map_err(|e| err("saml.request_failed", e.to_string()))?;
            req.signed_redirect(relay_state, &key).map_err(fail)?
        }
        None => req.redirect(relay_state).map_err(fail)?,
    }
    .ok_or_else(|| err("saml.request_failed", "no destination"))?;
    Ok(Request {
        url: url.to_string(),
        id: req.id,
    })
}

pub(super) fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
