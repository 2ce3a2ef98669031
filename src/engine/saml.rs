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
/// How old an unsolicited (IdP-initiated) assertion may be (plus the clock skew).
const MAX_UNSOLICITED_AGE_SECS: i64 = 120;

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
    /// A signature is a direct child of the assertion (the assertion itself is signed).
    pub assertion_signed: bool,
}

const NS_PROTOCOL: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const NS_METADATA: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";

/// What the pre-check reads: a protocol message (assertions belong at this depth: 2 in a
/// response, 1 for a decrypted assertion on its own), or IdP metadata, which is configuration
/// rather than a signed statement: comments are allowed, and `md:Extensions` holds elements of
/// other specifications in their own namespaces (the algorithm-support profile's
/// `alg:DigestMethod` and `alg:SigningMethod`, `mdui`, `mdattr`, `shibmd`), which the message
/// rules for SAML and XML-DSig names do not apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Message { assertion_depth: usize },
    Metadata,
}

/// Local names that must be in the SAML protocol or assertion namespace wherever they appear.
const SAML_NAMES: [&str; 20] = [
    "Response",
    "Assertion",
    "EncryptedAssertion",
    "Issuer",
    "Status",
    "StatusCode",
    "Subject",
    "NameID",
    "EncryptedID",
    "SubjectConfirmation",
    "SubjectConfirmationData",
    "Conditions",
    "AudienceRestriction",
    "Audience",
    "AuthnStatement",
    "AttributeStatement",
    "Attribute",
    "AttributeValue",
    "LogoutRequest",
    "LogoutResponse",
];
/// Local names that must be in the XML-DSig namespace.
const DSIG_NAMES: [&str; 12] = [
    "Signature",
    "SignedInfo",
    "SignatureValue",
    "CanonicalizationMethod",
    "SignatureMethod",
    "Reference",
    "Transforms",
    "Transform",
    "DigestMethod",
    "DigestValue",
    "X509Data",
    "X509Certificate",
];

/// Reads the whole document once with a strict, namespace-aware streaming parser before any XML
/// library that recovers from errors, resolves entities or runs transforms sees it. Refuses
/// (security-tests.md 2.1):
/// - anything not well-formed: unclosed or mismatched tags, duplicate attributes, a second root,
///   text after the root (libxml2 would recover from these inside samael);
/// - a DOCTYPE (entity expansion, XXE), processing instructions, comments and CDATA (the
///   comment-injection family: `user@victim.com<!---->.evil.com`);
/// - nesting deeper than 48;
/// - signature wrapping shapes: an assertion that is not a direct child of the root, a
///   `Response` below the root, a `ds:Signature` holding anything but `SignedInfo`,
///   `SignatureValue` and `KeyInfo` (`ds:Object`), a `Subject` with two `NameID`s, duplicate or
///   non-NCName `ID`s;
/// - SAML or XML-DSig element names in a foreign namespace (namespace confusion);
/// - signature or digest algorithms outside the allow-list, transforms other than
///   enveloped-signature and canonicalization, references other than `""` or `#id`, and
///   `RetrievalMethod` key references.
pub fn precheck(xml: &str, max_bytes: usize) -> Result<Shape, SamlError> {
    scan(xml, max_bytes, Reading::Message { assertion_depth: 2 })
}

fn scan(xml: &str, max_bytes: usize, reading: Reading) -> Result<Shape, SamlError> {
    if xml.len() > max_bytes {
        return Err(err(
            "saml.too_large",
            format!("{} bytes, more than {max_bytes}", xml.len()),
        ));
    }
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut shape = Shape::default();
    let mut path: Vec<String> = Vec::new();
    let mut ids: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut name_ids_in_subject = 0usize;
    let mut root_closed = false;
    // The depth of the children of the `md:Extensions` being read, in metadata.
    let mut extensions: Option<usize> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| err("saml.malformed", format!("not well-formed XML: {e}")))?;
        let ns = match ns {
            quick_xml::name::ResolveResult::Bound(n) => Some(n.as_ref().to_vec()),
            quick_xml::name::ResolveResult::Unbound => None,
            quick_xml::name::ResolveResult::Unknown(p) => {
                return Err(err(
                    "saml.malformed",
                    format!(
                        "undeclared namespace prefix `{}`",
                        String::from_utf8_lossy(&p)
                    ),
                ));
            }
        };
        match event {
            Event::DocType(_) => return Err(err("saml.doctype", "a DOCTYPE is not allowed")),
            Event::PI(_) => {
                return Err(err(
                    "saml.processing_instruction",
                    "processing instructions are not allowed",
                ));
            }
            Event::Comment(_)
                if matches!(reading, Reading::Message { .. })
                    && (!path.is_empty() || root_closed) =>
            {
                return Err(err(
                    "saml.comment",
                    "comments are not allowed in SAML messages",
                ));
            }
            Event::CData(_) => {
                return Err(err(
                    "saml.cdata",
                    "CDATA sections are not allowed in SAML messages",
                ));
            }
            Event::GeneralRef(r) => {
                entity(&r)?;
            }
            Event::Text(t) if path.is_empty() && !t.iter().all(|b| b.is_ascii_whitespace()) => {
                return Err(err("saml.malformed", "text outside the root element"));
            }
            Event::Start(e) | Event::Empty(e) if root_closed => {
                let _ = e;
                return Err(err("saml.malformed", "more than one root element"));
            }
            Event::Start(e) => {
                let in_extensions = extensions.is_some_and(|d| path.len() >= d);
                element(
                    &e,
                    ns.as_deref(),
                    &path,
                    &mut shape,
                    &mut ids,
                    reading,
                    in_extensions,
                )?;
                let name = local(&e);
                if reading == Reading::Metadata
                    && !in_extensions
                    && name == "Extensions"
                    && ns.as_deref() == Some(NS_METADATA)
                {
                    extensions = Some(path.len() + 1);
                }
                if name == "Subject" {
                    name_ids_in_subject = 0;
                }
                if name == "NameID" && path.last().is_some_and(|p| p == "Subject") {
                    name_ids_in_subject += 1;
                }
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(err("saml.too_deep", "elements nest too deeply"));
                }
            }
            Event::Empty(e) => {
                let in_extensions = extensions.is_some_and(|d| path.len() >= d);
                element(
                    &e,
                    ns.as_deref(),
                    &path,
                    &mut shape,
                    &mut ids,
                    reading,
                    in_extensions,
                )?;
                if local(&e) == "NameID" && path.last().is_some_and(|p| p == "Subject") {
                    name_ids_in_subject += 1;
                }
                if path.is_empty() {
                    root_closed = true;
                }
            }
            Event::End(_) => {
                path.pop();
                if extensions.is_some_and(|d| path.len() < d) {
                    extensions = None;
                }
                if path.is_empty() {
                    root_closed = true;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if name_ids_in_subject > 1 {
            return Err(err("saml.wrapping", "a Subject with more than one NameID"));
        }
    }
    if !path.is_empty() {
        return Err(err("saml.malformed", "the document ends inside an element"));
    }
    if shape.root.is_empty() {
        return Err(err("saml.malformed", "no root element"));
    }
    Ok(shape)
}

/// A character or predefined entity reference; anything else needs a DTD, which is refused.
fn entity(r: &quick_xml::events::BytesRef<'_>) -> Result<char, SamlError> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Ok(c);
    }
    match r.decode().as_deref() {
        Ok("amp") => Ok('&'),
        Ok("lt") => Ok('<'),
        Ok("gt") => Ok('>'),
        Ok("quot") => Ok('"'),
        Ok("apos") => Ok('\''),
        _ => Err(err(
            "saml.malformed",
            "an entity reference other than the predefined ones",
        )),
    }
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
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

/// An XML NCName (the form of `ID` values), ASCII subset: what IdPs emit.
fn ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 256
}

fn element(
    e: &BytesStart<'_>,
    ns: Option<&[u8]>,
    path: &[String],
    shape: &mut Shape,
    ids: &mut std::collections::HashSet<String>,
    reading: Reading,
    in_extensions: bool,
) -> Result<(), SamlError> {
    let name = local(e);
    let depth = path.len() + 1;
    // Every attribute is read: duplicates and bad escapes are errors here, not recovered later.
    for a in e.attributes() {
        let a = a.map_err(|x| err("saml.malformed", format!("bad attribute: {x}")))?;
        if a.key.as_ref() == b"ID" {
            let v = String::from_utf8_lossy(&a.value).into_owned();
            if !ncname(&v) {
                return Err(err("saml.bad_id", format!("`{v}` is not a valid XML ID")));
            }
            if !ids.insert(v.clone()) {
                return Err(err(
                    "saml.duplicate_id",
                    format!("the ID `{v}` appears twice"),
                ));
            }
        }
    }
    if in_extensions {
        // Metadata extensions: each is an element of another specification in its own
        // namespace (SAML metadata schema: `##other`); what it holds is that one's business.
        let foreign = ns.is_some_and(|n| n != NS_METADATA);
        if path.last().is_some_and(|p| p == "Extensions") && !foreign {
            return Err(err(
                "saml.metadata_invalid",
                format!("the extension `{name}` is not in a namespace of its own"),
            ));
        }
        return Ok(());
    }
    let assertion_depth = match reading {
        Reading::Message { assertion_depth } => assertion_depth,
        Reading::Metadata => 0,
    };
    if SAML_NAMES.contains(&name.as_str()) && !matches!(ns, Some(NS_PROTOCOL) | Some(NS_ASSERTION))
    {
        return Err(err(
            "saml.namespace",
            format!("`{name}` is not in a SAML namespace"),
        ));
    }
    if DSIG_NAMES.contains(&name.as_str()) && ns != Some(NS_DSIG) {
        return Err(err(
            "saml.namespace",
            format!("`{name}` is not in the XML-DSig namespace"),
        ));
    }
    if depth == 1 {
        shape.root = name.clone();
        shape.destination = attr(e, b"Destination")?;
        shape.in_response_to = attr(e, b"InResponseTo")?;
    }
    if path.last().is_some_and(|p| p == "Signature")
        && !matches!(name.as_str(), "SignedInfo" | "SignatureValue" | "KeyInfo")
    {
        return Err(err(
            "saml.wrapping",
            format!("a signature holds a `{name}` element"),
        ));
    }
    let allowed = |list: &[&str], what: &'static str, reason: &'static str| {
        let alg = attr(e, b"Algorithm")?.unwrap_or_default();
        if list.contains(&alg.as_str()) {
            Ok(())
        } else {
            Err(err(reason, format!("{what} `{alg}` is not allowed")))
        }
    };
    match name.as_str() {
        "Assertion" | "EncryptedAssertion" => {
            if depth != assertion_depth {
                return Err(err(
                    "saml.wrapping",
                    "an assertion that is not a direct child of the response",
                ));
            }
            if name == "Assertion" {
                shape.assertions += 1;
            } else {
                shape.encrypted_assertions += 1;
            }
        }
        "Response" if depth > 1 => {
            return Err(err("saml.wrapping", "a Response inside another element"));
        }
        "Signature" => {
            shape.signatures += 1;
            if path.last().is_some_and(|p| p == "Assertion") {
                shape.assertion_signed = true;
            }
        }
        "SignatureMethod" => allowed(
            &SIGNATURE_ALGORITHMS,
            "signature algorithm",
            "saml.signature_algorithm",
        )?,
        // A signature reference's digest; RSA-OAEP key transport names its own (SHA-1 is the
        // usual OAEP digest, and is not a signature there).
        "DigestMethod" if path.last().is_some_and(|p| p == "Reference") => allowed(
            &DIGEST_ALGORITHMS,
            "digest algorithm",
            "saml.digest_algorithm",
        )?,
        "Transform" => allowed(&TRANSFORMS, "transform", "saml.transform")?,
        "Reference" => {
            let uri = attr(e, b"URI")?.unwrap_or_default();
            let ok = uri.is_empty() || uri.strip_prefix('#').is_some_and(ncname);
            if !ok {
                return Err(err(
                    "saml.external_reference",
                    format!("a signature references `{uri}`; only `#id` references are allowed"),
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertInfo {
    /// The subject's entries, comma-separated.
    pub subject: String,
    /// The end of validity as OpenSSL prints it (`Jun  1 12:00:00 2030 GMT`).
    pub not_after: String,
    /// The same, in milliseconds since the Unix epoch.
    pub not_after_ms: i64,
    /// The SHA-256 fingerprint of the DER, in hex.
    pub sha256: String,
}

/// Parses an IdP's metadata (`EntityDescriptor` with an `IDPSSODescriptor`). Refuses metadata
/// without a signing certificate or without an HTTP-Redirect sign-on service.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    let shape = scan(xml, MAX_METADATA_BYTES, Reading::Metadata)?;
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
    want_assertions_signed: bool,
    name_id_format: &str,
) -> String {
    let e = crate::engine::markup::escape;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="{want}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
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
        want = want_assertions_signed,
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
    /// The assertion must carry its own signature (a response signature that covers it is not
    /// enough): the connection's `want_assertions_signed`.
    pub want_assertions_signed: bool,
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
    // An encrypted assertion must be signed itself anyway (checked once it is decrypted).
    if e.want_assertions_signed && shape.assertions == 1 && !shape.assertion_signed {
        return Err(err(
            "saml.assertion_unsigned",
            "only the response is signed and this connection wants signed assertions (want_assertions_signed)",
        ));
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
    if shape.encrypted_assertions == 1 {
        let clear = decrypt_in_place(xml, e)?;
        let assertion = samael_validate(&clear, e)?;
        return check_assertion(&assertion, e);
    }
    let assertion = samael_validate(xml, e)?;
    check_assertion(&assertion, e)
}

/// Key transport accepted for encrypted assertions (RSA-OAEP; PKCS#1 v1.5 is refused:
/// Bleichenbacher-style oracles).
const KEY_TRANSPORT: [&str; 1] = ["http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"];

/// Where an `EncryptedAssertion` sits in the response, and what it carries.
#[derive(Default)]
struct Encrypted {
    start: usize,
    end: usize,
    key_method: String,
    key_cipher: String,
    data_method: String,
    data_cipher: String,
}

fn encrypted_parts(xml: &str) -> Result<Encrypted, SamlError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = Encrypted::default();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|x| err("saml.malformed", x.to_string()))?;
        match event {
            Event::Start(ref el) | Event::Empty(ref el) => {
                let name = local(el);
                if name == "EncryptedAssertion" {
                    out.start = before;
                }
                if name == "EncryptionMethod" {
                    let alg = attr(el, b"Algorithm")?.unwrap_or_default();
                    match path.last().map(String::as_str) {
                        Some("EncryptedKey") => out.key_method = alg,
                        Some("EncryptedData") => out.data_method = alg,
                        _ => {}
                    }
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::Text(t) if path.last().is_some_and(|p| p == "CipherValue") => {
                let text: String = String::from_utf8_lossy(&t)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                if path.iter().any(|p| p == "EncryptedKey") {
                    out.key_cipher.push_str(&text);
                } else {
                    out.data_cipher.push_str(&text);
                }
            }
            Event::End(_) if path.pop().as_deref() == Some("EncryptedAssertion") => {
                out.end = reader.buffer_position() as usize;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if out.end <= out.start || out.key_cipher.is_empty() || out.data_cipher.is_empty() {
        return Err(err(
            "saml.encrypted_invalid",
            "the EncryptedAssertion has no EncryptedKey or no cipher data",
        ));
    }
    Ok(out)
}

/// Decrypts the response's one `EncryptedAssertion` with the SP key and returns the response
/// with the assertion in clear, for the same checks as an unencrypted one. The decrypted
/// assertion must itself be signed by the IdP (Entra ID, Okta and ADFS sign the assertion before
/// encrypting it); the response's own signature covered the ciphertext, so it is removed.
fn decrypt_in_place(xml: &str, e: &Expect<'_>) -> Result<String, SamlError> {
    use samael::crypto::{Crypto, CryptoProvider};
    let pem = e
        .sp_key_pem
        .ok_or_else(|| err("saml.encrypted_invalid", "no SP key to decrypt with"))?;
    let enc = encrypted_parts(xml)?;
    if !KEY_TRANSPORT.contains(&enc.key_method.as_str()) {
        return Err(err(
            "saml.key_transport",
            format!("key transport `{}` is not allowed", enc.key_method),
        ));
    }
    let key = openssl::pkey::PKey::private_key_from_pem(pem)
        .map_err(|x| err("saml.sp_key", x.to_string()))?;
    let cek = Crypto::decrypt_assertion_key_info(
        &samael::schema::CipherValue {
            value: enc.key_cipher.clone(),
        },
        &enc.key_method,
        &key,
    )
    .map_err(|x| err("saml.decryption_failed", x.to_string()))?;
    let plain = decrypt_data(&enc.data_method, &cek, &enc.data_cipher)?;
    let plain = String::from_utf8(plain).map_err(|_| {
        err(
            "saml.decryption_failed",
            "the decrypted assertion is not UTF-8",
        )
    })?;
    let plain = plain.trim();
    let inner = scan(
        plain,
        MAX_RESPONSE_BYTES,
        Reading::Message { assertion_depth: 1 },
    )?;
    if inner.root != "Assertion" {
        return Err(err(
            "saml.encrypted_invalid",
            format!(
                "the encrypted element is a {}, not an Assertion",
                inner.root
            ),
        ));
    }
    if inner.signatures == 0 {
        return Err(err(
            "saml.encrypted_unsigned_assertion",
            "the encrypted assertion is not signed itself; configure the IdP to sign the assertion",
        ));
    }
    let spliced = format!("{}{}{}", &xml[..enc.start], plain, &xml[enc.end..]);
    let clear = without_root_signature(&spliced)?;
    // The result must pass the same structural rules as anything that arrives in clear.
    let shape = precheck(&clear, MAX_RESPONSE_BYTES * 2)?;
    if shape.assertions != 1 || shape.encrypted_assertions != 0 {
        return Err(err(
            "saml.assertion_count",
            "exactly one assertion is accepted",
        ));
    }
    Ok(clear)
}

/// XML Encryption data decryption: AES-CBC (IV first, XML Encryption padding: the last byte
/// is the pad length) and AES-GCM (12-byte IV first, 16-byte tag last), 128/192/256 bits.
/// samael itself supports only the 128-bit ones; Entra ID uses aes256-cbc.
fn decrypt_data(method: &str, key: &[u8], b64: &str) -> Result<Vec<u8>, SamlError> {
    use openssl::symm::{Cipher, Crypter, Mode};
    let fail = || {
        err(
            "saml.decryption_failed",
            "the assertion cannot be decrypted",
        )
    };
    let data = STANDARD.decode(b64).map_err(|_| fail())?;
    let (cipher, gcm) = match method {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        other => {
            return Err(err(
                "saml.encryption_method",
                format!("data encryption `{other}` is not supported"),
            ));
        }
    };
    if key.len() != cipher.key_len() {
        return Err(fail());
    }
    let iv_len = if gcm { 12 } else { 16 };
    let tag_len = if gcm { 16 } else { 0 };
    if data.len() < iv_len + tag_len + 1 {
        return Err(fail());
    }
    let (iv, rest) = data.split_at(iv_len);
    let (body, tag) = rest.split_at(rest.len() - tag_len);
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| fail())?;
    c.pad(false);
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let mut n = c.update(body, &mut out).map_err(|_| fail())?;
    if gcm {
        c.set_tag(tag).map_err(|_| fail())?;
    }
    n += c.finalize(&mut out[n..]).map_err(|_| fail())?;
    out.truncate(n);
    if !gcm {
        let pad = usize::from(*out.last().ok_or_else(fail)?);
        if pad == 0 || pad > 16 || pad > out.len() {
            return Err(fail());
        }
        out.truncate(out.len() - pad);
    }
    Ok(out)
}

/// The document without the `ds:Signature` children of its root element.
fn without_root_signature(xml: &str) -> Result<String, SamlError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        match reader
            .read_event()
            .map_err(|x| err("saml.malformed", x.to_string()))?
        {
            Event::Start(el) => {
                depth += 1;
                if depth == 2 && local(&el) == "Signature" {
                    open = Some(before);
                }
            }
            Event::Empty(el) if depth == 1 && local(&el) == "Signature" => {
                cut.push((before, reader.buffer_position() as usize));
            }
            Event::End(_) => {
                if depth == 2
                    && let Some(start) = open.take()
                {
                    cut.push((start, reader.buffer_position() as usize));
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut out = String::with_capacity(xml.len());
    let mut at = 0;
    for (a, b) in cut {
        out.push_str(&xml[at..a]);
        at = b;
    }
    out.push_str(&xml[at..]);
    Ok(out)
}

/// samael: signature against the configured certificates only, reduced to the signed content,
/// then its own checks (issuer, status, recipient, times by the wall clock).
fn samael_validate(xml: &str, e: &Expect<'_>) -> Result<samael::schema::Assertion, SamlError> {
    use samael::crypto::AllowedSignatureAlgorithm as A;
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{}<md:SingleSignOnService Binding="{HTTP_REDIRECT}" Location="{}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        crate::engine::markup::escape(&e.idp.entity_id),
        e.idp
            .certs
            .iter()
            .map(|c| format!(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#))
            .collect::<String>(),
        crate::engine::markup::escape(&e.idp.sso_url),
    );
    let idp_metadata = metadata
        .parse()
        .map_err(|x| err("saml.metadata_invalid", format!("{x}")))?;
    // No SP key for samael: encrypted assertions were decrypted before (`decrypt_in_place`),
    // and parsing the RSA key on every response would cost more than the signature check.
    let sp = samael::service_provider::ServiceProvider {
        entity_id: Some(e.sp.entity_id.clone()),
        acs_url: Some(e.sp.acs_url.clone()),
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
    // An unsolicited response has no request to tie it to: it must be fresher.
    let max_age = if e.request_id.is_some() {
        MAX_ISSUE_AGE_SECS
    } else {
        MAX_UNSOLICITED_AGE_SECS
    };
    if issued < now - skew - max_age * 1000 {
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

// ---------------------------------------------------------------------------------------------
// Single logout (HTTP-Redirect out, HTTP-Redirect or HTTP-POST in)

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// Largest inflated Redirect-binding message (a deflate bomb stops here).
const MAX_INFLATED_BYTES: u64 = 64 * 1024;

/// A message sent over HTTP-Redirect, signed over the query string with the SP key
/// (RSA-SHA256): SAML bindings 3.4.4.1.
fn signed_redirect(
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

fn new_message_id() -> String {
    format!(
        "_{}",
        crate::crypto::hex(&crate::crypto::random_bytes::<16>())
    )
}

fn instant(now_ms: i64) -> String {
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

    const NS: &str = r#"xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#""#;

    #[test]
    fn counts_assertions_by_namespace_and_local_name_whatever_the_prefix() {
        let xml = format!(
            r#"<p:Response {NS} ID="r1" Destination="https://sp/acs" InResponseTo="_1"><a:Assertion ID="x"/><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="y"/><a:EncryptedAssertion/></p:Response>"#
        );
        let s = shape(&xml).unwrap();
        assert_eq!(s.root, "Response");
        assert_eq!(s.assertions, 2);
        assert_eq!(s.encrypted_assertions, 1);
        assert_eq!(s.destination.as_deref(), Some("https://sp/acs"));
        assert_eq!(s.in_response_to.as_deref(), Some("_1"));
    }

    #[test]
    fn wrapping_shapes_are_refused() {
        let cases = [
            // XSW4: the signed assertion moved inside an evil one.
            (
                r#"<a:Assertion ID="evil"><a:Assertion ID="orig"/></a:Assertion>"#,
                "saml.wrapping",
            ),
            // XSW1/XSW6/XSW8: content smuggled inside a signature (ds:Object or a copy).
            (
                r#"<ds:Signature><ds:SignedInfo/><ds:Object><a:Assertion ID="copy"/></ds:Object></ds:Signature>"#,
                "saml.wrapping",
            ),
            (
                r#"<ds:Signature><ds:SignedInfo/><p:Response ID="copy"/></ds:Signature>"#,
                "saml.wrapping",
            ),
            // XSW7: an assertion hidden in Extensions.
            (
                r#"<p:Extensions><a:Assertion ID="evil"/></p:Extensions>"#,
                "saml.wrapping",
            ),
            // Ancestor attack: a signed Response nested below the root.
            (
                r#"<a:Issuer><p:Response ID="inner"/></a:Issuer>"#,
                "saml.wrapping",
            ),
            // A second NameID in a foreign namespace: namespace confusion.
            (
                r#"<a:Assertion ID="x"><a:Subject><a:NameID>a</a:NameID><x:NameID xmlns:x="urn:evil">admin</x:NameID></a:Subject></a:Assertion>"#,
                "saml.namespace",
            ),
            (
                r#"<a:Assertion ID="x"><a:Subject><a:NameID>a</a:NameID><a:NameID>admin</a:NameID></a:Subject></a:Assertion>"#,
                "saml.wrapping",
            ),
            // Duplicate and invalid IDs.
            (
                r#"<a:Assertion ID="dup"/><a:Issuer ID="dup"/>"#,
                "saml.duplicate_id",
            ),
            (r#"<a:Assertion ID="1bad"/>"#, "saml.bad_id"),
            // XPointer look-alike references.
            (
                r##"<ds:Signature><ds:SignedInfo><ds:Reference URI="#xpointer(id('x'))"/></ds:SignedInfo></ds:Signature>"##,
                "saml.external_reference",
            ),
            // Comment injection and CDATA splits.
            (
                r#"<a:Assertion ID="x"><a:Subject><a:NameID>user@victim.com<!---->.evil.com</a:NameID></a:Subject></a:Assertion>"#,
                "saml.comment",
            ),
            (
                r#"<a:Assertion ID="x"><a:Subject><a:NameID>user@victim.com<![CDATA[.evil.com]]></a:NameID></a:Subject></a:Assertion>"#,
                "saml.cdata",
            ),
        ];
        for (inner, reason) in cases {
            let xml = format!(r#"<p:Response {NS} ID="root">{inner}</p:Response>"#);
            assert_eq!(shape(&xml).unwrap_err().reason, reason, "{inner}");
        }
    }

    #[test]
    fn weak_or_unknown_algorithms_and_dangerous_transforms_are_refused() {
        let sig = |inner: &str| {
            format!(
                r##"<p:Response {NS}><ds:Signature><ds:SignedInfo>{inner}</ds:SignedInfo></ds:Signature></p:Response>"##
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
        let big = format!("<a>{}</a>", "a".repeat(MAX_RESPONSE_BYTES));
        assert_eq!(shape(&big).unwrap_err().reason, "saml.too_large");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(shape(&deep).unwrap_err().reason, "saml.too_deep");
        for garbage in [
            "not xml at all",
            "",
            "<a><b></a>",
            "<a><b>",
            "<a x=\"1\" x=\"2\"/>",
            "<a/>trailing text",
            "<a/><b/>",
            "<p:a/>",
        ] {
            assert_eq!(
                shape(garbage).unwrap_err().reason,
                "saml.malformed",
                "{garbage}"
            );
        }
    }

    /// Metadata as Entra ID, Okta, Google, ADFS, Shibboleth, SimpleSAMLphp and Keycloak publish
    /// it (tests/fixtures/saml-metadata: extensions, comments, WS-Federation role descriptors,
    /// SP descriptors, encryption keys, wrapped certificates, many bindings).
    #[test]
    fn published_idp_metadata_of_each_product_is_read() {
        let (_, signing) = generate_sp_key("idp signing").unwrap();
        let (_, signing2) = generate_sp_key("idp signing, next").unwrap();
        let (_, encryption) = generate_sp_key("idp encryption").unwrap();
        let wrap = |c: &str| {
            c.as_bytes()
                .chunks(64)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let fill = |xml: &str| {
            xml.replace("{{SIGNING_CERT_2_WRAPPED}}", &wrap(&signing2))
                .replace("{{SIGNING_CERT_WRAPPED}}", &wrap(&signing))
                .replace("{{ENCRYPTION_CERT_WRAPPED}}", &wrap(&encryption))
                .replace("{{SIGNING_CERT_2}}", &signing2)
                .replace("{{SIGNING_CERT}}", &signing)
                .replace("{{ENCRYPTION_CERT}}", &encryption)
        };
        let dir = "tests/fixtures/saml-metadata";
        let entra = "https://login.microsoftonline.com/8c9f2d1e-4b7a-4c3e-9f1d-2a6b5c4d3e2f/saml2";
        let okta = "https://acme.okta.com/app/acme_idbridge_1/exk1fcia6d6EMsf331d8/sso/saml";
        let google = "https://accounts.google.com/o/saml2/idp?idpid=C01x2y3z4";
        let adfs = "https://adfs.contoso.com/adfs/ls/";
        let shib = "https://idp.example.org/idp/profile/SAML2/Redirect";
        let ssp = "https://idp.example.org/simplesaml/module.php/saml/idp";
        let keycloak = "https://keycloak.example.com/realms/acme/protocol/saml";
        struct Published<'a> {
            file: &'a str,
            entity_id: &'a str,
            sso_url: String,
            slo_url: Option<String>,
            certs: Vec<&'a String>,
            signed_requests: bool,
        }
        let cases = [
            Published {
                file: "entra-id.xml",
                entity_id: "https://sts.windows.net/8c9f2d1e-4b7a-4c3e-9f1d-2a6b5c4d3e2f/",
                sso_url: entra.into(),
                slo_url: Some(entra.into()),
                certs: vec![&signing, &signing2],
                signed_requests: false,
            },
            Published {
                file: "okta.xml",
                entity_id: "http://www.okta.com/exk1fcia6d6EMsf331d8",
                sso_url: okta.into(),
                slo_url: None,
                certs: vec![&signing],
                signed_requests: false,
            },
            Published {
                file: "google.xml",
                entity_id: "https://accounts.google.com/o/saml2?idpid=C01x2y3z4",
                sso_url: google.into(),
                slo_url: None,
                certs: vec![&signing],
                signed_requests: false,
            },
            Published {
                file: "adfs.xml",
                entity_id: "http://adfs.contoso.com/adfs/services/trust",
                sso_url: adfs.into(),
                slo_url: Some(adfs.into()),
                certs: vec![&signing],
                signed_requests: false,
            },
            Published {
                file: "shibboleth.xml",
                entity_id: "https://idp.example.org/idp/shibboleth",
                sso_url: format!("{shib}/SSO"),
                slo_url: Some(format!("{shib}/SLO")),
                certs: vec![&signing2, &signing],
                signed_requests: false,
            },
            Published {
                file: "simplesamlphp.xml",
                entity_id: "https://idp.example.org/simplesaml/module.php/saml/idp/metadata",
                sso_url: format!("{ssp}/singleSignOnService"),
                slo_url: Some(format!("{ssp}/singleLogout")),
                certs: vec![&signing],
                signed_requests: false,
            },
            Published {
                file: "keycloak.xml",
                entity_id: "https://keycloak.example.com/realms/acme",
                sso_url: keycloak.into(),
                slo_url: Some(keycloak.into()),
                certs: vec![&signing],
                signed_requests: true,
            },
        ];
        for Published {
            file,
            entity_id,
            sso_url,
            slo_url,
            certs,
            signed_requests,
        } in cases
        {
            let xml = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert!(
                !xml.contains("{{") || xml.contains("{{SIGNING_CERT"),
                "{file}"
            );
            let m = parse_idp_metadata(&fill(&xml)).unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert_eq!(m.entity_id, entity_id, "{file}");
            assert_eq!(m.sso_url, sso_url, "{file}");
            assert_eq!(m.slo_url, slo_url, "{file}");
            assert_eq!(
                m.certs,
                certs.into_iter().cloned().collect::<Vec<_>>(),
                "{file}: signing certificates only"
            );
            assert_eq!(m.want_authn_requests_signed, signed_requests, "{file}");
        }
    }

    /// Extensions relax the reading of metadata only: an extension must be in a namespace of its
    /// own, and a protocol message keeps every strict rule (no comments, XML-DSig names only in
    /// the XML-DSig namespace, wherever they are).
    #[test]
    fn metadata_extensions_are_their_own_namespace_and_messages_stay_strict() {
        let (_, cert) = generate_sp_key("test idp").unwrap();
        let md = |ext: &str| {
            format!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/metadata"><md:Extensions>{ext}</md:Extensions><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="{HTTP_REDIRECT}" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
            )
        };
        let alg = r#"<alg:DigestMethod xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport" Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>"#;
        assert!(parse_idp_metadata(&md(alg)).is_ok());
        for unqualified in [
            r#"<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>"#,
            r#"<md:Organization/>"#,
        ] {
            assert_eq!(
                parse_idp_metadata(&md(unqualified)).unwrap_err().reason,
                "saml.metadata_invalid",
                "{unqualified}"
            );
        }
        // Outside md:Extensions the message rules hold in metadata too.
        let stray = md("").replace(
            "<md:IDPSSODescriptor",
            &format!("{alg}<md:IDPSSODescriptor"),
        );
        assert_eq!(
            parse_idp_metadata(&stray).unwrap_err().reason,
            "saml.namespace"
        );
        // A response carrying the same extension block, or a comment, is refused as before.
        let response = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_r1"><samlp:Extensions><md:Extensions>{alg}</md:Extensions></samlp:Extensions></samlp:Response>"#
        );
        assert_eq!(shape(&response).unwrap_err().reason, "saml.namespace");
        let commented = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1"><!-- hi --></samlp:Response>"#;
        assert_eq!(shape(commented).unwrap_err().reason, "saml.comment");
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
