//! Upstream SAML 2.0, the service-provider side, without HTTP: IdP metadata, SP metadata and
//! keys, AuthnRequests, and the response checks.
//!
//! samael (with xmlsec) verifies XML signatures against the configured IdP certificates only, and
//! keeps only the signed content. Its gaps are closed here:
//! - a structural pre-check runs before any XML library sees the input (see [`precheck`]);
//! - a response is rejected when the connection has no IdP certificate;
//! - signature and digest algorithms come from an allow-list;
//! - `Conditions` and `AudienceRestriction` are required;
//! - InResponseTo is checked for unsolicited responses too;
//! - times are checked with the injected clock, on top of samael's own checks;
//! - replay is stopped by the caller's database cache of assertion ids ([`Asserted::id`]).
//!
//! Everything here is synchronous: callers run it on the blocking pool (`spawn_blocking`),
//! because XML-DSig work must not stall the async runtime.

use std::collections::BTreeMap;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

/// Largest response accepted, decoded (a deflate bomb or a huge document is refused up front).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Largest IdP metadata document accepted.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 48;
/// How old an assertion's IssueInstant may be (plus the clock skew).
const MAX_ISSUE_AGE_SECS: i64 = 300;

const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Signature and digest algorithms accepted (SHA-1 and anything unknown are refused).
const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_ALGORITHMS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// Transforms accepted inside a signature: enveloped signature and canonicalization only
/// (no XSLT, no XPath).
const TRANSFORMS: [&str; 5] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];

/// Why a SAML message was refused: a stable reason code for logs, and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlError {
    pub reason: &'static str,
    pub detail: String,
}

fn err(reason: &'static str, detail: impl Into<String>) -> SamlError {
    SamlError {
        reason,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Structural pre-check

/// What the pre-check saw in a message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Local name of the root element (`Response`, `LogoutRequest`, ...).
    pub root: String,
    /// The root element's `Destination` and `InResponseTo` (unverified).
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub assertions: usize,
    pub encrypted_assertions: usize,
    pub signatures: usize,
}

/// Reads the whole document once with a streaming parser before any XML library that resolves
/// entities or runs transforms sees it. Refuses: a DOCTYPE (entity expansion, XXE), processing
/// instructions, nesting deeper than 48, signature or digest algorithms outside the allow-list,
/// transforms other than enveloped-signature and canonicalization, references to anything but
/// the document itself, and `RetrievalMethod` key references.
pub fn precheck(xml: &str, max_bytes: usize) -> Result<Shape, SamlError> {
    if xml.len() > max_bytes {
        return Err(err(
            "saml.too_large",
            format!("{} bytes, more than {max_bytes}", xml.len()),
        ));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut shape = Shape::default();
    let mut depth = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| err("saml.malformed", format!("not well-formed XML: {e}")))?;
        match event {
            Event::DocType(_) => return Err(err("saml.doctype", "a DOCTYPE is not allowed")),
            Event::PI(_) => {
                return Err(err(
                    "saml.processing_instruction",
                    "processing instructions are not allowed",
                ));
            }
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(err("saml.too_deep", "elements nest too deeply"));
                }
                element(&e, depth, &mut shape)?;
            }
            Event::Empty(e) => element(&e, depth + 1, &mut shape)?,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if shape.root.is_empty() {
        return Err(err("saml.malformed", "no root element"));
    }
    Ok(shape)
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, SamlError> {
    for a in e.attributes() {
        let a = a.map_err(|e| err("saml.malformed", format!("bad attribute: {e}")))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| err("saml.malformed", format!("bad attribute value: {e}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn element(e: &BytesStart<'_>, depth: usize, shape: &mut Shape) -> Result<(), SamlError> {
    let local = e.local_name();
    let name = std::str::from_utf8(local.as_ref()).unwrap_or("");
    if depth == 1 {
        shape.root = name.to_string();
        shape.destination = attr(e, b"Destination")?;
        shape.in_response_to = attr(e, b"InResponseTo")?;
    }
    let allowed = |list: &[&str], what: &'static str, reason: &'static str| {
        let alg = attr(e, b"Algorithm")?.unwrap_or_default();
        if list.contains(&alg.as_str()) {
            Ok(())
        } else {
            Err(err(reason, format!("{what} `{alg}` is not allowed")))
        }
    };
    match name {
        "Assertion" => shape.assertions += 1,
        "EncryptedAssertion" => shape.encrypted_assertions += 1,
        "Signature" => shape.signatures += 1,
        "SignatureMethod" => allowed(
            &SIGNATURE_ALGORITHMS,
            "signature algorithm",
            "saml.signature_algorithm",
        )?,
        "DigestMethod" => allowed(
            &DIGEST_ALGORITHMS,
            "digest algorithm",
            "saml.digest_algorithm",
        )?,
        "Transform" => allowed(&TRANSFORMS, "transform", "saml.transform")?,
        "Reference" => {
            let uri = attr(e, b"URI")?.unwrap_or_default();
            if !(uri.is_empty() || uri.starts_with('#')) {
                return Err(err(
                    "saml.external_reference",
                    format!("a signature references `{uri}` outside the document"),
                ));
            }
        }
        "RetrievalMethod" => {
            return Err(err(
                "saml.retrieval_method",
                "KeyInfo RetrievalMethod is not allowed",
            ));
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// IdP metadata

/// What idbridge keeps of an IdP's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// SingleSignOnService with the HTTP-Redirect binding.
    pub sso_url: String,
    /// SingleLogoutService (HTTP-Redirect preferred, else HTTP-POST), when offered.
    pub slo_url: Option<String>,
    /// Signing certificates (base64 DER), several during a rollover.
    pub certs: Vec<String>,
    pub want_authn_requests_signed: bool,
}

/// A signing certificate's facts, for the API and the expiry warning.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub not_after: String,
    pub not_after_ms: i64,
    pub sha256: String,
}

/// Parses an IdP's metadata (`EntityDescriptor` with an `IDPSSODescriptor`). Refuses metadata
/// without a signing certificate or without an HTTP-Redirect sign-on service.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    let shape = precheck(xml, MAX_METADATA_BYTES)?;
    if shape.root != "EntityDescriptor" {
        return Err(err(
            "saml.metadata_root",
            format!(
                "expected an EntityDescriptor, got {} (an aggregate of several IdPs is not supported; upload one IdP's metadata)",
                shape.root
            ),
        ));
    }
    let ed: samael::metadata::EntityDescriptor = xml
        .parse()
        .map_err(|e| err("saml.metadata_invalid", format!("{e}")))?;
    let entity_id = ed
        .entity_id
        .clone()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| err("saml.metadata_invalid", "the metadata has no entityID"))?;
    let idp = ed
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| err("saml.metadata_invalid", "no IDPSSODescriptor"))?;
    let sso_url = idp
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == HTTP_REDIRECT)
        .map(|s| s.location.clone())
        .ok_or_else(|| {
            err(
                "saml.metadata_invalid",
                "the IdP offers no SingleSignOnService with the HTTP-Redirect binding",
            )
        })?;
    let slo_url = idp
        .single_logout_services
        .iter()
        .find(|s| s.binding == HTTP_REDIRECT)
        .or_else(|| {
            idp.single_logout_services
                .iter()
                .find(|s| s.binding == HTTP_POST)
        })
        .map(|s| s.location.clone());
    let mut certs = Vec::new();
    for kd in &idp.key_descriptors {
        if kd
            .key_use
            .as_deref()
            .is_some_and(|u| u != "signing" && !u.is_empty())
        {
            continue;
        }
        for c in kd
            .key_info
            .x509_data
            .iter()
            .flat_map(|x| x.certificates.iter())
        {
            let b64: String = c.chars().filter(|c| !c.is_whitespace()).collect();
            cert_info(&b64)?;
            if !certs.contains(&b64) {
                certs.push(b64);
            }
        }
    }
    if certs.is_empty() {
        return Err(err(
            "saml.no_signing_certificate",
            "the metadata has no signing certificate; idbridge never accepts unsigned responses",
        ));
    }
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        slo_url,
        certs,
        want_authn_requests_signed: idp.want_authn_requests_signed.unwrap_or(false),
    })
}

/// Subject, expiry and fingerprint of a base64 DER certificate.
pub fn cert_info(b64: &str) -> Result<CertInfo, SamlError> {
    let der = STANDARD
        .decode(b64)
        .map_err(|e| err("saml.certificate_invalid", format!("not base64: {e}")))?;
    let x = openssl::x509::X509::from_der(&der).map_err(|e| {
        err(
            "saml.certificate_invalid",
            format!("not a certificate: {e}"),
        )
    })?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0)
        .map_err(|e| err("saml.certificate_invalid", e.to_string()))?;
    let diff = epoch
        .diff(x.not_after())
        .map_err(|e| err("saml.certificate_invalid", e.to_string()))?;
    let not_after_ms = (i64::from(diff.days) * 86_400 + i64::from(diff.secs)) * 1000;
    let subject = x
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    Ok(CertInfo {
        subject,
        not_after: x.not_after().to_string(),
        not_after_ms,
        sha256: crate::crypto::hex(digest.as_ref()),
    })
}

/// Accepts a PEM certificate or bare base64 DER; returns base64 DER.
pub fn normalize_cert(text: &str) -> Result<String, SamlError> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    cert_info(&body)?;
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// SP keys and metadata

/// A fresh SP key pair and self-signed certificate (RSA-2048, SHA-256, 10 years), for signed
/// AuthnRequests and encrypted assertions. Returns (private key PEM, certificate base64 DER).
pub fn generate_sp_key(common_name: &str) -> Result<(Vec<u8>, String), SamlError> {
    let fail = |e: openssl::error::ErrorStack| err("saml.key_generation", e.to_string());
    let rsa = openssl::rsa::Rsa::generate(2048).map_err(fail)?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(fail)?;
    let mut name = openssl::x509::X509NameBuilder::new().map_err(fail)?;
    name.append_entry_by_text("CN", common_name).map_err(fail)?;
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().map_err(fail)?;
    b.set_version(2).map_err(fail)?;
    let serial = {
        let mut bn = openssl::bn::BigNum::new().map_err(fail)?;
        bn.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)
            .map_err(fail)?;
        bn.to_asn1_integer().map_err(fail)?
    };
    b.set_serial_number(&serial).map_err(fail)?;
    b.set_subject_name(&name).map_err(fail)?;
    b.set_issuer_name(&name).map_err(fail)?;
    b.set_pubkey(&key).map_err(fail)?;
    let start = openssl::asn1::Asn1Time::days_from_now(0).map_err(fail)?;
    let end = openssl::asn1::Asn1Time::days_from_now(3650).map_err(fail)?;
    b.set_not_before(&start).map_err(fail)?;
    b.set_not_after(&end).map_err(fail)?;
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .map_err(fail)?;
    let cert = b.build().to_der().map_err(fail)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(fail)?;
    Ok((pem, STANDARD.encode(cert)))
}

/// Where the SP lives, per connection.
#[derive(Debug, Clone)]
pub struct SpUrls {
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: String,
}

/// The SP's metadata document for the IdP administrator.
pub fn sp_metadata(
    sp: &SpUrls,
    cert_b64: &str,
    sign_requests: bool,
    name_id_format: &str,
) -> String {
    let e = crate::tokens::oidc::escape;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="{redirect}" Location="{slo}"/>
    <md:NameIDFormat>{format}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = e(&sp.entity_id),
        signed = sign_requests,
        cert = cert_b64,
        redirect = HTTP_REDIRECT,
        post = HTTP_POST,
        slo = e(&sp.slo_url),
        acs = e(&sp.acs_url),
        format = e(name_id_format),
    )
}

// ---------------------------------------------------------------------------------------------
// AuthnRequest

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

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Response

/// What a response must match.
pub struct Expect<'a> {
    pub sp: &'a SpUrls,
    pub idp: &'a IdpMetadata,
    /// The pending AuthnRequest's id; `None` for an unsolicited (IdP-initiated) response, which
    /// the caller accepts only when the connection allows it.
    pub request_id: Option<&'a str>,
    pub now_ms: i64,
    pub skew_secs: i64,
    /// The SP key (PEM), to decrypt an `EncryptedAssertion`.
    pub sp_key_pem: Option<&'a [u8]>,
}

/// A verified assertion, reduced to what sign-in needs.
#[derive(Debug, Clone)]
pub struct Asserted {
    /// The assertion's ID, for the replay cache.
    pub id: String,
    /// Until when the replay cache must remember the ID.
    pub remember_until_ms: i64,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// Attribute name -> values (Name, and FriendlyName when present).
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Decodes the `SAMLResponse` form field (base64, no deflate on the POST binding).
pub fn decode_post(b64: &str) -> Result<String, SamlError> {
    if b64.len() > MAX_RESPONSE_BYTES * 4 / 3 + 4 {
        return Err(err("saml.too_large", "SAMLResponse is too large"));
    }
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|e| err("saml.malformed", format!("SAMLResponse is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("saml.malformed", "SAMLResponse is not UTF-8"))
}

/// Verifies a `Response` and returns its one assertion's identity.
pub fn validate(xml: &str, e: &Expect<'_>) -> Result<Asserted, SamlError> {
    let shape = precheck(xml, MAX_RESPONSE_BYTES)?;
    if shape.root != "Response" {
        return Err(err(
            "saml.not_a_response",
            format!("expected a Response, got {}", shape.root),
        ));
    }
    if shape.assertions + shape.encrypted_assertions != 1 {
        return Err(err(
            "saml.assertion_count",
            format!(
                "{} assertions; exactly one is accepted",
                shape.assertions + shape.encrypted_assertions
            ),
        ));
    }
    if shape.signatures == 0 {
        return Err(err("saml.unsigned", "the response carries no signature"));
    }
    if let Some(d) = &shape.destination
        && d != &e.sp.acs_url
    {
        return Err(err(
            "saml.destination_mismatch",
            format!("Destination is {d}, not this connection's ACS URL"),
        ));
    }
    match (&shape.in_response_to, e.request_id) {
        (Some(got), Some(want)) if got != want => {
            return Err(err(
                "saml.in_response_to_mismatch",
                "InResponseTo does not name the pending request",
            ));
        }
        (Some(_), None) => {
            return Err(err(
                "saml.in_response_to_unknown",
                "the response answers a request this browser did not make",
            ));
        }
        _ => {}
    }
    if e.idp.certs.is_empty() {
        return Err(err(
            "saml.no_signing_certificate",
            "the connection has no IdP signing certificate",
        ));
    }
    let assertion = samael_validate(xml, e)?;
    check_assertion(&assertion, e)
}

/// samael: signature against the configured certificates only, reduced to the signed content,
/// then its own checks (issuer, status, recipient, times by the wall clock).
fn samael_validate(xml: &str, e: &Expect<'_>) -> Result<samael::schema::Assertion, SamlError> {
    use samael::crypto::AllowedSignatureAlgorithm as A;
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{}<md:SingleSignOnService Binding="{HTTP_REDIRECT}" Location="{}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        crate::tokens::oidc::escape(&e.idp.entity_id),
        e.idp
            .certs
            .iter()
            .map(|c| format!(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#))
            .collect::<String>(),
        crate::tokens::oidc::escape(&e.idp.sso_url),
    );
    let idp_metadata = metadata
        .parse()
        .map_err(|x| err("saml.metadata_invalid", format!("{x}")))?;
    let key = match e.sp_key_pem {
        Some(pem) => Some(
            openssl::pkey::PKey::private_key_from_pem(pem)
                .map_err(|x| err("saml.sp_key", x.to_string()))?,
        ),
        None => None,
    };
    let sp = samael::service_provider::ServiceProvider {
        entity_id: Some(e.sp.entity_id.clone()),
        acs_url: Some(e.sp.acs_url.clone()),
        key,
        idp_metadata,
        allow_idp_initiated: e.request_id.is_none(),
        max_clock_skew: chrono::Duration::seconds(e.skew_secs),
        max_issue_delay: chrono::Duration::seconds(MAX_ISSUE_AGE_SECS + e.skew_secs),
        allowed_signature_algorithms: Some(vec![
            A::RsaSha256,
            A::RsaSha384,
            A::RsaSha512,
            A::EcdsaSha256,
            A::EcdsaSha384,
            A::EcdsaSha512,
        ]),
        ..Default::default()
    };
    let ids = e.request_id.map(|r| [r]);
    sp.parse_xml_response_with_mode(
        xml,
        ids.as_ref().map(|a| &a[..]),
        samael::crypto::ReduceMode::ValidateAndMarkNoAncestors,
    )
    .map_err(|x| {
        let reason = match &x {
            samael::service_provider::Error::FailedToValidateSignature => "saml.signature_invalid",
            samael::service_provider::Error::AssertionIssuerMismatch { .. }
            | samael::service_provider::Error::ResponseIssuerMismatch { .. } => {
                "saml.issuer_mismatch"
            }
            samael::service_provider::Error::ResponseBadStatusCode { .. } => "saml.status",
            samael::service_provider::Error::AssertionRecipientMismatch { .. }
            | samael::service_provider::Error::DestinationValidationError { .. } => {
                "saml.recipient_mismatch"
            }
            samael::service_provider::Error::AssertionInResponseToInvalid { .. }
            | samael::service_provider::Error::ResponseInResponseToInvalid { .. } => {
                "saml.in_response_to_mismatch"
            }
            samael::service_provider::Error::AssertionExpired { .. }
            | samael::service_provider::Error::ResponseExpired { .. }
            | samael::service_provider::Error::AssertionConditionExpired { .. }
            | samael::service_provider::Error::AssertionConditionExpiredBefore { .. }
            | samael::service_provider::Error::AssertionSubjectConfirmationExpired { .. }
            | samael::service_provider::Error::AssertionSubjectConfirmationExpiredBefore {
                ..
            } => "saml.expired",
            samael::service_provider::Error::AssertionConditionAudienceRestrictionFailed {
                ..
            } => "saml.audience_mismatch",
            _ => "saml.invalid",
        };
        err(reason, x.to_string())
    })
}

/// Our own checks of the verified assertion, with the injected clock: what samael lets pass.
fn check_assertion(a: &samael::schema::Assertion, e: &Expect<'_>) -> Result<Asserted, SamlError> {
    let skew = e.skew_secs * 1000;
    let now = e.now_ms;
    let ms = |t: &DateTime<Utc>| t.timestamp_millis();
    if a.issuer.value.as_deref() != Some(e.idp.entity_id.as_str()) {
        return Err(err("saml.issuer_mismatch", "assertion issuer"));
    }
    let issued = ms(&a.issue_instant);
    if issued > now + skew {
        return Err(err(
            "saml.issued_in_future",
            "IssueInstant is in the future",
        ));
    }
    if issued < now - skew - MAX_ISSUE_AGE_SECS * 1000 {
        return Err(err("saml.expired", "IssueInstant is too old"));
    }
    let c = a
        .conditions
        .as_ref()
        .ok_or_else(|| err("saml.no_conditions", "the assertion has no Conditions"))?;
    let restrictions = c.audience_restrictions.as_deref().unwrap_or_default();
    if restrictions.is_empty() {
        return Err(err(
            "saml.no_audience",
            "the assertion has no AudienceRestriction",
        ));
    }
    // Every restriction must admit us (SAML core 2.5.1.4).
    if !restrictions
        .iter()
        .all(|r| r.audience.iter().any(|x| x == &e.sp.entity_id))
    {
        return Err(err(
            "saml.audience_mismatch",
            "the audience is not this connection's SP entity id",
        ));
    }
    if let Some(nb) = &c.not_before
        && ms(nb) > now + skew
    {
        return Err(err(
            "saml.not_yet_valid",
            "Conditions NotBefore is in the future",
        ));
    }
    let mut remember = now + skew + MAX_ISSUE_AGE_SECS * 1000;
    if let Some(na) = &c.not_on_or_after {
        if ms(na) + skew <= now {
            return Err(err("saml.expired", "Conditions NotOnOrAfter has passed"));
        }
        remember = remember.max(ms(na) + skew);
    }
    let subject = a
        .subject
        .as_ref()
        .ok_or_else(|| err("saml.no_subject", "the assertion has no Subject"))?;
    let bearer = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|s| s.method.as_deref() == Some("urn:oasis:names:tc:SAML:2.0:cm:bearer"))
        .filter_map(|s| s.subject_confirmation_data.as_ref())
        .find(|d| d.recipient.as_deref() == Some(e.sp.acs_url.as_str()))
        .ok_or_else(|| {
            err(
                "saml.recipient_mismatch",
                "no bearer SubjectConfirmation for this ACS URL",
            )
        })?;
    let until = bearer.not_on_or_after.as_ref().ok_or_else(|| {
        err(
            "saml.no_subject_expiry",
            "SubjectConfirmationData has no NotOnOrAfter",
        )
    })?;
    if ms(until) + skew <= now {
        return Err(err(
            "saml.expired",
            "SubjectConfirmationData NotOnOrAfter has passed",
        ));
    }
    remember = remember.max(ms(until) + skew);
    match (bearer.in_response_to.as_deref(), e.request_id) {
        (Some(got), Some(want)) if got == want => {}
        (None, None) => {}
        (None, Some(_)) => {
            return Err(err(
                "saml.in_response_to_mismatch",
                "the assertion answers no request",
            ));
        }
        _ => {
            return Err(err(
                "saml.in_response_to_mismatch",
                "InResponseTo does not name the pending request",
            ));
        }
    }
    let name_id = subject
        .name_id
        .as_ref()
        .ok_or_else(|| err("saml.no_name_id", "the assertion has no NameID"))?;
    let value = name_id.value.trim().to_string();
    if value.is_empty() || value.len() > 255 {
        return Err(err("saml.no_name_id", "NameID is empty or too long"));
    }
    if a.id.is_empty() || a.id.len() > 256 {
        return Err(err("saml.invalid", "the assertion has no usable ID"));
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for st in a.attribute_statements.iter().flatten() {
        for at in &st.attributes {
            let values: Vec<String> = at
                .values
                .iter()
                .filter_map(|v| v.value.as_deref())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            for key in [at.name.as_ref(), at.friendly_name.as_ref()]
                .into_iter()
                .flatten()
            {
                attributes
                    .entry(key.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
    }
    let session_index = a
        .authn_statements
        .iter()
        .flatten()
        .find_map(|s| s.session_index.clone());
    Ok(Asserted {
        id: a.id.clone(),
        remember_until_ms: remember,
        name_id: value,
        name_id_format: name_id.format.clone(),
        session_index,
        attributes,
    })
}

/// Deflates and base64-encodes (HTTP-Redirect binding), for LogoutRequests.
pub fn deflate_b64(xml: &str) -> Result<String, SamlError> {
    let mut out = Vec::new();
    {
        let mut enc = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::default());
        enc.write_all(xml.as_bytes())
            .map_err(|e| err("saml.request_failed", e.to_string()))?;
    }
    Ok(STANDARD.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(xml: &str) -> Result<Shape, SamlError> {
        precheck(xml, MAX_RESPONSE_BYTES)
    }

    #[test]
    fn doctype_and_processing_instructions_are_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Response>&b;</Response>"#;
        assert_eq!(shape(bomb).unwrap_err().reason, "saml.doctype");
        let pi = r#"<?xml version="1.0"?><?xml-stylesheet href="x"?><Response/>"#;
        assert_eq!(shape(pi).unwrap_err().reason, "saml.processing_instruction");
    }

    #[test]
    fn counts_assertions_by_local_name_whatever_the_prefix() {
        let xml = r#"<p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion" Destination="https://sp/acs" InResponseTo="_1"><a:Assertion ID="x"/><Assertion ID="y"/><a:EncryptedAssertion/></p:Response>"#;
        let s = shape(xml).unwrap();
        assert_eq!(s.root, "Response");
        assert_eq!(s.assertions, 2);
        assert_eq!(s.encrypted_assertions, 1);
        assert_eq!(s.destination.as_deref(), Some("https://sp/acs"));
        assert_eq!(s.in_response_to.as_deref(), Some("_1"));
    }

    #[test]
    fn weak_or_unknown_algorithms_and_dangerous_transforms_are_refused() {
        let sig = |inner: &str| {
            format!(
                r##"<Response><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>{inner}</ds:SignedInfo></ds:Signature></Response>"##
            )
        };
        let sha1 = sig(
            r##"<ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>"##,
        );
        assert_eq!(shape(&sha1).unwrap_err().reason, "saml.signature_algorithm");
        let md5 = sig(
            r##"<ds:Reference URI="#x"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></ds:Reference>"##,
        );
        assert_eq!(shape(&md5).unwrap_err().reason, "saml.digest_algorithm");
        let xslt = sig(
            r##"<ds:Reference URI="#x"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/></ds:Transforms></ds:Reference>"##,
        );
        assert_eq!(shape(&xslt).unwrap_err().reason, "saml.transform");
        let external = sig(r##"<ds:Reference URI="http://127.0.0.1/evil"/>"##);
        assert_eq!(
            shape(&external).unwrap_err().reason,
            "saml.external_reference"
        );
        let ok = sig(
            r##"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#x"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference>"##,
        );
        assert_eq!(shape(&ok).unwrap().signatures, 1);
    }

    #[test]
    fn size_depth_and_garbage_are_refused() {
        let big = format!("<Response>{}</Response>", "a".repeat(MAX_RESPONSE_BYTES));
        assert_eq!(shape(&big).unwrap_err().reason, "saml.too_large");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(shape(&deep).unwrap_err().reason, "saml.too_deep");
        assert_eq!(
            shape("not xml at all").unwrap_err().reason,
            "saml.malformed"
        );
        assert_eq!(shape("<a><b></a>").unwrap_err().reason, "saml.malformed");
    }

    #[test]
    fn metadata_needs_a_signing_certificate_and_a_redirect_endpoint() {
        let (_, cert) = generate_sp_key("test idp").unwrap();
        let md = |keys: &str, binding: &str| {
            format!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<md:SingleSignOnService Binding="{binding}" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
            )
        };
        let key = format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        );
        let m = parse_idp_metadata(&md(&key, HTTP_REDIRECT)).unwrap();
        assert_eq!(m.entity_id, "https://idp.example/metadata");
        assert_eq!(m.sso_url, "https://idp.example/sso");
        assert_eq!(m.certs, vec![cert.clone()]);
        assert_eq!(
            parse_idp_metadata(&md("", HTTP_REDIRECT))
                .unwrap_err()
                .reason,
            "saml.no_signing_certificate"
        );
        assert_eq!(
            parse_idp_metadata(&md(&key, HTTP_POST)).unwrap_err().reason,
            "saml.metadata_invalid"
        );
        let broken = key.replace(&cert[10..30], "AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            parse_idp_metadata(&md(&broken, HTTP_REDIRECT))
                .unwrap_err()
                .reason,
            "saml.certificate_invalid"
        );
    }

    #[test]
    fn authn_requests_have_long_random_ids_and_go_to_the_idp() {
        let sp = SpUrls {
            entity_id: "https://sp.example/sso/saml/c1/metadata".into(),
            acs_url: "https://sp.example/sso/saml/c1/acs".into(),
            slo_url: "https://sp.example/sso/saml/c1/slo".into(),
        };
        let idp = IdpMetadata {
            entity_id: "https://idp.example".into(),
            sso_url: "https://idp.example/sso".into(),
            ..Default::default()
        };
        let a = authn_request(&sp, &idp, None, "relay", None, 1_700_000_000_000).unwrap();
        let b = authn_request(&sp, &idp, None, "relay", None, 1_700_000_000_000).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 33);
        assert!(a.url.starts_with("https://idp.example/sso?SAMLRequest="));
        assert!(a.url.contains("RelayState=relay"));
        let (pem, _) = generate_sp_key("sp").unwrap();
        let signed = authn_request(&sp, &idp, None, "relay", Some(&pem), 0).unwrap();
        assert!(signed.url.contains("&Signature="), "{}", signed.url);
        assert!(signed.url.contains("SigAlg="));
    }
}
