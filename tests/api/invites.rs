//! Invites and the signup exchange, forgot and reset password, switching tenant, `/api/me`,
//! and the mail that invites and resets send.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Local helpers

async fn invite(app: &TestApp, s: &Session, body: Value) -> reqwest::Response {
    app.post("/api/auth/invite", s, body).send().await.unwrap()
}

async fn exchange(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/signup-exchange"))
        .json(&json!({"token": token, "password": password, "first_name": "Newbie"}))
        .send()
        .await
        .unwrap()
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/reset-password"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/forgot-password"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

/// The `token=` query value of a link.
fn token_of(url: &str) -> String {
    url.split("token=")
        .nth(1)
        .expect("a token in the link")
        .split(['&', '\r', '\n', ' '])
        .next()
        .unwrap()
        .to_string()
}

/// An admin reset link for `user_id`; returns the token.
async fn reset_link(app: &TestApp, admin: &Session, user_id: &str) -> String {
    let r = app
        .post(
            &format!("/api/users/{user_id}/password-reset-link"),
            admin,
            json!({}),
        )
        .send()
        .await
        .unwrap();
    token_of(
        expect(r, StatusCode::CREATED).await["url"]
            .as_str()
            .unwrap(),
    )
}

async fn status_of(app: &TestApp, s: &Session) -> (StatusCode, StatusCode) {
    let by_token = app.get("/api/me", s).send().await.unwrap().status();
    let by_cookie = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap()
        .status();
    (by_token, by_cookie)
}

async fn me(app: &TestApp, s: &Session) -> Value {
    expect(app.get("/api/me", s).send().await.unwrap(), StatusCode::OK).await
}

/// `GET /api/users?search=` as seen through a cookie (works whatever the app clock says).
async fn search_by_cookie(app: &TestApp, s: &Session, search: &str) -> Vec<Value> {
    let r = app
        .client
        .get(app.url(&format!("/api/users?search={search}")))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Invites

#[tokio::test]
async fn inviting_without_mail_returns_the_link_and_gives_the_default_requester_role() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let r = invite(&app, &ada, json!({"email": "New.Person@Example.com"})).await;
    let body = expect(r, StatusCode::CREATED).await;
    assert_eq!(body["email"], "New.Person@Example.com");
    assert_eq!(body["tenant"], "default");
    assert_eq!(body["role"], "requester");
    assert_ne!(body["role"], "admin");
    assert_eq!(body["mail_sent"], false);
    assert!(body["expires_at"].is_string());
    let token = body["token"].as_str().unwrap();
    let url = body["invite_url"].as_str().unwrap();
    assert!(url.contains("/signup?token="), "{url}");
    assert_eq!(token_of(url), token);

    let r = exchange(&app, token, PASSWORD).await;
    let new = session_from(r, "new.person@example.com").await;
    let m = me(&app, &new).await;
    assert_eq!(m["roles"], json!(["requester"]));
    assert_eq!(m["user"]["email"], "New.Person@Example.com");
}

#[tokio::test]
async fn inviting_with_an_explicit_role_gives_that_role() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let body = expect(
        invite(
            &app,
            &ada,
            json!({"email": "f@example.com", "role": "fulfiller"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["role"], "fulfiller");
    let r = exchange(&app, body["token"].as_str().unwrap(), PASSWORD).await;
    let f = session_from(r, "f@example.com").await;
    assert_eq!(me(&app, &f).await["roles"], json!(["fulfiller"]));
}

#[tokio::test]
async fn inviting_with_an_unknown_role_is_404() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let r = invite(
        &app,
        &ada,
        json!({"email": "x@example.com", "role": "wizard"}),
    )
    .await;
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = invite(
        &app,
        &ada,
        json!({"email": "x@example.com", "role_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn inviting_fails_with_permission_denied_for_a_requester() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let req = app
        .user_with_role(&ada, "req@example.com", "requester")
        .await;
    for body in [
        json!({"email": "x@example.com"}),
        json!({"email": "x@example.com", "role": "requester"}),
    ] {
        let r = invite(&app, &req, body).await;
        expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    }
}

#[tokio::test]
async fn inviting_an_admin_fails_with_privilege_escalation_for_a_user_who_only_manages_users() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let r = app
        .post(
            "/api/roles",
            &ada,
            json!({"name": "hr", "permissions": ["users:read", "users:write", "itsm:read", "itsm:write", "knowledge:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let hr = app.user_with_role(&ada, "hr@example.com", "hr").await;
    // An invite's role is a grant, the default role too: who holds only users:* grants nothing.
    let r = app
        .post(
            "/api/roles",
            &ada,
            json!({"name": "hr-lite", "permissions": ["users:read", "users:write"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let lite = app
        .user_with_role(&ada, "lite@example.com", "hr-lite")
        .await;
    for body in [
        json!({"email": "x@example.com"}),
        json!({"email": "x@example.com", "role": "requester"}),
    ] {
        let r = invite(&app, &lite, body).await;
        expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    }

    for role in ["admin", "operator"] {
        let r = invite(
            &app,
            &hr,
            json!({"email": "boss@example.com", "role": role}),
        )
        .await;
        expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    }
    // A role the inviter holds all of is fine, named or by default.
    let body = expect(
        invite(
            &app,
            &hr,
            json!({"email": "boss@example.com", "role": "requester"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["role"], "requester");
    let body = expect(
        invite(&app, &hr, json!({"email": "other@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["role"], "requester");
    let r = exchange(&app, body["token"].as_str().unwrap(), PASSWORD).await;
    let other = session_from(r, "other@example.com").await;
    assert_eq!(me(&app, &other).await["roles"], json!(["requester"]));
}

#[tokio::test]
async fn inviting_a_member_of_the_tenant_fails_with_already_member() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    app.create_user(&ada, "grace@example.com", "Grace").await;
    for email in ["grace@example.com", "GRACE@example.com", "ada@EXAMPLE.com"] {
        let r = invite(&app, &ada, json!({"email": email})).await;
        expect_error(r, StatusCode::CONFLICT, "already_member").await;
    }
    let r = invite(&app, &ada, json!({"email": "not an email"})).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_email").await;
}

// ---------------------------------------------------------------------------------------------
// Signup exchange

#[tokio::test]
async fn exchanging_an_invite_creates_the_user_with_the_invited_role_and_signs_them_in() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let inv = expect(
        invite(
            &app,
            &ada,
            json!({"email": "new@example.com", "role": "fulfiller"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/auth/signup-exchange"))
        .json(&json!({"token": inv["token"], "password": PASSWORD, "first_name": "Nina", "last_name": "New"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("idbridge_session="))
        .expect("a session cookie")
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let new = session_from(r, "new@example.com").await;
    assert!(!new.token.is_empty());
    assert_eq!(
        status_of(&app, &new).await,
        (StatusCode::OK, StatusCode::OK)
    );
    let m = me(&app, &new).await;
    assert_eq!(m["user"]["name"], "Nina New");
    assert_eq!(m["tenant"]["slug"], "default");

    let r = app
        .get(&format!("/api/users/{}/roles", new.user_id), &ada)
        .send()
        .await
        .unwrap();
    let roles = expect(r, StatusCode::OK).await;
    let items = roles["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{roles}");
    assert_eq!(items[0]["role"], "fulfiller");
    assert_eq!(items[0]["source"], "invite");
    assert_eq!(items[0]["assigned_by"], ada.user_id.as_str());
    assert_eq!(items[0]["tenant"], "default");
    assert!(
        items[0]["assigned_at"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    // And the password works for a normal sign-in.
    app.login("new@example.com", PASSWORD).await;
}

#[tokio::test]
async fn reusing_an_invite_fails_with_invite_used() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let inv = expect(
        invite(&app, &ada, json!({"email": "new@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    let token = inv["token"].as_str().unwrap();
    expect(exchange(&app, token, PASSWORD).await, StatusCode::CREATED).await;
    expect_error(
        exchange(&app, token, "Another-Pass1").await,
        StatusCode::GONE,
        "invite_used",
    )
    .await;
    // The first password is still the one.
    app.login("new@example.com", PASSWORD).await;
    expect_error(
        app.try_login("new@example.com", "Another-Pass1", None)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn exchanging_a_garbage_token_fails_with_invite_invalid() {
    let app = spawn_app().await;
    app.register_admin().await;
    for token in [
        "garbage",
        "inv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "",
    ] {
        expect_error(
            exchange(&app, token, PASSWORD).await,
            StatusCode::GONE,
            "invite_invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn exchanging_an_expired_invite_fails_with_invite_expired() {
    let app = spawn_app_with_clock().await;
    let ada = app.register_admin().await;
    let inv = expect(
        invite(&app, &ada, json!({"email": "late@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    app.clock.as_ref().unwrap().advance_ms(73 * 3600 * 1000);
    expect_error(
        exchange(&app, inv["token"].as_str().unwrap(), PASSWORD).await,
        StatusCode::GONE,
        "invite_expired",
    )
    .await;
    // No account was made (a fresh session: the old one has expired with the clock).
    let ada = app.login("ada@example.com", PASSWORD).await;
    assert!(search_by_cookie(&app, &ada, "late").await.is_empty());
    expect_error(
        app.try_login("late@example.com", PASSWORD, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn an_invite_still_valid_just_before_it_expires_can_be_exchanged() {
    let app = spawn_app_with_clock().await;
    let ada = app.register_admin().await;
    let inv = expect(
        invite(&app, &ada, json!({"email": "ontime@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    app.clock.as_ref().unwrap().advance_ms(71 * 3600 * 1000);
    let r = exchange(&app, inv["token"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn exchanging_with_a_weak_password_fails_and_the_invite_stays_usable() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let inv = expect(
        invite(&app, &ada, json!({"email": "new@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    let token = inv["token"].as_str().unwrap();
    let err = expect_error(
        exchange(&app, token, "weak").await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    assert_eq!(err["field"], "password");
    let r = app
        .client
        .post(app.url("/api/auth/signup-exchange"))
        .json(&json!({"token": token, "password": PASSWORD, "first_name": "X"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
    expect_error(
        app.try_login("new@example.com", PASSWORD, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    expect(exchange(&app, token, PASSWORD).await, StatusCode::CREATED).await;
    app.login("new@example.com", PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// Forgot and reset password

#[tokio::test]
async fn forgot_password_answers_202_with_the_same_body_for_known_and_unknown_emails() {
    let app = spawn_app().await;
    app.register_admin().await;
    let known = expect(forgot(&app, "ada@example.com").await, StatusCode::ACCEPTED).await;
    let unknown = expect(
        forgot(&app, "nobody@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let malformed = expect(forgot(&app, "not an email").await, StatusCode::ACCEPTED).await;
    assert_eq!(known, unknown);
    assert_eq!(known, malformed);
    assert!(known["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Nothing changed for the account.
    app.login("ada@example.com", PASSWORD).await;
}

#[tokio::test]
async fn resetting_a_password_ends_old_sessions_and_only_the_new_password_works() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app
        .user_with_role(&ada, "grace@example.com", "requester")
        .await;
    let token = reset_link(&app, &ada, &grace.user_id).await;
    assert!(token.starts_with("rst_"), "{token}");
    // The link alone changes nothing yet.
    assert_eq!(
        status_of(&app, &grace).await,
        (StatusCode::OK, StatusCode::OK)
    );

    expect(
        reset(&app, &token, "Fresh-Secret9").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        status_of(&app, &grace).await,
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    let again = app.login("grace@example.com", "Fresh-Secret9").await;
    assert_eq!(
        status_of(&app, &again).await,
        (StatusCode::OK, StatusCode::OK)
    );
    expect_error(
        app.try_login("grace@example.com", PASSWORD, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    // Only the user's sessions ended.
    assert_eq!(
        status_of(&app, &ada).await,
        (StatusCode::OK, StatusCode::OK)
    );
}

#[tokio::test]
async fn reusing_a_reset_link_fails_with_reset_used() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "grace@example.com", "Grace").await;
    let token = reset_link(&app, &ada, &id).await;
    expect(
        reset(&app, &token, "Fresh-Secret9").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        reset(&app, &token, "Other-Secret9").await,
        StatusCode::GONE,
        "reset_used",
    )
    .await;
    app.login("grace@example.com", "Fresh-Secret9").await;
    expect_error(
        reset(&app, "rst_garbage", "Other-Secret9").await,
        StatusCode::GONE,
        "reset_invalid",
    )
    .await;
}

#[tokio::test]
async fn a_reset_with_a_weak_password_fails_and_the_link_stays_usable() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "grace@example.com", "Grace").await;
    let token = reset_link(&app, &ada, &id).await;
    let err = expect_error(
        reset(&app, &token, "short").await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    assert_eq!(err["field"], "password");
    app.login("grace@example.com", PASSWORD).await;
    expect(
        reset(&app, &token, "Fresh-Secret9").await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

#[tokio::test]
async fn using_an_expired_reset_link_fails_with_reset_expired() {
    let app = spawn_app_with_clock().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "grace@example.com", "Grace").await;
    let token = reset_link(&app, &ada, &id).await;
    app.clock.as_ref().unwrap().advance_ms(61 * 60 * 1000);
    expect_error(
        reset(&app, &token, "Fresh-Secret9").await,
        StatusCode::GONE,
        "reset_expired",
    )
    .await;
    app.login("grace@example.com", PASSWORD).await;
    expect_error(
        app.try_login("grace@example.com", "Fresh-Secret9", None)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Switch tenant and /api/me

#[tokio::test]
async fn switching_tenant_gives_a_token_for_the_other_tenant() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    app.create_tenant(&ada, "beta", "itsm").await;
    let carol = app
        .user_with_role(&ada, "carol@example.com", "requester")
        .await;
    let r = app
        .post(
            "/api/tenants/beta/members",
            &ada,
            json!({"email": "carol@example.com", "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;

    let r = app
        .post("/api/auth/switch-tenant", &carol, json!({"tenant": "beta"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let switched = expect(r, StatusCode::OK).await;
    assert_eq!(switched["tenant"], "beta");
    assert_eq!(switched["token_type"], "Bearer");
    let in_beta = Session {
        token: switched["access_token"].as_str().unwrap().to_string(),
        ..carol.clone()
    };
    let m = me(&app, &in_beta).await;
    assert_eq!(m["tenant"]["slug"], "beta");
    assert_eq!(m["roles"], json!(["admin"]));
    assert_eq!(m["permissions"], json!(["*"]));
    let current: Vec<&str> = m["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["current"] == true)
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(current, vec!["beta"]);
    // The new token acts in beta: Carol administers beta's users there.
    let r = app.get("/api/users", &in_beta).send().await.unwrap();
    expect(r, StatusCode::OK).await;

    // And back.
    let r = app
        .post(
            "/api/auth/switch-tenant",
            &in_beta,
            json!({"tenant": "default"}),
        )
        .send()
        .await
        .unwrap();
    let back = expect(r, StatusCode::OK).await;
    let in_default = Session {
        token: back["access_token"].as_str().unwrap().to_string(),
        ..carol.clone()
    };
    let m = me(&app, &in_default).await;
    assert_eq!(m["tenant"]["slug"], "default");
    assert_eq!(m["roles"], json!(["requester"]));
}

#[tokio::test]
async fn switching_to_a_tenant_you_are_not_a_member_of_is_404() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    app.create_tenant(&ada, "beta", "itsm").await;
    let carol = app.user_with_role(&ada, "carol@example.com", "admin").await;
    for slug in ["beta", "no-such-tenant"] {
        let r = app
            .post("/api/auth/switch-tenant", &carol, json!({"tenant": slug}))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(me(&app, &carol).await["tenant"]["slug"], "default");
}

#[tokio::test]
async fn me_shows_the_user_tenant_roles_effective_permissions_and_tenants() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let m = me(&app, &ada).await;
    assert_eq!(m["user"]["id"], ada.user_id.as_str());
    assert_eq!(m["user"]["email"], "ada@example.com");
    assert_eq!(m["tenant"]["slug"], "default");
    assert_eq!(m["roles"], json!(["admin"]));
    assert_eq!(m["permissions"], json!(["*"]));
    let tenants = m["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0]["slug"], "default");
    assert_eq!(tenants[0]["current"], true);

    // A (non-platform) admin of the tenant: everything, too.
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    let m = me(&app, &bob).await;
    assert_eq!(m["user"]["platform_admin"], false);
    assert_eq!(m["roles"], json!(["admin"]));
    assert_eq!(m["permissions"], json!(["*"]));

    let req = app
        .user_with_role(&ada, "req@example.com", "requester")
        .await;
    let m = me(&app, &req).await;
    assert_eq!(m["user"]["email"], "req@example.com");
    assert_eq!(m["roles"], json!(["requester"]));
    let mut perms: Vec<String> = m["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    perms.sort();
    assert_eq!(perms, vec!["itsm:read", "itsm:write", "knowledge:read"]);
    assert_eq!(m["tenants"].as_array().unwrap().len(), 1);

    // Two tenants: both listed, the current one marked.
    app.create_tenant(&ada, "beta", "itsm").await;
    let r = app
        .post(
            "/api/tenants/beta/members",
            &ada,
            json!({"email": "req@example.com"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let m = me(&app, &req).await;
    let mut slugs: Vec<(String, bool)> = m["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["slug"].as_str().unwrap().to_string(),
                t["current"].as_bool().unwrap(),
            )
        })
        .collect();
    slugs.sort();
    assert_eq!(
        slugs,
        vec![("beta".to_string(), false), ("default".to_string(), true)]
    );
}

// ---------------------------------------------------------------------------------------------
// Mail

/// A minimal SMTP server on 127.0.0.1 that accepts every message and keeps its text.
struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, store).await;
                });
            }
        });
        Self { port, messages }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits up to 5 s for at least `n` messages.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.messages()
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?;
        } else if cmd == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Undo dot-stuffing.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            store.lock().unwrap().push(data);
            write.write_all(b"250 queued\r\n").await?;
        } else if cmd == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            // MAIL FROM, RCPT TO, RSET, NOOP, ...
            write.write_all(b"250 ok\r\n").await?;
        }
    }
}

/// The body of a mail with soft line breaks of quoted-printable undone (links stay whole).
fn unfold(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=3D", "=")
}

#[tokio::test]
async fn an_invite_is_mailed_to_the_invitee_and_the_link_is_not_in_the_response() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(|s| s.mail.smtp_url = url).await;
    let ada = app.register_admin().await;
    let body = expect(
        invite(&app, &ada, json!({"email": "mailme@example.com"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["mail_sent"], true);
    assert!(body.get("token").is_none(), "{body}");
    assert!(body.get("invite_url").is_none(), "{body}");
    assert_eq!(body["role"], "requester");

    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = unfold(&mails[0]);
    assert!(mail.contains("To: mailme@example.com"), "{mail}");
    assert!(mail.contains("/signup?token=inv_"), "{mail}");
    // The mailed link works.
    let token = token_of(&mail);
    expect(exchange(&app, &token, PASSWORD).await, StatusCode::CREATED).await;
    app.login("mailme@example.com", PASSWORD).await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn forgot_password_mails_a_reset_link_to_an_existing_user_only() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(|s| s.mail.smtp_url = url).await;
    let ada = app.register_admin().await;
    app.create_user(&ada, "grace@example.com", "Grace").await;

    expect(
        forgot(&app, "nobody@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.messages().is_empty(), "no mail for an unknown email");

    expect(
        forgot(&app, "GRACE@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = unfold(&mails[0]);
    assert!(mail.contains("To: grace@example.com"), "{mail}");
    assert!(mail.contains("/reset-password?token=rst_"), "{mail}");

    let token = token_of(&mail);
    expect(
        reset(&app, &token, "Fresh-Secret9").await,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.login("grace@example.com", "Fresh-Secret9").await;

    // Still nothing for unknown addresses, even after a real one.
    expect(
        forgot(&app, "ghost@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
}

/// A reset link is a credential: it goes to the mail or to the admin who asked for it, never to
/// the log, at any level, with or without mail configured. Neither do passwords.
#[tokio::test]
async fn reset_links_and_passwords_never_reach_the_log() {
    let (log, _guard) = LogBuffer::capture("trace");

    // Mail off: the user's own request creates a link and says it could not be sent.
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app.create_user(&ada, "grace@example.com", "Grace").await;
    expect(
        forgot(&app, "grace@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let text = log.wait_for("auth.password_reset_not_sent").await;
    assert!(
        !holds_token(&text, "rst_"),
        "a reset token in the log:\n{text}"
    );
    // An admin's link is the API's answer only.
    let v = expect(
        app.post(
            &format!("/api/users/{grace}/password-reset-link"),
            &ada,
            json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let admin_token = token_of(v["url"].as_str().unwrap());
    expect(
        reset(&app, &admin_token, "Fresh-Secret9").await,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Mail on: the mailed token is nowhere in the log.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mailed = spawn_app_with(|s| s.mail.smtp_url = url).await;
    let ada2 = mailed.register_admin().await;
    mailed
        .create_user(&ada2, "hopper@example.com", "Grace")
        .await;
    expect(
        forgot(&mailed, "hopper@example.com").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let mails = sink.wait_for(1).await;
    let mailed_token = token_of(&unfold(&mails[0]));

    let text = log.text();
    assert!(
        text.contains("/api/auth/forgot-password"),
        "the log was captured:\n{text}"
    );
    for secret in [
        admin_token.as_str(),
        mailed_token.as_str(),
        PASSWORD,
        "Fresh-Secret9",
    ] {
        assert!(!text.contains(secret), "`{secret}` in the log:\n{text}");
    }
    assert!(
        !holds_token(&text, "rst_"),
        "a reset token in the log:\n{text}"
    );
}

/// Whether `text` holds a token with this prefix (the prefix and 32 random bytes in base64url),
/// not merely the letters, which SQL such as `first_name` holds.
fn holds_token(text: &str, prefix: &str) -> bool {
    text.match_indices(prefix).any(|(i, _)| {
        text[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .count()
            >= 40
    })
}
