//! A real third-party verifier, npm `jose` (panva), checks idbridge access tokens against the
//! JWKS URL exactly as an app would (interop/jose-verify.mjs; `scripts/test` installs it).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Runs node without blocking the test's runtime, which must keep serving the JWKS meanwhile;
/// the token must carry idbridge's own API audience.
async fn jose_verify(app: &TestApp, token: &str) -> Value {
    jose_verify_for(app, token, &app.state.settings.session.audience).await
}

/// The same, for a token meant for `audience`.
async fn jose_verify_for(app: &TestApp, token: &str, audience: &str) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/interop");
    assert!(
        std::path::Path::new(dir).join("node_modules/jose").exists(),
        "npm jose is not installed: run scripts/test (it runs `npm ci --prefix interop`)"
    );
    let out = tokio::process::Command::new("node")
        .arg(format!("{dir}/jose-verify.mjs"))
        .arg(app.url("/.well-known/jwks.json"))
        .arg(token)
        .arg(&app.state.public_url)
        .arg(audience)
        .output()
        .await
        .expect("node runs (install Node.js 20+)");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn jose_verifies_an_access_token_against_the_jwks_url() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let v = jose_verify(&app, &admin.token).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["sub"], admin.user_id.as_str());
    assert_eq!(v["alg"], "ES256");
}

#[tokio::test]
async fn jose_verifies_eddsa_tokens_too() {
    let app = spawn_app_with(|s| s.keys.algorithm = "EdDSA".into()).await;
    let admin = app.register_admin().await;
    let v = jose_verify(&app, &admin.token).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["alg"], "EdDSA");
}

/// The token forward auth passes upstream is built from a cached, space-padded claims prefix:
/// jose must accept it like any other access token, with either key type, for the upstream's
/// audience, and refuse it as an idbridge API token.
#[tokio::test]
async fn jose_verifies_the_token_forward_auth_passes_upstream() {
    for alg in ["ES256", "EdDSA"] {
        let app = spawn_app_with(|s| {
            s.keys.algorithm = alg.into();
            s.forward_auth.pass_access_token = true;
            s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
                host: "127.0.0.1".into(),
                path_prefix: None,
                tenant: "default".into(),
                permission: None,
                audience: Some("https://app.example.com".into()),
            }];
        })
        .await;
        let admin = app.register_admin().await;
        for _ in 0..2 {
            // The first answer fills the cache; the second is minted from it.
            let r = app
                .client
                .get(app.url("/auth/verify"))
                .header("cookie", &admin.cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let passed = r.headers()["authorization"].to_str().unwrap().to_string();
            let token = passed.strip_prefix("Bearer ").unwrap();
            let v = jose_verify_for(&app, token, "https://app.example.com").await;
            assert_eq!(v["ok"], true, "{alg}: {v}");
            let wrong = jose_verify(&app, token).await;
            assert_eq!(wrong["code"], "ERR_JWT_CLAIM_VALIDATION_FAILED", "{wrong}");
            assert_eq!(v["alg"], alg);
            assert_eq!(v["sub"], admin.user_id.as_str());
        }
    }
}

#[tokio::test]
async fn jose_verifies_rs256_tokens_signed_through_aws_lc() {
    let app = spawn_app_with(|s| s.keys.algorithm = "RS256".into()).await;
    let admin = app.register_admin().await;
    let v = jose_verify(&app, &admin.token).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["alg"], "RS256");
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rsa: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .collect();
    assert_eq!(
        rsa.len(),
        2,
        "active and next RSA keys are published: {jwks}"
    );
    // n is a 2048-bit modulus (256 bytes -> 342 base64url characters); no private parts leak.
    assert_eq!(rsa[0]["n"].as_str().unwrap().len(), 342);
    assert!(rsa[0].get("d").is_none() && rsa[0].get("p").is_none());
    // idbridge itself accepts the token on its API.
    expect(
        app.get("/api/me", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn jose_rejects_a_tampered_token() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let mut parts: Vec<String> = admin.token.split('.').map(str::to_string).collect();
    // Change the payload (another subject) and keep the signature.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    parts[1] = b64.encode(claims.to_string());
    let v = jose_verify(&app, &parts.join(".")).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
}

#[tokio::test]
async fn jose_keeps_accepting_a_rotated_key_during_the_overlap_and_rejects_it_once_retired_past_it()
{
    let app = spawn_app_with_clock().await;
    let admin = app.register_admin().await;
    expect(
        app.post("/api/keys/rotate", &admin, json!({"force": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    // Overlap: the old key is retired but still published.
    assert_eq!(jose_verify(&app, &admin.token).await["ok"], true);
    app.clock.as_ref().unwrap().advance_ms(661_000);
    let s = &app.state;
    assert!(
        idbridge::tokens::keys::maintain(&s.store, &s.master_key, &s.key_policy, s.now_ms())
            .await
            .unwrap()
    );
    s.keys.reload(&s.store, &s.master_key).await.unwrap();
    let v = jose_verify(&app, &admin.token).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["code"], "ERR_JWKS_NO_MATCHING_KEY");
}
