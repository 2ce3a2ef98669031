//! The smaller holes (hole 10 of the isolation issue; ../shared/security-tests.md 128-131):
//! credentials that outlived their reason, links that stayed valid, a logout that redirected
//! anywhere, a tenant switch past `password_login: false`, the last admin in a race.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Catalog 131: an integration token stops when the person who made it is deactivated.
#[tokio::test]
async fn an_integration_token_ends_with_its_creators_deactivation() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let admin = app.org_admin(&platform, "acme").await;
    let maker = app
        .member_with_role(&admin, "acme", "maker@acme.test", "admin")
        .await;
    let t = expect(
        app.post(
            "/api/tokens",
            &maker,
            json!({"name": "ci", "role": "operator", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let token = Session {
        token: t["token"].as_str().unwrap().to_string(),
        ..maker.clone()
    };
    expect(
        app.get("/api/me", &token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    expect(
        app.patch(
            &format!("/api/users/{}?tenant=acme", maker.user_id),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let r = app.get("/api/me", &token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// A completed reset voids every other reset link of the account.
#[tokio::test]
async fn a_password_reset_voids_the_older_reset_links() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let admin = app.org_admin(&platform, "acme").await;
    let bob = app
        .member_with_role(&admin, "acme", "bob@acme.test", "requester")
        .await;
    let link = || {
        app.post(
            &format!("/api/users/{}/password-reset-link?tenant=acme", bob.user_id),
            &admin,
            json!({}),
        )
        .send()
    };
    let token = |v: &Value| {
        v["url"]
            .as_str()
            .unwrap()
            .split("token=")
            .nth(1)
            .unwrap()
            .to_string()
    };
    let first = token(&expect(link().await.unwrap(), StatusCode::CREATED).await);
    let second = token(&expect(link().await.unwrap(), StatusCode::CREATED).await);
    let reset = |t: String| {
        app.client
            .post(app.url("/api/auth/reset-password"))
            .json(&json!({"token": t, "password": "An0ther-Passw0rd"}))
            .send()
    };
    expect(reset(second).await.unwrap(), StatusCode::NO_CONTENT).await;
    expect_error(reset(first).await.unwrap(), StatusCode::GONE, "reset_used").await;
}

/// `GET /oauth2/logout` is no open redirect through a registered client and no cross-site
/// sign-out: without an ID token idbridge signed, it only offers a confirmation form.
#[tokio::test]
async fn logout_without_a_valid_id_token_hint_neither_signs_out_nor_redirects() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let c = expect(
        app.post(
            "/api/oauth-clients",
            &attacker,
            json!({"name": "x", "redirect_uris": ["https://evil.example/cb"],
                   "post_logout_redirect_uris": ["https://evil.example/phish"], "tenant": "evilcorp"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJ4In0.";
    for q in [
        format!("client_id={id}&post_logout_redirect_uri=https://evil.example/phish"),
        format!("id_token_hint={forged}&post_logout_redirect_uri=https://evil.example/phish"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/oauth2/logout?{q}")))
            .header("cookie", &platform.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        assert!(r.headers().get("location").is_none(), "{q}");
        assert!(r.text().await.unwrap().contains("Sign out of idbridge?"));
    }
    // Still signed in.
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &platform.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A cross-site POST is refused; the same-origin one signs out and stays on idbridge.
    let r = app
        .client
        .post(app.url("/oauth2/logout"))
        .header("cookie", &platform.cookie)
        .header("origin", "https://evil.example")
        .form(&[
            ("client_id", id),
            ("post_logout_redirect_uri", "https://evil.example/phish"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/oauth2/logout"))
        .header("cookie", &platform.cookie)
        .header("origin", app.base.as_str())
        .form(&[
            ("client_id", id),
            ("post_logout_redirect_uri", "https://evil.example/phish"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &platform.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "signed out");
}

/// `password_login: false` holds on every path: a password session cannot switch into the
/// tenant, use it with `?tenant=`, or pass forward auth for it.
#[tokio::test]
async fn a_password_session_cannot_reach_an_sso_only_tenant_by_any_path() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let acme = app.org_admin(&platform, "acme").await;
    app.create_tenant(&platform, "sso-only", "itsm").await;
    // Acme's admin is also an admin of sso-only (added by the platform admin).
    expect(
        app.post(
            "/api/tenants/sso-only/members",
            &platform,
            json!({"user_id": acme.user_id, "roles": ["admin"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let fresh = app
        .login_in("admin@acme.test", PASSWORD, Some("acme"))
        .await;
    expect(
        app.patch(
            "/api/tenants/sso-only",
            &platform,
            json!({"settings": {"password_login": false}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.post(
            "/api/auth/switch-tenant",
            &fresh,
            json!({"tenant": "sso-only"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "password_login_disabled",
    )
    .await;
    let r = app
        .get("/api/users?tenant=sso-only", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let c = expect(
        app.get(
            "/api/rbac/can-i?permission=users:read&tenant=sso-only",
            &fresh,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["allowed"], false);
    assert_eq!(c["code"], "password_sign_in_refused", "{c}");
    let r = app
        .client
        .get(app.url("/auth/verify?tenant=sso-only"))
        .header("cookie", &fresh.cookie)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "password_login_disabled").await;
    expect_error(
        app.try_login("admin@acme.test", PASSWORD, Some("sso-only"))
            .await,
        StatusCode::FORBIDDEN,
        "password_login_disabled",
    )
    .await;
    // The platform admin keeps their password (break-glass).
    app.login_in("ada@example.com", PASSWORD, Some("sso-only"))
        .await;
}

/// Catalog 130: two admins demote each other at once; one admin remains, on both databases.
#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let a = app.org_admin(&platform, "acme").await;
    let b = app
        .member_with_role(&a, "acme", "second@acme.test", "admin")
        .await;
    for _ in 0..5 {
        let demote = |by: &Session, whom: &Session| {
            app.delete(
                &format!("/api/users/{}/roles/admin?tenant=acme", whom.user_id),
                by,
            )
            .send()
        };
        let (x, y) = tokio::join!(demote(&a, &b), demote(&b, &a));
        let statuses = [x.unwrap().status(), y.unwrap().status()];
        let admins = expect(
            app.get("/api/users/stats?tenant=acme", &platform)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await["admins"]
            .as_i64()
            .unwrap();
        assert_eq!(admins, 1, "one admin remains: {statuses:?}");
        assert!(
            statuses.contains(&StatusCode::NO_CONTENT)
                && (statuses.contains(&StatusCode::CONFLICT)
                    || statuses.contains(&StatusCode::FORBIDDEN)),
            "{statuses:?}"
        );
        // Make both admins again for the next round.
        let demoted = if statuses[0] == StatusCode::NO_CONTENT {
            &b
        } else {
            &a
        };
        expect(
            app.post(
                &format!("/api/users/{}/roles", demoted.user_id),
                &platform,
                json!({"role": "admin", "tenant": "acme"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::CREATED,
        )
        .await;
    }
}

/// `POST /login` follows the one same-origin rule: a form posted from another origin (or with
/// `Origin: null`) signs nobody in, even without Fetch Metadata (login CSRF).
#[tokio::test]
async fn a_sign_in_form_posted_from_another_origin_signs_nobody_in() {
    let app = spawn_app().await;
    app.register_admin().await;
    for origin in ["https://evil.example", "null"] {
        let r = app
            .client
            .post(app.url("/login"))
            .header("origin", origin)
            .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(r.headers().get("set-cookie").is_none(), "{origin}");
    }
    let r = app
        .client
        .post(app.url("/login"))
        .header("origin", app.base.as_str())
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get("set-cookie").is_some());
}
