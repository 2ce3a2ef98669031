//! The structural pre-check that every SAML message and metadata document passes before an XML
//! library sees it; `precheck` lists what it refuses.

use super::shared::*;
use quick_xml::events::{BytesStart, Event};

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

pub(super) const NS_PROTOCOL: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
pub(super) const NS_ASSERTION: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
pub(super) const NS_DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
pub(super) const NS_METADATA: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";

/// What the pre-check reads: a protocol message (assertions belong at this depth: 2 in a
/// response, 1 for a decrypted assertion on its own), or IdP metadata, which is configuration
/// rather than a signed statement: comments are allowed, and `md:Extensions` holds elements of
/// other specifications in their own namespaces (the algorithm-support profile's
/// `alg:DigestMethod` and `alg:SigningMethod`, `mdui`, `mdattr`, `shibmd`), which the message
/// rules for SAML and XML-DSig names do not apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    Message { assertion_depth: usize },
    Metadata,
}

/// Local names that must be in the SAML protocol or assertion namespace wherever they appear.
pub(super) const SAML_NAMES: [&str; 20] = [
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
pub(super) const DSIG_NAMES: [&str; 12] = [
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

pub(super) fn scan(xml: &str, max_bytes: usize, reading: Reading) -> Result<Shape, SamlError> {
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
pub(super) fn entity(r: &quick_xml::events::BytesRef<'_>) -> Result<char, SamlError> {
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

pub(super) fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

pub(super) fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, SamlError> {
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
pub(super) fn ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 256
}

pub(super) fn element(
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
