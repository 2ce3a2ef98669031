//! OpenID Connect Back-Channel Logout: a client that received an ID token for a session is sent a
//! signed logout token when the session ends, and deliveries are retried until the client takes
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode as AxStatus;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::*;

const CB: &str = "http://127.0.0.1:9/cb";

/// A relying party's back-channel endpoint: records every form body; answers 500 to the first
/// `fail_first` deliveries.
struct Receiver {
    uri: String,
    rx: mpsc::UnboundedReceiver<String>,
}

async fn receiver(fail_first: usize) -> Receiver {
    #[derive(Clone)]
    struct S {
        tx: mpsc::UnboundedSender<String>,
        seen: Arc<AtomicUsize>,
        fail_first: usize,
    }
    async fn bc(State(s): State<S>, body: String) -> AxStatus {
        let n = s.seen.fetch_add(1, Ordering::SeqCst);
        let _ = s.tx.send(body);
        if n < s.fail_first {
            AxStatus::INTERNAL_SERVER_ERROR
        } else {
            AxStatus::OK
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/bc", axum::routing::post(bc))
        .with_state(S {
            tx,
            seen: Arc::default(),
            fail_first,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        uri: format!("http://127.0.0.1:{port}/bc"),
        rx,
    }
}

/// Registers a confidential client with a back-channel URI, signs `user` in to it through the
/// code flow and returns (client_id, the ID token's claims).
async fn signed_in_client(
    app: &TestApp,
    admin: &Session,
    user: &Session,
    bc: &str,
) -> (String, Value) {
    let c = expect(
        app.post(
            "/api/oauth-clients",
            admin,
            json!({"name": "rp", "confidential": true, "redirect_uris": [CB],
                   "grant_types": ["authorization_code"], "scopes": ["openid", "email"],
                   "backchannel_logout_uri": bc, "first_party": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    );
    let r = app
        .client
        .get(app.url(&format!(
            "/oauth2/authorize?client_id={id}&redirect_uri={CB}&response_type=code&scope=openid%20email&nonce=n1"
        )))
        .header("cookie", &user.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap()
        .to_string();
    let tokens = expect(
        app.client
            .post(app.url("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ])
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let id_claims = payload(tokens["id_token"].as_str().unwrap());
    (id, id_claims)
}

fn payload(jwt: &str) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::from_slice(&b64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// Verifies a logout token's signature against idbridge's JWKS, as a relying party would.
async fn verify_logout_token(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[app.state.public_url.as_str()]);
    v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("the logout token verifies against the JWKS")
        .claims
}

async fn next_token(r: &mut Receiver, within: Duration) -> String {
    let body = tokio::time::timeout(within, r.rx.recv())
        .await
        .expect("a logout token arrives")
        .unwrap();
    body.strip_prefix("logout_token=")
        .expect("form body logout_token=...")
        .to_string()
}

#[tokio::test]
async fn ending_a_session_sends_a_signed_logout_token_to_each_client_of_that_session() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    let mut rx = receiver(0).await;
    let (client_id, id_token) = signed_in_client(&app, &admin, &bob, &rx.uri).await;
    let sid = id_token["sid"].as_str().unwrap().to_string();
    // Discovery says so.
    let d: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    // Nothing is sent while the session lives.
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.rx.recv())
            .await
            .is_err()
    );
    // Bob signs out of idbridge.
    let r = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "logout: {}", r.status());
    let token = next_token(&mut rx, Duration::from_secs(5)).await;
    let claims = verify_logout_token(&app, &token, &client_id).await;
    assert_eq!(claims["sub"], bob.user_id.as_str());
    assert_eq!(claims["sid"], sid.as_str());
    assert!(
        claims["events"]
            .get("http://schemas.openid.net/event/backchannel-logout")
            .is_some()
    );
    assert!(
        claims.get("nonce").is_none(),
        "a logout token never carries a nonce"
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    // Exactly one delivery.
    assert!(
        tokio::time::timeout(Duration::from_millis(1200), rx.rx.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn deactivating_a_user_notifies_every_session_and_failed_deliveries_are_retried() {
    let app = spawn_app_with_clock().await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    let mut rx = receiver(1).await;
    let (client_id, id_token) = signed_in_client(&app, &admin, &bob, &rx.uri).await;
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
    // The first delivery is refused (500) ...
    let first = next_token(&mut rx, Duration::from_secs(5)).await;
    assert_eq!(payload(&first)["sid"], id_token["sid"]);
    // ... and retried after the backoff (5 s on idbridge's clock), with a fresh token.
    assert!(
        tokio::time::timeout(Duration::from_millis(1200), rx.rx.recv())
            .await
            .is_err()
    );
    app.clock.as_ref().unwrap().advance_ms(6_000);
    let second = next_token(&mut rx, Duration::from_secs(5)).await;
    assert_ne!(first, second);
    let claims = payload(&second);
    assert_eq!(claims["aud"], client_id.as_str());
    assert_eq!(claims["sub"], bob.user_id.as_str());
    // Accepted: nothing more is sent.
    app.clock.as_ref().unwrap().advance_ms(60_000);
    assert!(
        tokio::time::timeout(Duration::from_millis(1200), rx.rx.recv())
            .await
            .is_err()
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("idbridge_events_total{event=\"backchannel_logout_delivered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("idbridge_events_total{event=\"backchannel_logout_failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn clients_without_a_backchannel_uri_or_without_an_id_token_are_not_called() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    let mut rx = receiver(0).await;
    // Bob signs in to a client with a back-channel URI, but only with scope `email` (no ID token).
    let c = expect(
        app.post(
            "/api/oauth-clients",
            &admin,
            json!({"name": "api-only", "confidential": true, "redirect_uris": [CB],
                   "grant_types": ["authorization_code"], "scopes": ["email"],
                   "backchannel_logout_uri": rx.uri, "first_party": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let r = app
        .client
        .get(app.url(&format!(
            "/oauth2/authorize?client_id={id}&redirect_uri={CB}&response_type=code&scope=email"
        )))
        .header("cookie", &bob.cookie)
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap()
        .to_string();
    expect(
        app.client
            .post(app.url("/oauth2/token"))
            .basic_auth(id, c["client_secret"].as_str())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ])
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect(
        app.client
            .delete(app.url(&format!("/api/users/{}/sessions", bob.user_id)))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), rx.rx.recv())
            .await
            .is_err()
    );
}
