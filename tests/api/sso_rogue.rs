//! The OIDC relying party against a rogue identity provider: a small server written here that
//! answers discovery, JWKS and the token endpoint honestly but signs whatever ID token a test
//! asks for (a real IdP never issues these). Each case of ../shared/security-tests.md section 2.2
//! that needs a forged token is one mode; idbridge must refuse every one with the generic 400
//! page and no session.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Json, Router};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::sso::{Browser, callback_hop, me, role_names, sso_config};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Default)]
struct Shared {
    issuer: String,
    client_id: String,
    /// How the next ID token is forged.
    mode: String,
    /// The nonce of the last authorization request.
    nonce: String,
    token_calls: usize,
    jwks_calls: usize,
    /// Announce RFC 9207 and send `iss` in the authorization response.
    iss_param: bool,
    /// Groups in the ID token; with `overage`, only Entra's `_claim_names` marker instead.
    groups: Vec<String>,
    overage: bool,
    /// What `/groups` (the Graph-style endpoint) and `/userinfo` answer.
    graph_groups: Vec<String>,
    userinfo_sub: String,
}

#[derive(Clone)]
struct Rogue {
    shared: Arc<Mutex<Shared>>,
    key: Arc<jsonwebtoken::EncodingKey>,
    kid: String,
    jwk: Value,
}

pub struct RogueIdp {
    pub issuer: String,
    state: Rogue,
}

impl RogueIdp {
    fn set(&self, f: impl FnOnce(&mut Shared)) {
        f(&mut self.state.shared.lock().unwrap());
    }
    fn token_calls(&self) -> usize {
        self.state.shared.lock().unwrap().token_calls
    }
}

async fn rogue() -> RogueIdp {
    let k = idbridge::crypto::generate_es256().unwrap();
    let kid = "rogue-1".to_string();
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": kid, "alg": "ES256", "use": "sig"});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let state = Rogue {
        shared: Arc::new(Mutex::new(Shared {
            issuer: issuer.clone(),
            mode: "valid".into(),
            iss_param: true,
            groups: vec!["Helpdesk".into()],
            userinfo_sub: "rogue-user-1".into(),
            ..Default::default()
        })),
        key: Arc::new(jsonwebtoken::EncodingKey::from_ec_der(&k.pkcs8_der)),
        kid,
        jwk,
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(discovery),
        )
        .route("/jwks", axum::routing::get(jwks))
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/groups", axum::routing::get(graph))
        .route("/userinfo", axum::routing::get(userinfo))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    RogueIdp { issuer, state }
}

async fn discovery(State(r): State<Rogue>) -> Json<Value> {
    let s = r.shared.lock().unwrap();
    let i = &s.issuer;
    Json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"), "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": s.iss_param,
    }))
}

async fn graph(State(r): State<Rogue>, headers: axum::http::HeaderMap) -> Json<Value> {
    assert_eq!(
        headers["authorization"], "Bearer rogue-access-token",
        "called with the access token"
    );
    let s = r.shared.lock().unwrap();
    Json(
        json!({"value": s.graph_groups.iter().map(|g| json!({"id": format!("id-{g}"), "displayName": g})).collect::<Vec<_>>()}),
    )
}

async fn userinfo(State(r): State<Rogue>) -> Json<Value> {
    let s = r.shared.lock().unwrap();
    Json(json!({"sub": s.userinfo_sub, "department": "Support", "given_name": "Mal"}))
}

async fn jwks(State(r): State<Rogue>) -> Json<Value> {
    r.shared.lock().unwrap().jwks_calls += 1;
    Json(json!({"keys": [r.jwk]}))
}

async fn authorize(
    State(r): State<Rogue>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    let mut s = r.shared.lock().unwrap();
    s.nonce = q.get("nonce").cloned().unwrap_or_default();
    s.client_id = q.get("client_id").cloned().unwrap_or_default();
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256"),
        "PKCE S256 always"
    );
    let mut to = format!(
        "{}?code=rogue-code&state={}",
        q["redirect_uri"],
        idbridge::engine::url::url_encode(&q["state"])
    );
    if s.iss_param {
        to.push_str(&format!(
            "&iss={}",
            idbridge::engine::url::url_encode(&s.issuer)
        ));
    }
    Redirect::to(&to)
}

async fn token(State(r): State<Rogue>) -> Json<Value> {
    let (mode, issuer, client_id, nonce, groups, overage) = {
        let mut s = r.shared.lock().unwrap();
        s.token_calls += 1;
        (
            s.mode.clone(),
            s.issuer.clone(),
            s.client_id.clone(),
            s.nonce.clone(),
            s.groups.clone(),
            s.overage,
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let access_token = "rogue-access-token";
    let at_hash = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
        B64.encode(&d.as_ref()[..16])
    };
    let mut claims = json!({
        "iss": issuer, "sub": "rogue-user-1", "aud": client_id, "exp": now + 300, "iat": now,
        "nonce": nonce, "email": "mallory@rogue.test", "email_verified": true, "groups": groups,
        "at_hash": at_hash,
    });
    if overage {
        let m = claims.as_object_mut().unwrap();
        m.remove("groups");
        m.insert("_claim_names".into(), json!({"groups": "src1"}));
        m.insert(
            "_claim_sources".into(),
            json!({"src1": {"endpoint": "https://graph.example/getMemberObjects"}}),
        );
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(r.kid.clone());
    match mode.as_str() {
        "valid" => {}
        "wrong_iss" => claims["iss"] = json!("https://other.example"),
        "wrong_aud" => claims["aud"] = json!("someone-else"),
        "extra_aud_no_azp" => claims["aud"] = json!([client_id, "another-client"]),
        "azp_mismatch" => claims["azp"] = json!("another-client"),
        "expired" => {
            claims["exp"] = json!(now - 600);
            claims["iat"] = json!(now - 900);
        }
        "iat_old" => claims["iat"] = json!(now - 86_400),
        "iat_future" => claims["iat"] = json!(now + 3_600),
        "nonce_mismatch" => claims["nonce"] = json!("not-the-nonce"),
        "no_nonce" => {
            claims.as_object_mut().unwrap().remove("nonce");
        }
        "at_hash_mismatch" => claims["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
        "unknown_kid" => header.kid = Some("not-in-jwks".into()),
        "no_sub" => {
            claims.as_object_mut().unwrap().remove("sub");
        }
        _ => {}
    }
    let id_token = match mode.as_str() {
        "alg_none" => format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(claims.to_string())
        ),
        "hs256_with_public_key" => {
            let h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            let secret = jsonwebtoken::EncodingKey::from_secret(r.jwk.to_string().as_bytes());
            jsonwebtoken::encode(&h, &claims, &secret).unwrap()
        }
        "bad_signature" => {
            let t = jsonwebtoken::encode(&header, &claims, &r.key).unwrap();
            let (body, sig) = t.rsplit_once('.').unwrap();
            let mut sig = B64.decode(sig).unwrap();
            sig[5] ^= 1;
            format!("{body}.{}", B64.encode(sig))
        }
        _ => jsonwebtoken::encode(&header, &claims, &r.key).unwrap(),
    };
    Json(
        json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    )
}

/// A connection to the rogue IdP in the admin's tenant.
async fn connect(app: &TestApp, admin: &Session, idp: &RogueIdp) -> Value {
    expect(
        app.post(
            "/api/sso/connections",
            admin,
            json!({"kind": "oidc", "name": "Rogue", "issuer": idp.issuer, "client_id": "idb-client",
                   "client_secret": "s", "id_token_algs": ["ES256"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

async fn attempt(app: &TestApp, conn: &Value) -> (StatusCode, String, Browser) {
    let mut b = Browser::default();
    let hops = b
        .follow(
            app,
            &format!("{}?rd=/api/me", conn["start_url"].as_str().unwrap()),
        )
        .await;
    let cb = callback_hop(&hops);
    (cb.status, cb.body.clone(), b)
}

#[tokio::test]
async fn forged_id_tokens_are_refused_with_the_generic_page_and_no_session() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    // The honest token signs in: the harness itself works.
    let (status, body, b) = attempt(&app, &conn).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(b.cookie(&app.state.cookie_name).is_some());
    for mode in [
        "alg_none",
        "hs256_with_public_key",
        "bad_signature",
        "wrong_iss",
        "wrong_aud",
        "extra_aud_no_azp",
        "azp_mismatch",
        "expired",
        "iat_old",
        "iat_future",
        "nonce_mismatch",
        "no_nonce",
        "at_hash_mismatch",
        "unknown_kid",
        "no_sub",
    ] {
        idp.set(|s| s.mode = mode.into());
        let (status, body, b) = attempt(&app, &conn).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{mode}: {body}");
        assert!(body.contains("Reference:"), "{mode}: the generic page");
        assert!(
            b.cookie(&app.state.cookie_name).is_none(),
            "{mode}: no session"
        );
    }
}

#[tokio::test]
async fn a_bad_state_never_reaches_the_token_endpoint_and_a_missing_iss_is_refused() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    let cb = conn["redirect_uri"].as_str().unwrap();
    let mut b = Browser::default();
    let h = b
        .get(
            &app,
            &format!(
                "{cb}?code=x&state=forged&iss={}",
                idbridge::engine::url::url_encode(&idp.issuer)
            ),
        )
        .await;
    assert_eq!(h.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        idp.token_calls(),
        0,
        "no token request for an unknown state"
    );
    // The IdP announces RFC 9207 but the response has no iss: refused before the token request.
    let first = b.get(&app, conn["start_url"].as_str().unwrap()).await;
    let authorize = first.location.unwrap();
    let at_idp = b.get(&app, &authorize).await;
    let back = at_idp.location.unwrap();
    let without_iss: String = back
        .split('&')
        .filter(|kv| !kv.starts_with("iss="))
        .collect::<Vec<_>>()
        .join("&");
    let h = b.get(&app, &without_iss).await;
    assert_eq!(h.status, StatusCode::BAD_REQUEST);
    assert_eq!(idp.token_calls(), 0);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_cooldown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    idp.set(|s| s.mode = "unknown_kid".into());
    for _ in 0..5 {
        let (status, _, _) = attempt(&app, &conn).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Discovery at save, discovery at the first sign-in, one refetch for the unknown kid: the
    // other four unknown kids hit the 30 s cooldown.
    let fetched = idp.state.shared.lock().unwrap().jwks_calls;
    assert!(fetched <= 3, "JWKS fetched {fetched} times");
    // Honest tokens still work afterwards (cached keys).
    idp.set(|s| s.mode = "valid".into());
    let (status, body, _) = attempt(&app, &conn).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

async fn roles_of(app: &TestApp, b: &Browser) -> Vec<String> {
    role_names(&me(app, b).await)
}

#[tokio::test]
async fn entra_group_overage_keeps_the_last_groups_or_asks_the_groups_endpoint() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    sso_config(
        &app,
        &admin,
        json!({"group_role_map": {"Helpdesk": "fulfiller", "Ops": "operator"}}),
    )
    .await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    let (_, _, b) = attempt(&app, &conn).await;
    assert_eq!(roles_of(&app, &b).await, ["fulfiller"]);
    // Too many groups: the token carries only the overage marker. No endpoint: last known groups.
    idp.set(|s| s.overage = true);
    let (status, body, b) = attempt(&app, &conn).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        roles_of(&app, &b).await,
        ["fulfiller"],
        "the last known groups are kept"
    );
    // With a groups endpoint, the groups come from there (called with the access token).
    expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            &admin,
            json!({"groups_endpoint": format!("{}/groups", idp.issuer)}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    idp.set(|s| s.graph_groups = vec!["Ops".into()]);
    let (status, body, b) = attempt(&app, &conn).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(roles_of(&app, &b).await, ["operator"]);
}

#[tokio::test]
async fn userinfo_is_merged_only_for_the_same_subject() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            &admin,
            json!({"use_userinfo": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let (status, body, _) = attempt(&app, &conn).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    idp.set(|s| s.userinfo_sub = "someone-else".into());
    let (status, _, b) = attempt(&app, &conn).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "userinfo for another subject is refused"
    );
    assert!(b.cookie(&app.state.cookie_name).is_none());
}

#[tokio::test]
async fn role_source_local_and_scim_leave_roles_to_idbridge_or_scim() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    sso_config(&app, &admin, json!({"group_role_map": {"Helpdesk": "fulfiller", "Ops": "operator"}, "role_source": "local"})).await;
    let idp = rogue().await;
    let conn = connect(&app, &admin, &idp).await;
    // local: a new user gets the default role once, whatever the groups say ...
    let (_, _, b) = attempt(&app, &conn).await;
    assert_eq!(roles_of(&app, &b).await, ["requester"]);
    // ... and later sign-ins never change roles.
    idp.set(|s| s.groups = vec!["Ops".into()]);
    let (_, _, b) = attempt(&app, &conn).await;
    assert_eq!(roles_of(&app, &b).await, ["requester"]);
    // scim: sign-in never changes roles.
    sso_config(&app, &admin, json!({"role_source": "scim"})).await;
    let explain = expect(
        app.post(
            "/api/sso/explain",
            &admin,
            json!({"connection": conn["id"], "claims": {"sub": "x", "groups": ["Ops"]}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(explain["role_source"], "scim");
    let (_, _, b) = attempt(&app, &conn).await;
    assert_eq!(
        roles_of(&app, &b).await,
        ["requester"],
        "scim policy: sign-in changed nothing"
    );
}
