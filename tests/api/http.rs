//! Web plumbing: health, readiness, metrics, JWKS, error format, body handling, request ids,
//! CSRF for cookie sessions, access-token verification and cookie attributes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::roles_of;

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn jwt_header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

async fn role_names(app: &TestApp, s: &Session) -> Vec<String> {
    let mut names: Vec<String> = roles_of(app, s, None)
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Health, metrics, keys

#[tokio::test]
async fn healthz_and_readyz_return_200_when_the_app_runs() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["status"], "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_not_raw_path() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let a = app.create_user(&admin, "a@example.com", "Anna").await;
    let b = app.create_user(&admin, "b@example.com", "Bert").await;
    for id in [&a, &b] {
        expect(
            app.get(&format!("/api/users/{id}"), &admin)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    }
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE idbridge_http_requests_total counter"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("idbridge_http_requests_total{")
                && l.contains("method=\"GET\"")
                && l.contains("route=\"/api/users/{id}\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no series for /api/users/{{id}}: {text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(!text.contains(&a) && !text.contains(&b), "{text}");
}

#[tokio::test]
async fn jwks_publishes_p256_keys_one_of_which_signs_access_tokens() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks = expect(r, StatusCode::OK).await;
    let keys = jwks["keys"].as_array().unwrap();
    // The active key and the next one (published before it signs; see tests/api/keys.rs).
    assert_eq!(keys.len(), 2, "{jwks}");
    for k in keys {
        assert_eq!(k["kty"], "EC");
        assert_eq!(k["crv"], "P-256");
        assert_eq!(k["alg"], "ES256");
        assert!(k["x"].as_str().is_some() && k["y"].as_str().is_some());
        assert!(k.get("d").is_none(), "no private part: {k}");
    }
    let header = jwt_header(&admin.token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(
        keys.iter().any(|k| k["kid"] == header["kid"]),
        "the signing key is published"
    );
}

// ---------------------------------------------------------------------------------------------
// Error format and bodies

#[tokio::test]
async fn unknown_path_returns_404_json_not_found() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for path in ["/nope", "/api/nope", "/api/users/x/y/z"] {
        let r = app.get(path, &admin).send().await.unwrap();
        assert!(r.headers().get("x-request-id").is_some());
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn post_returns_400_invalid_json_when_the_body_is_malformed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    for body in [
        "{not json",
        "",
        "[1, 2",
        "{\"name\": \"x\", \"permissions\": 5}",
    ] {
        let r = app
            .client
            .post(app.url("/api/roles"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_400_when_the_body_has_an_unknown_field() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "permissions": ["users:read"], "colour": "blue"}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_415_when_the_content_type_is_not_json() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .client
        .post(app.url("/api/roles"))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body(r#"{"name": "Readers", "permissions": ["users:read"]}"#)
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/roles"))
        .bearer_auth(&admin.token)
        .body(r#"{"name": "Readers", "permissions": ["users:read"]}"#)
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_413_when_the_body_is_larger_than_the_limit() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 1024).await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Big", "description": "x".repeat(2000), "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(role_names(&app, &admin).await, before);
    // Just under the limit is fine.
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Small", "description": "x".repeat(500), "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_when_it_succeeds_or_fails() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let responses = vec![
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        app.get("/api/me", &admin).send().await.unwrap(),
        app.client.get(app.url("/api/me")).send().await.unwrap(),
        app.client.get(app.url("/nope")).send().await.unwrap(),
        app.post("/api/roles", &admin, json!({"name": ""}))
            .send()
            .await
            .unwrap(),
        app.client
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    ];
    let mut ids = std::collections::HashSet::new();
    for r in responses {
        let id = r
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {}", r.url()))
            .to_str()
            .unwrap()
            .to_string();
        assert!(!id.is_empty());
        ids.insert(id);
    }
    assert_eq!(ids.len(), 6, "each request has its own id");
}

#[tokio::test]
async fn failed_request_changes_nothing_when_one_permission_is_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Mixed", "permissions": ["users:read", "Not Valid", "audit:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    assert_eq!(role_names(&app, &admin).await, before);
    let audit = expect(
        app.get("/api/audit?action=role.create", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"], json!([]));
}

#[tokio::test]
async fn failed_patch_rolls_back_the_part_already_written() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = expect(
        app.post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "description": "before", "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = role["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/roles/{id}"),
            &admin,
            json!({"name": "Renamed", "description": "after", "permissions": ["users:read", "Not Valid"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    let back = expect(
        app.get(&format!("/api/roles/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["name"], "Readers");
    assert_eq!(back["description"], "before");
    assert_eq!(back["permissions"], json!(["users:read"]));
    let audit = expect(
        app.get(
            &format!("/api/audit?action=role.update&target_id={id}"),
            &admin,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// CSRF

fn cookie_post(app: &TestApp, s: &Session, path: &str, body: Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .json(&body)
}

#[tokio::test]
async fn cookie_post_returns_403_csrf_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let r = cookie_post(
            &app,
            &admin,
            "/api/roles",
            json!({"name": "Evil", "permissions": ["users:read"]}),
        )
        .header("origin", origin)
        .send()
        .await
        .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    }
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn cookie_post_returns_403_csrf_when_sec_fetch_site_is_cross_site() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Evil", "permissions": ["users:read"]}),
    )
    .header("sec-fetch-site", "cross-site")
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    // Even with our own Origin, the browser said cross-site.
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Evil", "permissions": ["users:read"]}),
    )
    .header("sec-fetch-site", "cross-site")
    .header("origin", app.base.as_str())
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn cookie_post_is_allowed_when_the_origin_is_our_own() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Readers", "permissions": ["users:read"]}),
    )
    .header("origin", app.base.as_str())
    .header("sec-fetch-site", "same-origin")
    .send()
    .await
    .unwrap();
    expect(r, StatusCode::CREATED).await;
    assert!(role_names(&app, &admin).await.contains(&"Readers".into()));
}

#[tokio::test]
async fn cookie_get_is_allowed_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn bearer_post_is_allowed_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "permissions": ["users:read"]}),
        )
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    assert!(role_names(&app, &admin).await.contains(&"Readers".into()));
}

// ---------------------------------------------------------------------------------------------
// Access-token verification

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn access_token_returns_401_when_the_signature_is_tampered() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    expect(me_with(&app, &admin.token).await, StatusCode::OK).await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut sig: Vec<u8> = parts[2].as_bytes().to_vec();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).unwrap()
    );
    assert_ne!(tampered, admin.token);
    expect_error(
        me_with(&app, &tampered).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn access_token_returns_401_when_the_payload_is_changed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = json!(["admin", "root"]);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let forged = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    expect_error(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn access_token_returns_401_when_the_header_is_forged() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    let kid = jwt_header(&admin.token)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        // alg none, no signature
        (json!({"alg": "none", "typ": "at+jwt", "kid": kid}), ""),
        // alg none, original signature
        (
            json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
            parts[2],
        ),
        // unknown kid
        (
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "es256-0000000000000000"}),
            parts[2],
        ),
        // no kid
        (json!({"alg": "ES256", "typ": "at+jwt"}), parts[2]),
        // plain JWT instead of an access token
        (json!({"alg": "ES256", "typ": "JWT", "kid": kid}), parts[2]),
        // algorithm confusion
        (
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            parts[2],
        ),
    ];
    for (header, sig) in cases {
        let token = format!("{}.{}.{}", b64_json(&header), parts[1], sig);
        let r = me_with(&app, &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}");
        expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // The untouched token still works.
    expect(me_with(&app, &admin.token).await, StatusCode::OK).await;
}

// ---------------------------------------------------------------------------------------------
// Cookies

#[tokio::test]
async fn login_cookie_has_the_domain_and_no_host_prefix_when_a_cookie_domain_is_set() {
    let app = spawn_app_with(|s| s.session.cookie_domain = "example.com".into()).await;
    app.register_admin().await;
    let r = app.try_login("ada@example.com", PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.contains("idbridge_session="))
        .expect("a session cookie");
    assert!(cookie.starts_with("idbridge_session="), "{cookie}");
    assert!(!cookie.contains("__Host-"), "{cookie}");
    for attr in ["; Domain=example.com", "; Path=/", "; HttpOnly", "; Secure"] {
        assert!(cookie.contains(attr), "missing {attr}: {cookie}");
    }
    let s = session_from(r, "ada@example.com").await;
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect(me, StatusCode::OK).await;
    // The __Host- name is not accepted under this configuration.
    let value = s.cookie.split_once('=').unwrap().1;
    let other = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("__Host-idbridge_session={value}"))
        .send()
        .await
        .unwrap();
    expect_error(other, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
