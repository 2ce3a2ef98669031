//! SSO through an upstream OpenID Connect IdP: a real one, npm `oidc-provider` (panva, OpenID
//! certified; interop/oidc-idp.mjs), on loopback. The browser is a client that does not follow
//! redirects: every hop and cookie is visible to the test.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub struct Idp {
    _child: tokio::process::Child,
    pub issuer: String,
    http: reqwest::Client,
}

pub async fn idp(accounts: Value) -> Idp {
    let (child, issuer) = node_fixture(
        "oidc-idp.mjs",
        "oidc-provider",
        &json!({"clients": [], "accounts": accounts}),
    )
    .await;
    Idp {
        _child: child,
        issuer,
        http: reqwest::Client::new(),
    }
}

impl Idp {
    /// Registers idbridge as a client (dynamic registration), as an admin would in the IdP's
    /// console after reading the redirect URI off the connection.
    pub async fn register(&self, redirect_uri: &str, post_logout: &str) -> (String, String) {
        let r: Value = self
            .http
            .post(format!("{}/reg", self.issuer))
            .json(
                &json!({"redirect_uris": [redirect_uri], "post_logout_redirect_uris": [post_logout], "grant_types": ["authorization_code"],
                "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            r["client_id"].as_str().expect("client_id").into(),
            r["client_secret"].as_str().unwrap().into(),
        )
    }

    pub async fn next_login(&self, account: &str) {
        let r = self
            .http
            .post(format!("{}/test/next-login", self.issuer))
            .json(&json!({"account": account}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    pub async fn set_claims(&self, account: &str, claims: Value) {
        let r = self
            .http
            .post(format!("{}/test/accounts", self.issuer))
            .json(&json!({account: claims}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// A browser: a cookie jar by name (everything is on 127.0.0.1), no automatic redirects.
#[derive(Default)]
pub struct Browser {
    jar: BTreeMap<String, String>,
}

pub struct Hop {
    pub status: StatusCode,
    pub url: String,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn absorb(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            let gone = attrs.to_ascii_lowercase().contains("max-age=0")
                || attrs.contains("1970")
                || val.is_empty();
            if gone {
                self.jar.remove(k.trim());
            } else {
                self.jar.insert(k.trim().into(), val.into());
            }
        }
    }

    /// Puts a cookie in the jar (a browser that kept an old cookie).
    pub fn absorb_pair(&mut self, name: &str, value: &str) {
        self.jar.insert(name.into(), value.into());
    }

    pub fn cookie(&self, name: &str) -> Option<&String> {
        self.jar.get(name)
    }

    pub async fn get(&mut self, app: &TestApp, url: &str) -> Hop {
        let r = app
            .client
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(&r);
        let location = r.headers().get("location").map(|l| {
            let l = l.to_str().unwrap();
            if l.starts_with('/') {
                let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                format!("{origin}{l}")
            } else {
                l.to_string()
            }
        });
        Hop {
            status: r.status(),
            url: url.into(),
            location,
            body: r.text().await.unwrap(),
        }
    }

    /// Follows redirects until a response that is not one; returns every hop.
    pub async fn follow(&mut self, app: &TestApp, start: &str) -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut url = start.to_string();
        for _ in 0..15 {
            let hop = self.get(app, &url).await;
            let next = hop.location.clone().filter(|_| hop.status.is_redirection());
            hops.push(hop);
            match next {
                Some(n) if !n.starts_with("http://127.0.0.1:9/") => url = n,
                _ => return hops,
            }
        }
        panic!("too many redirects");
    }
}

/// An IdP with alice and bob, a connection in the admin's tenant, idbridge registered at the IdP.
pub async fn setup(app: &TestApp, admin: &Session, extra: Value) -> (Idp, Value) {
    let idp = idp(json!({
        "alice": {"email": "alice@acme.test", "email_verified": true, "given_name": "Alice", "family_name": "Liddell", "groups": ["Helpdesk"]},
        "bob": {"email": "bob@acme.test", "email_verified": false, "name": "Bob Builder", "groups": ["Employees", "Unmapped"]},
    }))
    .await;
    let tenant = extra["tenant"].as_str().unwrap_or("default");
    app.verify_domain(admin, tenant, "acme.test").await;
    let mut body = json!({"kind": "oidc", "name": "Acme IdP", "issuer": idp.issuer, "client_id": "pending",
        "scopes": ["openid", "email", "profile"], "email_domains": ["acme.test"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let conn = expect(
        app.post("/api/sso/connections", admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (client_id, secret) = idp
        .register(
            conn["redirect_uri"].as_str().unwrap(),
            conn["post_logout_redirect_uri"].as_str().unwrap(),
        )
        .await;
    let conn = expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            admin,
            json!({"client_id": client_id, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    (idp, conn)
}

/// Signs in through the connection (continuing to `/api/me`); returns the browser and all hops.
pub async fn sso_login(app: &TestApp, conn: &Value) -> (Browser, Vec<Hop>) {
    let mut b = Browser::default();
    let start = format!("{}?rd=/api/me", conn["start_url"].as_str().unwrap());
    let hops = b.follow(app, &start).await;
    (b, hops)
}

/// The hop that hit idbridge's callback.
pub fn callback_hop(hops: &[Hop]) -> &Hop {
    hops.iter()
        .find(|h| h.url.contains("/sso/oidc/"))
        .expect("the chain reaches idbridge's callback")
}

/// The tenant's SSO settings, set by an admin (`POST /api/auth/sso-config`).
pub async fn sso_config(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect(
        app.post("/api/auth/sso-config", admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

pub async fn me(app: &TestApp, b: &Browser) -> Value {
    let cookie = format!(
        "{}={}",
        app.state.cookie_name,
        b.cookie(&app.state.cookie_name).expect("a session cookie")
    );
    expect(
        app.client
            .get(app.url("/api/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

pub fn role_names(me: &Value) -> Vec<String> {
    let mut r: Vec<String> = me["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn first_login_creates_the_user_with_roles_from_the_tenant_map_and_later_logins_reconcile() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"Helpdesk": "fulfiller", "Ops": "operator"}}),
    )
    .await;
    let (idp, conn) = setup(&app, &admin, json!({})).await;
    assert!(
        conn["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/callback")
    );
    assert!(
        conn.get("client_secret").is_none(),
        "the secret is never returned"
    );
    assert_eq!(conn["has_client_secret"], true);
    idp.next_login("alice").await;
    let (b, hops) = sso_login(&app, &conn).await;
    let cb = callback_hop(&hops);
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}: {}", cb.url, cb.body);
    assert_eq!(
        cb.location.as_deref().map(|l| l.ends_with("/api/me")),
        Some(true)
    );
    assert!(
        cb.url.contains("code=") && cb.url.contains("iss="),
        "RFC 9207 iss comes back: {}",
        cb.url
    );
    assert!(
        b.cookie("__Host-idbridge_sso").is_none(),
        "the pre-auth cookie is cleared"
    );
    assert_eq!(hops.last().unwrap().status, StatusCode::OK);
    let m = me(&app, &b).await;
    assert_eq!(m["user"]["email"], "alice@acme.test");
    assert_eq!(m["user"]["first_name"], "Alice");
    assert_eq!(role_names(&m), ["fulfiller"]);
    // Alice moves from Helpdesk to Ops at the IdP: the next login reconciles.
    idp.set_claims("alice", json!({"groups": ["Ops"]})).await;
    let (b, _) = sso_login(&app, &conn).await;
    let m2 = me(&app, &b).await;
    assert_eq!(
        m2["user"]["id"], m["user"]["id"],
        "same user: keyed by issuer and subject"
    );
    assert_eq!(role_names(&m2), ["operator"]);
}

#[tokio::test]
async fn global_map_default_role_email_linking_and_refusals() {
    let app = spawn_app_with(|s| {
        s.sso.group_role_map = "Employees:requester,Helpdesk:operator".into();
    })
    .await;
    let admin = app.register_admin().await;
    // The tenant map wins over the global one for Helpdesk; Employees comes from the global map.
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"helpdesk": "fulfiller"}, "jit_default_role": "requester"}),
    )
    .await;
    let (idp, conn) = setup(&app, &admin, json!({})).await;
    idp.set_claims("alice", json!({"groups": ["Helpdesk", "Employees"]}))
        .await;
    idp.next_login("alice").await;
    let (b, _) = sso_login(&app, &conn).await;
    assert_eq!(
        role_names(&me(&app, &b).await),
        ["fulfiller", "requester"],
        "union, tenant map first"
    );
    // The explain API tells which rule gave each role.
    let ex = expect(
        app.post("/api/sso/explain", &admin, json!({"connection": conn["id"], "claims": {"sub": "carol", "email": "carol@acme.test", "groups": ["Helpdesk", "Nope"]}}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ex["user"]["match"], "create");
    assert_eq!(ex["roles"][0]["role"], "fulfiller");
    assert_eq!(ex["roles"][0]["rule"], "tenant group_role_map: Helpdesk");
    // No group matches: the tenant's jit_default_role.
    idp.set_claims("alice", json!({"groups": ["Nothing"]}))
        .await;
    let (b, _) = sso_login(&app, &conn).await;
    assert_eq!(role_names(&me(&app, &b).await), ["requester"]);
    // A password user with Bob's email exists; Bob's IdP says email_verified false: no link, 409 page.
    app.create_user(&admin, "bob@acme.test", "Bob").await;
    idp.next_login("bob").await;
    let (b, hops) = sso_login(&app, &conn).await;
    let cb = callback_hop(&hops);
    assert_eq!(cb.status, StatusCode::CONFLICT, "{}", cb.body);
    assert!(
        cb.body.contains("Reference:"),
        "a generic page with a correlation id"
    );
    assert!(
        b.cookie(&app.state.cookie_name).is_none(),
        "no session on failure"
    );
    // A deactivated user is refused (403) and not resurrected.
    idp.next_login("alice").await;
    let alice_id = me(&app, &sso_login(&app, &conn).await.0).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect(
        app.patch(
            &format!("/api/users/{alice_id}"),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let (b, hops) = sso_login(&app, &conn).await;
    assert_eq!(callback_hop(&hops).status, StatusCode::FORBIDDEN);
    assert!(b.cookie(&app.state.cookie_name).is_none());
}

#[tokio::test]
async fn the_callback_refuses_forged_replayed_and_cross_browser_states() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = setup(&app, &admin, json!({})).await;
    idp.next_login("alice").await;
    let cb_base = conn["redirect_uri"].as_str().unwrap().to_string();
    let mut stranger = Browser::default();
    // No state, unknown state.
    for q in ["?code=x", "?code=x&state=forged"] {
        let h = stranger.get(&app, &format!("{cb_base}{q}")).await;
        assert_eq!(h.status, StatusCode::BAD_REQUEST, "{q}");
    }
    // A real authorization response replayed in another browser (login CSRF): refused.
    let mut victim = Browser::default();
    let start = conn["start_url"].as_str().unwrap();
    let first = victim.get(&app, start).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let authorize = first.location.unwrap();
    assert!(
        authorize.contains("code_challenge_method=S256")
            && authorize.contains("nonce=")
            && authorize.contains("state=")
    );
    let mut hops = victim.follow(&app, &authorize).await;
    // follow() stops before the callback only if it is off-site; here it went through: take the
    // callback URL and replay it from a stranger's browser.
    let cb = hops
        .drain(..)
        .find(|h| h.url.starts_with(&cb_base))
        .expect("callback reached");
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    let replay = stranger.get(&app, &cb.url).await;
    assert_eq!(
        replay.status,
        StatusCode::BAD_REQUEST,
        "a used state never works twice"
    );
    // The IdP's iss must match (RFC 9207 mix-up defence).
    let mut b = Browser::default();
    let first = b.get(&app, start).await;
    let state = first
        .location
        .as_deref()
        .unwrap()
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap()
        .to_string();
    let h = b
        .get(
            &app,
            &format!("{cb_base}?code=x&state={state}&iss=https%3A%2F%2Fevil.example"),
        )
        .await;
    assert_eq!(h.status, StatusCode::BAD_REQUEST);
    assert!(!h.body.contains("evil"), "the cause is logged, not shown");
}

#[tokio::test]
async fn connections_are_validated_and_tenant_scoped() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let idp = idp(json!({"alice": {"email": "alice@acme.test"}})).await;
    let bad = |body: Value| app.post("/api/sso/connections", &admin, body);
    expect_error(
        bad(json!({"kind": "oidc", "name": "x", "issuer": "ftp://idp.example", "client_id": "c"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "url_refused",
    )
    .await;
    // Plain http is the deployment's decision (outbound.allow_private), never a connection's.
    expect_error(
        bad(json!({"kind": "oidc", "name": "x", "issuer": idp.issuer, "client_id": "c", "allow_insecure_http": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "deployment_setting",
    )
    .await;
    expect_error(
        bad(json!({"kind": "oidc", "name": "x", "issuer": "http://127.0.0.1:9", "client_id": "c"}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "discovery_failed",
    )
    .await;
    expect_error(
        bad(json!({"kind": "oidc", "name": "x", "issuer": idp.issuer, "client_id": "c", "id_token_algs": ["none"]})).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_algorithms",
    )
    .await;
    let ok = json!({"kind": "oidc", "name": "Acme", "issuer": idp.issuer, "client_id": "c", "client_secret": "s", "email_domains": ["Acme.test"]});
    // A connection's domains must be verified domains of its organisation.
    expect_error(
        bad(ok.clone()).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "domain_not_verified",
    )
    .await;
    app.verify_domain(&admin, "default", "acme.test").await;
    let c = expect(bad(ok.clone()).send().await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(c["email_domains"], json!(["acme.test"]));
    expect_error(
        bad(ok).send().await.unwrap(),
        StatusCode::CONFLICT,
        "name_taken",
    )
    .await;
    let dup_domain = json!({"kind": "oidc", "name": "Other", "issuer": idp.issuer, "client_id": "c", "email_domains": ["acme.test"]});
    expect_error(
        bad(dup_domain).send().await.unwrap(),
        StatusCode::CONFLICT,
        "domain_taken",
    )
    .await;
    let list = expect(
        app.get("/api/sso/connections", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let cfg = expect(
        app.get("/api/auth/sso-config", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(cfg["connections"][0]["name"], "Acme");
    assert_eq!(cfg["role_source"], "idp");
    expect_error(
        app.post(
            "/api/auth/sso-config",
            &admin,
            json!({"group_role_map": {"G": "no-such-role"}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "unknown_role",
    )
    .await;
    // A user without sso:read sees nothing.
    let bob = app
        .user_with_role(&admin, "bob@example.com", "requester")
        .await;
    let r = app
        .get(
            &format!("/api/sso/connections/{}", c["id"].as_str().unwrap()),
            &bob,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Home-realm discovery routes the email's domain to the connection.
    let r = app
        .client
        .post(app.url("/sso/discover"))
        .form(&[("email", "someone@ACME.test"), ("rd", "/api/me")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with(&format!("/sso/{}/start", c["id"].as_str().unwrap())),
        "{to}"
    );
    expect(
        app.client
            .delete(app.url(&format!(
                "/api/sso/connections/{}",
                c["id"].as_str().unwrap()
            )))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
}

#[tokio::test]
async fn signing_out_ends_the_session_and_continues_to_the_idps_end_session_endpoint() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (idp, conn) = setup(&app, &admin, json!({})).await;
    idp.next_login("alice").await;
    let (b, _) = sso_login(&app, &conn).await;
    let cookie = format!(
        "{}={}",
        app.state.cookie_name,
        b.cookie(&app.state.cookie_name).unwrap()
    );
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("_csrf", app.csrf_for(&cookie))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with(&format!("{}/session/end?", idp.issuer)),
        "{to}"
    );
    assert!(
        to.contains("id_token_hint=") && to.contains("post_logout_redirect_uri="),
        "{to}"
    );
    // The idbridge session is over at once.
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // The IdP accepts the request (its sign-out confirmation page, not an error).
    let at_idp = reqwest::Client::new().get(&to).send().await.unwrap();
    assert_eq!(
        at_idp.status(),
        StatusCode::OK,
        "{to}: {}",
        at_idp.text().await.unwrap()
    );
    // A sign-out form a foreign page posts (no token of the session) is refused: the session
    // stays.
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/me", &admin).send().await.unwrap().status(),
        StatusCode::OK
    );
    // A password session signs out to /login.
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &admin.cookie)
        .form(&[("_csrf", app.csrf(&admin))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login");
}

#[tokio::test]
async fn the_sign_in_page_offers_the_tenants_connections_and_a_tenant_switcher() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (_idp, conn) = setup(&app, &admin, json!({})).await;
    let page = |q: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/login{q}")))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let plain = page("").await;
    assert!(plain.contains("type=\"password\"") && !plain.contains("Sign in with Acme IdP"));
    let tenant = page("?tenant=default&rd=/api/me").await;
    let start = format!("/sso/{}/start?rd=%2Fapi%2Fme", conn["id"].as_str().unwrap());
    assert!(
        tenant.contains("Sign in with Acme IdP") && tenant.contains(&start),
        "{tenant}"
    );
    // The tenant from the host name: default.<public host>.
    let public_host = app
        .state
        .public_url
        .trim_start_matches("http://")
        .to_string();
    let by_host = app
        .client
        .get(app.url("/login"))
        .header("host", format!("default.{public_host}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(by_host.contains("Sign in with Acme IdP"), "{by_host}");
    // SSO-only tenant: no password form.
    sso_config(&app, &admin, json!({"password_login": false})).await;
    let sso_only = page("?tenant=default").await;
    assert!(!sso_only.contains("type=\"password\"") && sso_only.contains("Sign in with Acme IdP"));
    // A user in two tenants switches from the signed-in page.
    app.create_tenant(&admin, "second", "itsm").await;
    let r = app
        .post(
            "/api/tenants/second/members",
            &admin,
            json!({"user_id": admin.user_id, "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let signed_in = app
        .client
        .get(app.url("/login"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        signed_in.contains("Switch organisation") && signed_in.contains("value=\"second\""),
        "{signed_in}"
    );
    let r = app
        .client
        .post(app.url("/login/tenant"))
        .header("cookie", &admin.cookie)
        .header("origin", &app.state.public_url)
        .form(&[("tenant", "second"), ("_csrf", &app.csrf(&admin))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let me = expect(
        app.client
            .get(app.url("/api/me"))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["tenant"]["slug"], "second");
    // Cross-site switching is refused, even with the token; so is a same-origin post without it.
    let token = app.csrf(&admin);
    for (origin, form) in [
        (
            "https://evil.example",
            vec![("tenant", "default"), ("_csrf", token.as_str())],
        ),
        (app.state.public_url.as_str(), vec![("tenant", "default")]),
        (
            app.state.public_url.as_str(),
            vec![("tenant", "default"), ("_csrf", "forged")],
        ),
    ] {
        let r = app
            .client
            .post(app.url("/login/tenant"))
            .header("cookie", &admin.cookie)
            .header("origin", origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin} {form:?}");
    }
    let me = expect(
        app.client
            .get(app.url("/api/me"))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["tenant"]["slug"], "second");
}
