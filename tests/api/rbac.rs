//! RBAC: `can-i`, role CRUD, the scoped permission editor, user role assignment (single and
//! bulk), subtenants and RBAC tiers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// `GET /api/rbac/can-i` with optional `tenant` and `subtenant`; asserts 200.
pub async fn can_i_at(
    app: &TestApp,
    s: &Session,
    permission: &str,
    tenant: Option<&str>,
    subtenant: Option<&str>,
) -> Value {
    let mut path = format!("/api/rbac/can-i?permission={permission}");
    if let Some(t) = tenant {
        path.push_str(&format!("&tenant={t}"));
    }
    if let Some(st) = subtenant {
        path.push_str(&format!("&subtenant={st}"));
    }
    expect(app.get(&path, s).send().await.unwrap(), StatusCode::OK).await
}

/// Creates a custom role in the caller's organisation and returns its view.
pub async fn create_role(app: &TestApp, s: &Session, name: &str, permissions: &[&str]) -> Value {
    expect(
        app.post(
            "/api/roles",
            s,
            json!({"name": name, "permissions": permissions}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

/// The roles of a tenant (`None` = the caller's), as returned by `GET /api/roles`.
pub async fn roles_of(app: &TestApp, s: &Session, tenant: Option<&str>) -> Vec<Value> {
    let path = match tenant {
        Some(t) => format!("/api/roles?tenant={t}"),
        None => "/api/roles".to_string(),
    };
    expect(app.get(&path, s).send().await.unwrap(), StatusCode::OK).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The role called `name` in a tenant's role list.
pub async fn role_named(app: &TestApp, s: &Session, tenant: Option<&str>, name: &str) -> Value {
    roles_of(app, s, tenant)
        .await
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name}"))
}

/// Role names a user holds, as listed by `GET /api/users/{id}/roles`.
pub async fn role_names_of(app: &TestApp, s: &Session, user_id: &str) -> Vec<String> {
    let body = expect(
        app.get(&format!("/api/users/{user_id}/roles"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut names: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Platform admin creates a subtenant of `default`.
pub async fn create_subtenant(app: &TestApp, admin: &Session, slug: &str) -> Value {
    expect(
        app.post(
            "/api/tenants",
            admin,
            json!({"slug": slug, "name": slug, "parent": "default"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

async fn assign(app: &TestApp, admin: &Session, user_id: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/users/{user_id}/roles"), admin, body)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// can-i

#[tokio::test]
async fn can_i_names_the_granting_role_when_a_role_grants_the_permission() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let r = can_i_at(&app, &op, "incidents:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["code"], "granted_by_role", "{r}");
    assert_eq!(r["permission"], "incidents:write");
    assert_eq!(r["tenant"], "default");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("granted by role `operator`"),
        "{r}"
    );
}

#[tokio::test]
async fn can_i_is_denied_as_not_granted_when_no_role_grants_the_permission() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "req@example.com", "requester")
        .await;
    let r = can_i_at(&app, &req, "users:write", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "not_granted", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("users:write"), "{r}");
}

#[tokio::test]
async fn can_i_is_denied_as_no_role_when_the_member_has_no_role() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_user(&admin, "plain@example.com", "Plain").await;
    let plain = app.login("plain@example.com", PASSWORD).await;
    let r = can_i_at(&app, &plain, "itsm:read", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "no_role", "{r}");
}

#[tokio::test]
async fn can_i_is_denied_as_not_member_when_asking_about_another_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let r = can_i_at(&app, &bob, "users:read", Some("acme"), None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "not_member", "{r}");
    assert_eq!(r["tenant"], "acme");
    // The same admin is allowed at home.
    let home = can_i_at(&app, &bob, "users:read", None, None).await;
    assert_eq!(home["allowed"], true, "{home}");
}

#[tokio::test]
async fn can_i_is_denied_as_outside_boundary_when_the_boundary_excludes_the_permission() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    assert_eq!(
        can_i_at(&app, &bob, "users:write", None, None).await["allowed"],
        true
    );
    let t = expect(
        app.patch(
            "/api/tenants/default",
            &admin,
            json!({"boundary": ["itsm:*", "users:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["boundary"], json!(["itsm:*", "users:read"]));
    let r = can_i_at(&app, &bob, "users:write", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "outside_boundary", "{r}");
    let inside = can_i_at(&app, &bob, "users:read", None, None).await;
    assert_eq!(inside["allowed"], true, "{inside}");
}

#[tokio::test]
async fn can_i_returns_404_when_the_tenant_is_unknown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .get(
            "/api/rbac/can-i?permission=users:read&tenant=nowhere",
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn can_i_returns_400_when_the_permission_string_is_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for bad in ["users", "Users:Read", "a:b:c"] {
        let r = app
            .get(&format!("/api/rbac/can-i?permission={bad}"), &admin)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Role CRUD

#[tokio::test]
async fn create_role_returns_201_and_lists_it_when_the_request_is_valid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Auditors", "display_name": "Audit team", "description": "reads the trail", "permissions": ["audit:read", "users:read"]}),
        )
        .send()
        .await
        .unwrap();
    let role = expect(r, StatusCode::CREATED).await;
    assert_eq!(role["name"], "Auditors");
    assert_eq!(role["display_name"], "Audit team");
    assert_eq!(role["description"], "reads the trail");
    assert_eq!(role["builtin"], false);
    assert_eq!(role["admin"], false);
    assert_eq!(role["holder_count"], 0);
    let listed = role_named(&app, &admin, None, "Auditors").await;
    assert_eq!(listed["id"], role["id"]);
    assert_eq!(listed["permissions"], json!(["audit:read", "users:read"]));
}

#[tokio::test]
async fn create_role_returns_409_when_the_name_is_taken_in_another_case() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_role(&app, &admin, "Auditors", &["audit:read"]).await;
    let before = roles_of(&app, &admin, None).await.len();
    for name in ["auditors", "AUDITORS", "Operator"] {
        let r = app
            .post(
                "/api/roles",
                &admin,
                json!({"name": name, "permissions": ["users:read"]}),
            )
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::CONFLICT, "role_name_taken").await;
    }
    assert_eq!(roles_of(&app, &admin, None).await.len(), before);
}

#[tokio::test]
async fn create_role_returns_400_naming_the_permission_when_it_is_outside_the_boundary() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.patch(
        "/api/tenants/default",
        &admin,
        json!({"boundary": ["itsm:*", "users:read"]}),
    )
    .send()
    .await
    .unwrap();
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Writers", "permissions": ["itsm:read", "users:write"]}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::BAD_REQUEST, "outside_boundary").await;
    assert!(
        body["message"].as_str().unwrap().contains("users:write"),
        "{body}"
    );
    assert!(
        !roles_of(&app, &admin, None)
            .await
            .iter()
            .any(|r| r["name"] == "Writers")
    );
}

#[tokio::test]
async fn create_role_returns_403_privilege_escalation_when_granting_a_permission_not_held() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_role(&app, &admin, "Role Admin", &["rbac:manage", "users:read"]).await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "Role Admin")
        .await;
    let r = app
        .post(
            "/api/roles",
            &bob,
            json!({"name": "Sneaky", "permissions": ["users:read", "users:write"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    let r = app
        .post(
            "/api/roles",
            &bob,
            json!({"name": "Sneaky", "permissions": ["*"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    // What bob holds, bob may grant.
    let ok = create_role(&app, &bob, "Readers", &["users:read"]).await;
    assert_eq!(ok["permissions"], json!(["users:read"]));
    let names: Vec<Value> = roles_of(&app, &admin, None)
        .await
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert!(!names.contains(&json!("Sneaky")), "{names:?}");
    assert!(names.contains(&json!("Readers")), "{names:?}");
}

#[tokio::test]
async fn create_role_returns_403_when_the_caller_lacks_rbac_manage() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let r = app
        .post(
            "/api/roles",
            &op,
            json!({"name": "Mine", "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
}

#[tokio::test]
async fn patch_role_permissions_takes_effect_for_every_holder_on_their_next_request() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = create_role(&app, &admin, "Readers", &["users:read"]).await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "Readers")
        .await;
    let dave = app
        .user_with_role(&admin, "dave@example.com", "Readers")
        .await;
    for s in [&carol, &dave] {
        let r = can_i_at(&app, s, "audit:read", None, None).await;
        assert_eq!(r["allowed"], false, "{r}");
        assert_eq!(
            can_i_at(&app, s, "users:read", None, None).await["allowed"],
            true
        );
    }
    let patched = expect(
        app.patch(
            &format!("/api/roles/{}", role["id"].as_str().unwrap()),
            &admin,
            json!({"permissions": ["audit:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["permissions"], json!(["audit:read"]));
    assert_eq!(patched["holder_count"], 2);
    // Same tokens, no re-login.
    for s in [&carol, &dave] {
        let r = can_i_at(&app, s, "audit:read", None, None).await;
        assert_eq!(r["allowed"], true, "{r}");
        assert!(r["reason"].as_str().unwrap().contains("`Readers`"), "{r}");
        let gone = can_i_at(&app, s, "users:read", None, None).await;
        assert_eq!(gone["allowed"], false, "{gone}");
        assert_eq!(gone["code"], "not_granted", "{gone}");
    }
}

#[tokio::test]
async fn delete_custom_role_returns_204_and_holders_lose_it() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = create_role(&app, &admin, "Readers", &["users:read"]).await;
    let id = role["id"].as_str().unwrap();
    let carol = app
        .user_with_role(&admin, "carol@example.com", "Readers")
        .await;
    assert_eq!(
        can_i_at(&app, &carol, "users:read", None, None).await["allowed"],
        true
    );
    let r = app
        .delete(&format!("/api/roles/{id}"), &admin)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    let r = can_i_at(&app, &carol, "users:read", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "no_role", "{r}");
    assert!(role_names_of(&app, &admin, &carol.user_id).await.is_empty());
    let r = app
        .get(&format!("/api/roles/{id}"), &admin)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn delete_role_returns_403_builtin_role_when_the_role_is_built_in() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = role_named(&app, &admin, None, "operator").await;
    let r = app
        .delete(
            &format!("/api/roles/{}", op["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "builtin_role").await;
    assert_eq!(
        role_named(&app, &admin, None, "operator").await["id"],
        op["id"]
    );
}

#[tokio::test]
async fn patch_builtin_admin_role_returns_403_when_it_would_lose_everything() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = role_named(&app, &admin, None, "admin").await;
    let id = role["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/roles/{id}"),
            &admin,
            json!({"permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "builtin_role").await;
    let r = app
        .put(
            &format!("/api/rbac/role-permissions?role_id={id}"),
            &admin,
            json!({"permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "builtin_role").await;
    assert_eq!(
        role_named(&app, &admin, None, "admin").await["permissions"],
        json!(["*"])
    );
}

#[tokio::test]
async fn patch_builtin_role_returns_403_when_renaming_it() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = role_named(&app, &admin, None, "operator").await;
    let r = app
        .patch(
            &format!("/api/roles/{}", op["id"].as_str().unwrap()),
            &admin,
            json!({"name": "ops"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "builtin_role").await;
    assert_eq!(
        role_named(&app, &admin, None, "operator").await["id"],
        op["id"]
    );
}

// ---------------------------------------------------------------------------------------------
// Role listing and detail

#[tokio::test]
async fn list_roles_shows_holders_permissions_and_flags_when_read_by_an_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.user_with_role(&admin, "op1@example.com", "operator")
        .await;
    app.user_with_role(&admin, "op2@example.com", "operator")
        .await;
    let roles = roles_of(&app, &admin, None).await;
    assert_eq!(roles.len(), 4);
    let by = |n: &str| roles.iter().find(|r| r["name"] == n).unwrap().clone();
    let admin_role = by("admin");
    assert_eq!(admin_role["builtin"], true);
    assert_eq!(admin_role["admin"], true);
    assert_eq!(admin_role["default"], false);
    assert_eq!(admin_role["available"], true);
    assert_eq!(admin_role["permissions"], json!(["*"]));
    assert_eq!(admin_role["holder_count"], 1);
    let op = by("operator");
    assert_eq!(op["holder_count"], 2);
    assert_eq!(op["admin"], false);
    assert!(
        op["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("users:read"))
    );
    let req = by("requester");
    assert_eq!(req["default"], true);
    assert_eq!(req["holder_count"], 0);
    assert_eq!(by("fulfiller")["default"], false);
}

#[tokio::test]
async fn get_role_groups_permissions_by_entity_and_lists_holders_when_found() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = create_role(
        &app,
        &admin,
        "People",
        &["users:read", "users:write", "audit:read"],
    )
    .await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "People")
        .await;
    let detail = expect(
        app.get(
            &format!("/api/roles/{}", role["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["name"], "People");
    assert_eq!(
        detail["permissions_by_entity"],
        json!({"audit": ["read"], "users": ["read", "write"]})
    );
    assert_eq!(detail["holder_count"], 1);
    let holders = detail["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0]["user_id"], carol.user_id.as_str());
    assert_eq!(holders[0]["assigned_by"], admin.user_id.as_str());
    assert_eq!(holders[0]["source"], "manual");
    assert!(holders[0]["assigned_at"].as_str().is_some(), "{detail}");
}

#[tokio::test]
async fn get_role_returns_404_when_the_role_belongs_to_another_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "console").await;
    let foreign = role_named(&app, &admin, Some("acme"), "Admin").await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    for s in [&bob, &admin] {
        let r = app
            .get(
                &format!("/api/roles/{}", foreign["id"].as_str().unwrap()),
                s,
            )
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Scoped permission editor

#[tokio::test]
async fn put_role_permissions_replaces_them_and_get_reads_them_back() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_subtenant(&app, &admin, "sub-a").await;
    let role = create_role(&app, &admin, "Ops", &["users:read"]).await;
    let id = role["id"].as_str().unwrap();
    let got = expect(
        app.get(&format!("/api/rbac/role-permissions?role_id={id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["role"], "Ops");
    assert_eq!(
        got["permissions"],
        json!([{"permission": "users:read", "scope": null}])
    );
    let put = expect(
        app.put(
            &format!("/api/rbac/role-permissions?role_id={id}"),
            &admin,
            json!({"permissions": ["itsm:read", {"permission": "runbooks:run", "scope": "sub-a"}]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let expected = json!([
        {"permission": "itsm:read", "scope": null},
        {"permission": "runbooks:run", "scope": "sub-a"}
    ]);
    let mut perms = put["permissions"].as_array().unwrap().clone();
    perms.sort_by_key(|p| p["permission"].as_str().unwrap().to_string());
    assert_eq!(Value::Array(perms), expected);
    let again = expect(
        app.get(&format!("/api/rbac/role-permissions?role_id={id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut perms = again["permissions"].as_array().unwrap().clone();
    perms.sort_by_key(|p| p["permission"].as_str().unwrap().to_string());
    assert_eq!(Value::Array(perms), expected);
}

#[tokio::test]
async fn put_role_permissions_returns_400_when_the_scope_is_not_a_subtenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let role = create_role(&app, &admin, "Ops", &["users:read"]).await;
    let id = role["id"].as_str().unwrap();
    let r = app
        .put(
            &format!("/api/rbac/role-permissions?role_id={id}"),
            &admin,
            json!({"permissions": [{"permission": "runbooks:run", "scope": "acme"}]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    assert_eq!(
        role_named(&app, &admin, None, "Ops").await["permissions"],
        json!(["users:read"])
    );
}

#[tokio::test]
async fn scoped_permission_applies_only_in_its_subtenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_subtenant(&app, &admin, "sub-a").await;
    create_subtenant(&app, &admin, "sub-b").await;
    let role = create_role(&app, &admin, "Runner", &["itsm:read"]).await;
    let id = role["id"].as_str().unwrap();
    expect(
        app.put(
            &format!("/api/rbac/role-permissions?role_id={id}"),
            &admin,
            json!({"permissions": ["itsm:read", {"permission": "runbooks:run", "scope": "sub-a"}]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "Runner")
        .await;
    let here = can_i_at(&app, &carol, "runbooks:run", None, Some("sub-a")).await;
    assert_eq!(here["allowed"], true, "{here}");
    assert_eq!(here["tenant"], "sub-a");
    for sub in [None, Some("sub-b")] {
        let r = can_i_at(&app, &carol, "runbooks:run", None, sub).await;
        assert_eq!(r["allowed"], false, "{sub:?}: {r}");
        assert_eq!(r["code"], "not_granted", "{r}");
    }
    // The unscoped permission applies everywhere the role does.
    assert_eq!(
        can_i_at(&app, &carol, "itsm:read", None, Some("sub-b")).await["allowed"],
        true
    );
}

// ---------------------------------------------------------------------------------------------
// User roles

#[tokio::test]
async fn assign_role_by_name_or_id_records_source_assigner_and_time() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    let a = expect(
        assign(&app, &admin, &uid, json!({"role": "Operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(a["role"], "operator");
    assert_eq!(a["user_id"], uid.as_str());
    assert_eq!(a["tenant"], "default");
    assert_eq!(a["source"], "manual");
    assert_eq!(a["assigned_by"], admin.user_id.as_str());
    assert!(a["assigned_at"].as_str().is_some(), "{a}");
    let fulfiller = role_named(&app, &admin, None, "fulfiller").await;
    let b = expect(
        assign(&app, &admin, &uid, json!({"role_id": fulfiller["id"]})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(b["role"], "fulfiller");
    let listed = expect(
        app.get(&format!("/api/users/{uid}/roles"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["source"], "manual");
        assert_eq!(item["assigned_by"], admin.user_id.as_str());
        assert!(item["assigned_at"].as_str().is_some());
    }
    assert_eq!(
        role_names_of(&app, &admin, &uid).await,
        vec!["fulfiller", "operator"]
    );
}

#[tokio::test]
async fn assign_role_returns_409_when_the_user_already_has_it() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        assign(&app, &admin, &uid, json!({"role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    expect_error(
        assign(&app, &admin, &uid, json!({"role": "operator"})).await,
        StatusCode::CONFLICT,
        "role_already_assigned",
    )
    .await;
    assert_eq!(role_names_of(&app, &admin, &uid).await, vec!["operator"]);
}

#[tokio::test]
async fn assign_role_returns_404_when_the_role_is_unknown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect_error(
        assign(&app, &admin, &uid, json!({"role": "wizard"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(role_names_of(&app, &admin, &uid).await.is_empty());
}

#[tokio::test]
async fn remove_role_by_name_or_id_returns_204_and_the_permission_goes() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "operator")
        .await;
    expect(
        assign(&app, &admin, &carol.user_id, json!({"role": "fulfiller"})).await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .delete(
            &format!("/api/users/{}/roles/operator", carol.user_id),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert_eq!(
        role_names_of(&app, &admin, &carol.user_id).await,
        vec!["fulfiller"]
    );
    assert_eq!(
        can_i_at(&app, &carol, "runbooks:run", None, None).await["allowed"],
        false
    );
    let fulfiller = role_named(&app, &admin, None, "fulfiller").await;
    let r = app
        .delete(
            &format!(
                "/api/users/{}/roles/{}",
                carol.user_id,
                fulfiller["id"].as_str().unwrap()
            ),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert!(role_names_of(&app, &admin, &carol.user_id).await.is_empty());
    let r = app
        .delete(
            &format!("/api/users/{}/roles/operator", carol.user_id),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn assign_role_returns_403_when_the_caller_has_no_rbac_assign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect_error(
        assign(&app, &op, &uid, json!({"role": "requester"})).await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    assert!(role_names_of(&app, &admin, &uid).await.is_empty());
}

#[tokio::test]
async fn remove_role_returns_409_when_it_is_the_last_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .delete(&format!("/api/users/{}/roles/admin", admin.user_id), &admin)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(
        role_names_of(&app, &admin, &admin.user_id).await,
        vec!["admin"]
    );
}

// ---------------------------------------------------------------------------------------------
// Bulk assignment

async fn bulk(app: &TestApp, s: &Session, body: Value) -> reqwest::Response {
    app.post("/api/roles/bulk-assign", s, body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bulk_assign_adds_roles_to_every_user_when_mode_is_add() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    let u2 = app.create_user(&admin, "u2@example.com", "Two").await;
    let op = role_named(&app, &admin, None, "operator").await;
    let r = expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1, u2], "role_ids": [op["id"]], "roles": ["fulfiller"], "mode": "add"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        r,
        json!({"dry_run": false, "users": 2, "changed": 2, "added": 4, "removed": 0})
    );
    for u in [&u1, &u2] {
        assert_eq!(
            role_names_of(&app, &admin, u).await,
            vec!["fulfiller", "operator"]
        );
    }
}

#[tokio::test]
async fn bulk_assign_dry_run_counts_who_would_change_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    let u2 = app.create_user(&admin, "u2@example.com", "Two").await;
    let u3 = app.create_user(&admin, "u3@example.com", "Three").await;
    expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1], "roles": ["fulfiller"], "mode": "add"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let body =
        json!({"user_ids": [u1, u2, u3], "roles": ["fulfiller"], "mode": "add", "dry_run": true});
    let r = expect(bulk(&app, &admin, body.clone()).await, StatusCode::OK).await;
    assert_eq!(
        r,
        json!({"dry_run": true, "users": 3, "changed": 2, "added": 2, "removed": 0})
    );
    for u in [&u2, &u3] {
        assert!(
            role_names_of(&app, &admin, u).await.is_empty(),
            "nothing written"
        );
    }
    let audit = expect(
        app.get("/api/audit?action=role.bulk_assign", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        audit["items"].as_array().unwrap().len(),
        1,
        "a dry run is not audited"
    );
    // The dry run refuses what the real run refuses.
    let requester = app
        .user_with_role(&admin, "req@example.com", "requester")
        .await;
    let r = bulk(&app, &requester, body).await;
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
}

#[tokio::test]
async fn bulk_assign_removes_the_roles_when_mode_is_remove() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    let u2 = app.create_user(&admin, "u2@example.com", "Two").await;
    expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1, u2], "roles": ["operator", "fulfiller"], "mode": "add"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let r = expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1, u2], "roles": ["operator"], "mode": "remove"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        r,
        json!({"dry_run": false, "users": 2, "changed": 2, "added": 0, "removed": 2})
    );
    for u in [&u1, &u2] {
        assert_eq!(role_names_of(&app, &admin, u).await, vec!["fulfiller"]);
    }
}

#[tokio::test]
async fn bulk_assign_leaves_exactly_the_given_roles_when_mode_is_replace() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    let u2 = app.create_user(&admin, "u2@example.com", "Two").await;
    expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1], "roles": ["operator", "fulfiller"], "mode": "add"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let r = expect(
        bulk(
            &app,
            &admin,
            json!({"user_ids": [u1, u2], "roles": ["requester", "fulfiller"], "mode": "replace"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["users"], 2);
    assert_eq!(r["removed"], 2);
    assert_eq!(r["added"], 4);
    for u in [&u1, &u2] {
        assert_eq!(
            role_names_of(&app, &admin, u).await,
            vec!["fulfiller", "requester"]
        );
    }
}

#[tokio::test]
async fn bulk_assign_changes_nothing_when_one_user_id_is_unknown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    let u2 = app.create_user(&admin, "u2@example.com", "Two").await;
    expect(
        assign(&app, &admin, &u1, json!({"role": "operator"})).await,
        StatusCode::CREATED,
    )
    .await;
    let ghost = uuid::Uuid::new_v4().to_string();
    for mode in ["add", "replace"] {
        expect_error(
            bulk(
                &app,
                &admin,
                json!({"user_ids": [u1, u2, ghost], "roles": ["fulfiller"], "mode": mode}),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(role_names_of(&app, &admin, &u1).await, vec!["operator"]);
    assert!(role_names_of(&app, &admin, &u2).await.is_empty());
}

#[tokio::test]
async fn bulk_assign_returns_409_when_it_would_remove_the_last_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let u1 = app.create_user(&admin, "u1@example.com", "One").await;
    for (mode, roles) in [
        ("remove", json!(["admin"])),
        ("replace", json!(["operator"])),
    ] {
        expect_error(
            bulk(
                &app,
                &admin,
                json!({"user_ids": [admin.user_id, u1], "roles": roles, "mode": mode}),
            )
            .await,
            StatusCode::CONFLICT,
            "last_admin",
        )
        .await;
    }
    assert_eq!(
        role_names_of(&app, &admin, &admin.user_id).await,
        vec!["admin"]
    );
    assert!(role_names_of(&app, &admin, &u1).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Subtenants and cross-tenant

#[tokio::test]
async fn org_role_applies_in_every_subtenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_subtenant(&app, &admin, "sub-a").await;
    create_subtenant(&app, &admin, "sub-b").await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    for sub in ["sub-a", "sub-b"] {
        let r = can_i_at(&app, &op, "incidents:write", None, Some(sub)).await;
        assert_eq!(r["allowed"], true, "{r}");
        assert_eq!(r["tenant"], sub);
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("granted by role `operator`")
        );
    }
}

#[tokio::test]
async fn subtenant_role_applies_only_in_that_subtenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_subtenant(&app, &admin, "sub-a").await;
    create_subtenant(&app, &admin, "sub-b").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    let a = expect(
        assign(
            &app,
            &admin,
            &uid,
            json!({"role": "fulfiller", "subtenant": "sub-a"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(a["tenant"], "sub-a");
    let carol = app.login("carol@example.com", PASSWORD).await;
    let there = can_i_at(&app, &carol, "changes:write", None, Some("sub-a")).await;
    assert_eq!(there["allowed"], true, "{there}");
    let home = can_i_at(&app, &carol, "changes:write", None, None).await;
    assert_eq!(home["allowed"], false, "{home}");
    assert_eq!(home["code"], "no_role", "{home}");
    let sibling = can_i_at(&app, &carol, "changes:write", None, Some("sub-b")).await;
    assert_eq!(sibling["allowed"], false, "{sibling}");
}

#[tokio::test]
async fn can_i_returns_404_when_the_subtenant_is_not_a_child_of_the_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let r = app
        .get(
            "/api/rbac/can-i?permission=users:read&subtenant=acme",
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn roles_do_not_inherit_across_tenants_when_the_user_is_member_of_both() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    expect(
        app.post(
            "/api/tenants/acme/members",
            &admin,
            json!({"user_id": bob.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let r = can_i_at(&app, &bob, "users:read", Some("acme"), None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "no_role", "{r}");
    assert_eq!(
        can_i_at(&app, &bob, "users:read", Some("default"), None).await["allowed"],
        true
    );
}

// ---------------------------------------------------------------------------------------------
// RBAC tiers

#[tokio::test]
async fn can_i_allows_a_member_without_roles_when_the_tier_is_none() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_user(&admin, "plain@example.com", "Plain").await;
    let plain = app.login("plain@example.com", PASSWORD).await;
    assert_eq!(
        can_i_at(&app, &plain, "users:write", None, None).await["code"],
        "no_role"
    );
    let t = expect(
        app.patch("/api/tenants/default", &admin, json!({"rbac_tier": "none"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["rbac_tier"], "none");
    let r = can_i_at(&app, &plain, "users:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["code"], "tier_none", "{r}");
}

#[tokio::test]
async fn enterprise_role_is_unavailable_and_unassignable_when_the_tier_is_basic() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = expect(
        app.post(
            "/api/tenants",
            &admin,
            json!({"slug": "iam", "name": "IAM", "preset": "iam-tiers", "rbac_tier": "basic"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t["rbac_tier"], "basic");
    let roles = roles_of(&app, &admin, Some("iam")).await;
    assert_eq!(roles.len(), 14);
    let available = roles.iter().filter(|r| r["available"] == true).count();
    assert_eq!(available, 7);
    let viewer = roles
        .iter()
        .find(|r| r["name"] == "Integrations.Viewer")
        .unwrap();
    assert_eq!(viewer["available"], false);
    assert_eq!(viewer["tier"], "enterprise");
    let manager = roles
        .iter()
        .find(|r| r["name"] == "Integrations.Manager")
        .unwrap();
    assert_eq!(manager["available"], true);
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        app.post("/api/tenants/iam/members", &admin, json!({"user_id": uid}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    expect_error(
        assign(
            &app,
            &admin,
            &uid,
            json!({"role": "Integrations.Viewer", "tenant": "iam"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "role_not_available",
    )
    .await;
    expect(
        assign(
            &app,
            &admin,
            &uid,
            json!({"role": "Integrations.Manager", "tenant": "iam"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let listed = expect(
        app.get(&format!("/api/users/{uid}/roles?tenant=iam"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Integrations.Manager"]);
}

// ---------------------------------------------------------------------------------------------
// Escalation and more edge cases

#[tokio::test]
async fn assign_role_returns_403_privilege_escalation_when_the_role_grants_more_than_the_caller_holds()
 {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_role(&app, &admin, "Role Admin", &["rbac:manage", "users:read"]).await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "Role Admin")
        .await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    for target in [uid.as_str(), bob.user_id.as_str()] {
        expect_error(
            assign(&app, &bob, target, json!({"role": "admin"})).await,
            StatusCode::FORBIDDEN,
            "privilege_escalation",
        )
        .await;
    }
    expect_error(
        bulk(
            &app,
            &bob,
            json!({"user_ids": [uid, bob.user_id], "roles": ["operator"], "mode": "add"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "privilege_escalation",
    )
    .await;
    assert!(role_names_of(&app, &admin, &uid).await.is_empty());
    assert_eq!(
        role_names_of(&app, &admin, &bob.user_id).await,
        vec!["Role Admin"]
    );
    assert_eq!(
        can_i_at(&app, &bob, "users:write", None, None).await["allowed"],
        false
    );
}

#[tokio::test]
async fn patch_role_returns_403_privilege_escalation_when_adding_a_permission_not_held() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let own = create_role(&app, &admin, "Role Admin", &["rbac:manage", "users:read"]).await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "Role Admin")
        .await;
    let own_id = own["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/roles/{own_id}"),
            &bob,
            json!({"permissions": ["rbac:manage", "users:read", "users:write"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    let r = app
        .put(
            &format!("/api/rbac/role-permissions?role_id={own_id}"),
            &bob,
            json!({"permissions": ["*"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "privilege_escalation").await;
    assert_eq!(
        role_named(&app, &admin, None, "Role Admin").await["permissions"],
        json!(["rbac:manage", "users:read"])
    );
    assert_eq!(
        can_i_at(&app, &bob, "users:write", None, None).await["allowed"],
        false
    );
    // Removing permissions is always allowed.
    let r = app
        .patch(
            &format!("/api/roles/{own_id}"),
            &bob,
            json!({"permissions": ["rbac:manage"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn patch_role_returns_409_when_renamed_to_a_taken_name() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_role(&app, &admin, "Readers", &["users:read"]).await;
    let other = create_role(&app, &admin, "Writers", &["users:write"]).await;
    let r = app
        .patch(
            &format!("/api/roles/{}", other["id"].as_str().unwrap()),
            &admin,
            json!({"name": "READERS"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "role_name_taken").await;
    assert_eq!(
        role_named(&app, &admin, None, "Writers").await["id"],
        other["id"]
    );
}

#[tokio::test]
async fn tier_none_still_denies_when_the_permission_is_outside_the_boundary() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_user(&admin, "plain@example.com", "Plain").await;
    let plain = app.login("plain@example.com", PASSWORD).await;
    expect(
        app.patch(
            "/api/tenants/default",
            &admin,
            json!({"rbac_tier": "none", "boundary": ["itsm:*"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        can_i_at(&app, &plain, "itsm:write", None, None).await["code"],
        "tier_none"
    );
    let r = can_i_at(&app, &plain, "users:read", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "outside_boundary", "{r}");
}

#[tokio::test]
async fn remove_subtenant_role_needs_the_subtenant_when_it_was_assigned_there() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    create_subtenant(&app, &admin, "sub-a").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        assign(
            &app,
            &admin,
            &uid,
            json!({"role": "fulfiller", "subtenant": "sub-a"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .delete(&format!("/api/users/{uid}/roles/fulfiller"), &admin)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let carol = app.login("carol@example.com", PASSWORD).await;
    assert_eq!(
        can_i_at(&app, &carol, "changes:write", None, Some("sub-a")).await["allowed"],
        true
    );
    let r = app
        .delete(
            &format!("/api/users/{uid}/roles/fulfiller?subtenant=sub-a"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert_eq!(
        can_i_at(&app, &carol, "changes:write", None, Some("sub-a")).await["allowed"],
        false
    );
    assert!(role_names_of(&app, &admin, &uid).await.is_empty());
}

#[tokio::test]
async fn bulk_assign_returns_404_when_a_role_or_user_belongs_to_another_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "console").await;
    let foreign_role = role_named(&app, &admin, Some("acme"), "Auditor").await;
    let eve = expect(
        app.post(
            "/api/users",
            &admin,
            json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect_error(
        bulk(
            &app,
            &bob,
            json!({"user_ids": [uid], "role_ids": [foreign_role["id"]], "mode": "add"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        bulk(
            &app,
            &bob,
            json!({"user_ids": [uid, eve["id"]], "roles": ["operator"], "mode": "add"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(role_names_of(&app, &admin, &uid).await.is_empty());
    let eve_roles = expect(
        app.get(
            &format!(
                "/api/users/{}/roles?tenant=acme",
                eve["id"].as_str().unwrap()
            ),
            &admin,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(eve_roles["items"], json!([]));
}
