//! idbridge as an OpenID Connect provider for apps: a real relying party (npm openid-client)
//! completes the code + PKCE flow; protocol checks of the authorization and token endpoints.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const CB: &str = "http://127.0.0.1:9/cb";
const BYE: &str = "http://127.0.0.1:9/bye";

async fn web_client(
    app: &TestApp,
    admin: &Session,
    confidential: bool,
) -> (String, Option<String>) {
    let body = json!({
        "name": "web", "confidential": confidential, "redirect_uris": [CB], "post_logout_redirect_uris": [BYE],
        "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "email", "profile", "roles"],
        // The deployment's own app: no consent screen (consent is tested in tests/api/consent.rs).
        "first_party": true,
    });
    let c = expect(
        app.post("/api/oauth-clients", admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().map(str::to_string),
    )
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| pct_decode(v))
    })
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[tokio::test]
async fn openid_client_completes_code_flow_refresh_reuse_detection_and_logout() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, secret) = web_client(&app, &admin, true).await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/interop");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/openid-client")
            .exists(),
        "run scripts/test: it installs the interop clients"
    );
    let out = tokio::process::Command::new("node")
        .arg(format!("{dir}/oidc-flow.mjs"))
        .args([
            &app.state.public_url,
            &id,
            &secret.unwrap(),
            CB,
            &bob.cookie,
            BYE,
        ])
        .output()
        .await
        .expect("node runs");
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["authorize_status"], 302);
    assert_eq!(r["sub"], bob.user_id.as_str());
    assert_eq!(r["id_email"], "bob@example.com");
    assert_eq!(r["id_roles"], json!(["fulfiller"]));
    assert_eq!(r["userinfo_email"], "bob@example.com");
    assert_eq!(r["refreshed"], true);
    assert_eq!(r["rotated"], true);
    assert_eq!(r["reuse_error"], "invalid_grant");
    assert_eq!(
        r["family_after_reuse"], "invalid_grant",
        "reusing a spent refresh token revokes the whole family"
    );
    assert_eq!(r["logout_status"], 302);
    assert_eq!(r["logout_location"], format!("{BYE}?state=bye"));
    // Logout ended Bob's idbridge session.
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &bob.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // The reuse was audited.
    let audit = expect(
        app.get("/api/audit?action=oauth.refresh_reuse", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn discovery_describes_the_endpoints() {
    let app = spawn_app().await;
    let d = expect(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(d["issuer"], app.state.public_url.as_str());
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}/oauth2/authorize", app.base)
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let jwks = app
        .client
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_client_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, _) = web_client(&app, &admin, true).await;
    for q in [
        format!("client_id=nope&redirect_uri={CB}&response_type=code"),
        format!("client_id={id}&redirect_uri=http://127.0.0.1:9/evil&response_type=code"),
        format!("client_id={id}&redirect_uri={CB}/extra&response_type=code"),
        format!("client_id={id}&response_type=code"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/oauth2/authorize?{q}")))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn authorize_sends_signed_out_browsers_to_sign_in_and_back() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, _) = web_client(&app, &admin, true).await;
    let q = format!("client_id={id}&redirect_uri={CB}&response_type=code&scope=openid&state=s1");
    let r = app
        .client
        .get(app.url(&format!("/oauth2/authorize?{q}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let to_login = location(&r);
    assert!(
        to_login.starts_with("/login?rd=%2Foauth2%2Fauthorize%3F"),
        "{to_login}"
    );
    // prompt=none without a session is an error back at the client.
    let r = app
        .client
        .get(app.url(&format!("/oauth2/authorize?{q}&prompt=none")))
        .send()
        .await
        .unwrap();
    let loc = location(&r);
    assert!(
        loc.starts_with(CB) && loc.contains("error=login_required") && loc.contains("state=s1"),
        "{loc}"
    );
    // The sign-in form posts back and continues to the authorize URL, which now returns a code.
    let page = app
        .client
        .get(app.url(&to_login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<form method=\"post\" action=\"/login\">"));
    let rd = query_param(&to_login, "rd").unwrap();
    let rd = rd
        .replace("%3F", "?")
        .replace("%3D", "=")
        .replace("%26", "&");
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("rd", rd.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.headers());
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let next = location(&r);
    let r = app
        .client
        .get(app.url(&next))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let loc = location(&r);
    assert!(
        loc.starts_with(&format!("{CB}?code=")) && loc.contains("state=s1") && loc.contains("iss="),
        "{loc}"
    );
}

#[tokio::test]
async fn the_login_page_never_redirects_off_site() {
    let app = spawn_app().await;
    app.register_admin().await;
    for rd in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let r = app
            .client
            .post(app.url("/login"))
            .form(&[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("rd", rd),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/login", "{rd}");
    }
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "nope"),
            ("rd", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn public_clients_must_use_pkce_and_codes_are_single_use() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, _) = web_client(&app, &admin, false).await;
    let base = format!("client_id={id}&redirect_uri={CB}&response_type=code&scope=openid");
    let r = app
        .client
        .get(app.url(&format!("/oauth2/authorize?{base}")))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).contains("error=invalid_request"),
        "PKCE required"
    );
    let r = app
        .client
        .get(app.url(&format!(
            "/oauth2/authorize?{base}&code_challenge={}&code_challenge_method=plain",
            "a".repeat(43)
        )))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).contains("error=invalid_request"),
        "plain refused"
    );
    let verifier = "v".repeat(64);
    let r = app
        .client
        .get(app.url(&format!(
            "/oauth2/authorize?{base}&code_challenge={}&code_challenge_method=S256",
            challenge(&verifier)
        )))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    let code = query_param(&location(&r), "code").unwrap();
    let exchange = |verifier: String, redirect: &'static str| {
        let (code, id) = (code.clone(), id.clone());
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth2/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", &id),
                    ("redirect_uri", redirect),
                    ("code_verifier", &verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = exchange("w".repeat(64), CB).await;
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "wrong verifier"
    );
    let r = exchange(verifier.clone(), "http://127.0.0.1:9/other").await;
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "wrong redirect_uri"
    );
    let ok = expect(exchange(verifier.clone(), CB).await, StatusCode::OK).await;
    assert!(ok["id_token"].as_str().is_some() && ok["access_token"].as_str().is_some());
    let again = exchange(verifier, CB).await;
    assert_eq!(
        expect(again, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "codes are single use"
    );
}
