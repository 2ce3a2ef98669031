//! The verified-credential cache every route authenticates from: a change is seen by the very
//! next request on the replica that made it and within a second on every other; `can-i`
//! answered before routing is the router's answer; an entry never outlives its credential.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::{can_i_at, create_role};

/// can-i by the session's cookie and by its access token, each asked twice (the second is
/// answered from the cache when the first filled it): the four answers must agree.
async fn both_ways(app: &TestApp, s: &Session, permission: &str) -> Value {
    let path = format!("/api/rbac/can-i?permission={permission}");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let by_cookie = app
            .client
            .get(app.url(&path))
            .header("cookie", &s.cookie)
            .send()
            .await
            .unwrap();
        answers.push((by_cookie.status(), by_cookie.text().await.unwrap()));
        let by_token = app.get(&path, s).send().await.unwrap();
        answers.push((by_token.status(), by_token.text().await.unwrap()));
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "cookie and token, cached or not, answer alike: {answers:?}"
    );
    let (status, body) = &answers[0];
    json!({"status": status.as_u16(), "body": serde_json::from_str::<Value>(body).unwrap_or(Value::Null)})
}

/// Sends a request and expects `status`: the body.
async fn sent(r: reqwest::RequestBuilder, status: StatusCode) -> Value {
    expect(r.send().await.unwrap(), status).await
}

fn allowed(answer: &Value) -> bool {
    assert_eq!(answer["status"], 200, "{answer}");
    answer["body"]["allowed"].as_bool().unwrap()
}

#[tokio::test]
async fn every_change_to_what_a_caller_may_do_is_seen_by_their_very_next_request() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let acme_admin = app.org_admin(&platform, "acme").await;
    let carol = app
        .member_with_role(&acme_admin, "acme", "carol@acme.test", "")
        .await;
    let roles = crate::rbac::roles_of(&app, &acme_admin, None).await;
    assert!(!roles.is_empty());
    let readers = create_role(&app, &acme_admin, "Readers", &["users:read"]).await;
    let rid = readers["id"].as_str().unwrap();
    assert!(!allowed(&both_ways(&app, &carol, "users:read").await));

    // A role assigned.
    sent(
        app.post(
            &format!("/api/users/{}/roles", carol.user_id),
            &acme_admin,
            json!({"role": "Readers"}),
        ),
        StatusCode::CREATED,
    )
    .await;
    assert!(allowed(&both_ways(&app, &carol, "users:read").await));

    // The role's permissions edited.
    sent(
        app.patch(
            &format!("/api/roles/{rid}"),
            &acme_admin,
            json!({"permissions": ["audit:read"]}),
        ),
        StatusCode::OK,
    )
    .await;
    assert!(!allowed(&both_ways(&app, &carol, "users:read").await));
    assert!(allowed(&both_ways(&app, &carol, "audit:read").await));

    // The organisation's boundary narrowed below the role.
    sent(
        app.patch(
            "/api/tenants/acme",
            &platform,
            json!({"boundary": ["itsm:*", "users:*"]}),
        ),
        StatusCode::OK,
    )
    .await;
    let outside = both_ways(&app, &carol, "audit:read").await;
    assert!(!allowed(&outside), "{outside}");
    sent(
        app.patch("/api/tenants/acme", &platform, json!({"boundary": ["*"]})),
        StatusCode::OK,
    )
    .await;
    assert!(allowed(&both_ways(&app, &carol, "audit:read").await));

    // The organisation suspended, then active again.
    sent(
        app.patch(
            "/api/tenants/acme",
            &platform,
            json!({"status": "suspended"}),
        ),
        StatusCode::OK,
    )
    .await;
    assert!(!allowed(&both_ways(&app, &carol, "audit:read").await));
    sent(
        app.patch("/api/tenants/acme", &platform, json!({"status": "active"})),
        StatusCode::OK,
    )
    .await;
    assert!(allowed(&both_ways(&app, &carol, "audit:read").await));

    // The role removed.
    sent(
        app.delete(
            &format!("/api/users/{}/roles/{rid}", carol.user_id),
            &acme_admin,
        ),
        StatusCode::NO_CONTENT,
    )
    .await;
    let gone = both_ways(&app, &carol, "audit:read").await;
    assert!(!allowed(&gone), "{gone}");
    assert_eq!(gone["body"]["code"], "no_role", "{gone}");

    // The user deactivated: neither credential authenticates any more.
    sent(
        app.patch(
            &format!("/api/users/{}", carol.user_id),
            &acme_admin,
            json!({"active": false}),
        ),
        StatusCode::OK,
    )
    .await;
    let ended = both_ways(&app, &carol, "audit:read").await;
    assert_eq!(ended["status"], 401, "{ended}");
}

#[tokio::test]
async fn can_i_answered_before_routing_is_the_routers_answer() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    app.create_tenant(&admin, "other", "itsm").await;
    let token = sent(
        app.post(
            "/api/tokens",
            &admin,
            json!({"name": "ci", "role": "operator"}),
        ),
        StatusCode::CREATED,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let peer: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    for query in [
        "permission=users:read",
        "permission=users:write",
        "permission=users:read&tenant=default",
        "permission=users:read&tenant=other",
    ] {
        for auth in [
            format!("Bearer {}", bob.token),
            format!("bearer {token}"),
            String::new(),
        ] {
            let path = format!("/api/rbac/can-i?{query}");
            let ask = || {
                let mut r = app.client.get(app.url(&path));
                r = if auth.is_empty() {
                    r.header("cookie", &bob.cookie)
                } else {
                    r.header("authorization", &auth)
                };
                r
            };
            let routed = ask().send().await.unwrap();
            let routed = (
                routed.status(),
                routed.headers()["content-type"].clone(),
                routed.headers().contains_key("x-request-id"),
                routed.text().await.unwrap(),
            );
            // The router's answer filled the cache: the lean path now answers, alike.
            let mut req = axum::http::Request::get(&path);
            req = if auth.is_empty() {
                req.header("cookie", bob.cookie.split(';').next().unwrap())
            } else {
                req.header("authorization", &auth)
            };
            let req = req.body(axum::body::Body::empty()).unwrap();
            let (lean, caller) = idbridge::rbac::handlers::can_i_from_cache(&app.state, peer, &req)
                .unwrap_or_else(|| panic!("{query} ({auth:?}) is answered from the cache"));
            assert!(caller.is_some());
            let body = axum::body::to_bytes(lean.into_body(), 1 << 16)
                .await
                .unwrap();
            assert_eq!(
                routed.3,
                String::from_utf8(body.to_vec()).unwrap(),
                "{query}"
            );
            // And over HTTP: same status, type and body, with a request id (echoed when sent).
            let lean = ask().header("x-request-id", "r-1").send().await.unwrap();
            assert_eq!(lean.status(), routed.0, "{query}");
            assert_eq!(lean.headers()["content-type"], routed.1);
            assert!(routed.2);
            assert_eq!(lean.headers()["x-request-id"], "r-1");
            assert_eq!(lean.text().await.unwrap(), routed.3, "{query}");
            let minted = ask().send().await.unwrap();
            assert!(minted.headers().contains_key("x-request-id"));
        }
    }
    // The integration token holds its role in its own tenant only, however it is asked.
    let tok = Session {
        token,
        cookie: String::new(),
        user_id: String::new(),
        email: String::new(),
    };
    for _ in 0..2 {
        let home = can_i_at(&app, &tok, "itsm:read", Some("default"), None).await;
        assert_eq!(home["allowed"], true, "{home}");
        let away = can_i_at(&app, &tok, "itsm:read", Some("other"), None).await;
        assert_eq!(away["allowed"], false, "{away}");
    }
    // Misses and what the lean path does not decide are the router's: errors keep their codes.
    let r = app
        .get("/api/rbac/can-i?permission=users:read&tenant=nope", &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .get("/api/rbac/can-i?permission=no%20such", &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    let r = app
        .get("/api/rbac/can-i?permission=users:read&extra=1", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_cached_access_token_stops_answering_at_its_expiry_though_its_session_lives() {
    let app = spawn_app_with_clock().await;
    let clock = app.clock.clone().unwrap();
    let admin = app.register_admin().await;
    for _ in 0..2 {
        let r = app.get("/api/me", &admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Past `exp` but inside the verifier's 30 s leeway: the token still verifies, and the entry
    // it fills lives no longer than it does.
    let ttl = app.state.settings.session.access_token_ttl_secs;
    clock.advance_ms(ttl * 1000 + 5_000);
    for _ in 0..2 {
        let r = app.get("/api/me", &admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Past the leeway: refused, though the entry was cached and the session lives on.
    clock.advance_ms(30_000);
    let r = app.get("/api/me", &admin).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The session itself still signs in.
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_me_shows_a_change_made_on_this_replica_at_once() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "fulfiller")
        .await;
    let me = |s: &Session| {
        let s = s.clone();
        let app = &app;
        async move {
            let by_token = sent(app.get("/api/me", &s), StatusCode::OK).await;
            let by_cookie = expect(
                app.client
                    .get(app.url("/api/me"))
                    .header("cookie", &s.cookie)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await;
            assert_eq!(by_token["user"], by_cookie["user"]);
            by_token
        }
    };
    for _ in 0..2 {
        assert_eq!(me(&carol).await["user"]["first_name"], "Test");
    }
    // The body is kept: the next request is answered before routing, alike.
    let routed = me(&carol).await;
    let req = axum::http::Request::get("/api/me")
        .header("authorization", format!("Bearer {}", carol.token))
        .body(axum::body::Body::empty())
        .unwrap();
    let peer: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let (lean, _) = idbridge::auth::handlers::me_from_cache(&app.state, peer, &req)
        .expect("/api/me is answered from the cache");
    let body = axum::body::to_bytes(lean.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), routed);
    sent(
        app.patch(
            &format!("/api/users/{}", carol.user_id),
            &admin,
            json!({"first_name": "Caroline"}),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me(&carol).await["user"]["first_name"], "Caroline");
    sent(
        app.post(
            &format!("/api/users/{}/roles", carol.user_id),
            &admin,
            json!({"role": "admin"}),
        ),
        StatusCode::CREATED,
    )
    .await;
    let roles = me(&carol).await["roles"].clone();
    assert!(
        roles.as_array().unwrap().iter().any(|r| r == "admin"),
        "{roles}"
    );
}

#[tokio::test]
async fn a_change_made_on_one_replica_is_seen_on_another_within_a_second() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let carol = app
        .user_with_role(&admin, "carol@example.com", "fulfiller")
        .await;
    let other = app.replica().await;
    // By cookie: an access token names the issuer of the replica that minted it.
    let ask = |perm: &str| {
        app.client
            .get(other.url(&format!("/api/rbac/can-i?permission={perm}")))
            .header("cookie", &carol.cookie)
            .send()
    };
    for _ in 0..2 {
        let r: Value = ask("audit:read").await.unwrap().json().await.unwrap();
        assert_eq!(r["allowed"], false, "{r}");
    }
    sent(
        app.post(
            &format!("/api/users/{}/roles", carol.user_id),
            &admin,
            json!({"role": "admin"}),
        ),
        StatusCode::CREATED,
    )
    .await;
    let start = Instant::now();
    loop {
        let r: Value = ask("audit:read").await.unwrap().json().await.unwrap();
        if r["allowed"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the other replica still answers from before the change: {r}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_token_cached_for_the_api_never_passes_forward_auth() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
            host: "api.example.com".into(),
            path_prefix: None,
            tenant: "default".into(),
            permission: None,
            audience: Some("https://api.example.com".into()),
        }];
    })
    .await;
    let admin = app.register_admin().await;
    // The API token and an integration token, verified and cached by /api first...
    let integration = sent(
        app.post(
            "/api/tokens",
            &admin,
            json!({"name": "ci", "role": "operator"}),
        ),
        StatusCode::CREATED,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    for token in [admin.token.as_str(), integration.as_str()] {
        for _ in 0..2 {
            let r = app
                .client
                .get(app.url("/api/rbac/can-i?permission=users:read"));
            assert_eq!(
                r.bearer_auth(token).send().await.unwrap().status(),
                StatusCode::OK
            );
        }
        // ...are still no credential for an upstream, with or without its rule.
        for host in ["api.example.com", "other.example.com"] {
            let r = app
                .client
                .get(app.url("/auth/verify"))
                .header("x-forwarded-host", host)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{host}");
        }
    }
}
