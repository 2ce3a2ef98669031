//! Throttling (hole 6, ../shared/security-tests.md 122, 149) with the shipped defaults
//! (config/default.toml), client addresses set through a trusted proxy's X-Forwarded-For.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn throttled_app() -> TestApp {
    spawn_app_with(|s| {
        s.throttle = idbridge::config::ThrottleSettings::default();
        // The tarpit has its own test; here refusals are counted, not waited for.
        s.throttle.refusal_delay_ms = 0;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
}

/// A sign-in refused by the per-address limit is held back before its 429 (nginx `limit_req`
/// delays excess requests the same way), so a flood that waits for answers slows to one attempt
/// per connection and delay; the number held at once is bounded (beyond it, refusals are
/// answered at once), and other addresses are not held.
#[tokio::test]
async fn refusals_over_the_address_limit_are_held_back_and_the_hold_is_bounded() {
    let app = spawn_app_with(|s| {
        s.throttle = idbridge::config::ThrottleSettings::default();
        s.throttle.sign_in_per_minute = 1;
        s.throttle.sign_in_burst = 1;
        s.throttle.refusal_delay_ms = 1500;
        s.throttle.refusal_delay_max_held = 1;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    app.register_admin().await;
    let r = login_from(&app.base, &app.client, "203.0.113.7", "Wrong-Passw0rd").await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the address's one attempt"
    );
    let timed = || async {
        let start = std::time::Instant::now();
        let r = login_from(&app.base, &app.client, "203.0.113.7", "Wrong-Passw0rd").await;
        (r.status(), start.elapsed())
    };
    let ((a, ta), (b, tb)) = tokio::join!(timed(), timed());
    assert_eq!(
        (a, b),
        (StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS)
    );
    let (held, immediate) = if ta > tb { (ta, tb) } else { (tb, ta) };
    assert!(
        held >= std::time::Duration::from_millis(1500),
        "one refusal is held for the delay: {held:?}"
    );
    assert!(
        immediate < held - std::time::Duration::from_millis(1000),
        "the second is not held (one at a time): {immediate:?} vs {held:?}"
    );
    // Another address signs in without waiting for anyone's refusals.
    let r = login_from(&app.base, &app.client, "198.51.100.2", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn login_from(
    base: &str,
    client: &reqwest::Client,
    ip: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

/// 60 wrong passwords for one account from one address: a few are answered, the rest get 429
/// with Retry-After at once (no hashing, no queue); the owner signs in from another address.
#[tokio::test]
async fn sixty_wrong_passwords_from_one_address_are_throttled_and_the_owner_still_signs_in() {
    let app = throttled_app().await;
    app.register_admin().await;
    let mut codes = Vec::new();
    for _ in 0..60 {
        let r = login_from(&app.base, &app.client, "203.0.113.7", "Wrong-Passw0rd").await;
        let status = r.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&r) >= 1);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited", "{body}");
        }
        codes.push(status);
    }
    let wrong = codes
        .iter()
        .filter(|c| **c == StatusCode::BAD_REQUEST)
        .count();
    let limited = codes
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(wrong + limited, 60, "{codes:?}");
    assert!(
        (5..=7).contains(&wrong),
        "5 free failures, then back-off: {codes:?}"
    );
    // Even the right password waits from that address...
    let r = login_from(&app.base, &app.client, "203.0.113.7", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...but not from the owner's.
    let r = login_from(&app.base, &app.client, "198.51.100.2", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The back-off lives in the database: another replica refuses the attacker too.
    let other = app.replica().await;
    for _ in 0..3 {
        login_from(&other.base, &app.client, "203.0.113.9", "Wrong-Passw0rd").await;
    }
    let r = login_from(&other.base, &app.client, "203.0.113.7", "Wrong-Passw0rd").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the back-off holds on every replica"
    );
}

/// Password spraying from many addresses: after the account-wide allowance, unknown addresses
/// wait; the owner's known address never does.
#[tokio::test]
async fn spraying_from_many_addresses_never_locks_the_owner_out() {
    let app = throttled_app().await;
    app.register_admin().await;
    assert_eq!(
        login_from(&app.base, &app.client, "198.51.100.2", PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "the owner's address becomes known"
    );
    let mut limited = 0;
    for i in 0..60 {
        let r = login_from(&app.base, &app.client, &format!("203.0.113.{i}"), "Wrong-1").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited >= 35, "{limited} of 60 throttled");
    let r = login_from(&app.base, &app.client, "198.51.100.2", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "the owner signs in");
}

/// 60 reset requests for one email (mail bombing), each from another address: 3 are accepted,
/// the rest get 429; at most 3 links exist; other emails are unaffected.
#[tokio::test]
async fn forgot_password_is_limited_per_email() {
    let app = throttled_app().await;
    let ada = app.register_admin().await;
    let mut accepted = 0;
    for i in 0..60 {
        let r = app
            .client
            .post(app.url("/api/auth/forgot-password"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": "ada@example.com"}))
            .send()
            .await
            .unwrap();
        match r.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => assert!(retry_after(&r) > 60),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 3);
    let r = app
        .client
        .post(app.url("/api/auth/forgot-password"))
        .json(&json!({"email": "someone.else@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // The links are made after the answer: wait for them, then count.
    let mut links = 0;
    for _ in 0..40 {
        let mut c = app.state.store.acquire().await.unwrap();
        links = idbridge::store::tokens::resets_since(c.conn(), &ada.user_id, 0)
            .await
            .unwrap();
        if links == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(links, 3);
}

/// SCIM: wrong bearer tokens from one address are cut off after the allowance (other addresses
/// and valid tokens go on), and one token's burst is limited without touching another tenant.
#[tokio::test]
async fn scim_authentication_failures_and_request_bursts_are_throttled() {
    let app = spawn_app_with(|s| {
        s.throttle = idbridge::config::ThrottleSettings {
            scim_requests_per_second: 5,
            scim_burst: 5,
            ..Default::default()
        };
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "other", "itsm").await;
    let token = |tenant: Option<&str>| {
        let mut body = json!({"name": "idp"});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        app.post("/api/scim/tokens", &admin, body)
    };
    let main = expect(token(None).send().await.unwrap(), StatusCode::CREATED).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let other = expect(
        token(Some("other")).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |bearer: &str, ip: &str| {
        app.client
            .get(app.url("/scim/v2/Users?count=1"))
            .bearer_auth(bearer)
            .header("x-forwarded-for", ip)
            .send()
    };
    for _ in 0..60 {
        assert_eq!(
            get("wrong-token", "203.0.113.5").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = get("wrong-token", "203.0.113.5").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    assert_eq!(
        r.headers()["content-type"],
        "application/scim+json",
        "a SCIM error body"
    );
    // A burst from one token: 5 pass, then 429; the other tenant's token is unaffected.
    let mut burst = Vec::new();
    for _ in 0..8 {
        burst.push(get(&main, "198.51.100.1").await.unwrap().status());
    }
    assert_eq!(&burst[..5], &[StatusCode::OK; 5]);
    assert!(
        burst[5..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{burst:?}"
    );
    assert_eq!(
        get(&other, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
}

/// `/oauth2/token`: wrong client secrets from one address are cut off after the allowance.
#[tokio::test]
async fn token_endpoint_client_authentication_failures_are_throttled() {
    let app = throttled_app().await;
    let admin = app.register_admin().await;
    let c = expect(
        app.post(
            "/api/oauth-clients",
            &admin,
            json!({"name": "svc", "grant_types": ["client_credentials"], "scopes": ["read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let ask = |secret: &str, ip: &str| {
        app.client
            .post(app.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .header("x-forwarded-for", ip)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..60 {
        assert_eq!(
            ask("wrong", "203.0.113.8").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = ask("wrong", "203.0.113.8").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    let r = ask(c["client_secret"].as_str().unwrap(), "198.51.100.3")
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another address is not affected"
    );
}

/// A flood of sign-ins beyond the hashing queue is answered 503 `overloaded` at once; forward
/// auth, which never hashes, keeps answering meanwhile (how fast: benches/throttle.sh).
#[tokio::test]
async fn a_sign_in_flood_beyond_the_hash_queue_is_503_at_once_and_forward_auth_goes_on() {
    let app = spawn_app_with(|s| {
        s.auth.max_concurrent_hashes = 1;
        s.throttle.hash_queue = 1;
        // A real cost: each verification takes long enough for the flood to pile up.
        s.auth.argon2_memory_kib = 19456;
        s.auth.argon2_iterations = 2;
    })
    .await;
    let ada = app.register_admin().await;
    let mut flood = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/api/auth/login");
        flood.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"email": format!("nobody{i}@example.com"), "password": "Wrong-1"}))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").is_some();
            (r.status(), retry)
        }));
    }
    let r = app
        .client
        .get(app.url("/auth/verify"))
        .header("cookie", &ada.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "forward auth answers meanwhile");
    let mut overloaded = 0;
    for f in flood {
        let (status, retry) = f.await.unwrap();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(retry, "503 carries Retry-After");
            overloaded += 1;
        }
    }
    assert!(overloaded > 0, "the queue overflowed");
}
