//! Third-party OAuth clients (hole 4, ../shared/security-tests.md 142, 143): a client that a
//! platform admin did not mark first-party shows a consent screen; its tokens carry its own
//! audience and the one tenant they were authorized in, and are never accepted by `/api` or by
//! forward auth as if the user had signed in to idbridge.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const CB: &str = "http://127.0.0.1:9/cb";

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn param(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?.1.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn ticket(html: &str) -> String {
    let start = html
        .find("name=\"ticket\" value=\"")
        .expect("a consent form")
        + 21;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_string()
}

fn challenge(verifier: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-pkce-0123456789";

async fn authorize(app: &TestApp, cookie: &str, client_id: &str, scope: &str) -> reqwest::Response {
    let q = format!(
        "client_id={client_id}&redirect_uri={CB}&response_type=code&scope={}&state=s1&code_challenge={}&code_challenge_method=S256",
        scope.replace(' ', "%20"),
        challenge(VERIFIER)
    );
    app.client
        .get(app.url(&format!("/oauth2/authorize?{q}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn consent(app: &TestApp, cookie: &str, ticket: &str, decision: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/consent"))
        .header("cookie", cookie)
        .header("origin", app.base.as_str())
        .form(&[("ticket", ticket), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_third_party_client_asks_for_consent_and_its_tokens_are_no_idbridge_credentials() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let evil = app.org_admin(&platform, "evilcorp").await;
    app.create_tenant(&platform, "acme", "itsm").await;
    // Alice belongs to evilcorp (requester) and to acme (admin).
    let alice = app
        .member_with_role(&evil, "evilcorp", "alice@evilcorp.test", "requester")
        .await;
    expect(
        app.post(
            "/api/tenants/acme/members",
            &platform,
            json!({"user_id": alice.user_id, "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    // A tenant admin may not skip the consent screen for their client.
    expect_error(
        app.post(
            "/api/oauth-clients",
            &evil,
            json!({"name": "x", "redirect_uris": [CB], "first_party": true, "tenant": "evilcorp"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "platform_admin_required",
    )
    .await;
    let c = expect(
        app.post(
            "/api/oauth-clients",
            &evil,
            json!({"name": "Totally Legit App", "redirect_uris": [CB], "tenant": "evilcorp",
                   "grant_types": ["authorization_code"], "scopes": ["openid", "email", "profile"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let r = authorize(&app, &alice.cookie, id, "openid email").await;
    assert_eq!(r.status(), StatusCode::OK, "a consent page, not a code");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(html.contains("Totally Legit App") && html.contains("<code>email</code>"));
    let t = ticket(&html);
    // A cross-site answer, or one from another browser, is refused.
    let r = app
        .client
        .post(app.url("/oauth2/consent"))
        .header("cookie", &alice.cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("ticket", t.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other = app.login("alice@evilcorp.test", PASSWORD).await;
    assert_eq!(
        consent(&app, &other.cookie, &t, "allow").await.status(),
        StatusCode::FORBIDDEN
    );
    // Deny: back to the client with access_denied.
    let r = consent(&app, &alice.cookie, &t, "deny").await;
    let loc = location(&r);
    assert!(
        loc.starts_with(CB) && loc.contains("error=access_denied") && loc.contains("state=s1"),
        "{loc}"
    );
    // Allow: the request runs again and returns a code; the consent is remembered.
    let r = consent(&app, &alice.cookie, &t, "allow").await;
    let again = location(&r);
    assert!(again.starts_with("/oauth2/authorize?"), "{again}");
    let r = app
        .client
        .get(app.url(&again))
        .header("cookie", &alice.cookie)
        .send()
        .await
        .unwrap();
    let code = param(&location(&r), "code").expect("a code after consent");
    let r = authorize(&app, &alice.cookie, id, "openid email").await;
    assert!(param(&location(&r), "code").is_some(), "remembered");
    // More scopes: asked again.
    let r = authorize(&app, &alice.cookie, id, "openid email profile").await;
    assert_eq!(r.status(), StatusCode::OK);
    // The token is the client's, for evilcorp only.
    let tokens: Value = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().expect("an access token");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(at.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], id);
    assert_eq!(claims["tenant"], "evilcorp");
    let as_alice = Session {
        token: at.to_string(),
        ..alice.clone()
    };
    // Not an idbridge credential: /api refuses it, in its tenant and in her others (143).
    for path in [
        "/api/me",
        "/api/users?tenant=acme",
        "/api/users?tenant=evilcorp",
    ] {
        let r = app.get(path, &as_alice).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "forward auth too");
    // It is a token for the client's own use: userinfo answers it, within its scopes.
    let info = expect(
        app.client
            .get(app.url("/oauth2/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(info["email"], "alice@evilcorp.test");
    assert!(info.get("roles").is_none(), "{info}");
    // A platform admin marks the client first-party: no consent screen any more.
    expect(
        app.patch(
            &format!("/api/oauth-clients/{id}?tenant=evilcorp"),
            &platform,
            json!({"first_party": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let r = authorize(&app, &alice.cookie, id, "openid email profile").await;
    assert!(param(&location(&r), "code").is_some());
}
