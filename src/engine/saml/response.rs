//! Responses at the ACS: decoding, decryption of an `EncryptedAssertion`, samael's signature
//! check and the assertion checks around it.

use super::{metadata::*, precheck::*, shared::*};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::io::Write;

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
pub(super) const KEY_TRANSPORT: [&str; 1] = ["http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"];

/// Where an `EncryptedAssertion` sits in the response, and what it carries.
#[derive(Default)]
pub(super) struct Encrypted {
    start: usize,
    end: usize,
    key_method: String,
    key_cipher: String,
    data_method: String,
    data_cipher: String,
}

pub(super) fn encrypted_parts(xml: &str) -> Result<Encrypted, SamlError> {
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
pub(super) fn decrypt_in_place(xml: &str, e: &Expect<'_>) -> Result<String, SamlError> {
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
pub(super) fn decrypt_data(method: &str, key: &[u8], b64: &str) -> Result<Vec<u8>, SamlError> {
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
pub(super) fn without_root_signature(xml: &str) -> Result<String, SamlError> {
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
pub(super) fn samael_validate(
    xml: &str,
    e: &Expect<'_>,
) -> Result<samael::schema::Assertion, SamlError> {
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
pub(super) fn check_assertion(
    a: &samael::schema::Assertion,
    e: &Expect<'_>,
) -> Result<Asserted, SamlError> {
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
