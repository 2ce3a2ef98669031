//! IdP metadata (what idbridge keeps of it, certificate facts) and the SP side: keys and the
//! SP metadata document.

use super::{precheck::*, shared::*};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

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
