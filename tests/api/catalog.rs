//! Attack tests for cases of the security catalog (../shared/security-tests.md, section 2) that
//! no other module covers: SAML SP cases 13, 20, 26 and 33, OIDC relying-party cases 55, 59,
//! 60, 62 and 66, token and cookie cases 70, 72, 74 and 88. Each test performs the attack over
//! HTTP against a real app and asserts the refusal, that nothing changed (no session cookie, no
//! user, no outbound request), and, as a control, that the same flow without the attack works.
//! Where idbridge answers differently from the catalog's wording, the test's doc comment says
//! what idbridge does and why the test asserts that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Json, Router};
use base64::Engine;
use idbridge::clock::{Clock, SystemClock};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::saml::{post_acs, saml_setup, to_idp_form};
use crate::sso::{Browser, Hop, callback_hop, me};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

// ---------------------------------------------------------------------------------------------
// SAML SP (catalog 2.1)

fn decoded(saml_response: &str) -> String {
    String::from_utf8(B64.decode(saml_response).expect("base64")).expect("UTF-8")
}

/// The byte range of the first element that starts with `open` and ends with `close`.
fn span(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let a = xml.find(open).unwrap_or_else(|| panic!("{open} in {xml}"));
    let b = a + xml[a..].find(close).expect("the end tag") + close.len();
    (a, b)
}

/// The text of the first `<tag>...</tag>`.
fn text_of<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let (a, b) = span(xml, &open, &format!("</{tag}>"));
    &xml[a + open.len()..b - tag.len() - 3]
}

fn without_signatures(xml: &str) -> String {
    let mut out = xml.to_string();
    while out.contains("<ds:Signature") {
        let (a, b) = span(&out, "<ds:Signature", "</ds:Signature>");
        out.replace_range(a..b, "");
    }
    out
}

/// An RSA key and self-signed certificate the test signs assertions with, as an IdP would.
struct SigningKey {
    der: Vec<u8>,
    cert_b64: String,
    cert_pem: String,
}

fn signing_key() -> SigningKey {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509, X509NameBuilder};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "catalog-test-idp").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = cert.build();
    SigningKey {
        der: key.private_key_to_der().unwrap(),
        cert_b64: B64.encode(cert.to_der().unwrap()),
        cert_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
    }
}

/// Signs the response's (unsigned) assertion with `key` through samael/xmlsec: an enveloped
/// RSA-SHA256 signature over `#<assertion ID>` with exclusive c14n, placed after the Issuer.
fn sign_assertion(xml: &str, key: &SigningKey) -> String {
    use samael::crypto::{Crypto, CryptoProvider};
    let (a0, _) = span(xml, "<saml:Assertion", ">");
    let id = {
        let rest = &xml[a0..];
        let at = rest.find(" ID=\"").expect("an assertion ID") + 5;
        rest[at..at + rest[at..].find('"').unwrap()].to_string()
    };
    let issuer_end = a0 + xml[a0..].find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let template = format!(
        r##"<ds:Signature xmlns:ds="{DSIG}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        key.cert_b64
    );
    let unsigned = format!("{}{template}{}", &xml[..issuer_end], &xml[issuer_end..]);
    Crypto::sign_xml(unsigned.as_str(), &key.der).expect("xmlsec signs")
}

/// The SHA-256 digest of the response's assertion as a signature reference computes it
/// (enveloped signature removed, exclusive c14n): what an attacker can compute for any assertion
/// they write. Any key does: the digest depends on the content only.
fn assertion_digest(xml: &str, scratch: &SigningKey) -> String {
    let signed = sign_assertion(&without_signatures(xml), scratch);
    text_of(&signed, "ds:DigestValue").to_string()
}

/// The ACS answered with the generic failure page and set no session cookie.
fn assert_refused(app: &TestApp, b: &Browser, hop: &Hop, what: &str) {
    assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{what}: {}", hop.body);
    assert!(
        hop.body.contains("Sign-in failed") && hop.body.contains("Reference:"),
        "{what}: the generic page: {}",
        hop.body
    );
    assert!(
        b.cookie(&app.state.cookie_name).is_none(),
        "{what}: no session cookie"
    );
}

/// The ACS signed the browser in and sent it on.
fn assert_signed_in(app: &TestApp, b: &Browser, hop: &Hop, what: &str) {
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{what}: {}", hop.body);
    assert!(
        b.cookie(&app.state.cookie_name).is_some(),
        "{what}: a session cookie"
    );
}

async fn users_matching(app: &TestApp, admin: &Session, search: &str) -> usize {
    let users = expect(
        app.get(&format!("/api/users?search={search}"), admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    users["items"].as_array().unwrap().len()
}

/// Catalog 13 (CVE-2024-45409 class, DigestValue smuggling): the assertion's NameID and email
/// are changed to a victim's, its original signature is left in place (SignedInfo and
/// SignatureValue still verify), and the digest of the *changed* assertion, computed the way the
/// reference computes it, is planted in `samlp:StatusDetail` ahead of the assertion, where a
/// loose `//ds:DigestValue` lookup would find it first. idbridge takes the digest from the
/// verified SignedInfo only: 400, no session, no victim account. The response wrapper is
/// unsigned (`signing: assertion`, Entra's default), so the planted element breaks nothing else.
#[tokio::test]
async fn saml_acs_refuses_a_changed_assertion_when_its_digest_is_smuggled_into_status_detail() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    idp.next_login(json!({"account": "alice", "signing": "assertion"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let genuine = decoded(&response);
    let scratch = signing_key();
    assert_eq!(
        assertion_digest(&genuine, &scratch),
        text_of(&genuine, "ds:DigestValue"),
        "the test computes digests exactly as the IdP does"
    );
    let changed = genuine.replace("alice@acme.test", "victim-admin@acme.test");
    let smuggled = assertion_digest(&changed, &scratch);
    assert_ne!(smuggled, text_of(&genuine, "ds:DigestValue"));
    let forged = changed.replacen(
        "</samlp:Status>",
        &format!(
            "<samlp:StatusDetail><ds:DigestValue xmlns:ds=\"{DSIG}\">{smuggled}</ds:DigestValue></samlp:StatusDetail></samlp:Status>"
        ),
        1,
    );
    assert!(forged.contains("<samlp:StatusDetail>"), "{forged}");
    let hop = post_acs(
        &app,
        &mut b,
        &action,
        &B64.encode(&forged),
        relay.as_deref(),
    )
    .await;
    assert_refused(&app, &b, &hop, "smuggled digest");
    assert_eq!(users_matching(&app, &admin, "victim").await, 0);
    // Control: the same kind of response, unchanged, signs alice in.
    idp.next_login(json!({"account": "alice", "signing": "assertion"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_signed_in(&app, &b, &hop, "genuine");
    assert_eq!(me(&app, &b).await["user"]["email"], "alice@acme.test");
}

/// Catalog 20 (signed Response, unsigned Assertion). idbridge's policy for an assertion in clear
/// is "message or assertion signed": samael reduces the document to what the signature covers,
/// so a Response signature must cover the assertion (encrypted assertions must be signed
/// themselves: saml.rs `encrypted_assertions_and_signed_authn_requests_work_with_the_sp_key`).
/// With only the Response signed, changing the unsigned assertion (NameID and email to a
/// victim's) is refused with 400 and no session, and the untouched response signs in. With the
/// connection's `want_assertions_signed: true` (published as `WantAssertionsSigned` in the SP
/// metadata, which says `false` otherwise), even the untouched response-only signature is
/// refused (`saml.assertion_unsigned`), and a response whose assertion is signed signs in.
#[tokio::test]
async fn saml_acs_refuses_a_changed_unsigned_assertion_when_only_the_response_is_signed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    idp.next_login(json!({"account": "alice", "signing": "response"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let genuine = decoded(&response);
    let (a0, a1) = span(&genuine, "<saml:Assertion", "</saml:Assertion>");
    assert!(
        !genuine[a0..a1].contains("Signature"),
        "the assertion itself is unsigned"
    );
    assert_eq!(
        genuine.matches("</ds:Signature>").count(),
        1,
        "one signature, the Response's"
    );
    let forged = genuine.replace("alice@acme.test", "victim-admin@acme.test");
    let hop = post_acs(
        &app,
        &mut b,
        &action,
        &B64.encode(&forged),
        relay.as_deref(),
    )
    .await;
    assert_refused(&app, &b, &hop, "changed unsigned assertion");
    assert_eq!(users_matching(&app, &admin, "victim").await, 0);
    // Control: the same kind of response, unchanged.
    idp.next_login(json!({"account": "alice", "signing": "response"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_signed_in(&app, &b, &hop, "response-signed");
    assert_eq!(me(&app, &b).await["user"]["email"], "alice@acme.test");
    let metadata = |app: &TestApp, conn: &Value| {
        let url = conn["sp_metadata_url"].as_str().unwrap().to_string();
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        metadata(&app, &conn)
            .await
            .contains("WantAssertionsSigned=\"false\"")
    );
    // The policy on: a response-only signature no longer suffices.
    let conn = expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            &admin,
            json!({"want_assertions_signed": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        metadata(&app, &conn)
            .await
            .contains("WantAssertionsSigned=\"true\"")
    );
    idp.next_login(json!({"account": "alice", "signing": "response"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_refused(&app, &b, &hop, "response-only signature, policy on");
    idp.next_login(json!({"account": "alice", "signing": "assertion"}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_signed_in(&app, &b, &hop, "assertion-signed, policy on");
}

/// Catalog 26 (quick-xml attribute / namespace flood, RUSTSEC-2026-0194/0195): the IdP's
/// response with its Assertion start tag flooded by 80,000 distinct attributes, or by 100,000
/// `xmlns:pN` declarations, is refused with 400 and no session: both exceed the SAML layer's
/// size cap (256 KiB decoded), checked before any XML parser runs. Floods small enough to pass
/// the cap are refused too: the strict pre-check reads all 20,000 attributes (duplicates are
/// checked; the changed assertion's signature then fails), and refuses a start tag with 9,000
/// namespace declarations (quick-xml allows 256 per element). The catalog-sized floods are
/// larger than the default body limit (1 MiB), which would stop them before any SAML code; this
/// test raises `server.body_limit_bytes` to 8 MiB so that what refuses them is the SAML layer
/// itself. No timing is asserted; afterwards the ACS still signs a genuine response in.
#[tokio::test]
async fn saml_acs_refuses_with_400_when_a_start_tag_floods_attributes_or_namespace_declarations() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 8 * 1024 * 1024).await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    let attributes = |n: usize| (0..n).map(|i| format!(" a{i}=\"x\"")).collect::<String>();
    let namespaces = |n: usize| {
        (0..n)
            .map(|i| format!(" xmlns:p{i}=\"urn:p{i}\""))
            .collect::<String>()
    };
    for (what, flood) in [
        ("80,000 attributes", attributes(80_000)),
        ("100,000 namespace declarations", namespaces(100_000)),
        ("20,000 attributes (under the size cap)", attributes(20_000)),
        (
            "9,000 namespace declarations (under the size cap)",
            namespaces(9_000),
        ),
    ] {
        idp.next_login(json!({"account": "alice"})).await;
        let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
        let xml = decoded(&response);
        let at = xml.find("<saml:Assertion").unwrap() + "<saml:Assertion".len();
        let flooded = format!("{}{flood}{}", &xml[..at], &xml[at..]);
        let hop = post_acs(
            &app,
            &mut b,
            &action,
            &B64.encode(&flooded),
            relay.as_deref(),
        )
        .await;
        assert_refused(&app, &b, &hop, what);
    }
    assert_eq!(users_matching(&app, &admin, "alice").await, 0);
    idp.next_login(json!({"account": "alice"})).await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_signed_in(&app, &b, &hop, "genuine after the floods");
}

/// Catalog 33 (bearer confirmation missing / without NotOnOrAfter). The fixture IdP has no knob
/// for the SubjectConfirmation, and editing its signed response would only test the signature.
/// So the test acts as an IdP signing with a second key the connection trusts (its certificate
/// added like a rollover certificate): it takes the IdP's unsigned response for the pending
/// request, changes the confirmation, and signs the assertion validly. `Method` holder-of-key
/// only, and bearer without `NotOnOrAfter` on its SubjectConfirmationData, are each refused
/// with 400 and no session (samael requires a bearer confirmation with an expiry, and so does
/// idbridge's own assertion check); the same response signed the same way without the change
/// signs in (the control).
#[tokio::test]
async fn saml_acs_refuses_the_assertion_when_its_bearer_confirmation_or_its_expiry_is_missing() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    let key = signing_key();
    let patched = expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            &admin,
            json!({"idp_certificates": [key.cert_pem]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["idp_certificates"].as_array().unwrap().len(), 2);
    let holder_of_key = |xml: &str| {
        let bearer = "Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"";
        assert_eq!(xml.matches(bearer).count(), 1, "{xml}");
        xml.replace(
            bearer,
            "Method=\"urn:oasis:names:tc:SAML:2.0:cm:holder-of-key\"",
        )
    };
    let no_expiry = |xml: &str| {
        let (d0, d1) = span(xml, "<saml:SubjectConfirmationData", ">");
        let data = &xml[d0..d1];
        let n0 = data.find(" NotOnOrAfter=\"").expect("a NotOnOrAfter");
        let value = n0 + " NotOnOrAfter=\"".len();
        let n1 = value + data[value..].find('"').unwrap() + 1;
        format!("{}{}{}{}", &xml[..d0], &data[..n0], &data[n1..], &xml[d1..])
    };
    type Edit = fn(&str) -> String;
    let changes: [(&str, Edit); 2] = [
        ("holder-of-key only", holder_of_key),
        ("bearer without NotOnOrAfter", no_expiry),
    ];
    for (what, change) in changes {
        idp.next_login(json!({"account": "alice", "unsigned": true}))
            .await;
        let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
        let xml = decoded(&response);
        assert!(!xml.contains("Signature"), "the IdP sent it unsigned");
        let changed = change(&xml);
        assert_ne!(changed, xml);
        let forged = sign_assertion(&changed, &key);
        let hop = post_acs(
            &app,
            &mut b,
            &action,
            &B64.encode(&forged),
            relay.as_deref(),
        )
        .await;
        assert_refused(&app, &b, &hop, what);
        assert_eq!(users_matching(&app, &admin, "alice").await, 0, "{what}");
    }
    // Control: the same response signed the same way, confirmation untouched.
    idp.next_login(json!({"account": "alice", "unsigned": true}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let signed = sign_assertion(&decoded(&response), &key);
    let hop = post_acs(
        &app,
        &mut b,
        &action,
        &B64.encode(&signed),
        relay.as_deref(),
    )
    .await;
    assert_signed_in(&app, &b, &hop, "re-signed, unchanged");
    assert_eq!(me(&app, &b).await["user"]["email"], "alice@acme.test");
}

// ---------------------------------------------------------------------------------------------
// OIDC RP (catalog 2.2): a rogue OpenID provider with several keys

/// An ES256 key of the provider.
struct OpKey {
    kid: String,
    key: jsonwebtoken::EncodingKey,
    jwk: Value,
}

fn op_key(kid: &str) -> Arc<OpKey> {
    let k = idbridge::crypto::generate_es256().unwrap();
    Arc::new(OpKey {
        kid: kid.into(),
        key: jsonwebtoken::EncodingKey::from_ec_der(&k.pkcs8_der),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": kid, "alg": "ES256", "use": "sig"}),
    })
}

/// What the provider publishes and how it signs the next ID token.
struct OpState {
    origin: String,
    /// The JWKS.
    published: Vec<Arc<OpKey>>,
    /// The key the ID token is signed with, and whether its header names the `kid`.
    signer: Arc<OpKey>,
    send_kid: bool,
    /// The discovery document's `issuer`, when it is not the URL it was fetched from.
    discovery_issuer: Option<String>,
    /// The ID token's `iss` and `tid`, when not the issuer the token endpoint belongs to.
    token_iss: Option<String>,
    tid: Option<String>,
    subject: String,
    nonce: String,
    client_id: String,
    jwks_calls: usize,
    token_calls: usize,
}

/// A provider on loopback that serves any issuer below its origin: `<origin>` itself, or
/// `<origin>/<tenant>/v2.0` as Entra ID does (`common` answers with Entra's `{tenantid}`
/// issuer template). It answers discovery, JWKS, authorize and token honestly and signs the
/// ID token as [`OpState`] says.
struct Op {
    origin: String,
    state: Arc<Mutex<OpState>>,
}

impl Op {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let k1 = op_key("k1");
        let state = Arc::new(Mutex::new(OpState {
            origin: origin.clone(),
            published: vec![k1.clone()],
            signer: k1,
            send_kid: true,
            discovery_issuer: None,
            token_iss: None,
            tid: None,
            subject: "op-user-1".into(),
            nonce: String::new(),
            client_id: String::new(),
            jwks_calls: 0,
            token_calls: 0,
        }));
        let app = Router::new().fallback(op_serve).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { origin, state }
    }

    fn set(&self, f: impl FnOnce(&mut OpState)) {
        f(&mut self.state.lock().unwrap());
    }

    fn jwks_calls(&self) -> usize {
        self.state.lock().unwrap().jwks_calls
    }

    fn token_calls(&self) -> usize {
        self.state.lock().unwrap().token_calls
    }
}

async fn op_serve(State(s): State<Arc<Mutex<OpState>>>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let mut st = s.lock().unwrap();
    if let Some(prefix) = path.strip_suffix("/.well-known/openid-configuration") {
        let base = format!("{}{prefix}", st.origin);
        let issuer = match (&st.discovery_issuer, prefix) {
            (Some(i), _) => i.clone(),
            (None, "/common/v2.0") => format!("{}/{{tenantid}}/v2.0", st.origin),
            (None, _) => base.clone(),
        };
        return Json(json!({
            "issuer": issuer, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"), "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "authorization_response_iss_parameter_supported": true,
        }))
        .into_response();
    }
    let Some((prefix, endpoint)) = path.rsplit_once('/') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let issuer = format!("{}{prefix}", st.origin);
    match (method, endpoint) {
        (Method::GET, "jwks") => {
            st.jwks_calls += 1;
            let keys: Vec<Value> = st.published.iter().map(|k| k.jwk.clone()).collect();
            Json(json!({"keys": keys})).into_response()
        }
        (Method::GET, "authorize") => {
            let q: HashMap<String, String> =
                serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap();
            st.nonce = q.get("nonce").cloned().unwrap_or_default();
            st.client_id = q.get("client_id").cloned().unwrap_or_default();
            let enc = idbridge::engine::url::url_encode;
            Redirect::to(&format!(
                "{}?code=op-code&state={}&iss={}",
                q["redirect_uri"],
                enc(&q["state"]),
                enc(&issuer)
            ))
            .into_response()
        }
        (Method::POST, "token") => {
            st.token_calls += 1;
            let now = SystemClock.now_secs();
            let mut claims = json!({
                "iss": st.token_iss.clone().unwrap_or(issuer), "sub": st.subject,
                "aud": st.client_id, "exp": now + 300, "iat": now, "nonce": st.nonce,
                "email": format!("{}@rogue.test", st.subject), "email_verified": true,
            });
            if let Some(tid) = &st.tid {
                claims["tid"] = json!(tid);
            }
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = st.send_kid.then(|| st.signer.kid.clone());
            let id_token = jsonwebtoken::encode(&header, &claims, &st.signer.key).unwrap();
            Json(
                json!({"access_token": "op-access-token", "token_type": "Bearer",
                "expires_in": 300, "id_token": id_token}),
            )
            .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn connection_body(name: &str, issuer: &str) -> Value {
    json!({"kind": "oidc", "name": name, "issuer": issuer, "client_id": "idb-client",
           "client_secret": "s", "id_token_algs": ["ES256"]})
}

async fn oidc_connection(app: &TestApp, admin: &Session, name: &str, issuer: &str) -> Value {
    expect(
        app.post("/api/sso/connections", admin, connection_body(name, issuer))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

/// A whole sign-in through the connection: the callback's status and body, and the browser.
async fn oidc_sign_in(app: &TestApp, conn: &Value) -> (StatusCode, String, Browser) {
    let mut b = Browser::default();
    let hops = b
        .follow(
            app,
            &format!("{}?rd=/api/me", conn["start_url"].as_str().unwrap()),
        )
        .await;
    let cb = callback_hop(&hops);
    (cb.status, cb.body.clone(), b)
}

/// A second browser with the same cookies (each refused attempt clears the pre-auth cookie).
fn copy_of(b: &Browser) -> Browser {
    let mut copy = Browser::default();
    let header = b.cookie_header();
    for (k, v) in header.split("; ").filter_map(|kv| kv.split_once('=')) {
        copy.absorb_pair(k, v);
    }
    copy
}

fn assert_oidc_refused(
    app: &TestApp,
    (status, body, b): &(StatusCode, String, Browser),
    what: &str,
) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert!(
        body.contains("Sign-in failed") && body.contains("Reference:"),
        "{what}: the generic page: {body}"
    );
    assert!(
        b.cookie(&app.state.cookie_name).is_none(),
        "{what}: no session cookie"
    );
}

fn assert_oidc_signed_in(
    app: &TestApp,
    (status, body, b): &(StatusCode, String, Browser),
    what: &str,
) {
    assert_eq!(*status, StatusCode::SEE_OTHER, "{what}: {body}");
    assert!(
        b.cookie(&app.state.cookie_name).is_some(),
        "{what}: a session cookie"
    );
}

/// Catalog 55 (`kid` absent; OIDF `oidcc-client-test-kid-absent-single-jwks` and
/// `...-kid-absent-multiple-jwks`): an ID token whose header has no `kid` is verified with the
/// JWKS's only key and accepted; when the JWKS has two ES256 keys the key is ambiguous and the
/// token (signed by one of them) is refused with 400 and no session, while the same token with
/// its `kid` signs in. The two JWKS shapes are two connections, because idbridge caches a
/// connection's JWKS and refetches only for an unknown `kid`.
#[tokio::test]
async fn oidc_callback_uses_the_only_key_when_kid_is_absent_and_refuses_when_several_keys_match() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = Op::start().await;
    op.set(|s| s.send_kid = false);
    let single = oidc_connection(&app, &admin, "one key", &op.origin).await;
    let result = oidc_sign_in(&app, &single).await;
    assert_oidc_signed_in(&app, &result, "no kid, one key");
    // The IdP now publishes a second key; a new connection sees both.
    let k2 = op_key("k2");
    op.set(|s| {
        s.published.push(k2);
        s.subject = "op-user-2".into();
    });
    let several = oidc_connection(&app, &admin, "two keys", &op.origin).await;
    let result = oidc_sign_in(&app, &several).await;
    assert_oidc_refused(&app, &result, "no kid, two keys");
    assert_eq!(users_matching(&app, &admin, "op-user-2").await, 0);
    op.set(|s| s.send_kid = true);
    let result = oidc_sign_in(&app, &several).await;
    assert_oidc_signed_in(&app, &result, "kid k1, two keys");
}

/// Catalog 59 (OIDF `oidcc-client-test-discovery-issuer-mismatch`): the discovery document at
/// `<issuer>/.well-known/openid-configuration` names another issuer. Saving the connection
/// answers 422 `discovery_failed` and saves nothing.
#[tokio::test]
async fn oidc_connection_create_answers_422_discovery_failed_when_the_discovery_issuer_differs() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = Op::start().await;
    op.set(|s| s.discovery_issuer = Some("https://idp.evil.example".into()));
    let r = app
        .post(
            "/api/sso/connections",
            &admin,
            connection_body("mismatch", &op.origin),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "discovery_failed").await;
    let list = expect(
        app.get("/api/sso/connections", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing saved: {list}");
    // Control: the same provider with a consistent document is accepted.
    op.set(|s| s.discovery_issuer = None);
    oidc_connection(&app, &admin, "consistent", &op.origin).await;
}

/// Catalog 60 (OIDF `oidcc-client-test-signing-key-rotation` and `...-just-before-signing`):
/// after a sign-in with key `k1`, the IdP retires `k1` and publishes `k2` between the
/// authorization redirect and the token response (idbridge's cached JWKS is then stale at
/// verification). idbridge refetches the JWKS exactly once and accepts the `k2` token; the next
/// sign-in uses the refreshed cache (no fetch), and a token still signed with the retired `k1`
/// is refused (400, no session).
#[tokio::test]
async fn oidc_callback_refetches_the_jwks_once_and_accepts_when_the_idp_rotates_to_a_new_kid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = Op::start().await;
    let conn = oidc_connection(&app, &admin, "rotating", &op.origin).await;
    let result = oidc_sign_in(&app, &conn).await;
    assert_oidc_signed_in(&app, &result, "k1");
    let k1 = op.state.lock().unwrap().signer.clone();
    let before = op.jwks_calls();
    // Sign-in up to the IdP's redirect back, then the rotation, then the callback.
    let mut b = Browser::default();
    let start = b.get(&app, conn["start_url"].as_str().unwrap()).await;
    let at_idp = b.get(&app, &start.location.unwrap()).await;
    let k2 = op_key("k2");
    op.set(|s| {
        s.published = vec![k2.clone()];
        s.signer = k2;
    });
    let cb = b.get(&app, &at_idp.location.unwrap()).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "k2: {}", cb.body);
    assert!(b.cookie(&app.state.cookie_name).is_some());
    assert_eq!(op.jwks_calls(), before + 1, "one forced JWKS refresh");
    let result = oidc_sign_in(&app, &conn).await;
    assert_oidc_signed_in(&app, &result, "k2 again");
    assert_eq!(
        op.jwks_calls(),
        before + 1,
        "served from the refreshed cache"
    );
    op.set(|s| s.signer = k1);
    let result = oidc_sign_in(&app, &conn).await;
    assert_oidc_refused(&app, &result, "the retired k1");
}

const ENTRA_T1: &str = "11111111-1111-4111-8111-111111111111";
const ENTRA_T2: &str = "22222222-2222-4222-8222-222222222222";

/// Catalog 62 (Entra multi-tenant issuer): the connection is configured for Entra tenant T1
/// (issuer `<op>/T1/v2.0`); the provider signs, with the same keys (Entra's keys are shared by
/// all tenants), a token for a user of tenant T2 (`iss = <op>/T2/v2.0`, `tid = T2`), as the
/// `common` endpoint would. The catalog expects 403 `tenant_mismatch`; idbridge refuses earlier,
/// in ID token validation, because `iss` is not the configured issuer, so the answer is the
/// generic 400 page. No session, no user. Configuring the multi-tenant `common` endpoint itself
/// is refused at save (422 `discovery_failed`): its discovery issuer is the `{tenantid}`
/// template, not the URL, so a connection is always bound to one tenant's issuer.
#[tokio::test]
async fn oidc_callback_refuses_with_400_when_the_token_comes_from_another_entra_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = Op::start().await;
    let conn = oidc_connection(
        &app,
        &admin,
        "Entra T1",
        &format!("{}/{ENTRA_T1}/v2.0", op.origin),
    )
    .await;
    op.set(|s| s.tid = Some(ENTRA_T1.into()));
    let result = oidc_sign_in(&app, &conn).await;
    assert_oidc_signed_in(&app, &result, "a T1 user");
    op.set(|s| {
        s.token_iss = Some(format!("{}/{ENTRA_T2}/v2.0", s.origin));
        s.tid = Some(ENTRA_T2.into());
        s.subject = "t2-user".into();
    });
    let result = oidc_sign_in(&app, &conn).await;
    assert_oidc_refused(&app, &result, "a T2 token");
    assert_eq!(users_matching(&app, &admin, "t2-user").await, 0);
    let r = app
        .post(
            "/api/sso/connections",
            &admin,
            connection_body("Entra common", &format!("{}/common/v2.0", op.origin)),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "discovery_failed").await;
}

/// Catalog 66 (redirect URI exactness) and the state half of 42: the IdP's redirect back, with
/// a valid code and state, replayed on the callback path with an extra segment or a trailing
/// slash reaches no callback (idbridge routes exact paths: 404, where the catalog says 400),
/// makes no token request and sets no session; the exact URL then signs in, so the refused
/// attempts consumed nothing. In a second sign-in, the callback without its `state`, or with a
/// state idbridge never issued, is the generic 400 page, again with no token request. (Plain
/// `http://` and another host are not testable here: the test app itself is plain http on
/// loopback, and idbridge sends its configured redirect URI, not the request's, to the IdP.)
#[tokio::test]
async fn oidc_callback_makes_no_session_when_the_path_is_not_exact_or_the_state_is_not_ours() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = Op::start().await;
    let conn = oidc_connection(&app, &admin, "exact", &op.origin).await;
    let redirect_uri = conn["redirect_uri"].as_str().unwrap();
    let mut b = Browser::default();
    let start = b.get(&app, conn["start_url"].as_str().unwrap()).await;
    let at_idp = b.get(&app, &start.location.unwrap()).await;
    let back = at_idp.location.unwrap();
    let (path, query) = back.split_once('?').unwrap();
    assert_eq!(path, redirect_uri);
    for url in [format!("{path}/extra?{query}"), format!("{path}/?{query}")] {
        let hop = b.get(&app, &url).await;
        assert_eq!(hop.status, StatusCode::NOT_FOUND, "{url}: {}", hop.body);
        assert!(b.cookie(&app.state.cookie_name).is_none(), "{url}");
    }
    assert_eq!(op.token_calls(), 0, "no code was redeemed");
    let hop = b.get(&app, &back).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert!(b.cookie(&app.state.cookie_name).is_some());
    assert_eq!(op.token_calls(), 1);
    // Without the registered state.
    let mut b = Browser::default();
    let start = b.get(&app, conn["start_url"].as_str().unwrap()).await;
    let at_idp = b.get(&app, &start.location.unwrap()).await;
    let back = at_idp.location.unwrap();
    let (path, query) = back.split_once('?').unwrap();
    let without_state: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.starts_with("state="))
        .collect();
    let forged_state: Vec<String> = query
        .split('&')
        .map(|kv| {
            if kv.starts_with("state=") {
                "state=never-issued".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect();
    for url in [
        format!("{path}?{}", without_state.join("&")),
        format!("{path}?{}", forged_state.join("&")),
    ] {
        let mut fresh = copy_of(&b);
        let hop = fresh.get(&app, &url).await;
        assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{url}: {}", hop.body);
        assert!(hop.body.contains("Reference:"), "{url}: the generic page");
        assert!(fresh.cookie(&app.state.cookie_name).is_none(), "{url}");
    }
    assert_eq!(op.token_calls(), 1, "no token request without our state");
}

// ---------------------------------------------------------------------------------------------
// Tokens, forward auth, cookies (catalog 2.3)

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("a compact JWS");
    serde_json::from_slice(&B64URL.decode(part).unwrap()).unwrap()
}

/// The claims of a real access token, to copy: a forged token differs only where a case says.
fn claims_of(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Signs `claims` with idbridge's own active key (`typ: at+jwt`), as idbridge would.
fn mint(app: &TestApp, claims: &Value) -> String {
    idbridge::engine::jwt::mint_any(&app.state.keys, claims).unwrap()
}

async fn bearer_status(app: &TestApp, path: &str, token: &str) -> (StatusCode, bool) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.headers().contains_key("www-authenticate"))
}

/// `/api/me` refuses the token: 401 with a `WWW-Authenticate` challenge.
async fn assert_401(app: &TestApp, token: &str, what: &str) {
    let (status, challenge) = bearer_status(app, "/api/me", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert!(challenge, "{what}: a WWW-Authenticate challenge");
}

/// Catalog 70 (wrongly typed claims, CVE-2026-25537): tokens signed with idbridge's own key,
/// copied from a real access token except that `exp` is `"never"` or a numeric string, or `nbf`
/// is `"99999999999"` or a numeric string, are refused by `/api/me` with 401. (jsonwebtoken
/// < 10.3.0 treated such claims as absent; idbridge requires exp, iat, nbf, iss, aud and sub
/// with their JSON types.) The unchanged copy is accepted: only the claim's type differs.
#[tokio::test]
async fn api_answers_401_when_exp_or_nbf_is_a_string() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let claims = claims_of(&admin.token);
    let (status, _) = bearer_status(&app, "/api/me", &mint(&app, &claims)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the re-signed copy is a valid token"
    );
    let exp = claims["exp"].as_i64().unwrap();
    let nbf = claims["nbf"].as_i64().unwrap();
    for (claim, value) in [
        ("exp", json!("never")),
        ("exp", json!(exp.to_string())),
        ("nbf", json!("99999999999")),
        ("nbf", json!(nbf.to_string())),
    ] {
        let mut forged = claims.clone();
        forged[claim] = value.clone();
        assert_401(&app, &mint(&app, &forged), &format!("{claim}: {value}")).await;
    }
}

/// Catalog 72 (`jku` / `x5u` / embedded `jwk` / `x5c`): access tokens with valid claims signed
/// by an attacker's ES256 key, whose header points at the attacker's key set on a loopback
/// listener (`jku`, `x5u`), embeds the attacker's public key (`jwk`) or certificate (`x5c`),
/// and names either idbridge's own `kid` or the attacker's, are refused with 401 by `/api/me`
/// and by forward auth (`/auth/verify` for an upstream whose rule accepts bearer tokens of its
/// audience), and the listener is never contacted: idbridge looks the `kid` up in its own key
/// ring only. The same claims signed by idbridge are accepted by both.
#[tokio::test]
async fn api_answers_401_and_fetches_nothing_when_the_token_header_names_an_attacker_key() {
    const UPSTREAM: &str = "https://api.example.com";
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
            host: "api.example.com".into(),
            path_prefix: None,
            tenant: "default".into(),
            permission: None,
            audience: Some(UPSTREAM.into()),
        }];
    })
    .await;
    let admin = app.register_admin().await;
    let sink = Sink::start().await;
    let api_claims = claims_of(&admin.token);
    let mut upstream_claims = api_claims.clone();
    upstream_claims["aud"] = json!(UPSTREAM);
    let forward_auth = |token: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("x-forwarded-host", "api.example.com")
            .bearer_auth(token)
            .send()
    };
    let (status, _) = bearer_status(&app, "/api/me", &mint(&app, &api_claims)).await;
    assert_eq!(status, StatusCode::OK, "/api/me: idbridge's own signature");
    let r = forward_auth(&mint(&app, &upstream_claims)).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "/auth/verify: idbridge's own signature"
    );
    let ours = jwt_part(&admin.token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let attacker = idbridge::crypto::generate_es256().unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(&attacker.pkcs8_der);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": attacker.x, "y": attacker.y,
        "alg": "ES256", "use": "sig", "kid": "attacker-1"});
    let x5c = {
        use openssl::asn1::Asn1Time;
        use openssl::hash::MessageDigest;
        use openssl::x509::{X509, X509NameBuilder};
        let pkey = openssl::pkey::PKey::private_key_from_pkcs8(&attacker.pkcs8_der).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "attacker").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&pkey).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        cert.sign(&pkey, MessageDigest::sha256()).unwrap();
        B64.encode(cert.build().to_der().unwrap())
    };
    let there = format!("http://127.0.0.1:{}", sink.port);
    let headers = [
        json!({"kid": ours, "jku": format!("{there}/jwks.json")}),
        json!({"kid": "attacker-1", "jku": format!("{there}/jwks.json")}),
        json!({"kid": ours, "x5u": format!("{there}/attacker.pem")}),
        json!({"kid": "attacker-1", "x5u": format!("{there}/attacker.pem")}),
        json!({"kid": ours, "jwk": jwk}),
        json!({"kid": "attacker-1", "jwk": jwk}),
        json!({"kid": ours, "x5c": [x5c]}),
    ];
    for extra in headers {
        let mut h = json!({"alg": "ES256", "typ": "at+jwt"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        let header: jsonwebtoken::Header = serde_json::from_value(h.clone()).unwrap();
        let token = jsonwebtoken::encode(&header, &api_claims, &key).unwrap();
        assert_401(&app, &token, &format!("/api/me: {h}")).await;
        let token = jsonwebtoken::encode(&header, &upstream_claims, &key).unwrap();
        let r = forward_auth(&token).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "/auth/verify: {h}");
    }
    assert_eq!(sink.connections(), 0, "no key was fetched");
}

/// Catalog 74 (lifetime). The catalog assumes jsonwebtoken's default 60 s leeway; idbridge's
/// access-token leeway is 30 s (src/tokens/jwt.rs), so the boundaries here are 30 s. jsonwebtoken
/// checks against the wall clock as well as idbridge's clock, so the app runs on the system
/// clock and the claims are minted relative to it. Copies of a real token: expired 31 s ago →
/// 401; expired 25 s ago (inside the leeway, with 5 s of margin for the test's own run time) →
/// 200; `nbf` 120 s ahead → 401; `nbf` 20 s ahead (inside the leeway) → 200.
#[tokio::test]
async fn api_answers_401_when_exp_is_past_the_leeway_or_nbf_is_120_s_ahead() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let claims = claims_of(&admin.token);
    let token = |iat: i64, nbf: i64, exp: i64| {
        let mut c = claims.clone();
        c["iat"] = json!(iat);
        c["nbf"] = json!(nbf);
        c["exp"] = json!(exp);
        mint(&app, &c)
    };
    let now = SystemClock.now_secs();
    assert_401(
        &app,
        &token(now - 300, now - 300, now - 31),
        "expired 31 s ago",
    )
    .await;
    assert_401(&app, &token(now, now + 120, now + 600), "nbf 120 s ahead").await;
    let now = SystemClock.now_secs();
    for (what, t) in [
        ("expired 25 s ago", token(now - 300, now - 300, now - 25)),
        ("nbf 20 s ahead", token(now, now + 20, now + 600)),
    ] {
        let (status, _) = bearer_status(&app, "/api/me", &t).await;
        assert_eq!(status, StatusCode::OK, "{what}: within the 30 s leeway");
    }
}

/// Catalog 88 (huge or malformed cookie): a `Cookie` header of 64 KiB (one unrelated cookie,
/// a 64 KiB session cookie, or thousands of small cookies), and a session cookie with invalid
/// encoding (percent escapes, an unterminated quote, bytes that are not UTF-8, an empty value,
/// no `=`, a `Max-Age` attribute with a 23-digit number), at forward auth (`/auth/verify`) and
/// `/api/me`: each is a plain 401 (no credential), never a 5xx, and no cookie is set. The
/// server answers the admin's real cookie normally afterwards.
#[tokio::test]
async fn cookie_checks_answer_401_and_keep_serving_when_the_cookie_is_huge_or_badly_encoded() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let name = &app.state.cookie_name;
    let huge = "x".repeat(64 * 1024);
    let many: Vec<String> = (0..8_000).map(|i| format!("c{i}=v")).collect();
    let many = many.join("; ");
    assert!(many.len() >= 64 * 1024, "{}", many.len());
    let cookies: Vec<(&str, HeaderValue)> = vec![
        ("64 KiB unrelated cookie", format!("junk={huge}")),
        ("64 KiB session cookie", format!("{name}={huge}")),
        ("64 KiB of small cookies", format!("{many}; {name}=abc")),
        ("percent escapes", format!("{name}=%ZZ%00%FF")),
        ("unterminated quote", format!("{name}=\"abc")),
        ("empty value", format!("{name}=")),
        ("no equals sign", name.clone()),
        (
            "Max-Age attribute",
            format!("{name}=abc; Max-Age=99999999999999999999999"),
        ),
    ]
    .into_iter()
    .map(|(what, v)| (what, HeaderValue::from_str(&v).unwrap()))
    .chain([(
        "bytes that are not UTF-8",
        HeaderValue::from_bytes(&[name.as_bytes(), b"=\xff\xfe\xfd"].concat()).unwrap(),
    )])
    .collect();
    for (what, cookie) in &cookies {
        for path in ["/auth/verify", "/api/me"] {
            let r = app
                .client
                .get(app.url(path))
                .header("cookie", cookie.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}, {what}");
            assert!(
                r.headers().get("set-cookie").is_none(),
                "{path}, {what}: no cookie set"
            );
        }
    }
    for path in ["/auth/verify", "/api/me"] {
        let r = app
            .client
            .get(app.url(path))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}: still serving");
    }
}
