//! Single logout: HTTP-Redirect out, HTTP-Redirect or HTTP-POST in.

use super::{metadata::*, precheck::*, request::*, response::*, shared::*};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use quick_xml::events::Event;
use std::collections::BTreeMap;

pub(super) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// Largest inflated Redirect-binding message (a deflate bomb stops here).
pub(super) const MAX_INFLATED_BYTES: u64 = 64 * 1024;

/// A message sent over HTTP-Redirect, signed over the query string with the SP key
/// (RSA-SHA256): SAML bindings 3.4.4.1.
pub(super) fn signed_redirect(
    destination: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key_pem: &[u8],
) -> Result<String, SamlError> {
    let enc = |v: &str| crate::engine::url::url_encode(v);
    let mut query = format!("{param}={}", enc(&deflate_b64(xml)?));
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(r)));
    }
    query.push_str(&format!("&SigAlg={}", enc(RSA_SHA256)));
    let fail = |e: openssl::error::ErrorStack| err("saml.request_failed", e.to_string());
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem).map_err(fail)?;
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).map_err(fail)?;
    signer.update(query.as_bytes()).map_err(fail)?;
    let sig = signer.sign_to_vec().map_err(fail)?;
    query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(sig))));
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{query}"))
}

pub(super) fn new_message_id() -> String {
    format!(
        "_{}",
        crate::crypto::hex(&crate::crypto::random_bytes::<16>())
    )
}

pub(super) fn instant(now_ms: i64) -> String {
    at(now_ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An SP-initiated LogoutRequest for one SAML session: (URL, request id).
pub fn logout_request(
    sp: &SpUrls,
    slo_url: &str,
    name_id: &str,
    name_id_format: Option<&str>,
    session_index: Option<&str>,
    key_pem: &[u8],
    now_ms: i64,
) -> Result<(String, String), SamlError> {
    let e = crate::engine::markup::escape;
    let id = new_message_id();
    let format = name_id_format
        .map(|f| format!(" Format=\"{}\"", e(f)))
        .unwrap_or_default();
    let index = session_index
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", e(i)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}"><saml:Issuer>{}</saml:Issuer><saml:NameID{format}>{}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        instant(now_ms),
        e(slo_url),
        e(&sp.entity_id),
        e(name_id),
    );
    Ok((
        signed_redirect(slo_url, "SAMLRequest", &xml, None, key_pem)?,
        id,
    ))
}

/// The LogoutResponse to an IdP's LogoutRequest (HTTP-Redirect, signed).
pub fn logout_response(
    sp: &SpUrls,
    slo_url: &str,
    in_response_to: &str,
    relay_state: Option<&str>,
    key_pem: &[u8],
    now_ms: i64,
) -> Result<String, SamlError> {
    let e = crate::engine::markup::escape;
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        new_message_id(),
        instant(now_ms),
        e(slo_url),
        e(in_response_to),
        e(&sp.entity_id),
    );
    signed_redirect(slo_url, "SAMLResponse", &xml, relay_state, key_pem)
}

/// A logout message from the IdP, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    Request {
        id: String,
        name_id: String,
        session_indexes: Vec<String>,
    },
    Response {
        in_response_to: Option<String>,
        success: bool,
    },
}

/// Verifies an HTTP-Redirect logout message: the signature over the query string exactly as
/// received (SAML bindings 3.4.4.1) with one of the IdP's certificates, then inflates (capped).
/// Returns the XML and the RelayState.
pub fn verify_redirect(
    raw_query: &str,
    idp: &IdpMetadata,
) -> Result<(String, Option<String>), SamlError> {
    let mut parts: BTreeMap<&str, &str> = BTreeMap::new();
    for kv in raw_query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if parts.insert(k, v).is_some() {
            return Err(err("saml.malformed", format!("`{k}` appears twice")));
        }
    }
    let decode = |v: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}"))
            .ok()
            .and_then(|mut pairs| pairs.pop().map(|(_, x)| x))
            .unwrap_or_default()
    };
    let (param, message) = match (parts.get("SAMLRequest"), parts.get("SAMLResponse")) {
        (Some(m), None) => ("SAMLRequest", *m),
        (None, Some(m)) => ("SAMLResponse", *m),
        _ => {
            return Err(err(
                "saml.malformed",
                "one SAMLRequest or SAMLResponse is needed",
            ));
        }
    };
    let sig_alg = parts
        .get("SigAlg")
        .map(|v| decode(v))
        .ok_or_else(|| err("saml.unsigned", "the logout message is not signed"))?;
    let signature = parts
        .get("Signature")
        .map(|v| decode(v))
        .ok_or_else(|| err("saml.unsigned", "the logout message is not signed"))?;
    let digest = match sig_alg.as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
            openssl::hash::MessageDigest::sha256()
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
            openssl::hash::MessageDigest::sha384()
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => {
            openssl::hash::MessageDigest::sha512()
        }
        other => {
            return Err(err(
                "saml.signature_algorithm",
                format!("signature algorithm `{other}` is not allowed"),
            ));
        }
    };
    let mut signed = format!("{param}={message}");
    if let Some(r) = parts.get("RelayState") {
        signed.push_str(&format!("&RelayState={r}"));
    }
    signed.push_str(&format!("&SigAlg={}", parts["SigAlg"]));
    let signature = STANDARD
        .decode(signature.replace(' ', "+"))
        .map_err(|_| err("saml.signature_invalid", "the signature is not base64"))?;
    let verified = idp.certs.iter().any(|c| {
        let Ok(der) = STANDARD.decode(c) else {
            return false;
        };
        let Ok(x) = openssl::x509::X509::from_der(&der) else {
            return false;
        };
        let Ok(key) = x.public_key() else {
            return false;
        };
        openssl::sign::Verifier::new(digest, &key)
            .and_then(|mut v| {
                v.update(signed.as_bytes())?;
                v.verify(&signature)
            })
            .unwrap_or(false)
    });
    if !verified {
        return Err(err(
            "saml.signature_invalid",
            "the logout message's signature does not verify with the IdP's certificates",
        ));
    }
    let compressed = STANDARD
        .decode(decode(message).replace(' ', "+"))
        .map_err(|_| err("saml.malformed", "the message is not base64"))?;
    let mut xml = String::new();
    use std::io::Read;
    flate2::read::DeflateDecoder::new(&compressed[..])
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_string(&mut xml)
        .map_err(|_| {
            err(
                "saml.malformed",
                "the message does not inflate to UTF-8 text",
            )
        })?;
    if xml.len() as u64 > MAX_INFLATED_BYTES {
        return Err(err("saml.too_large", "the message inflates past 64 KiB"));
    }
    Ok((xml, parts.get("RelayState").map(|r| decode(r))))
}

/// Verifies an HTTP-POST logout message's XML signature (IdP certificates only, allow-listed
/// algorithms) and returns only the signed content.
pub fn verify_post(xml: &str, idp: &IdpMetadata) -> Result<String, SamlError> {
    use samael::crypto::{AllowedSignatureAlgorithm as A, Crypto, CryptoProvider};
    let shape = precheck(xml, MAX_RESPONSE_BYTES)?;
    if shape.signatures == 0 {
        return Err(err("saml.unsigned", "the logout message is not signed"));
    }
    let certs: Vec<samael::crypto::CertificateDer> = idp
        .certs
        .iter()
        .filter_map(|c| STANDARD.decode(c).ok())
        .map(samael::crypto::CertificateDer::from)
        .collect();
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        samael::crypto::ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[
            A::RsaSha256,
            A::RsaSha384,
            A::RsaSha512,
            A::EcdsaSha256,
            A::EcdsaSha384,
            A::EcdsaSha512,
        ]),
    )
    .map_err(|e| err("saml.signature_invalid", e.to_string()))
}

/// Reads a verified logout message and checks who sent it, to whom, and when.
pub fn parse_logout(
    xml: &str,
    idp: &IdpMetadata,
    sp: &SpUrls,
    now_ms: i64,
    skew_secs: i64,
) -> Result<Logout, SamlError> {
    let shape = precheck(xml, MAX_RESPONSE_BYTES)?;
    if let Some(d) = &shape.destination
        && d != &sp.slo_url
    {
        return Err(err(
            "saml.destination_mismatch",
            format!("Destination is {d}, not this connection's logout URL"),
        ));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let (mut id, mut issuer, mut name_id) = (String::new(), String::new(), String::new());
    let (mut indexes, mut status, mut not_after) = (Vec::new(), None::<String>, None::<String>);
    let mut buf = String::new();
    loop {
        let event_kind = reader
            .read_event()
            .map_err(|e| err("saml.malformed", e.to_string()))?;
        match &event_kind {
            Event::Start(e) | Event::Empty(e) => {
                buf.clear();
                let name = local(e);
                if path.is_empty() {
                    id = attr(e, b"ID")?.unwrap_or_default();
                    not_after = attr(e, b"NotOnOrAfter")?;
                }
                if name == "StatusCode" && path.last().is_some_and(|p| p == "Status") {
                    status = attr(e, b"Value")?;
                }
                if matches!(event_kind, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::Text(t) => buf.push_str(
                &t.xml_content(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| err("saml.malformed", e.to_string()))?,
            ),
            Event::GeneralRef(r) => buf.push(entity(r)?),
            Event::End(_) => {
                let text = std::mem::take(&mut buf).trim().to_string();
                match (path.len(), path.last().map(String::as_str)) {
                    (2, Some("Issuer")) => issuer = text,
                    (2, Some("NameID")) => name_id = text,
                    (2, Some("SessionIndex")) => indexes.push(text),
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if issuer != idp.entity_id {
        return Err(err(
            "saml.issuer_mismatch",
            format!("the logout message comes from `{issuer}`"),
        ));
    }
    if let Some(t) = not_after {
        let t = DateTime::parse_from_rfc3339(&t)
            .map_err(|_| err("saml.malformed", "NotOnOrAfter is not a time"))?;
        if t.timestamp_millis() + skew_secs * 1000 <= now_ms {
            return Err(err("saml.expired", "the LogoutRequest has expired"));
        }
    }
    match shape.root.as_str() {
        "LogoutRequest" if !name_id.is_empty() && !id.is_empty() => Ok(Logout::Request {
            id,
            name_id,
            session_indexes: indexes,
        }),
        "LogoutRequest" => Err(err(
            "saml.malformed",
            "a LogoutRequest without ID or NameID",
        )),
        "LogoutResponse" => Ok(Logout::Response {
            in_response_to: shape.in_response_to,
            success: status.as_deref() == Some("urn:oasis:names:tc:SAML:2.0:status:Success"),
        }),
        other => Err(err(
            "saml.malformed",
            format!("expected a logout message, got {other}"),
        )),
    }
}
