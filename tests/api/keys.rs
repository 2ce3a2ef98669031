//! Signing keys: next/active/retired lifecycle, JWKS caching, rotation on one replica seen by
//! another, EdDSA.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::OK).await;
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn key_states(app: &TestApp, admin: &Session) -> Vec<(String, String)> {
    let body = expect(
        app.get("/api/keys", admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["state"].as_str().unwrap().to_string(),
                k["kid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn kid_in(states: &[(String, String)], state: &str) -> Vec<String> {
    states
        .iter()
        .filter(|(s, _)| s == state)
        .map(|(_, k)| k.clone())
        .collect()
}

#[tokio::test]
async fn first_start_publishes_an_active_and_a_next_key_and_signs_with_the_active_one() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let states = key_states(&app, &admin).await;
    assert_eq!(kid_in(&states, "active").len(), 1);
    assert_eq!(kid_in(&states, "next").len(), 1);
    assert_eq!(kid_of(&admin.token), kid_in(&states, "active")[0]);
    let mut published = jwks_kids(&app).await;
    published.sort();
    let mut expected: Vec<String> = states.iter().map(|(_, k)| k.clone()).collect();
    expected.sort();
    assert_eq!(published, expected);
}

#[tokio::test]
async fn jwks_is_cacheable_with_an_etag_and_answers_304_when_unchanged() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let other = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn rotating_promotes_next_retires_active_and_old_tokens_still_verify() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = key_states(&app, &admin).await;
    let etag_before = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    let r = app
        .post("/api/keys/rotate", &admin, json!({"force": true}))
        .send()
        .await
        .unwrap();
    let rotation = expect(r, StatusCode::OK).await;
    assert_eq!(rotation["active"], kid_in(&before, "next")[0].as_str());
    assert_eq!(rotation["retired"], kid_in(&before, "active")[0].as_str());
    let after = key_states(&app, &admin).await;
    assert_eq!(
        kid_in(&after, "retired"),
        vec![kid_in(&before, "active")[0].clone()]
    );
    assert_eq!(
        kid_in(&after, "active"),
        vec![kid_in(&before, "next")[0].clone()]
    );
    assert_eq!(kid_in(&after, "next").len(), 1);
    assert_eq!(
        jwks_kids(&app).await.len(),
        3,
        "retired, active and next are all published"
    );
    let etag_after = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    assert_ne!(etag_before, etag_after);
    // The token signed by the now-retired key still works; new tokens use the new key.
    expect(
        app.get("/api/me", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let fresh = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(kid_of(&fresh.token), rotation["active"].as_str().unwrap());
}

#[tokio::test]
async fn rotating_again_at_once_is_refused_until_the_next_key_was_published_long_enough() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    expect(
        app.post("/api/keys/rotate", &admin, json!({"force": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/keys/rotate"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "next_key_too_new").await;
}

#[tokio::test]
async fn only_platform_admins_see_and_rotate_keys() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app.user_with_role(&admin, "bob@example.com", "admin").await;
    expect_error(
        app.get("/api/keys", &bob).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "platform_admin_required",
    )
    .await;
    expect_error(
        app.post("/api/keys/rotate", &bob, json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "platform_admin_required",
    )
    .await;
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_after_its_tokens_expired_and_its_tokens_stop_working() {
    let app = spawn_app_with_clock().await;
    let admin = app.register_admin().await;
    let old_kid = kid_of(&admin.token);
    expect(
        app.post("/api/keys/rotate", &admin, json!({"force": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(jwks_kids(&app).await.contains(&old_kid));
    // Retention is the access-token lifetime (600 s) plus 60 s of leeway.
    app.clock.as_ref().unwrap().advance_ms(661_000);
    let s = &app.state;
    let changed =
        idbridge::tokens::keys::maintain(&s.store, &s.master_key, &s.key_policy, s.now_ms())
            .await
            .unwrap();
    assert!(changed);
    s.keys.reload(&s.store, &s.master_key).await.unwrap();
    assert!(!jwks_kids(&app).await.contains(&old_kid));
    expect_error(
        app.get("/api/me", &admin).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn the_schedule_rotates_after_the_rotation_period() {
    let app = spawn_app_with_clock().await;
    let admin = app.register_admin().await;
    let before = key_states(&app, &admin).await;
    let s = &app.state;
    assert!(
        !idbridge::tokens::keys::maintain(&s.store, &s.master_key, &s.key_policy, s.now_ms())
            .await
            .unwrap()
    );
    app.clock.as_ref().unwrap().advance_ms(30 * 86_400_000 + 1);
    assert!(
        idbridge::tokens::keys::maintain(&s.store, &s.master_key, &s.key_policy, s.now_ms())
            .await
            .unwrap()
    );
    s.keys.reload(&s.store, &s.master_key).await.unwrap();
    // Read the states straight from the store: tokens minted under the advanced clock would be
    // "not yet valid" for jsonwebtoken's wall-clock check.
    let mut c = s.store.acquire().await.unwrap();
    let rows = idbridge::store::keys::published(c.conn()).await.unwrap();
    let active: Vec<_> = rows
        .iter()
        .filter(|k| k.state == "active")
        .map(|k| k.kid.clone())
        .collect();
    assert_eq!(active, kid_in(&before, "next"));
    assert!(
        rows.iter()
            .any(|k| k.state == "retired" && k.kid == kid_in(&before, "active")[0])
    );
}

#[tokio::test]
async fn eddsa_keys_sign_tokens_that_verify() {
    let app = spawn_app_with(|s| s.keys.algorithm = "EdDSA".into()).await;
    let admin = app.register_admin().await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(admin.token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    expect(
        app.get("/api/me", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks = expect(r, StatusCode::OK).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519")
    );
}

#[tokio::test]
async fn a_rotation_on_one_replica_is_seen_by_another_sharing_the_database() {
    // Two app instances on one database: SQLite file or PostgreSQL schema.
    let a = spawn_app_with(|s| s.forward_auth.revocation_poll_ms = 50).await;
    let url = a.state.settings.database_url();
    let dir = a.state.settings.data.dir.clone();
    let key = a.state.master_key.to_base64();
    let public_url = a.base.clone();
    let b = spawn_app_with(move |s| {
        // Replicas behind one load balancer share the public URL (the token issuer).
        s.server.public_url = public_url;
        s.database.url = idbridge::config::Secret::new(url);
        s.data.dir = dir;
        s.secrets.master_key = idbridge::config::Secret::new(key);
        s.forward_auth.revocation_poll_ms = 50;
    })
    .await;
    let admin = a.register_admin().await;
    assert_eq!(jwks_kids(&a).await, jwks_kids(&b).await);
    let rotation = expect(
        a.post("/api/keys/rotate", &admin, json!({"force": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut seen = false;
    for _ in 0..40 {
        if jwks_kids(&b).await == jwks_kids(&a).await {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "replica B publishes the rotated key set within 2 s");
    assert_eq!(jwks_kids(&b).await.len(), 3);
    let states = key_states(&a, &admin).await;
    assert_eq!(
        kid_in(&states, "active"),
        vec![rotation["active"].as_str().unwrap().to_string()],
        "exactly one active key"
    );
    // A token signed by A's new key verifies on B.
    let fresh = a.login("ada@example.com", PASSWORD).await;
    expect(
        b.get("/api/me", &fresh).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn access_tokens_carry_the_effective_permissions_only_when_they_fit() {
    let claims = |token: &str| -> Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let rita = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let c = claims(&rita.token);
    assert_eq!(
        c["permissions"],
        json!(["itsm:read", "itsm:write", "knowledge:read"])
    );
    assert_eq!(c["roles"], json!(["requester"]));
    assert_eq!(c["tenant"], "default");
    assert_eq!(c["sub"], rita.user_id.as_str());
    for claim in [
        "iss", "aud", "exp", "iat", "nbf", "jti", "sid", "tid", "email", "name",
    ] {
        assert!(c.get(claim).is_some(), "missing {claim}: {c}");
    }
    let small = spawn_app_with(|s| s.session.max_permissions_claim_bytes = 16).await;
    let admin = small.register_admin().await;
    let rita = small
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    assert!(claims(&rita.token).get("permissions").is_none());
}
