//! Registration, sign-in, sessions and cookies.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_creates_the_first_platform_admin_and_tenant() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "Ada@Example.com", "password": PASSWORD, "first_name": "Ada", "tenant": "acme", "preset": "console", "bootstrap_token": app.bootstrap_token()}))
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::CREATED).await;
    assert_eq!(body["user"]["email"], "Ada@Example.com");
    assert_eq!(body["user"]["platform_admin"], true);
    assert_eq!(body["tenant"]["slug"], "acme");
    assert_eq!(body["tenant"]["preset"], "console");
    let s = app.login("ada@example.com", PASSWORD).await;
    let me = expect(app.get("/api/me", &s).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me["roles"], json!(["Admin"]));
    assert_eq!(me["tenant"]["slug"], "acme");
}

/// The first caller to reach a fresh deployment over the network cannot make itself platform
/// admin: creating the first admin over HTTP needs the bootstrap token printed at start.
#[tokio::test]
async fn the_first_admin_over_http_needs_the_bootstrap_token() {
    let app = spawn_app().await;
    let token = app.bootstrap_token();
    assert!(token.starts_with("bst_") && token.len() > 30, "{token}");
    // The same token with its last character changed (to one it is not).
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &token[..token.len() - 1]);
    assert_ne!(wrong, token);
    for body in [
        json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve"}),
        json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve", "bootstrap_token": ""}),
        json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve", "bootstrap_token": wrong}),
    ] {
        let r = app
            .client
            .post(app.url("/api/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(r, StatusCode::FORBIDDEN, "bootstrap_token_required").await;
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("idbridge bootstrap"),
            "{err}"
        );
    }
    assert!(
        !idbridge::startup::has_users(&app.state).await.unwrap(),
        "a refused registration created nobody"
    );
    let r = app.try_login("eve@example.com", PASSWORD, None).await;
    assert_ne!(r.status(), StatusCode::OK);
    // The same token is refused once the first admin exists.
    app.register_admin().await;
    let r = app
        .client
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve", "bootstrap_token": token}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "registration_closed").await;
}

#[tokio::test]
async fn register_is_forbidden_once_a_user_exists() {
    let app = spawn_app().await;
    app.register_admin().await;
    let r = app
        .client
        .post(app.url("/api/auth/register"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "registration_closed").await;
}

#[tokio::test]
async fn login_sets_a_host_prefixed_secure_httponly_lax_cookie() {
    let app = spawn_app().await;
    app.register_admin().await;
    let r = app.try_login("ada@example.com", PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("__Host-idbridge_session="), "{cookie}");
    for attr in [
        "; Path=/",
        "; HttpOnly",
        "; SameSite=Lax",
        "; Secure",
        "; Max-Age=28800",
    ] {
        assert!(cookie.contains(attr), "missing {attr}: {cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["tenant"], "default");
}

#[tokio::test]
async fn login_fails_the_same_way_for_a_wrong_password_and_an_unknown_email() {
    let app = spawn_app().await;
    app.register_admin().await;
    let a = expect_error(
        app.try_login("ada@example.com", "Wrong-pass1", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    let b = expect_error(
        app.try_login("nobody@example.com", "Wrong-pass1", None)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn cookie_and_bearer_both_authenticate_and_nothing_is_401() {
    let app = spawn_app().await;
    let s = app.register_admin().await;
    let by_cookie = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(by_cookie, StatusCode::OK).await["user"]["id"],
        s.user_id.as_str()
    );
    expect(app.get("/api/me", &s).send().await.unwrap(), StatusCode::OK).await;
    let none = app.client.get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(
        none.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"idbridge\""
    );
    expect_error(none, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn logout_ends_the_session_for_cookie_and_token() {
    let app = spawn_app().await;
    let s = app.register_admin().await;
    let r = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        r.headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    expect_error(
        app.get("/api/me", &s).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let by_cookie = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect_error(by_cookie, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn signing_in_never_adopts_a_session_id_the_client_brought() {
    let app = spawn_app().await;
    app.register_admin().await;
    let planted = "__Host-idbridge_session=attacker-chosen-value-0123456789abcdef";
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .header("cookie", planted)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let s = session_from(r, "ada@example.com").await;
    assert_ne!(s.cookie, planted);
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    expect_error(me, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect(me, StatusCode::OK).await;
}
