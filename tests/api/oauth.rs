//! OAuth clients, `client_credentials`, introspection (RFC 7662), revocation (RFC 7009).

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn register_client(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect(
        app.post("/api/oauth-clients", admin, body)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

async fn machine_client(app: &TestApp, admin: &Session) -> (String, String) {
    let c = register_client(app, admin, json!({"name": "reporting job", "grant_types": ["client_credentials"], "scopes": ["reports:read", "tickets:read"]})).await;
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    )
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn client_token(
    app: &TestApp,
    id: &str,
    secret: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.client
        .post(app.url("/oauth2/token"))
        .header("authorization", basic(id, secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn registering_a_client_shows_the_secret_once_and_validates_redirect_uris() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let c = register_client(&app, &admin, json!({"name": "web app", "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1:5173/cb"]})).await;
    assert!(c["client_id"].as_str().unwrap().starts_with("idb-"));
    assert!(c["client_secret"].as_str().unwrap().len() >= 43);
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let id = c["client_id"].as_str().unwrap();
    let got = expect(
        app.get(&format!("/api/oauth-clients/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(got.get("client_secret").is_none());
    let list = expect(
        app.get("/api/oauth-clients", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    for bad in [
        "http://app.example.com/cb",
        "https://app.example.com/*",
        "https://app.example.com/cb#x",
        "app.example.com/cb",
        "https://u@evil/cb",
    ] {
        let r = app
            .post(
                "/api/oauth-clients",
                &admin,
                json!({"name": "x", "redirect_uris": [bad]}),
            )
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
    }
    let r = app
        .post(
            "/api/oauth-clients",
            &admin,
            json!({"name": "x", "confidential": false, "grant_types": ["client_credentials"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_grant_types").await;
    let r = app
        .post(
            "/api/oauth-clients",
            &admin,
            json!({"name": "x", "grant_types": ["password"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_grant_types").await;
}

#[tokio::test]
async fn client_credentials_issues_a_scoped_access_token() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, secret) = machine_client(&app, &admin).await;
    let r = client_token(&app, &id, &secret, Some("reports:read")).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "reports:read");
    let token = body["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["sub"], id.as_str());
    assert_eq!(payload["client_id"], id.as_str());
    assert_eq!(payload["scope"], "reports:read");
    // client_secret_post works too; all allowed scopes by default.
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await["scope"],
        "reports:read tickets:read"
    );
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, secret) = machine_client(&app, &admin).await;
    let r = client_token(&app, &id, "wrong", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"idbridge\"");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = client_token(&app, "idb-unknown", &secret, None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = client_token(&app, &id, &secret, Some("admin:*")).await;
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "invalid_scope"
    );
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .header("authorization", basic(&id, &secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "unsupported_grant_type"
    );
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .header("authorization", basic(&id, &secret))
        .form(&[("scope", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );
    // A web client may not use client_credentials.
    let web = register_client(
        &app,
        &admin,
        json!({"name": "web", "redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;
    let r = client_token(
        &app,
        web["client_id"].as_str().unwrap(),
        web["client_secret"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(
        expect(r, StatusCode::BAD_REQUEST).await["error"],
        "unauthorized_client"
    );
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_hides_other_tenants() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, secret) = machine_client(&app, &admin).await;
    let introspect = |token: String| {
        let (id, secret) = (id.clone(), secret.clone());
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/oauth2/introspect"))
                .header("authorization", basic(&id, &secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            expect(r, StatusCode::OK).await
        }
    };
    let user = introspect(admin.token.clone()).await;
    assert_eq!(user["active"], true);
    assert_eq!(user["sub"], admin.user_id.as_str());
    assert_eq!(user["username"], "ada@example.com");
    assert_eq!(user["tenant"], "default");
    let own = client_token(&app, &id, &secret, None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let machine = introspect(own["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!(machine["active"], true);
    assert_eq!(machine["client_id"], id.as_str());
    assert_eq!(machine["scope"], "reports:read tickets:read");
    assert_eq!(introspect("garbage".into()).await, json!({"active": false}));
    // A user of another tenant is not visible to this tenant's client.
    app.create_tenant(&admin, "beta", "itsm").await;
    let bob_id = app.create_user(&admin, "bob@example.com", "Bob").await;
    expect(
        app.post(
            "/api/tenants/beta/members",
            &admin,
            json!({"user_id": bob_id, "roles": ["requester"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    expect(
        app.delete(&format!("/api/tenants/default/members/{bob_id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let bob = app.login("bob@example.com", PASSWORD).await;
    assert_eq!(
        introspect(bob.token.clone()).await,
        json!({"active": false})
    );
    // After logout the user token is inactive.
    expect(
        app.client
            .post(app.url("/api/auth/logout"))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        introspect(admin.token.clone()).await,
        json!({"active": false})
    );
    // Introspection needs client authentication.
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn revoking_tokens_makes_them_inactive_everywhere() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let (id, secret) = machine_client(&app, &admin).await;
    let own = client_token(&app, &id, &secret, None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let machine = own["access_token"].as_str().unwrap().to_string();
    let revoke = |token: &str| {
        app.client
            .post(app.url("/oauth2/revoke"))
            .header("authorization", basic(&id, &secret))
            .form(&[("token", token)])
            .send()
    };
    assert_eq!(revoke(&machine).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        revoke("garbage").await.unwrap().status(),
        StatusCode::OK,
        "RFC 7009: unknown tokens are fine"
    );
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .header("authorization", basic(&id, &secret))
        .form(&[("token", machine.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(expect(r, StatusCode::OK).await, json!({"active": false}));
    // A revoked user access token no longer works at the API; the session's other tokens do.
    let second = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(revoke(&admin.token).await.unwrap().status(), StatusCode::OK);
    expect_error(
        app.get("/api/me", &admin).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    expect(
        app.get("/api/me", &second).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn clients_are_managed_per_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let rita = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let r = app
        .post(
            "/api/oauth-clients",
            &rita,
            json!({"name": "x", "redirect_uris": ["https://a.example/cb"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let c = register_client(
        &app,
        &admin,
        json!({"name": "web", "redirect_uris": ["https://a.example/cb"]}),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let r = app
        .post(
            "/api/oauth-clients",
            &bob,
            json!({"name": "g", "global": true, "redirect_uris": ["https://a.example/cb"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "platform_admin_required").await;
    // Another tenant's admin cannot see it.
    app.create_tenant(&admin, "beta", "itsm").await;
    let carl = app.create_user(&admin, "carl@example.com", "Carl").await;
    expect(
        app.post(
            "/api/tenants/beta/members",
            &admin,
            json!({"user_id": carl, "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    expect(
        app.delete(&format!("/api/tenants/default/members/{carl}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let carl = app.login("carl@example.com", PASSWORD).await;
    expect_error(
        app.get(&format!("/api/oauth-clients/{id}"), &carl)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.delete(&format!("/api/oauth-clients/{id}"), &carl)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        app.delete(&format!("/api/oauth-clients/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get(&format!("/api/oauth-clients/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
