//! Integration tokens: shown once, tenant-bound, acting with exactly one role.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::{can_i_at, create_role};

/// A session-like handle for an integration token (only `token` is used by the helpers).
fn as_session(token: &str) -> Session {
    Session {
        token: token.to_string(),
        cookie: String::new(),
        user_id: String::new(),
        email: String::new(),
    }
}

async fn create_token(app: &TestApp, s: &Session, body: Value) -> reqwest::Response {
    app.post("/api/tokens", s, body).send().await.unwrap()
}

async fn list_tokens(app: &TestApp, s: &Session) -> Vec<Value> {
    expect(
        app.get("/api/tokens", s).send().await.unwrap(),
        StatusCode::OK,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn create_token_returns_201_with_the_secret_shown_only_once() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci", "role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    let secret = t["token"]
        .as_str()
        .expect("the token in the create response");
    assert!(secret.starts_with("idb_"), "{secret}");
    assert!(secret.len() > 20, "{secret}");
    assert_eq!(t["name"], "ci");
    assert_eq!(t["created_by"], admin.user_id.as_str());
    assert_eq!(t["last_used_at"], Value::Null);
    let listed = list_tokens(&app, &admin).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], t["id"]);
    assert_eq!(listed[0]["role_id"], t["role_id"]);
    assert!(listed[0].get("token").is_none(), "{}", listed[0]);
    assert!(!listed[0].to_string().contains(secret));
}

#[tokio::test]
async fn token_authenticates_with_exactly_its_roles_permissions_in_its_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci", "role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    let tok = as_session(t["token"].as_str().unwrap());
    let r = can_i_at(&app, &tok, "incidents:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["tenant"], "default");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("granted by role `operator`"),
        "{r}"
    );
    // Not the creator's admin powers.
    let r = can_i_at(&app, &tok, "users:write", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "not_granted", "{r}");
    expect(
        app.get("/api/users", &tok).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let r = app
        .post(
            "/api/users",
            &tok,
            json!({"email": "x@example.com", "password": PASSWORD, "first_name": "Xavier"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
}

#[tokio::test]
async fn token_cannot_act_when_the_tenant_is_another_one() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci", "role": "admin"})).await,
        StatusCode::CREATED,
    )
    .await;
    let tok = as_session(t["token"].as_str().unwrap());
    let r = can_i_at(&app, &tok, "users:read", Some("acme"), None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "not_member", "{r}");
    let r = app
        .get("/api/users?tenant=acme", &tok)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = app
        .post(
            "/api/users",
            &tok,
            json!({"email": "x@example.com", "password": PASSWORD, "first_name": "Xavier", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = app.get("/api/tenants/acme", &tok).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // At home the admin role applies.
    assert_eq!(
        can_i_at(&app, &tok, "users:write", None, None).await["allowed"],
        true
    );
}

#[tokio::test]
async fn token_gets_the_default_role_when_no_role_is_given() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci"})).await,
        StatusCode::CREATED,
    )
    .await;
    let tok = as_session(t["token"].as_str().unwrap());
    let r = can_i_at(&app, &tok, "itsm:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r["reason"].as_str().unwrap().contains("`requester`"), "{r}");
    assert_eq!(
        can_i_at(&app, &tok, "incidents:read", None, None).await["allowed"],
        false
    );
}

#[tokio::test]
async fn token_last_used_at_is_set_when_the_token_is_used() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci", "role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        list_tokens(&app, &admin).await[0]["last_used_at"],
        Value::Null
    );
    let tok = as_session(t["token"].as_str().unwrap());
    can_i_at(&app, &tok, "itsm:read", None, None).await;
    let listed = list_tokens(&app, &admin).await;
    assert!(
        listed[0]["last_used_at"].as_str().is_some(),
        "{}",
        listed[0]
    );
}

#[tokio::test]
async fn delete_token_returns_204_and_the_token_then_gets_401() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "ci", "role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    let tok = as_session(t["token"].as_str().unwrap());
    can_i_at(&app, &tok, "itsm:read", None, None).await;
    let r = app
        .delete(
            &format!("/api/tokens/{}", t["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = app
        .get("/api/rbac/can-i?permission=itsm:read", &tok)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert!(list_tokens(&app, &admin).await.is_empty());
    let r = app
        .delete(
            &format!("/api/tokens/{}", t["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn create_token_returns_409_when_the_name_is_taken() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    expect(
        create_token(&app, &admin, json!({"name": "ci"})).await,
        StatusCode::CREATED,
    )
    .await;
    expect_error(
        create_token(&app, &admin, json!({"name": "ci", "role": "operator"})).await,
        StatusCode::CONFLICT,
        "token_name_taken",
    )
    .await;
    assert_eq!(list_tokens(&app, &admin).await.len(), 1);
}

#[tokio::test]
async fn create_token_returns_403_when_the_caller_lacks_tokens_manage() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "req@example.com", "requester")
        .await;
    expect_error(
        create_token(&app, &req, json!({"name": "mine"})).await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    expect_error(
        app.get("/api/tokens", &req).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert!(list_tokens(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn create_token_returns_403_privilege_escalation_when_the_role_is_above_the_callers() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_role(
        &app,
        &admin,
        "Token Keeper",
        &["tokens:manage", "itsm:*", "knowledge:read"],
    )
    .await;
    let keeper = app
        .user_with_role(&admin, "keeper@example.com", "Token Keeper")
        .await;
    for role in ["admin", "operator"] {
        expect_error(
            create_token(&app, &keeper, json!({"name": "up", "role": role})).await,
            StatusCode::FORBIDDEN,
            "privilege_escalation",
        )
        .await;
    }
    assert!(list_tokens(&app, &admin).await.is_empty());
    // A role within their own permissions is fine.
    let t = expect(
        create_token(&app, &keeper, json!({"name": "ok", "role": "requester"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert!(t["token"].as_str().unwrap().starts_with("idb_"));
    assert_eq!(list_tokens(&app, &admin).await.len(), 1);
}

#[tokio::test]
async fn any_request_returns_401_when_the_bearer_token_is_garbage() {
    let app = spawn_app().await;
    app.register_admin().await;
    for garbage in [
        "idb_not-a-real-token",
        "idb_",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
    ] {
        let r = app
            .client
            .get(app.url("/api/rbac/can-i?permission=users:read"))
            .bearer_auth(garbage)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"idbridge\""
        );
        expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn token_follows_its_roles_current_permissions_when_the_role_changes() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = create_role(&app, &admin, "Bot", &["itsm:read"]).await;
    let t = expect(
        create_token(&app, &admin, json!({"name": "bot", "role_id": role["id"]})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t["role_id"], role["id"]);
    let tok = as_session(t["token"].as_str().unwrap());
    assert_eq!(
        can_i_at(&app, &tok, "itsm:read", None, None).await["allowed"],
        true
    );
    assert_eq!(
        can_i_at(&app, &tok, "cmdb:read", None, None).await["allowed"],
        false
    );
    let id = role["id"].as_str().unwrap();
    expect(
        app.patch(
            &format!("/api/roles/{id}"),
            &admin,
            json!({"permissions": ["cmdb:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        can_i_at(&app, &tok, "cmdb:read", None, None).await["allowed"],
        true
    );
    assert_eq!(
        can_i_at(&app, &tok, "itsm:read", None, None).await["allowed"],
        false
    );
    expect(
        app.delete(&format!("/api/roles/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let r = can_i_at(&app, &tok, "cmdb:read", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "no_role", "{r}");
}
