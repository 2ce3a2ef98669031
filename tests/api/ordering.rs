//! Privilege ordering (hole 2, ../shared/security-tests.md 140): a holder of `users:write` (and
//! `rbac:assign`) drives every user-affecting route against a plain user (each succeeds: the
//! route works) and against someone who holds more, a tenant admin and a platform admin (each is
//! refused with 403 `outranked` and changes nothing). A route that bypassed
//! `rbac::ordering::require_may_act_on` fails this test.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

struct Route {
    name: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// What it answers for a user the actor outranks.
    ok: StatusCode,
}

fn routes() -> Vec<Route> {
    let r = |name, method, path, body, ok| Route {
        name,
        method,
        path,
        body,
        ok,
    };
    vec![
        r(
            "rename",
            Method::PATCH,
            "/api/users/{id}?tenant=acme",
            Some(json!({"first_name": "Renamed"})),
            StatusCode::OK,
        ),
        r(
            "reset link",
            Method::POST,
            "/api/users/{id}/password-reset-link?tenant=acme",
            Some(json!({})),
            StatusCode::CREATED,
        ),
        r(
            "sign out everywhere",
            Method::DELETE,
            "/api/users/{id}/sessions?tenant=acme",
            None,
            StatusCode::OK,
        ),
        r(
            "assign a role",
            Method::POST,
            "/api/users/{id}/roles",
            Some(json!({"role": "viewer", "tenant": "acme"})),
            StatusCode::CREATED,
        ),
        r(
            "remove a role",
            Method::DELETE,
            "/api/users/{id}/roles/viewer?tenant=acme",
            None,
            StatusCode::NO_CONTENT,
        ),
        r(
            "bulk replace",
            Method::POST,
            "/api/roles/bulk-assign",
            Some(
                json!({"user_ids": ["{id}"], "roles": ["viewer"], "mode": "replace", "tenant": "acme"}),
            ),
            StatusCode::OK,
        ),
        r(
            "deactivate",
            Method::PATCH,
            "/api/users/{id}?tenant=acme",
            Some(json!({"active": false})),
            StatusCode::OK,
        ),
        r(
            "delete",
            Method::DELETE,
            "/api/users/{id}?tenant=acme",
            None,
            StatusCode::NO_CONTENT,
        ),
        r(
            "restore",
            Method::POST,
            "/api/users/{id}/restore?tenant=acme",
            Some(json!({})),
            StatusCode::OK,
        ),
        r(
            "remove from the tenant",
            Method::DELETE,
            "/api/tenants/acme/members/{id}",
            None,
            StatusCode::NO_CONTENT,
        ),
    ]
}

async fn drive(app: &TestApp, actor: &Session, route: &Route, target: &str) -> (StatusCode, Value) {
    let path = route.path.replace("{id}", target);
    let mut req = app
        .client
        .request(route.method.clone(), app.url(&path))
        .bearer_auth(&actor.token);
    if let Some(b) = &route.body {
        req = req
            .json(&serde_json::from_str::<Value>(&b.to_string().replace("{id}", target)).unwrap());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_user_affecting_route_refuses_a_lesser_actor_and_serves_an_equal_one() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let org_admin = app.org_admin(&platform, "acme").await;
    for (name, perms) in [
        (
            "helpdesk",
            json!([
                "users:read",
                "users:write",
                "rbac:assign",
                "itsm:read",
                "itsm:write",
                "knowledge:read"
            ]),
        ),
        ("viewer", json!(["itsm:read"])),
    ] {
        expect(
            app.post(
                "/api/roles",
                &org_admin,
                json!({"name": name, "permissions": perms, "tenant": "acme"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::CREATED,
        )
        .await;
    }
    let helper = app
        .member_with_role(&org_admin, "acme", "helper@acme.test", "helpdesk")
        .await;
    let joe = app
        .member_with_role(&org_admin, "acme", "joe@acme.test", "requester")
        .await;
    // The platform admin shares the tenant, with the least role there.
    expect(
        app.post(
            "/api/tenants/acme/members",
            &platform,
            json!({"user_id": platform.user_id, "roles": ["requester"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    for route in routes() {
        for (who, target) in [
            ("the tenant admin", &org_admin),
            ("the platform admin", &platform),
        ] {
            let (status, body) = drive(&app, &helper, &route, &target.user_id).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::FORBIDDEN, Some("outranked")),
                "{}: on {who}: {body}",
                route.name
            );
        }
        let (status, body) = drive(&app, &helper, &route, &joe.user_id).await;
        assert_eq!(status, route.ok, "{} on a requester: {body}", route.name);
    }
    // Nothing changed for the stronger users: same names, roles and status, live sessions,
    // and no reset link was made for them.
    for (s, role) in [(&org_admin, "admin"), (&platform, "requester")] {
        let u = expect(
            app.get(&format!("/api/users/{}?tenant=acme", s.user_id), &org_admin)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(u["status"], "active", "{u}");
        assert_ne!(u["first_name"], "Renamed");
        assert_eq!(u["roles"], json!([role]), "{u}");
        expect(app.get("/api/me", s).send().await.unwrap(), StatusCode::OK).await;
    }
    let resets = expect(
        app.get(
            "/api/audit?action=auth.password_reset_requested&tenant=acme",
            &platform,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let targets: Vec<&str> = resets["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target_id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [joe.user_id.as_str()], "{resets}");
}

/// An equal may act: one admin demotes another; only the last-admin rule stops the last one.
#[tokio::test]
async fn an_admin_may_act_on_another_admin() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let a = app.org_admin(&platform, "acme").await;
    let b = app
        .member_with_role(&a, "acme", "second@acme.test", "admin")
        .await;
    let r = app
        .patch(
            &format!("/api/users/{}?tenant=acme", b.user_id),
            &a,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

/// Hole 3 / catalog 141: a role named in a setting is a grant. `tenants:write` is not enough to
/// touch the SSO maps (they need `sso:manage`), and `sso:manage` cannot name a role with more
/// than the caller holds, through either endpoint; invites and integration tokens likewise.
#[tokio::test]
async fn naming_a_role_in_a_setting_an_invite_or_a_token_is_a_grant_the_caller_must_hold() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let org_admin = app.org_admin(&platform, "acme").await;
    for (name, perms) in [
        ("ops", json!(["tenants:write", "users:write", "users:read"])),
        (
            "sso-mgr",
            json!([
                "sso:manage",
                "sso:read",
                "tenants:write",
                "users:write",
                "clients:manage",
                "tokens:manage"
            ]),
        ),
        ("basic", json!(["sso:read"])),
    ] {
        expect(
            app.post(
                "/api/roles",
                &org_admin,
                json!({"name": name, "permissions": perms, "tenant": "acme"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::CREATED,
        )
        .await;
    }
    let ops = app
        .member_with_role(&org_admin, "acme", "ops@acme.test", "ops")
        .await;
    let sso = app
        .member_with_role(&org_admin, "acme", "sso@acme.test", "sso-mgr")
        .await;
    let patch = |s: &Session, settings: Value| {
        app.patch("/api/tenants/acme", s, json!({"settings": settings}))
    };
    expect_error(
        patch(&ops, json!({"jit_default_role": "admin"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    for settings in [
        json!({"jit_default_role": "admin"}),
        json!({"group_role_map": {"Everyone": "admin"}}),
        json!({"jit_default_role": "requester"}),
    ] {
        expect_error(
            patch(&sso, settings.clone()).send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "privilege_escalation",
        )
        .await;
        let mut body = settings.clone();
        body["tenant"] = json!("acme");
        expect_error(
            app.post("/api/auth/sso-config", &sso, body)
                .send()
                .await
                .unwrap(),
            StatusCode::FORBIDDEN,
            "privilege_escalation",
        )
        .await;
    }
    let t = expect(
        app.get("/api/tenants/acme", &org_admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["settings"]["jit_default_role"], "", "unchanged: {t}");
    assert_eq!(t["settings"]["group_role_map"], json!({}), "unchanged: {t}");
    // A role the caller holds all of may be named; the change is audited with before/after.
    expect(
        patch(&sso, json!({"jit_default_role": "basic"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let audit = expect(
        app.get("/api/audit?action=tenant.update&tenant=acme", &org_admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let e = &audit["items"][0];
    assert_eq!(e["before"]["settings"]["jit_default_role"], "", "{e}");
    assert_eq!(e["after"]["settings"]["jit_default_role"], "basic", "{e}");
    // An invite with a role the inviter lacks, or an integration token acting as admin.
    expect_error(
        app.post(
            "/api/auth/invite",
            &sso,
            json!({"email": "sso@acme.test", "role": "admin", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "privilege_escalation",
    )
    .await;
    expect_error(
        app.post(
            "/api/tokens",
            &sso,
            json!({"name": "ci", "role": "admin", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "privilege_escalation",
    )
    .await;
}
