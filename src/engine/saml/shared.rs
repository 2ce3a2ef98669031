//! What every part of the SAML engine shares: the error, the size and age limits, the bindings
//! and the algorithm allow-lists.

/// Largest response accepted, decoded (a deflate bomb or a huge document is refused up front).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Largest IdP metadata document accepted.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Deepest element nesting accepted.
pub(super) const MAX_DEPTH: usize = 48;
/// How old an assertion's IssueInstant may be (plus the clock skew).
pub(super) const MAX_ISSUE_AGE_SECS: i64 = 300;
/// How old an unsolicited (IdP-initiated) assertion may be (plus the clock skew).
pub(super) const MAX_UNSOLICITED_AGE_SECS: i64 = 120;

pub(super) const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub(super) const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Signature and digest algorithms accepted (SHA-1 and anything unknown are refused).
pub(super) const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
pub(super) const DIGEST_ALGORITHMS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// Transforms accepted inside a signature: enveloped signature and canonicalization only
/// (no XSLT, no XPath).
pub(super) const TRANSFORMS: [&str; 5] = [
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

pub(super) fn err(reason: &'static str, detail: impl Into<String>) -> SamlError {
    SamlError {
        reason,
        detail: detail.into(),
    }
}
