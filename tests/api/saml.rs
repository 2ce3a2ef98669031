//! SSO through an upstream SAML 2.0 IdP: a real one, npm `samlify` 2.13 (interop/saml-idp.mjs),
//! on loopback. The browser follows every hop by hand: start -> AuthnRequest (HTTP-Redirect) ->
//! IdP -> auto-submit form -> ACS (HTTP-POST) -> session cookie -> `/api/me`.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::sso::{Browser, Hop, me, role_names, sso_config};

pub struct SamlIdp {
    _child: tokio::process::Child,
    pub base: String,
    http: reqwest::Client,
}

pub async fn saml_idp(accounts: Value) -> SamlIdp {
    let (child, base) =
        node_fixture("saml-idp.mjs", "samlify", &json!({"accounts": accounts})).await;
    SamlIdp {
        _child: child,
        base,
        http: reqwest::Client::new(),
    }
}

impl SamlIdp {
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The account and knobs of the next response (see interop/README.md).
    pub async fn next_login(&self, knobs: Value) {
        self.post("/test/next-login", knobs).await;
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// Alice (Helpdesk) and Bob (Employees); a SAML connection by metadata URL in the admin's
/// tenant; the IdP told about idbridge's SP (entity id, ACS URL, SP metadata).
pub async fn saml_setup(app: &TestApp, admin: &Session, extra: Value) -> (SamlIdp, Value) {
    let idp = saml_idp(json!({
        "alice": {"email": "alice@acme.test", "first_name": "Alice", "last_name": "Liddell", "groups": ["Helpdesk"]},
        "bob": {"email": "bob@acme.test", "first_name": "Bob", "last_name": "Builder", "groups": ["Employees", "Unmapped"]},
    }))
    .await;
    let tenant = extra["tenant"].as_str().unwrap_or("default");
    app.verify_domain(admin, tenant, "acme.test").await;
    let mut body = json!({"kind": "saml", "name": "Acme SAML", "idp_metadata_url": format!("{}/metadata", idp.base),
        "email_domains": ["acme.test"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let conn = saml_connection(app, admin, &idp, body).await;
    (idp, conn)
}

/// Creates a SAML connection with `body` as `admin` and registers idbridge's SP at the IdP.
pub async fn saml_connection(app: &TestApp, admin: &Session, idp: &SamlIdp, body: Value) -> Value {
    let conn = expect(
        app.post("/api/sso/connections", admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let sp_metadata = app
        .client
        .get(conn["sp_metadata_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sp_metadata.status(), StatusCode::OK);
    let sp_metadata = sp_metadata.text().await.unwrap();
    idp.post(
        "/test/sp",
        json!({"entity_id": conn["sp_entity_id"], "acs_url": conn["acs_url"], "metadata_xml": sp_metadata}),
    )
    .await;
    conn
}

/// `PATCH /api/sso/connections/{id}` as the admin, expecting 200.
async fn patch_connection(app: &TestApp, admin: &Session, id: &str, body: Value) -> Value {
    expect(
        app.patch(&format!("/api/sso/connections/{id}"), admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// `POST /api/sso/connections/{id}/metadata/refresh` as the admin, expecting 200.
async fn refresh(app: &TestApp, admin: &Session, id: &str) -> Value {
    expect(
        app.post(
            &format!("/api/sso/connections/{id}/metadata/refresh"),
            admin,
            json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// The auto-submit form of an IdP page: (action, SAMLResponse, RelayState).
pub fn form(html: &str) -> (String, String, Option<String>) {
    let (action, fields) = form_fields(html);
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    (
        action,
        get("SAMLResponse").expect("a SAMLResponse"),
        get("RelayState"),
    )
}

/// Posts the IdP's form to idbridge's ACS as the browser.
pub async fn post_acs(
    app: &TestApp,
    b: &mut Browser,
    action: &str,
    response: &str,
    relay: Option<&str>,
) -> Hop {
    let mut fields = vec![("SAMLResponse", response.to_string())];
    if let Some(r) = relay {
        fields.push(("RelayState", r.to_string()));
    }
    form_post(app, b, action, &fields).await
}

/// SP-initiated sign-in up to the IdP's form: (browser, action, SAMLResponse, RelayState).
pub async fn to_idp_form(app: &TestApp, conn: &Value) -> (Browser, String, String, Option<String>) {
    let mut b = Browser::default();
    let start = format!("{}?rd=/api/me", conn["start_url"].as_str().unwrap());
    let hop = b.get(app, &start).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let to_idp = hop.location.expect("a redirect to the IdP");
    assert!(to_idp.contains("SAMLRequest="), "{to_idp}");
    assert!(
        b.cookie("__Host-idbridge_saml").is_some(),
        "the SAML pre-auth cookie is set"
    );
    let page = app.client.get(&to_idp).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the IdP accepts the AuthnRequest"
    );
    let html = page.text().await.unwrap();
    let (action, response, relay) = form(&html);
    (b, action, response, relay)
}

/// A whole SP-initiated sign-in; returns the browser and the ACS hop.
pub async fn saml_login(app: &TestApp, conn: &Value) -> (Browser, Hop) {
    let (mut b, action, response, relay) = to_idp_form(app, conn).await;
    assert_eq!(action, conn["acs_url"].as_str().unwrap());
    let hop = post_acs(app, &mut b, &action, &response, relay.as_deref()).await;
    (b, hop)
}

fn signed_in(b: &Browser, app: &TestApp) -> bool {
    b.cookie(&app.state.cookie_name).is_some()
}

#[tokio::test]
async fn sp_initiated_login_creates_the_user_with_mapped_roles_and_reconciles_later() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"Helpdesk": "fulfiller", "Ops": "operator"}}),
    )
    .await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    assert_eq!(conn["kind"], "saml");
    assert_eq!(conn["idp_entity_id"], format!("{}/metadata", idp.base));
    assert_eq!(conn["idp_certificates"].as_array().unwrap().len(), 1);
    assert_eq!(conn["has_client_secret"], false);
    assert!(conn["acs_url"].as_str().unwrap().ends_with("/acs"));
    // Home-realm discovery on /login: the email's domain routes to this connection.
    let r = app
        .client
        .post(app.url("/sso/discover"))
        .form(&[("email", "alice@acme.test"), ("rd", "/api/me")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with(&format!("/sso/{}/start", conn["id"].as_str().unwrap())),
        "{to}"
    );
    idp.next_login(json!({"account": "alice"})).await;
    let (b, acs) = saml_login(&app, &conn).await;
    assert_eq!(acs.status, StatusCode::SEE_OTHER, "{}", acs.body);
    assert_eq!(acs.location.as_deref(), Some("/api/me"));
    assert!(
        b.cookie("__Host-idbridge_saml").is_none(),
        "the pre-auth cookie is cleared"
    );
    let m = me(&app, &b).await;
    assert_eq!(m["user"]["email"], "alice@acme.test");
    assert_eq!(m["user"]["first_name"], "Alice");
    assert_eq!(role_names(&m), ["fulfiller"]);
    // The AuthnRequest idbridge sent: to the IdP's SSO URL, answering to our ACS.
    let request = idp.get_text("/test/last-request").await;
    assert!(request.contains("AuthnRequest"), "{request}");
    assert!(request.contains(conn["acs_url"].as_str().unwrap()));
    // Alice moves from Helpdesk to Ops at the IdP: the next login reconciles.
    idp.post("/test/accounts", json!({"alice": {"groups": ["Ops"]}}))
        .await;
    let (b, acs) = saml_login(&app, &conn).await;
    assert_eq!(acs.status, StatusCode::SEE_OTHER, "{}", acs.body);
    assert_eq!(role_names(&me(&app, &b).await), ["operator"]);
    // The same SAML identity: still one user.
    let users = expect(
        app.get("/api/users?search=alice", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn forged_or_mismatched_responses_are_refused_without_a_session() {
    if std::env::var("SAML_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    }
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    let cases = [
        json!({"unsigned": true}),
        json!({"sign_with_rogue": true}),
        json!({"tamper_after_signing": true}),
        json!({"tamper_after_signing": true, "signing": "assertion"}),
        json!({"sig_alg": "rsa-sha1"}),
        json!({"two_assertions": true}),
        json!({"doctype": true}),
        json!({"audience": "https://someone-else.example/sp"}),
        json!({"omit_audience": true}),
        json!({"omit_conditions": true}),
        json!({"recipient": "https://someone-else.example/acs"}),
        json!({"destination": "https://someone-else.example/acs"}),
        json!({"in_response_to": "_not-our-request"}),
        json!({"in_response_to": null}),
        json!({"not_on_or_after": -600}),
        json!({"subject_not_on_or_after": -600}),
        json!({"not_before": 600}),
        json!({"issue_instant_offset": 600}),
        json!({"issuer": "https://evil.example/idp"}),
        json!({"status": "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"}),
        json!({"name_id_format": "transient"}),
    ];
    for knobs in cases {
        let mut k = knobs.clone();
        k["account"] = json!("alice");
        idp.next_login(k).await;
        let (b, acs) = saml_login(&app, &conn).await;
        assert_eq!(acs.status, StatusCode::BAD_REQUEST, "{knobs}: {}", acs.body);
        assert!(
            acs.body.contains("Sign-in failed") && acs.body.contains("Reference:"),
            "{knobs}: the generic page: {}",
            acs.body
        );
        assert!(
            !acs.body.contains("saml."),
            "{knobs}: the cause stays in the log"
        );
        assert!(!signed_in(&b, &app), "{knobs}: no session cookie");
    }
    // Nothing was created along the way.
    let users = expect(
        app.get("/api/users?search=alice", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 0);
    // And a clean response still works.
    idp.next_login(json!({"account": "alice"})).await;
    let (b, acs) = saml_login(&app, &conn).await;
    assert_eq!(acs.status, StatusCode::SEE_OTHER, "{}", acs.body);
    assert!(signed_in(&b, &app));
}

#[tokio::test]
async fn a_response_is_bound_to_its_browser_and_single_use() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    idp.next_login(json!({"account": "alice"})).await;
    // Another browser posts the response the first one was handed.
    let (_b, action, response, relay) = to_idp_form(&app, &conn).await;
    let mut thief = Browser::default();
    let hop = post_acs(&app, &mut thief, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{}", hop.body);
    assert!(!signed_in(&thief, &app));
    // The right browser, twice: the second post finds no pending request.
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let ok = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let mut again = Browser::default();
    let hop = post_acs(&app, &mut again, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST);
    assert!(!signed_in(&again, &app));
}

#[tokio::test]
async fn idp_initiated_login_is_refused_unless_enabled_and_replays_are_caught() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"Employees": "requester"}}),
    )
    .await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    idp.next_login(json!({"account": "bob", "assertion_id": "_replay-1"}))
        .await;
    let page = idp
        .get_text("/test/idp-initiated?relay_state=/api/me")
        .await;
    let (action, response, relay) = form(&page);
    let mut b = Browser::default();
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_eq!(
        hop.status,
        StatusCode::BAD_REQUEST,
        "off by default: {}",
        hop.body
    );
    assert!(!signed_in(&b, &app));
    let id = conn["id"].as_str().unwrap();
    let patched = patch_connection(&app, &admin, id, json!({"allow_idp_initiated": true})).await;
    assert_eq!(patched["allow_idp_initiated"], true);
    idp.next_login(json!({"account": "bob", "assertion_id": "_replay-2"}))
        .await;
    let page = idp
        .get_text("/test/idp-initiated?relay_state=/api/me")
        .await;
    let (action, response, relay) = form(&page);
    let mut b = Browser::default();
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_eq!(hop.location.as_deref(), Some("/api/me"));
    assert_eq!(role_names(&me(&app, &b).await), ["requester"]);
    // The same response again (captured, replayed): refused, whichever browser posts it.
    let mut replayer = Browser::default();
    let hop = post_acs(&app, &mut replayer, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{}", hop.body);
    assert!(!signed_in(&replayer, &app));
    // An unsolicited RelayState pointing elsewhere is not followed.
    idp.next_login(json!({"account": "bob"})).await;
    let page = idp
        .get_text("/test/idp-initiated?relay_state=https://evil.example/")
        .await;
    let (action, response, relay) = form(&page);
    let mut b = Browser::default();
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_ne!(hop.location.as_deref(), Some("https://evil.example/"));
}

#[tokio::test]
async fn connections_need_signing_certificates_and_safe_metadata_urls() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let create = |body: Value| app.post("/api/sso/connections", &admin, body).send();
    let idp = saml_idp(json!({"alice": {"email": "alice@acme.test"}})).await;
    let metadata = idp.get_text("/metadata").await;
    // No signing certificate: cannot be saved.
    let stripped = {
        let start = metadata
            .find("<KeyDescriptor")
            .or_else(|| metadata.find("<md:KeyDescriptor"))
            .unwrap();
        let end_tag = if metadata[start..].starts_with("<md:") {
            "</md:KeyDescriptor>"
        } else {
            "</KeyDescriptor>"
        };
        let end = start + metadata[start..].find(end_tag).unwrap() + end_tag.len();
        format!("{}{}", &metadata[..start], &metadata[end..])
    };
    let r = create(json!({"kind": "saml", "name": "no cert", "idp_metadata_xml": stripped}))
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("signing certificate"),
        "{e}"
    );
    // A DOCTYPE in metadata is refused.
    let r = create(json!({"kind": "saml", "name": "doctype",
        "idp_metadata_xml": format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{metadata}")}))
    .await
    .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    // Plain http and loopback metadata URLs: tests/api/outbound.rs (the deployment setting).
    let _ = &idp;
    // Uploaded metadata works, and the SP metadata names our ACS URL and certificate.
    let conn = expect(
        create(json!({"kind": "saml", "name": "upload", "idp_metadata_xml": metadata}))
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let sp = app
        .client
        .get(conn["sp_metadata_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sp.headers()["content-type"], "application/samlmetadata+xml");
    let sp = sp.text().await.unwrap();
    assert!(sp.contains(conn["acs_url"].as_str().unwrap()));
    assert!(sp.contains("X509Certificate"));
    // The metadata says what the ACS does: a response signature covering the assertion is
    // accepted unless the connection sets want_assertions_signed (tests/api/catalog.rs, 20).
    assert!(sp.contains("WantAssertionsSigned=\"false\""));
    // Unknown fields and kinds are clear errors.
    let r = create(json!({"kind": "saml", "name": "typo", "idp_metadata_xml": metadata, "email_atribute": "x"}))
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    let r = create(json!({"kind": "ldap", "name": "nope"}))
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "unsupported_kind").await;
    // The explain dry run reads SAML attributes with the same mapping code.
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"Helpdesk": "fulfiller"}}),
    )
    .await;
    let explained = expect(
        app.post(
            "/api/sso/explain",
            &admin,
            json!({"connection": conn["id"], "claims": {"name_id": "alice@acme.test",
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": ["Helpdesk"]}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(explained["user"]["match"], "create", "{explained}");
    assert_eq!(explained["roles"][0]["role"], "fulfiller", "{explained}");
}

#[tokio::test]
async fn encrypted_assertions_and_signed_authn_requests_work_with_the_sp_key() {
    if std::env::var("SAML_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    }
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({"sign_authn_requests": true})).await;
    // The SP metadata says AuthnRequestsSigned: the IdP verifies our signature or refuses.
    let sp = app
        .client
        .get(conn["sp_metadata_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sp.contains("AuthnRequestsSigned=\"true\""), "{sp}");
    idp.next_login(json!({"account": "alice", "encrypt": true}))
        .await;
    let (mut b, action, response, relay) = to_idp_form(&app, &conn).await;
    let xml = idp.get_text("/test/last-response").await;
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains("alice@acme.test"),
        "the identity travels encrypted"
    );
    let hop = post_acs(&app, &mut b, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_eq!(me(&app, &b).await["user"]["email"], "alice@acme.test");
    // Encrypted but unsigned, or only the response signed around an unsigned assertion:
    // refused (the decrypted assertion must carry the IdP's signature).
    for knobs in [
        json!({"account": "alice", "encrypt": true, "unsigned": true}),
        json!({"account": "alice", "encrypt": true, "signing": "response"}),
    ] {
        idp.next_login(knobs.clone()).await;
        let (b, hop) = saml_login(&app, &conn).await;
        assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{knobs}: {}", hop.body);
        assert!(!signed_in(&b, &app));
    }
}

#[tokio::test]
async fn a_second_certificate_for_rollover_is_trusted_and_only_configured_ones_are() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    // The rogue key is not trusted...
    idp.next_login(json!({"account": "alice", "sign_with_rogue": true}))
        .await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST);
    // ...until an admin adds its certificate (the IdP's next one, during a rollover).
    let rogue = idp.get_text("/test/rogue-cert").await;
    let id = conn["id"].as_str().unwrap();
    let patched = patch_connection(&app, &admin, id, json!({"idp_certificates": [rogue]})).await;
    assert_eq!(patched["idp_certificates"].as_array().unwrap().len(), 2);
    idp.next_login(json!({"account": "alice", "sign_with_rogue": true}))
        .await;
    let (b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert!(signed_in(&b, &app));
    // The original key still works during the rollover.
    idp.next_login(json!({"account": "alice"})).await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
}

#[tokio::test]
async fn garbage_at_the_acs_is_a_400_and_hostile_metadata_is_refused() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({"allow_idp_initiated": true})).await;
    let acs = conn["acs_url"].as_str().unwrap();
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for garbage in [
        String::new(),
        "%%%not base64%%%".into(),
        b64("not xml"),
        b64("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
        b64(&format!("<a>{}</a>", "x".repeat(300 * 1024))),
    ] {
        let mut b = Browser::default();
        let hop = post_acs(&app, &mut b, acs, &garbage, None).await;
        assert_eq!(
            hop.status,
            StatusCode::BAD_REQUEST,
            "{garbage:.40}: {}",
            hop.body
        );
        assert!(!signed_in(&b, &app));
    }
    // No SAMLResponse field at all.
    let r = app
        .client
        .post(acs)
        .form(&[("RelayState", "x")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // Metadata whose sign-on location is not https.
    let metadata = idp.get_text("/metadata").await;
    let hostile = metadata.replace(&format!("{}/sso", idp.base), "javascript:alert(1)");
    assert_ne!(hostile, metadata);
    let r = app
        .post(
            "/api/sso/connections",
            &admin,
            json!({"kind": "saml", "name": "hostile", "idp_metadata_xml": hostile}),
        )
        .send()
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    assert!(e["message"].as_str().unwrap().contains("https"), "{e}");
    // Plain http sign-on locations: tests/api/outbound.rs (the deployment setting).
}

/// A metadata URL whose document the test can change (an IdP rotating its certificate).
async fn metadata_server(doc: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    let app = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { doc.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/metadata")
}

#[tokio::test]
async fn metadata_refresh_follows_the_idps_new_certificate_and_expiry_is_flagged() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, _) = saml_setup(&app, &admin, json!({})).await;
    // The IdP still publishes its old (rogue) certificate at the URL the connection uses.
    let doc = std::sync::Arc::new(std::sync::Mutex::new(
        idp.get_text("/test/rogue-metadata").await,
    ));
    let url = metadata_server(doc.clone()).await;
    let conn = expect(
        app.post(
            "/api/sso/connections",
            &admin,
            json!({"kind": "saml", "name": "rotating", "idp_metadata_url": url}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let sp_metadata = app
        .client
        .get(conn["sp_metadata_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    idp.post(
        "/test/sp",
        json!({"entity_id": conn["sp_entity_id"], "acs_url": conn["acs_url"], "metadata_xml": sp_metadata}),
    )
    .await;
    idp.next_login(json!({"account": "alice"})).await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(
        hop.status,
        StatusCode::BAD_REQUEST,
        "signed with a key the old metadata lacks"
    );
    // The IdP publishes its current certificate; a refresh picks it up.
    *doc.lock().unwrap() = idp.get_text("/metadata").await;
    let id = conn["id"].as_str().unwrap();
    let refreshed = refresh(&app, &admin, id).await;
    assert_eq!(refreshed["changed"], true, "{refreshed}");
    idp.next_login(json!({"account": "alice"})).await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    // The old certificate left the metadata: responses signed with it are refused now.
    idp.next_login(json!({"account": "alice", "sign_with_rogue": true}))
        .await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(
        hop.status,
        StatusCode::BAD_REQUEST,
        "the retired certificate is no longer trusted"
    );
    // Unchanged the second time; an uploaded connection has nothing to refresh from.
    let again = refresh(&app, &admin, id).await;
    assert_eq!(again["changed"], false);
    // A URL that stops answering keeps the last good metadata.
    *doc.lock().unwrap() = "<not metadata".into();
    let r = app
        .post(
            &format!("/api/sso/connections/{id}/metadata/refresh"),
            &admin,
            json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    idp.next_login(json!({"account": "alice"})).await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    // A certificate that expires in 10 days is flagged in the API and in /metrics.
    let dir = std::env::temp_dir().join(format!("idbridge-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "10",
            "-subj",
            "/CN=expiring-idp",
        ])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let pem = std::fs::read_to_string(dir.join("c.pem")).unwrap();
    let patched = patch_connection(&app, &admin, id, json!({"idp_certificates": [pem]})).await;
    let warnings = patched["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{patched}");
    assert!(warnings[0].as_str().unwrap().contains("expiring-idp"));
    let n = idbridge::sso::saml_sp::check_all(&app.state).await.unwrap();
    assert_eq!(n, 1);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("idbridge_saml_certificates_expiring 1"),
        "{metrics}"
    );
    // The extra certificate survives a metadata refresh.
    *doc.lock().unwrap() = idp.get_text("/metadata").await;
    app.post(
        &format!("/api/sso/connections/{id}/metadata/refresh"),
        &admin,
        json!({}),
    )
    .send()
    .await
    .unwrap();
    let view = expect(
        app.get(&format!("/api/sso/connections/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["idp_certificates"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

async fn form_post(app: &TestApp, b: &mut Browser, action: &str, fields: &[(&str, String)]) -> Hop {
    let r = app
        .client
        .post(action)
        .header("cookie", b.cookie_header())
        .form(fields)
        .send()
        .await
        .unwrap();
    b.absorb(&r);
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    Hop {
        status: r.status(),
        url: action.into(),
        location,
        body: r.text().await.unwrap(),
    }
}

/// The hidden fields of an IdP form page: (action, [(name, value)]).
fn form_fields(html: &str) -> (String, Vec<(String, String)>) {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(unescape)
        .expect("a form action");
    let mut fields = Vec::new();
    for input in html.split("<input").skip(1) {
        let get = |a: &str| {
            input
                .split(&format!("{a}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(unescape)
        };
        if let (Some(n), Some(v)) = (get("name"), get("value")) {
            fields.push((n, v));
        }
    }
    (action, fields)
}

async fn session_alive(app: &TestApp, b: &Browser) -> bool {
    let cookie = format!(
        "{}={}",
        app.state.cookie_name,
        b.cookie(&app.state.cookie_name).expect("a session cookie")
    );
    app.client
        .get(app.url("/api/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK
}

#[tokio::test]
async fn single_logout_works_both_ways_and_refuses_forged_requests() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({})).await;
    assert!(conn["slo_url"].as_str().unwrap().ends_with("/slo"));
    idp.post("/test/sp", json!({"slo_url": conn["slo_url"]}))
        .await;
    // SP-initiated: sign-out at idbridge goes to the IdP with a signed LogoutRequest, and the
    // IdP's LogoutResponse comes back to the SLO endpoint.
    idp.next_login(json!({"account": "alice"})).await;
    let (mut b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let jar_before = b.cookie(&app.state.cookie_name).cloned().unwrap();
    let token = app.csrf_for(&format!("{}={jar_before}", app.state.cookie_name));
    let out = form_post(&app, &mut b, &app.url("/logout"), &[("_csrf", token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let to_idp = out.location.expect("to the IdP's SingleLogoutService");
    assert!(
        to_idp.starts_with(&format!("{}/slo?SAMLRequest=", idp.base)),
        "{to_idp}"
    );
    assert!(to_idp.contains("&Signature="), "signed: {to_idp}");
    let page = app.client.get(&to_idp).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the IdP accepts our signed LogoutRequest"
    );
    let request = idp.get_text("/test/last-request").await;
    assert!(
        request.contains("LogoutRequest") && request.contains("alice@acme.test"),
        "{request}"
    );
    assert!(request.contains("SessionIndex"), "{request}");
    let (action, fields) = form_fields(&page.text().await.unwrap());
    assert_eq!(action, conn["slo_url"].as_str().unwrap());
    let fields: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let done = form_post(&app, &mut b, &action, &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("signed out"), "{}", done.body);
    let mut old = Browser::default();
    old.absorb_pair(&app.state.cookie_name, &jar_before);
    assert!(
        !session_alive(&app, &old).await,
        "the idbridge session ended"
    );

    // IdP-initiated: the IdP's signed LogoutRequest ends the user's sessions here.
    idp.next_login(json!({"account": "alice"})).await;
    let (b1, _) = saml_login(&app, &conn).await;
    idp.next_login(json!({"account": "bob"})).await;
    let (bob, _) = saml_login(&app, &conn).await;
    idp.next_login(json!({"account": "alice"})).await;
    assert!(session_alive(&app, &b1).await);
    // A forged one first: the NameID changed after signing.
    let page = app
        .client
        .post(format!("{}/test/logout-request", idp.base))
        .json(&json!({"name_id": "bob@acme.test"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, fields) = form_fields(&page);
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let forged: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| {
            if k == "SAMLRequest" {
                let xml = String::from_utf8(engine.decode(v).unwrap()).unwrap();
                (
                    k.as_str(),
                    engine.encode(xml.replace("bob@acme.test", "alice@acme.test")),
                )
            } else {
                (k.as_str(), v.clone())
            }
        })
        .collect();
    let mut anyone = Browser::default();
    let hop = form_post(&app, &mut anyone, &action, &forged).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{}", hop.body);
    assert!(
        session_alive(&app, &b1).await,
        "a forged LogoutRequest ends nothing"
    );
    // The genuine one for bob: bob's session ends, alice's stays.
    let fields: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let hop = form_post(&app, &mut anyone, &action, &fields).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let answer = hop.location.unwrap();
    assert!(
        answer.starts_with(&format!("{}/slo?SAMLResponse=", idp.base)),
        "{answer}"
    );
    let confirmed = app.client.get(&answer).send().await.unwrap();
    assert_eq!(
        confirmed.status(),
        StatusCode::OK,
        "the IdP accepts our signed LogoutResponse"
    );
    assert!(!session_alive(&app, &bob).await, "bob's session ended");
    assert!(session_alive(&app, &b1).await, "alice's did not");
    let audit = expect(
        app.get("/api/audit?action=sso.idp_logout", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"][0]["after"]["sessions_ended"], 1, "{audit}");
}

/// The signature wrapping variants of security-tests.md 2.1 (SAML Raider's XSW1-8) and their
/// neighbours, built from genuine signed responses of the IdP and posted to the ACS.
#[tokio::test]
async fn signature_wrapping_variants_are_refused_without_a_session() {
    if std::env::var("SAML_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    }
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({"allow_idp_initiated": true})).await;
    let acs = conn["acs_url"].as_str().unwrap().to_string();
    let between = |s: &str, start: &str, end: &str| -> (usize, usize) {
        let a = s.find(start).unwrap_or_else(|| panic!("{start} in {s}"));
        let b = a + s[a..].find(end).unwrap() + end.len();
        (a, b)
    };
    for signing in ["response", "assertion", "both"] {
        idp.next_login(json!({"account": "alice", "signing": signing}))
            .await;
        let page = idp.get_text("/test/idp-initiated").await;
        let (_, response, _) = form(&page);
        let xml = String::from_utf8(engine.decode(&response).unwrap()).unwrap();
        let evil = |x: &str| x.replace("alice@acme.test", "victim-admin@acme.test");
        let (a0, a1) = between(&xml, "<saml:Assertion", "</saml:Assertion>");
        let assertion = &xml[a0..a1];
        let unsigned_assertion = |a: &str| match a.find("<ds:Signature") {
            Some(s0) => {
                let s1 = s0 + a[s0..].find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
                format!("{}{}", &a[..s0], &a[s1..])
            }
            None => a.to_string(),
        };
        let evil_assertion = evil(&unsigned_assertion(assertion)).replacen(
            "ID=\"",
            "ID=\"_evil_assertion_ID\" OldID=\"",
            1,
        );
        let root_sig = xml[..a0].find("<ds:Signature").map(|s0| {
            let s1 = s0 + xml[s0..].find("</ds:Signature>").unwrap();
            (s0, s1)
        });
        let mut variants: Vec<(&str, String)> = Vec::new();
        if let Some((s0, s1)) = root_sig {
            // XSW1: evil response, the original inside its signature.
            let mut v = evil(&xml).replacen("ID=\"", "ID=\"_evil_response_ID\" OldID=\"", 1);
            let at = v.find("</ds:Signature>").unwrap();
            v.insert_str(at, &xml);
            variants.push(("XSW1", v));
            // XSW2: the original as a sibling before the signature.
            let mut v = evil(&xml).replacen("ID=\"", "ID=\"_evil_response_ID\" OldID=\"", 1);
            v.insert_str(s0, &xml);
            variants.push(("XSW2", v));
            let _ = s1;
        }
        // XSW3: an unsigned evil assertion before the signed one.
        variants.push((
            "XSW3",
            format!("{}{}{}", &xml[..a0], evil_assertion, &xml[a0..]),
        ));
        // XSW4: the signed assertion moved inside the evil one.
        let inner_end = evil_assertion.rfind("</saml:Assertion>").unwrap();
        let wrapped = format!(
            "{}{}{}",
            &evil_assertion[..inner_end],
            assertion,
            &evil_assertion[inner_end..]
        );
        variants.push(("XSW4", format!("{}{}{}", &xml[..a0], wrapped, &xml[a1..])));
        // XSW5: the assertion changed in place (signature kept), a clean copy appended.
        let changed = evil(assertion).replacen("ID=\"", "ID=\"_evil_assertion_ID\" OldID=\"", 1);
        let end = xml.rfind("</samlp:Response>").unwrap();
        variants.push((
            "XSW5",
            format!("{}{}{}{}", &xml[..a0], changed, &xml[a1..end], &xml[end..]).replacen(
                "</samlp:Response>",
                &format!("{assertion}</samlp:Response>"),
                1,
            ),
        ));
        // XSW6 / XSW8: the clean copy inside the changed assertion's signature (bare, or in ds:Object).
        if changed.contains("</ds:Signature>") {
            for (name, copy) in [
                ("XSW6", assertion.to_string()),
                ("XSW8", format!("<ds:Object>{assertion}</ds:Object>")),
            ] {
                let mut c = changed.clone();
                let at = c.find("</ds:Signature>").unwrap();
                c.insert_str(at, &copy);
                variants.push((name, format!("{}{}{}", &xml[..a0], c, &xml[a1..])));
            }
        }
        // XSW7: an evil assertion inside Extensions.
        variants.push((
            "XSW7",
            format!(
                "{}<samlp:Extensions>{}</samlp:Extensions>{}",
                &xml[..a0],
                evil_assertion,
                &xml[a0..]
            ),
        ));
        // Signature stripped, NameID changed.
        let mut stripped = evil(&xml);
        while let Some(s0) = stripped.find("<ds:Signature") {
            let s1 = s0 + stripped[s0..].find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
            stripped.replace_range(s0..s1, "");
        }
        variants.push(("stripped", stripped));
        // Comment injection in the NameID.
        variants.push((
            "comment",
            xml.replacen(">alice@acme.test<", ">alice@acme.test<!---->.evil.com<", 1),
        ));
        // Plain tampering: the NameID changed, signatures left as they were.
        variants.push(("tampered", evil(&xml)));
        for (name, v) in variants {
            let mut b = Browser::default();
            let hop = post_acs(&app, &mut b, &acs, &engine.encode(&v), None).await;
            assert_eq!(
                hop.status,
                StatusCode::BAD_REQUEST,
                "{signing}/{name}: {}",
                hop.body
            );
            assert!(!signed_in(&b, &app), "{signing}/{name}: no session");
        }
        // The genuine response itself still signs in (each mode is a valid IdP setup).
        let mut b = Browser::default();
        let hop = post_acs(&app, &mut b, &acs, &response, None).await;
        assert_eq!(hop.status, StatusCode::SEE_OTHER, "{signing}: {}", hop.body);
    }
    let users = expect(
        app.get("/api/users?search=victim", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        0,
        "no victim account"
    );
}

/// Login CSRF through IdP-initiated sign-in: an attacker's unsolicited response posted into a
/// victim's signed-in browser does not replace the victim's session.
#[tokio::test]
async fn an_unsolicited_response_never_switches_an_existing_session() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = saml_setup(&app, &admin, json!({"allow_idp_initiated": true})).await;
    idp.next_login(json!({"account": "alice"})).await;
    let (mut victim, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let before = victim.cookie(&app.state.cookie_name).cloned().unwrap();
    // The attacker (bob at the same IdP) makes the victim's browser post bob's response.
    idp.next_login(json!({"account": "bob"})).await;
    let page = idp.get_text("/test/idp-initiated").await;
    let (action, response, relay) = form(&page);
    let hop = post_acs(&app, &mut victim, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER);
    assert_eq!(hop.location.as_deref(), Some("/login"));
    assert_eq!(
        victim.cookie(&app.state.cookie_name),
        Some(&before),
        "the session is kept"
    );
    assert_eq!(me(&app, &victim).await["user"]["email"], "alice@acme.test");
    // The same user's unsolicited sign-in is fine.
    idp.next_login(json!({"account": "alice"})).await;
    let page = idp.get_text("/test/idp-initiated").await;
    let (action, response, relay) = form(&page);
    let hop = post_acs(&app, &mut victim, &action, &response, relay.as_deref()).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_ne!(
        victim.cookie(&app.state.cookie_name),
        Some(&before),
        "a new session"
    );
}
