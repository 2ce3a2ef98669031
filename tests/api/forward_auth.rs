//! `GET /auth/verify` for reverse proxies.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn verify_returns_identity_headers_for_a_session_cookie() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/auth/verify"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["x-auth-request-user"], admin.user_id.as_str());
    assert_eq!(h["x-auth-request-email"], "ada@example.com");
    assert_eq!(h["x-auth-request-tenant"], "default");
    assert_eq!(h["x-auth-request-roles"], "admin");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["vary"], "Cookie, Authorization");
}

/// The first call verifies through the router; later calls are answered from the cache by the
/// server's dispatch, before routing: the answers must not differ.
#[tokio::test]
async fn cached_answers_match_the_first_and_keep_request_ids_permissions_and_metrics() {
    let app = spawn_app().await;
    let root = app.register_admin().await;
    let user = app
        .user_with_role(&root, "fulfiller@example.com", "fulfiller")
        .await;
    let ask = |query: &'static str, id: &'static str| {
        app.client
            .get(app.url(&format!("/auth/verify{query}")))
            .header("cookie", &user.cookie)
            .header("x-request-id", id)
            .send()
    };
    let headers = |r: &reqwest::Response| {
        let mut v: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(n, _)| *n != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        v.sort();
        v
    };
    let first = ask("", "req-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = ask("", "req-2").await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let (mut a, mut b) = (headers(&first), headers(&second));
    assert!(a.contains(&("x-request-id".into(), "req-1".into())));
    assert!(b.contains(&("x-request-id".into(), "req-2".into())));
    a.retain(|(n, _)| n != "x-request-id");
    b.retain(|(n, _)| n != "x-request-id");
    assert_eq!(a, b);
    // A permission check and an unreadable query, on a cached session.
    let held = ask("?permission=itsm:read&tenant=default", "req-3")
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let unknown = ask("?permission=users:write&tenant=default", "req-4")
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::FORBIDDEN);
    assert_eq!(unknown.headers()["cache-control"], "no-store");
    let bad = ask("?permission=%zz&tenant=default", "req-5")
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    // Other methods are not forward auth.
    let post = app
        .client
        .post(app.url("/auth/verify"))
        .header("cookie", &user.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let metrics = app.metrics_text().await;
    let ok_line = metrics
        .lines()
        .find(|l| l.contains("route=\"/auth/verify\"") && l.contains("status=\"200\""))
        .unwrap_or_else(|| panic!("no /auth/verify 200 line in:\n{metrics}"));
    let count: u64 = ok_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, 3, "{ok_line}");
}

#[tokio::test]
async fn verify_passes_a_fresh_token_with_the_upstreams_audience_and_accepts_only_that_audience() {
    let app = spawn_app_with(|s| {
        s.forward_auth.pass_access_token = true;
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
    let verify = |host: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("x-forwarded-host", host)
    };
    // idbridge's own API token is no credential for an upstream (catalog 142).
    let r = verify("api.example.com")
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = verify("api.example.com")
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let passed = r.headers()["authorization"].to_str().unwrap().to_string();
    let token = passed.strip_prefix("Bearer ").unwrap();
    // The upstream's token is not an idbridge API token...
    let s = Session {
        token: token.to_string(),
        ..admin.clone()
    };
    let r = app.get("/api/me", &s).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // ...but forward auth accepts it for the upstream whose audience it carries, and no other.
    let r = verify("api.example.com")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = verify("other.example.com")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Each verification mints a fresh token (new jti) with the same claims, from the cache.
    let again = verify("api.example.com")
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    let second = again.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(second, passed);
    use base64::Engine;
    let claims = |t: &str| -> serde_json::Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        serde_json::from_slice(&b64.decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    let (a, b) = (
        claims(token),
        claims(second.strip_prefix("Bearer ").unwrap()),
    );
    assert_ne!(a["jti"], b["jti"]);
    for k in [
        "sub", "sid", "tid", "tenant", "email", "roles", "iss", "aud",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert_eq!(a["aud"], "https://api.example.com");
    assert_eq!(a["roles"], serde_json::json!(["admin"]));
    assert!(a["exp"].as_i64().unwrap() > a["iat"].as_i64().unwrap());
    // Without a rule, the minted token's audience is the upstream's origin.
    let r = verify("portal.example.com:8443")
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    let t = r.headers()["authorization"].to_str().unwrap().to_string();
    assert_eq!(
        claims(t.strip_prefix("Bearer ").unwrap())["aud"],
        "https://portal.example.com"
    );
}

#[tokio::test]
async fn verify_is_401_for_api_clients_without_credentials() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let garbage = app
        .client
        .get(app.url("/auth/verify"))
        .header("cookie", "__Host-idbridge_session=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn verify_redirects_browsers_to_sign_in_with_rd_only_to_allowed_origins() {
    let app = spawn_app_with(|s| {
        s.forward_auth.allowed_redirect_origins = vec!["https://app.example.com".into()]
    })
    .await;
    let nav = |rd: &str| {
        app.client
            .get(app.url(&format!(
                "/auth/verify?rd={}",
                idbridge::engine::url::url_encode(rd)
            )))
            .header("accept", "text/html")
            .header("sec-fetch-mode", "navigate")
    };
    let r = nav("https://app.example.com/reports?x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap();
    assert_eq!(
        loc,
        format!(
            "{}/login?rd=https%3A%2F%2Fapp.example.com%2Freports%3Fx%3D1",
            app.base
        )
    );
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "https://app.example.com@evil.example/",
        "javascript:alert(1)",
    ] {
        let r = nav(evil).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{evil}");
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("{}/login", app.base),
            "{evil}"
        );
    }
    // nginx's auth_request needs the 401, never a redirect.
    let status = app
        .client
        .get(app.url("/auth/verify?mode=status"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn verify_is_403_when_the_permission_asked_for_is_not_held() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let ok = app
        .client
        .get(app.url("/auth/verify?permission=itsm:read&tenant=default"))
        .header("cookie", &req.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let r = app
        .client
        .get(app.url("/auth/verify?permission=users:read&tenant=default"))
        .header("cookie", &req.cookie)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
}

#[tokio::test]
async fn per_host_rules_apply_only_to_trusted_forwarded_hosts() {
    let app = spawn_app_with(|s| {
        s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
            host: "admin.example.com".into(),
            path_prefix: None,
            tenant: "default".into(),
            permission: Some("users:write".into()),
            audience: None,
        }];
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let to = |host: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("cookie", &req.cookie)
            .header("x-forwarded-host", host)
    };
    assert_eq!(
        to("admin.example.com").send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        to("portal.example.com").send().await.unwrap().status(),
        StatusCode::OK
    );
    let a = app
        .client
        .get(app.url("/auth/verify"))
        .header("cookie", &admin.cookie)
        .header("x-forwarded-host", "admin.example.com");
    assert_eq!(a.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_are_ignored() {
    // No trusted proxies: X-Forwarded-Host cannot dodge the rule for the real Host.
    let app = spawn_app_with(|s| {
        s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
            host: "127.0.0.1".into(),
            path_prefix: None,
            tenant: "default".into(),
            permission: Some("users:write".into()),
            audience: None,
        }];
    })
    .await;
    let admin = app.register_admin().await;
    let req = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let r = app
        .client
        .get(app.url("/auth/verify"))
        .header("cookie", &req.cookie)
        .header("x-forwarded-host", "public.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn deactivating_a_user_makes_verify_401_within_a_second() {
    let app = spawn_app_with(|s| s.forward_auth.revocation_poll_ms = 100).await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "requester")
        .await;
    let verify = || {
        app.client
            .get(app.url("/auth/verify"))
            .header("cookie", &bob.cookie)
    };
    assert_eq!(verify().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        verify().send().await.unwrap().status(),
        StatusCode::OK,
        "cached"
    );
    expect(
        app.patch(
            &format!("/api/users/{}", bob.user_id),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        if verify().send().await.unwrap().status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "still allowed after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_role_change_shows_in_the_headers_on_the_next_request() {
    let app = spawn_app_with(|s| s.forward_auth.revocation_poll_ms = 50).await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "requester")
        .await;
    let roles = || async {
        let r = app
            .client
            .get(app.url("/auth/verify"))
            .header("cookie", &bob.cookie)
            .send()
            .await
            .unwrap();
        r.headers()["x-auth-request-roles"]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(roles().await, "requester");
    expect(
        app.post(
            &format!("/api/users/{}/roles", bob.user_id),
            &admin,
            json!({"role": "fulfiller"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mut got = String::new();
    for _ in 0..20 {
        got = roles().await;
        if got == "fulfiller,requester" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(got, "fulfiller,requester");
}

#[tokio::test]
async fn logout_makes_verify_401() {
    let app = spawn_app_with(|s| s.forward_auth.revocation_poll_ms = 50).await;
    let admin = app.register_admin().await;
    assert_eq!(
        app.client
            .get(app.url("/auth/verify"))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mut status = StatusCode::OK;
    for _ in 0..20 {
        status = app
            .client
            .get(app.url("/auth/verify"))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// After shutdown nothing of the app keeps running: the revocation watcher's inner task used to
/// outlive it (a dropped `JoinHandle` does not stop its task) and poll a closed pool in a busy
/// loop. Every task's hold on the generation counters must be gone once the server has stopped.
#[tokio::test]
async fn no_background_task_outlives_the_server() {
    let app = spawn_app().await;
    let generations = app.state.generations.clone();
    drop(app);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::sync::Arc::strong_count(&generations) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} holders of the generation counters remain 10 s after shutdown",
            std::sync::Arc::strong_count(&generations) - 1
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
