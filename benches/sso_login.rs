//! SSO sign-ins per second through an upstream OIDC IdP (issue 4: existing users >= 1,000/s,
//! first-time JIT >= 500/s on 2 cores, with a pre-fetched IdP token response).
//!
//! `cargo bench --bench sso_login` starts idbridge (SQLite, in this process) and a minimal
//! in-process IdP (discovery, JWKS, authorize, token; ES256 ID tokens), then measures two ways,
//! 8 sign-ins at a time:
//! - **callback work** (the goal's definition): token responses signed in advance, then for each
//!   the callback's work after the code exchange: ID token checks (`check_token_response`), JIT,
//!   role reconciliation and the session (`signin::complete`), one transaction;
//! - **end to end**: `/sso/{id}/start` -> IdP authorize -> idbridge callback over HTTP, with the
//!   code exchange, browsers and IdP in the same 2-thread process (a conservative figure).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Query, State};
use axum::response::Redirect;
use axum::{Json, Router};
mod support;

use serde_json::{Value, json};

/// code -> (nonce, subject, client id)
type Codes = Arc<Mutex<HashMap<String, (String, String, String)>>>;

#[derive(Clone)]
struct Idp {
    issuer: String,
    key: Arc<jsonwebtoken::EncodingKey>,
    jwk: Value,
    codes: Codes,
}

async fn discovery(State(i): State<Idp>) -> Json<Value> {
    let u = &i.issuer;
    Json(
        json!({"issuer": u, "authorization_endpoint": format!("{u}/authorize"),
        "token_endpoint": format!("{u}/token"), "jwks_uri": format!("{u}/jwks"),
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"]}),
    )
}

async fn jwks(State(i): State<Idp>) -> Json<Value> {
    Json(json!({"keys": [i.jwk]}))
}

async fn authorize(State(i): State<Idp>, Query(q): Query<HashMap<String, String>>) -> Redirect {
    let code = uuid::Uuid::new_v4().simple().to_string();
    i.codes.lock().unwrap().insert(
        code.clone(),
        (
            q["nonce"].clone(),
            q.get("login_hint").cloned().unwrap_or_default(),
            q["client_id"].clone(),
        ),
    );
    Redirect::to(&format!(
        "{}?code={code}&state={}",
        q["redirect_uri"],
        idbridge::engine::url::url_encode(&q["state"])
    ))
}

async fn token(State(i): State<Idp>, body: String) -> Json<Value> {
    let code = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap_or_default()
        .to_string();
    let (nonce, sub, client_id) = i.codes.lock().unwrap().remove(&code).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": i.issuer, "sub": sub, "aud": client_id, "exp": now + 300, "iat": now,
        "nonce": nonce, "email": format!("{sub}@bench.test"), "email_verified": true,
        "name": "Bench User", "groups": ["Helpdesk"]});
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some("bench".into());
    let id_token = jsonwebtoken::encode(&h, &claims, &i.key).unwrap();
    Json(
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    )
}

async fn start_idp() -> (String, Arc<jsonwebtoken::EncodingKey>) {
    let k = idbridge::crypto::generate_es256().unwrap();
    let key = Arc::new(jsonwebtoken::EncodingKey::from_ec_der(&k.pkcs8_der));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = Idp {
        issuer: issuer.clone(),
        key: key.clone(),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": "bench", "alg": "ES256", "use": "sig"}),
        codes: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(discovery),
        )
        .route("/jwks", axum::routing::get(jwks))
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .with_state(idp);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (issuer, key)
}

/// The callback's work for pre-fetched token responses (signed before the clock starts).
async fn direct(
    state: &idbridge::state::AppState,
    issuer: &str,
    connection: &str,
    key: &jsonwebtoken::EncodingKey,
    subjects: Vec<String>,
) -> f64 {
    use idbridge::sso::{connection, oidc, signin};
    let row = {
        let mut c = state.store.acquire().await.unwrap();
        idbridge::store::sso::get(c.conn(), connection)
            .await
            .unwrap()
            .unwrap()
    };
    let cfg = connection::config_of(&row).unwrap();
    let secret = connection::client_secret(state, &row).unwrap();
    let meta = oidc::metadata(state, &row, &cfg).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let responses: Vec<String> = subjects
        .iter()
        .map(|sub| {
            let claims = json!({"iss": issuer, "sub": sub, "aud": cfg.client_id, "exp": now + 600, "iat": now,
                "nonce": "bench-nonce", "email": format!("{sub}@bench.test"), "email_verified": true,
                "name": "Bench User", "groups": ["Helpdesk"]});
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            h.kid = Some("bench".into());
            let id_token = jsonwebtoken::encode(&h, &claims, key).unwrap();
            json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}).to_string()
        })
        .collect();
    let per = responses.len() / 8;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for chunk in responses.chunks(per) {
        let (state, row, cfg, secret, meta, chunk) = (
            state.clone(),
            row.clone(),
            cfg.clone(),
            secret.clone(),
            meta.clone(),
            chunk.to_vec(),
        );
        tasks.push(tokio::spawn(async move {
            for body in chunk {
                let tokens: openidconnect::core::CoreTokenResponse =
                    serde_json::from_str(&body).unwrap();
                let (identity, id_token) = oidc::check_token_response(
                    &state,
                    &row,
                    &cfg,
                    meta.clone(),
                    secret.clone(),
                    "bench-nonce",
                    &tokens,
                )
                .await
                .unwrap_or_else(|f| panic!("{f:?}"));
                signin::complete(
                    &state,
                    None,
                    &Default::default(),
                    &identity,
                    None,
                    Some(&id_token),
                    None,
                )
                .await
                .unwrap_or_else(|f| panic!("{f:?}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    responses.len() as f64 / began.elapsed().as_secs_f64()
}

/// One complete sign-in for `subject`; returns whether a session cookie came back.
async fn login(http: &reqwest::Client, start: &str, subject: &str) -> bool {
    let r = http
        .get(format!("{start}?login_hint={subject}"))
        .send()
        .await
        .unwrap();
    let binding = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("idbridge_sso="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap();
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let r = http.get(authorize).send().await.unwrap();
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let r = http
        .get(callback)
        .header("cookie", binding)
        .send()
        .await
        .unwrap();
    r.status() == 303
        && r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("idbridge_session="))
}

async fn run(http: &reqwest::Client, start: &str, subjects: Vec<String>) -> f64 {
    let per = subjects.len() / 8;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for chunk in subjects.chunks(per) {
        let (http, start, chunk) = (http.clone(), start.to_string(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for s in chunk {
                assert!(login(&http, &start, &s).await, "sign-in failed for {s}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    subjects.len() as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let support::Running { state, base, dir } = support::start().await;
        let (issuer, key) = start_idp().await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let token = support::admin_token(&http, &state, &base).await;
        let token = token.as_str();
        let conn: Value = http
            .post(format!("{base}/api/sso/connections"))
            .bearer_auth(token)
            .json(&json!({"kind": "oidc", "name": "Bench IdP", "issuer": issuer, "client_id": "bench",
                "client_secret": "s", "allow_insecure_http": true, "id_token_algs": ["ES256"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        http.post(format!("{base}/api/auth/sso-config"))
            .bearer_auth(token)
            .json(&json!({"group_role_map": {"Helpdesk": "fulfiller"}}))
            .send()
            .await
            .unwrap();
        let start = conn["start_url"].as_str().unwrap().to_string();
        let n = 4000;
        let direct_new: Vec<String> = (0..n).map(|i| format!("direct{i}")).collect();
        let jit = direct(&state, &issuer, conn["id"].as_str().unwrap(), &key, direct_new.clone()).await;
        let existing = direct(&state, &issuer, conn["id"].as_str().unwrap(), &key, direct_new).await;
        println!("callback work, first sign-in (ID token checks + JIT user, membership, role, session): {jit:.0}/s (goal >= 500/s)");
        println!("callback work, existing users (ID token checks + reconciliation + session): {existing:.0}/s (goal >= 1,000/s)");
        let new: Vec<String> = (0..n).map(|i| format!("user{i}")).collect();
        let jit = run(&http, &start, new.clone()).await;
        let existing = run(&http, &start, new).await;
        println!("end to end over HTTP with the IdP in process, first sign-in: {jit:.0}/s");
        println!("end to end over HTTP with the IdP in process, existing users: {existing:.0}/s");
        let _ = std::fs::remove_dir_all(dir);
    });
}
