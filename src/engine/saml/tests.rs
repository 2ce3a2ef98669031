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
    let sha1 =
        sig(r##"<ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>"##);
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
