//! Tenants: organisations from presets, subtenants, visibility, settings, memberships and
//! cross-tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::{can_i_at, role_named, roles_of};

async fn create(app: &TestApp, s: &Session, body: Value) -> reqwest::Response {
    app.post("/api/tenants", s, body).send().await.unwrap()
}

async fn tenant_slugs(app: &TestApp, s: &Session) -> Vec<String> {
    let body = expect(
        app.get("/api/tenants", s).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut slugs: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap().to_string())
        .collect();
    slugs.sort();
    slugs
}

async fn get_tenant(app: &TestApp, s: &Session, slug: &str) -> Value {
    expect(
        app.get(&format!("/api/tenants/{slug}"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn member_ids(app: &TestApp, s: &Session, slug: &str) -> Vec<String> {
    let body = expect(
        app.get(&format!("/api/tenants/{slug}/members"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

async fn add_member(app: &TestApp, s: &Session, slug: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/tenants/{slug}/members"), s, body)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Creating organisations and subtenants

#[tokio::test]
async fn create_tenant_seeds_the_preset_roles_for_each_preset() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for (slug, preset, count, admin_role, default_role) in [
        ("svc", "itsm", 4, "admin", "requester"),
        ("con", "console", 5, "Admin", "Default"),
        ("iam", "iam-tiers", 14, "System.Admin", ""),
    ] {
        let t = app.create_tenant(&admin, slug, preset).await;
        assert_eq!(t["slug"], slug);
        assert_eq!(t["preset"], preset);
        assert_eq!(t["parent_id"], Value::Null);
        assert_eq!(t["status"], "active");
        assert_eq!(t["boundary"], json!(["*"]));
        let roles = roles_of(&app, &admin, Some(slug)).await;
        assert_eq!(roles.len(), count, "{preset}");
        assert!(roles.iter().all(|r| r["builtin"] == true));
        let admins: Vec<&Value> = roles.iter().filter(|r| r["admin"] == true).collect();
        assert!(
            admins.iter().any(|r| r["name"] == admin_role),
            "{preset}: {admins:?}"
        );
        assert_eq!(
            roles.iter().filter(|r| r["default"] == true).count(),
            1,
            "{preset}"
        );
        if !default_role.is_empty() {
            assert_eq!(
                role_named(&app, &admin, Some(slug), default_role).await["default"],
                true
            );
        }
    }
    assert_eq!(
        tenant_slugs(&app, &admin).await,
        vec!["con", "default", "iam", "svc"]
    );
}

#[tokio::test]
async fn create_tenant_returns_400_when_the_preset_is_unknown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = create(
        &app,
        &admin,
        json!({"slug": "acme", "name": "Acme", "preset": "nope"}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unknown_preset").await;
    assert_eq!(tenant_slugs(&app, &admin).await, vec!["default"]);
}

#[tokio::test]
async fn create_tenant_returns_400_when_the_slug_is_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for slug in ["Acme Corp", "-acme", "a", "acme_corp"] {
        let r = create(&app, &admin, json!({"slug": slug, "name": "Acme"})).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_slug").await;
    }
    assert_eq!(tenant_slugs(&app, &admin).await, vec!["default"]);
}

#[tokio::test]
async fn create_tenant_returns_409_when_the_slug_is_taken() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let r = create(
        &app,
        &admin,
        json!({"slug": "acme", "name": "Other", "preset": "console"}),
    )
    .await;
    expect_error(r, StatusCode::CONFLICT, "slug_taken").await;
    assert_eq!(get_tenant(&app, &admin, "acme").await["preset"], "itsm");
    assert_eq!(roles_of(&app, &admin, Some("acme")).await.len(), 4);
}

#[tokio::test]
async fn create_organisation_returns_403_when_the_caller_is_a_tenant_admin_only() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let r = create(
        &app,
        &bob,
        json!({"slug": "acme", "name": "Acme", "preset": "itsm"}),
    )
    .await;
    expect_error(r, StatusCode::FORBIDDEN, "platform_admin_required").await;
    assert_eq!(tenant_slugs(&app, &admin).await, vec!["default"]);
}

#[tokio::test]
async fn create_subtenant_returns_201_when_a_tenant_admin_holds_tenants_write() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let parent = get_tenant(&app, &admin, "default").await;
    let r = create(
        &app,
        &bob,
        json!({"slug": "emea", "name": "EMEA", "parent": "default"}),
    )
    .await;
    let sub = expect(r, StatusCode::CREATED).await;
    assert_eq!(sub["parent_id"], parent["id"]);
    assert_eq!(sub["preset"], "itsm");
    assert_eq!(get_tenant(&app, &bob, "emea").await["id"], sub["id"]);
    // Subtenants use the organisation's roles.
    assert_eq!(roles_of(&app, &bob, Some("emea")).await.len(), 4);
}

#[tokio::test]
async fn create_subtenant_returns_403_when_the_caller_lacks_tenants_write() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let r = create(
        &app,
        &op,
        json!({"slug": "emea", "name": "EMEA", "parent": "default"}),
    )
    .await;
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_eq!(tenant_slugs(&app, &admin).await, vec!["default"]);
}

#[tokio::test]
async fn create_subtenant_returns_400_when_the_parent_is_itself_a_subtenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    expect(
        create(
            &app,
            &bob,
            json!({"slug": "emea", "name": "EMEA", "parent": "default"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let r = create(
        &app,
        &bob,
        json!({"slug": "emea-fr", "name": "France", "parent": "emea"}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "nested_subtenant").await;
    assert_eq!(tenant_slugs(&app, &admin).await, vec!["default", "emea"]);
}

#[tokio::test]
async fn create_subtenant_returns_400_when_its_boundary_is_wider_than_the_parents() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    expect(
        app.patch(
            "/api/tenants/default",
            &admin,
            json!({"boundary": ["itsm:*", "users:read", "tenants:*"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    for wide in [json!(["itsm:read", "audit:read"]), json!(["*"])] {
        let r = create(
            &app,
            &bob,
            json!({"slug": "emea", "name": "EMEA", "parent": "default", "boundary": wide}),
        )
        .await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "outside_boundary").await;
        assert_eq!(body["field"], "boundary");
    }
    let ok = expect(
        create(
            &app,
            &bob,
            json!({"slug": "emea", "name": "EMEA", "parent": "default", "boundary": ["itsm:read"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ok["boundary"], json!(["itsm:read"]));
}

// ---------------------------------------------------------------------------------------------
// Reading tenants

#[tokio::test]
async fn list_tenants_shows_everything_when_the_caller_is_platform_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    app.create_tenant(&admin, "globex", "console").await;
    assert_eq!(
        tenant_slugs(&app, &admin).await,
        vec!["acme", "default", "globex"]
    );
}

#[tokio::test]
async fn list_tenants_shows_own_tenants_and_subtenants_when_the_caller_is_a_member() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    expect(
        create(
            &app,
            &admin,
            json!({"slug": "emea", "name": "EMEA", "parent": "default"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    assert_eq!(tenant_slugs(&app, &op).await, vec!["default", "emea"]);
}

#[tokio::test]
async fn get_tenant_returns_404_when_the_caller_is_not_a_member() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let op = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let r = app.get("/api/tenants/acme", &op).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.get("/api/tenants/nowhere", &op).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(get_tenant(&app, &op, "default").await["slug"], "default");
    assert_eq!(get_tenant(&app, &admin, "acme").await["slug"], "acme");
}

// ---------------------------------------------------------------------------------------------
// Changing tenants

#[tokio::test]
async fn patch_tenant_changes_name_and_settings_when_the_caller_is_a_tenant_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let t = expect(
        app.patch(
            "/api/tenants/default",
            &bob,
            json!({"name": "Head Office", "settings": {"jit_default_role": "operator", "password_login": true}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["name"], "Head Office");
    let back = get_tenant(&app, &admin, "default").await;
    assert_eq!(back["name"], "Head Office");
    assert_eq!(back["settings"]["jit_default_role"], "operator");
    assert_eq!(back["settings"]["password_login"], true);
}

#[tokio::test]
async fn patch_tenant_returns_403_when_a_tenant_admin_changes_structure_of_an_organisation() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    for body in [
        json!({"boundary": ["itsm:*"]}),
        json!({"status": "suspended"}),
        json!({"rbac_tier": "none"}),
        json!({"name": "Sneaky", "rbac_tier": "basic"}),
    ] {
        let r = app
            .patch("/api/tenants/default", &bob, body)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, "platform_admin_required").await;
    }
    let back = get_tenant(&app, &admin, "default").await;
    assert_eq!(back["boundary"], json!(["*"]));
    assert_eq!(back["status"], "active");
    assert_eq!(back["rbac_tier"], "enterprise");
    assert_eq!(back["name"], "Default");
}

#[tokio::test]
async fn patch_tenant_returns_400_when_jit_default_role_names_no_role() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .patch(
            "/api/tenants/default",
            &admin,
            json!({"settings": {"jit_default_role": "wizard"}}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "unknown_role").await;
    assert_eq!(
        get_tenant(&app, &admin, "default").await["settings"]["jit_default_role"],
        ""
    );
}

#[tokio::test]
async fn patch_tenant_returns_400_when_the_values_are_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for (body, code) in [
        (json!({"status": "paused"}), "invalid_status"),
        (json!({"rbac_tier": "gold"}), "invalid_rbac_tier"),
        (json!({"boundary": []}), "invalid_boundary"),
        (
            json!({"boundary": ["Not A Permission"]}),
            "invalid_permission",
        ),
    ] {
        let r = app
            .patch("/api/tenants/default", &admin, body)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, code).await;
    }
    let back = get_tenant(&app, &admin, "default").await;
    assert_eq!(back["status"], "active");
    assert_eq!(back["boundary"], json!(["*"]));
}

#[tokio::test]
async fn members_are_denied_with_tenant_suspended_when_the_tenant_is_suspended() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"user_id": uid, "roles": ["operator"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let carol = app
        .login_in("carol@example.com", PASSWORD, Some("acme"))
        .await;
    assert_eq!(
        can_i_at(&app, &carol, "itsm:read", None, None).await["allowed"],
        true
    );
    let t = expect(
        app.patch("/api/tenants/acme", &admin, json!({"status": "suspended"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["status"], "suspended");
    let r = can_i_at(&app, &carol, "itsm:read", None, None).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["code"], "tenant_suspended", "{r}");
    // Her other tenant is unaffected.
    assert_eq!(
        can_i_at(&app, &carol, "itsm:read", Some("default"), None).await["code"],
        "no_role"
    );
}

// ---------------------------------------------------------------------------------------------
// Members

#[tokio::test]
async fn add_member_returns_201_and_the_user_can_sign_in_to_the_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect_error(
        app.try_login("carol@example.com", PASSWORD, Some("acme"))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    )
    .await;
    let at_home = app.login("carol@example.com", PASSWORD).await;
    let r = app
        .post(
            "/api/auth/switch-tenant",
            &at_home,
            json!({"tenant": "acme"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let m = expect(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"user_id": uid, "roles": ["operator"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(m["id"], uid.as_str());
    assert_eq!(m["roles"], json!(["operator"]));
    assert!(member_ids(&app, &admin, "acme").await.contains(&uid));
    let r = app
        .try_login("carol@example.com", PASSWORD, Some("acme"))
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["tenant"], "acme");
    let carol = app
        .login_in("carol@example.com", PASSWORD, Some("acme"))
        .await;
    let r = can_i_at(&app, &carol, "incidents:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["tenant"], "acme");
    // The session started at home can switch to the new tenant too.
    let switched = expect(
        app.post(
            "/api/auth/switch-tenant",
            &at_home,
            json!({"tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(switched["tenant"], "acme");
    let there = Session {
        token: switched["access_token"].as_str().unwrap().to_string(),
        ..at_home.clone()
    };
    let r = can_i_at(&app, &there, "incidents:write", None, None).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["tenant"], "acme");
}

#[tokio::test]
async fn add_member_by_email_returns_201_when_the_user_exists() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "console").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    let m = expect(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"email": "Carol@Example.com", "roles": ["Auditor"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(m["id"], uid.as_str());
    assert_eq!(m["roles"], json!(["Auditor"]));
    let carol = app
        .login_in("carol@example.com", PASSWORD, Some("acme"))
        .await;
    assert_eq!(
        can_i_at(&app, &carol, "audit:read", None, None).await["allowed"],
        true
    );
}

#[tokio::test]
async fn add_member_returns_409_when_the_user_is_already_a_member() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect_error(
        add_member(&app, &admin, "default", json!({"user_id": uid})).await,
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    let n = member_ids(&app, &admin, "default")
        .await
        .iter()
        .filter(|m| **m == uid)
        .count();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn add_member_returns_404_when_the_user_is_unknown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    expect_error(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"user_id": uuid::Uuid::new_v4().to_string()}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(member_ids(&app, &admin, "acme").await.is_empty());
}

#[tokio::test]
async fn remove_member_returns_204_and_the_next_request_is_denied_without_relogin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"user_id": uid, "roles": ["operator"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let carol = app
        .login_in("carol@example.com", PASSWORD, Some("acme"))
        .await;
    assert_eq!(
        can_i_at(&app, &carol, "itsm:read", None, None).await["allowed"],
        true
    );
    let r = app
        .delete(&format!("/api/tenants/acme/members/{uid}"), &admin)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    // Offboarding ends the session that was in the tenant at once.
    let r = app
        .get("/api/rbac/can-i?permission=itsm:read", &carol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!member_ids(&app, &admin, "acme").await.contains(&uid));
    expect_error(
        app.try_login("carol@example.com", PASSWORD, Some("acme"))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    )
    .await;
    // A second removal finds nothing.
    let r = app
        .delete(&format!("/api/tenants/acme/members/{uid}"), &admin)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn remove_member_returns_409_when_it_is_the_last_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "itsm").await;
    let uid = app.create_user(&admin, "dave@example.com", "Dave").await;
    expect(
        add_member(
            &app,
            &admin,
            "acme",
            json!({"user_id": uid, "roles": ["admin"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .delete(&format!("/api/tenants/acme/members/{uid}"), &admin)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    assert!(member_ids(&app, &admin, "acme").await.contains(&uid));
    let dave = app
        .login_in("dave@example.com", PASSWORD, Some("acme"))
        .await;
    assert_eq!(
        can_i_at(&app, &dave, "users:write", None, None).await["allowed"],
        true
    );
}

// ---------------------------------------------------------------------------------------------
// Cross-tenant isolation

struct TwoTenants {
    app: TestApp,
    platform: Session,
    /// Admin of `default` (not a platform admin).
    bob: Session,
    /// A user who is only in `acme`.
    eve_id: String,
}

async fn two_tenants() -> TwoTenants {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    app.create_tenant(&platform, "acme", "itsm").await;
    let eve = expect(
        app.post(
            "/api/users",
            &platform,
            json!({"email": "eve@example.com", "password": PASSWORD, "first_name": "Eve", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let bob = app
        .user_with_role(&platform, "bob@example.com", "admin")
        .await;
    TwoTenants {
        eve_id: eve["id"].as_str().unwrap().to_string(),
        app,
        platform,
        bob,
    }
}

#[tokio::test]
async fn tenant_admin_cannot_read_another_tenants_users_or_roles() {
    let t = two_tenants().await;
    let r = t
        .app
        .get("/api/users?tenant=acme", &t.bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = t
        .app
        .get("/api/roles?tenant=acme", &t.bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = t.app.get("/api/tenants/acme", &t.bob).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = t
        .app
        .get(&format!("/api/users/{}", t.eve_id), &t.bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn tenant_admin_cannot_change_another_tenants_users_members_or_roles() {
    let t = two_tenants().await;
    let r = t
        .app
        .post(
            &format!("/api/users/{}/roles", t.eve_id),
            &t.bob,
            json!({"role": "operator"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = t
        .app
        .post(
            &format!("/api/users/{}/roles", t.eve_id),
            &t.bob,
            json!({"role": "operator", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = t
        .app
        .post(
            "/api/tenants/acme/members",
            &t.bob,
            json!({"user_id": t.bob.user_id, "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let acme_admin = role_named(&t.app, &t.platform, Some("acme"), "admin").await;
    let acme_op = role_named(&t.app, &t.platform, Some("acme"), "operator").await;
    let r = t
        .app
        .patch(
            &format!("/api/roles/{}", acme_op["id"].as_str().unwrap()),
            &t.bob,
            json!({"description": "hijacked", "permissions": ["*"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = t
        .app
        .delete(
            &format!("/api/roles/{}", acme_admin["id"].as_str().unwrap()),
            &t.bob,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // Nothing changed in acme.
    let op_after = role_named(&t.app, &t.platform, Some("acme"), "operator").await;
    assert_eq!(op_after["description"], acme_op["description"]);
    assert_eq!(op_after["permissions"], acme_op["permissions"]);
    assert!(
        !member_ids(&t.app, &t.platform, "acme")
            .await
            .contains(&t.bob.user_id)
    );
    let eve_roles = expect(
        t.app
            .get(
                &format!("/api/users/{}/roles?tenant=acme", t.eve_id),
                &t.platform,
            )
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(eve_roles["items"], json!([]));
    let r = can_i_at(&t.app, &t.bob, "users:read", Some("acme"), None).await;
    assert_eq!(r["code"], "not_member", "{r}");
}

#[tokio::test]
async fn tenant_admin_cannot_change_or_extend_another_tenant() {
    let t = two_tenants().await;
    let r = t
        .app
        .patch("/api/tenants/acme", &t.bob, json!({"name": "Owned"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = t
        .app
        .post(
            "/api/tenants",
            &t.bob,
            json!({"slug": "acme-sub", "name": "Sub", "parent": "acme"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = t
        .app
        .delete(&format!("/api/tenants/acme/members/{}", t.eve_id), &t.bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = t
        .app
        .post(
            "/api/tokens",
            &t.bob,
            json!({"name": "x", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let acme = get_tenant(&t.app, &t.platform, "acme").await;
    assert_eq!(acme["name"], "acme");
    assert_eq!(
        tenant_slugs(&t.app, &t.platform).await,
        vec!["acme", "default"]
    );
    assert!(
        member_ids(&t.app, &t.platform, "acme")
            .await
            .contains(&t.eve_id)
    );
}

/// A value idbridge does not know in a stored row (settings JSON, status, RBAC tier) is never
/// read as a default: the request that meets it is refused with a 500 and the cause is logged;
/// the sign-in page of such a tenant offers no password form.
#[tokio::test]
async fn a_corrupt_stored_value_refuses_the_request_and_is_logged_never_defaulted() {
    let (log, _guard) = LogBuffer::capture("idbridge=error");
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    app.create_tenant(&platform, "acme", "itsm").await;
    let set = |sql: &'static str| {
        let app = &app;
        async move {
            let mut c = app.state.store.acquire().await.unwrap();
            idbridge::on_conn!(c.conn(), |c| sqlx::query(sql).execute(c).await.map(|_| ()))
                .unwrap();
        }
    };
    let login_page = || async {
        app.client
            .get(app.url("/login?tenant=acme"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(login_page().await.contains("name=\"password\""));
    expect(
        app.get("/api/tenants/acme", &platform)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    for corrupt in [
        // Settings a lenient reader would take as "password sign-in allowed".
        r#"UPDATE tenants SET settings = '{"password_login": "no"}' WHERE slug = 'acme'"#,
        r#"UPDATE tenants SET settings = '{"password_logn": false}' WHERE slug = 'acme'"#,
        "UPDATE tenants SET settings = '{}', rbac_tier = 'platinum' WHERE slug = 'acme'",
        "UPDATE tenants SET rbac_tier = 'basic', status = 'paused' WHERE slug = 'acme'",
    ] {
        set(corrupt).await;
        let r = app
            .get("/api/tenants/acme", &platform)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
        assert!(
            !login_page().await.contains("name=\"password\""),
            "{corrupt}: no password form"
        );
    }
    let logged = log.wait_for("is not one idbridge knows").await;
    assert!(logged.contains("tenant status `paused`"), "{logged}");
    set("UPDATE tenants SET status = 'active' WHERE slug = 'acme'").await;
    expect(
        app.get("/api/tenants/acme", &platform)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    // A boundary with one pattern idbridge cannot read is refused whole: its other patterns are
    // never read as the boundary.
    set(r#"UPDATE tenants SET boundary = '["users:read", "Users Write"]' WHERE slug = 'acme'"#)
        .await;
    let r = app
        .get("/api/tenants/acme", &platform)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    let logged = log.wait_for("tenant boundary is unreadable").await;
    assert!(logged.contains("PATCH /api/tenants/{slug}"), "{logged}");
    set(r#"UPDATE tenants SET boundary = '["*"]' WHERE slug = 'acme'"#).await;
    // A user whose stored status is unknown is not signed in as active, nor as anything.
    let carol = app
        .member_with_role(&platform, "acme", "carol@acme.test", "")
        .await;
    set("UPDATE users SET status = 'enabled' WHERE email = 'carol@acme.test'").await;
    let r = app
        .try_login("carol@acme.test", PASSWORD, Some("acme"))
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let fresh = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&carol.token)
        .send()
        .await
        .unwrap();
    assert_ne!(fresh.status(), StatusCode::OK);
}
