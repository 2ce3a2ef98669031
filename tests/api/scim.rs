//! SCIM 2.0 (issue 6, in progress): tokens and authentication.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn scim_get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

async fn create_token(app: &TestApp, admin: &Session, name: &str) -> Value {
    expect(
        app.post("/api/scim/tokens", admin, json!({"name": name}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn scim_tokens_authenticate_only_scim_and_can_be_rotated_and_revoked() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let created = create_token(&app, &admin, "Entra provisioning").await;
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("scim_"));
    let id = created["id"].as_str().unwrap().to_string();
    // Listed without the secret.
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("token").is_none());
    // SCIM answers with the token, at both base paths.
    for base in ["/scim/v2", "/api/scim/v2"] {
        let r = scim_get(&app, &format!("{base}/ServiceProviderConfig"), Some(&token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
        );
        assert_eq!(body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    }
    // No token, a wrong one, the admin's access token or session cookie: 401 in SCIM format.
    let wrong = format!("{token}x");
    for credential in [None, Some(wrong.as_str()), Some(admin.token.as_str())] {
        let r = scim_get(&app, "/scim/v2/ServiceProviderConfig", credential).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        assert!(r.headers().contains_key("www-authenticate"));
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            e["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(e["status"], "401");
    }
    let r = app
        .client
        .get(app.url("/scim/v2/ServiceProviderConfig"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no cookie authenticates SCIM"
    );
    // A SCIM token is not an API credential.
    let r = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Rotation: the old secret stops at once, the new one works.
    let rotated = expect(
        app.post(&format!("/api/scim/tokens/{id}/rotate"), &admin, json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let new = rotated["token"].as_str().unwrap().to_string();
    assert_ne!(new, token);
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&new))
            .await
            .status(),
        StatusCode::OK
    );
    // Last use is recorded.
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");
    // Revocation.
    let r = app
        .delete(&format!("/api/scim/tokens/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&new))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Audited.
    let audit = expect(
        app.get("/api/audit?action=scim.token_rotate", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_tenant_admins_manage_scim_tokens_and_tenants_stay_apart() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let user = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let r = app
        .post("/api/scim/tokens", &user, json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A token of another tenant cannot be seen, rotated or revoked from this one.
    app.create_tenant(&admin, "acme", "console").await;
    let other = expect(
        app.post(
            "/api/scim/tokens",
            &admin,
            json!({"name": "acme okta", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = other["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/scim/tokens/{id}/rotate"), &admin, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .delete(&format!("/api/scim/tokens/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let r = app
        .post("/api/scim/tokens", &admin, json!({"name": ""}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
}
