//! The audit trail: one event per change, filters, newest-first keyset paging, tenant scoping.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::create_role;

/// `GET /api/audit` with a raw query string; asserts 200 and returns the body.
async fn audit(app: &TestApp, s: &Session, query: &str) -> Value {
    expect(
        app.get(&format!("/api/audit?{query}"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn events(app: &TestApp, s: &Session, query: &str) -> Vec<Value> {
    audit(app, s, query).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The one event matching `action` and `target_id`.
async fn the_event(app: &TestApp, s: &Session, action: &str, target_id: &str) -> Value {
    let found = events(app, s, &format!("action={action}&target_id={target_id}")).await;
    assert_eq!(found.len(), 1, "{action} on {target_id}: {found:?}");
    found.into_iter().next().unwrap()
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn create_user_writes_a_user_create_event_with_actor_source_and_request_id() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/users",
            &admin,
            json!({"email": "carol@example.com", "password": PASSWORD, "first_name": "Carol"}),
        )
        .send()
        .await
        .unwrap();
    let rid = request_id(&r);
    let user = expect(r, StatusCode::CREATED).await;
    let uid = user["id"].as_str().unwrap();
    let e = the_event(&app, &admin, "user.create", uid).await;
    assert_eq!(e["actor"], "ada@example.com");
    assert_eq!(e["actor_id"], admin.user_id.as_str());
    assert_eq!(e["source"], "api");
    assert_eq!(e["request_id"], rid.as_str());
    assert_eq!(e["target_type"], "user");
    assert_eq!(e["after"]["email"], "carol@example.com");
    assert_eq!(e["before"], Value::Null);
    assert!(
        !e.to_string().contains("argon2"),
        "no password hash in the trail: {e}"
    );
}

#[tokio::test]
async fn deactivate_user_writes_before_and_after_status() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    let r = app
        .patch(
            &format!("/api/users/{uid}"),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap();
    let rid = request_id(&r);
    expect(r, StatusCode::OK).await;
    let e = the_event(&app, &admin, "user.deactivate", &uid).await;
    assert_eq!(e["before"]["status"], "active");
    assert_eq!(e["after"]["status"], "inactive");
    assert_eq!(e["request_id"], rid.as_str());
    assert_eq!(e["actor"], "ada@example.com");
}

#[tokio::test]
async fn create_role_and_assign_role_write_their_events() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = create_role(&app, &admin, "Readers", &["users:read"]).await;
    let rid_role = role["id"].as_str().unwrap();
    let e = the_event(&app, &admin, "role.create", rid_role).await;
    assert_eq!(e["after"]["name"], "Readers");
    assert_eq!(e["after"]["permissions"], json!(["users:read"]));
    assert_eq!(e["target_type"], "role");
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    let r = app
        .post(
            &format!("/api/users/{uid}/roles"),
            &admin,
            json!({"role": "Readers"}),
        )
        .send()
        .await
        .unwrap();
    let rid = request_id(&r);
    expect(r, StatusCode::CREATED).await;
    let e = the_event(&app, &admin, "role.assign", &uid).await;
    assert_eq!(e["after"]["role"], "Readers");
    assert_eq!(e["after"]["tenant"], "default");
    assert_eq!(e["request_id"], rid.as_str());
    assert_eq!(e["source"], "api");
}

#[tokio::test]
async fn create_tenant_writes_a_tenant_create_event_in_the_new_tenant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let t = app.create_tenant(&admin, "acme", "console").await;
    let tid = t["id"].as_str().unwrap();
    let found = events(
        &app,
        &admin,
        &format!("tenant=acme&action=tenant.create&target_id={tid}"),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["tenant_id"], tid);
    assert_eq!(found[0]["after"]["slug"], "acme");
    assert_eq!(found[0]["after"]["preset"], "console");
    assert_eq!(found[0]["actor"], "ada@example.com");
}

#[tokio::test]
async fn login_writes_an_auth_login_event() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    assert!(
        events(&app, &admin, &format!("action=auth.login&target_id={uid}"))
            .await
            .is_empty()
    );
    let r = app.try_login("carol@example.com", PASSWORD, None).await;
    let rid = request_id(&r);
    expect(r, StatusCode::OK).await;
    let e = the_event(&app, &admin, "auth.login", &uid).await;
    assert_eq!(e["actor"], "carol@example.com");
    assert_eq!(e["actor_id"], uid.as_str());
    assert_eq!(e["source"], "api");
    assert_eq!(e["request_id"], rid.as_str());
}

#[tokio::test]
async fn failed_login_writes_no_auth_login_event() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let uid = app.create_user(&admin, "carol@example.com", "Carol").await;
    expect(
        app.try_login("carol@example.com", "Wrong-pass1", None)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        events(&app, &admin, &format!("action=auth.login&target_id={uid}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn audit_filters_by_action_and_target_id() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let a = app.create_user(&admin, "a@example.com", "Anna").await;
    let b = app.create_user(&admin, "b@example.com", "Bert").await;
    let creates = events(&app, &admin, "action=user.create").await;
    assert_eq!(creates.len(), 2);
    assert!(creates.iter().all(|e| e["action"] == "user.create"));
    let about_a = events(&app, &admin, &format!("target_id={a}")).await;
    assert!(!about_a.is_empty());
    assert!(about_a.iter().all(|e| e["target_id"] == a.as_str()));
    let none = events(
        &app,
        &admin,
        &format!("action=user.deactivate&target_id={b}"),
    )
    .await;
    assert!(none.is_empty());
    let by_actor = events(&app, &admin, &format!("actor_id={}", admin.user_id)).await;
    assert!(by_actor.len() >= 2);
    assert!(
        by_actor
            .iter()
            .all(|e| e["actor_id"] == admin.user_id.as_str())
    );
}

#[tokio::test]
async fn audit_lists_newest_first() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let mut ids = Vec::new();
    for (i, name) in ["Anna", "Bert", "Cleo"].iter().enumerate() {
        ids.push(
            app.create_user(&admin, &format!("u{i}@example.com"), name)
                .await,
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let got: Vec<String> = events(&app, &admin, "action=user.create")
        .await
        .iter()
        .map(|e| e["target_id"].as_str().unwrap().to_string())
        .collect();
    ids.reverse();
    assert_eq!(got, ids);
    let all = events(&app, &admin, "").await;
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn audit_pages_with_cursor_without_duplicates_or_gaps() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let mut created = HashSet::new();
    for (i, name) in ["Anna", "Bert", "Cleo", "Dora", "Emil"].iter().enumerate() {
        created.insert(
            app.create_user(&admin, &format!("u{i}@example.com"), name)
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("action=user.create&page_size=2&cursor={c}"),
            None => "action=user.create&page_size=2".to_string(),
        };
        let page = audit(&app, &admin, &q).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|e| e["target_id"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn audit_returns_400_when_paging_parameters_are_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for (q, code) in [
        ("page_size=0", "invalid_page_size"),
        ("page_size=501", "invalid_page_size"),
        ("cursor=!!!", "invalid_cursor"),
        ("cursor=bm9waXBl", "invalid_cursor"),
    ] {
        let r = app
            .get(&format!("/api/audit?{q}"), &admin)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn audit_returns_403_when_the_caller_lacks_audit_read() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "req@example.com", "requester")
        .await;
    let r = app.get("/api/audit", &req).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    // A custom role with audit:read is enough.
    create_role(&app, &admin, "Auditors", &["audit:read"]).await;
    let aud = app
        .user_with_role(&admin, "aud@example.com", "Auditors")
        .await;
    assert!(!events(&app, &aud, "action=user.create").await.is_empty());
}

#[tokio::test]
async fn audit_hides_events_of_another_tenant_from_a_tenant_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let acme = app.create_tenant(&admin, "acme", "itsm").await;
    let acme_id = acme["id"].as_str().unwrap();
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
    let eve_id = eve["id"].as_str().unwrap();
    // The platform admin sees acme's events in acme.
    assert_eq!(
        events(
            &app,
            &admin,
            &format!("tenant=acme&action=user.create&target_id={eve_id}")
        )
        .await
        .len(),
        1
    );
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    let r = app
        .get("/api/audit?tenant=acme", &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    assert!(
        events(&app, &bob, &format!("target_id={eve_id}"))
            .await
            .is_empty()
    );
    assert!(
        events(&app, &bob, &format!("target_id={acme_id}"))
            .await
            .is_empty()
    );
    let home = events(&app, &bob, "page_size=500").await;
    assert!(!home.is_empty());
    assert!(home.iter().all(|e| e["tenant_id"] != acme_id), "{home:?}");
}
