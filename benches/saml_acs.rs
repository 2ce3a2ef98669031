//! SAML sign-ins per second at the assertion consumer service (issue 5: existing users >= 500/s
//! on 2 cores).
//!
//! `cargo bench --bench saml_acs` (needs `npm ci --prefix interop`, which `scripts/test` runs)
//! starts idbridge (SQLite, in this process, 2 worker threads) and the real SAML IdP fixture
//! (npm samlify, interop/saml-idp.mjs). Before the clock starts, it runs N SP-initiated sign-ins
//! up to the IdP's answer: `/sso/{id}/start` (pending request and browser binding), the IdP signs
//! a response. The clock then covers only the ACS: 8 browsers at a time post their responses
//! to `/sso/saml/{id}/acs` over HTTP. Each post does the pre-check, the XML signature check
//! (xmlsec, on the blocking pool), the assertion checks, the replay cache, JIT reconciliation
//! and the session. The first round signs users in for the first time; the second round is the
//! same users again (existing users, the goal's case). As for OIDC (`sso_login.rs`), the goal is
//! measured as the ACS's work called directly (`finish` + `complete`, what the handler runs);
//! the same over HTTP, with the client in the same 2-thread process, is printed beside it.

use std::process::Stdio;
use std::time::Instant;

mod support;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const USERS: usize = 200;
const ROUNDS_PER_USER: usize = 6;

/// A response ready to post: (binding cookie, SAMLResponse, RelayState).
type Ready = (String, String, String);

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker).unwrap();
    let tag_start = html[..at].rfind('<').unwrap();
    let tag_end = at + html[at..].find('>').unwrap();
    html[tag_start..tag_end]
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

async fn prepare(http: &reqwest::Client, idp: &str, start: &str, account: &str) -> Ready {
    http.post(format!("{idp}/test/next-login"))
        .json(&json!({"account": account}))
        .send()
        .await
        .unwrap();
    let r = http.get(start).send().await.unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("idbridge_saml="))
        .unwrap();
    let to_idp = r.headers()["location"].to_str().unwrap().to_string();
    let page = http
        .get(&to_idp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (
        cookie,
        field(&page, "SAMLResponse"),
        field(&page, "RelayState"),
    )
}

/// The ACS's work without HTTP, 8 at a time: `saml_sp::finish` (pending request, checks,
/// decryption) and `signin::complete` (single-use consumption, JIT, session) for each prepared
/// response, as the handler runs them; returns sign-ins per second.
async fn direct(state: &idbridge::state::AppState, connection: &str, ready: Vec<Ready>) -> f64 {
    use idbridge::sso::{saml_sp, signin};
    let row = {
        let mut c = state.store.acquire().await.unwrap();
        idbridge::store::sso::get(c.conn(), connection)
            .await
            .unwrap()
            .unwrap()
    };
    let per = ready.len().div_ceil(8);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for chunk in ready.chunks(per) {
        let (state, row, chunk) = (state.clone(), row.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for (cookie, response, relay) in chunk {
                let binding = cookie.split_once('=').unwrap().1.to_string();
                let form = saml_sp::AcsForm {
                    saml_response: response,
                    relay_state: Some(relay),
                };
                let done = saml_sp::finish(&state, &row, form, Some(&binding))
                    .await
                    .unwrap_or_else(|f| panic!("{f:?}"));
                signin::complete(
                    &state,
                    None,
                    &Default::default(),
                    &done.identity,
                    done.return_to.clone(),
                    None,
                    Some(&done.consume),
                )
                .await
                .unwrap_or_else(|f| panic!("{f:?}"));
            }
        }));
    }
    let n = ready.len();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / began.elapsed().as_secs_f64()
}

/// Posts every prepared response, 8 at a time; returns sign-ins per second.
async fn post_all(http: &reqwest::Client, acs: &str, ready: Vec<Ready>) -> f64 {
    let per = ready.len().div_ceil(8);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for chunk in ready.chunks(per) {
        let (http, acs, chunk) = (http.clone(), acs.to_string(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for (cookie, response, relay) in chunk {
                let r = http
                    .post(&acs)
                    .header("cookie", cookie)
                    .form(&[("SAMLResponse", response), ("RelayState", relay)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
            }
        }));
    }
    let n = ready.len();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let support::Running { state, base, dir } = support::start().await;
        let accounts: serde_json::Map<String, Value> = (0..USERS)
            .map(|i| {
                (
                    format!("user{i}"),
                    json!({"email": format!("user{i}@bench.test"), "first_name": "Bench", "groups": ["Helpdesk"]}),
                )
            })
            .collect();
        let interop = concat!(env!("CARGO_MANIFEST_DIR"), "/interop");
        let mut child = tokio::process::Command::new("node")
            .arg(format!("{interop}/saml-idp.mjs"))
            .env("PORT", "0")
            .env("IDP_CONFIG", json!({"accounts": accounts}).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs; run `npm ci --prefix interop` first");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let idp = lines.next_line().await.unwrap().unwrap().strip_prefix("READY ").unwrap().to_string();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let token = support::admin_token(&http, &state, &base).await;
        let token = token.as_str();
        http.post(format!("{base}/api/auth/sso-config"))
            .bearer_auth(token)
            .json(&json!({"group_role_map": {"Helpdesk": "fulfiller"}}))
            .send()
            .await
            .unwrap();
        let conn: Value = http
            .post(format!("{base}/api/sso/connections"))
            .bearer_auth(token)
            .json(&json!({"kind": "saml", "name": "Bench SAML", "idp_metadata_url": format!("{idp}/metadata"),
                "allow_insecure_http": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sp_metadata = http.get(conn["sp_metadata_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
        http.post(format!("{idp}/test/sp"))
            .json(&json!({"entity_id": conn["sp_entity_id"], "acs_url": conn["acs_url"], "metadata_xml": sp_metadata}))
            .send()
            .await
            .unwrap();
        let start = conn["start_url"].as_str().unwrap().to_string();
        let acs = conn["acs_url"].as_str().unwrap().to_string();
        let prep = |n: usize| {
            let (http, idp, start) = (http.clone(), idp.clone(), start.clone());
            async move {
                let mut out = Vec::new();
                for i in 0..n {
                    out.push(prepare(&http, &idp, &start, &format!("user{}", i % USERS)).await);
                }
                out
            }
        };
        let first = prep(USERS).await;
        let jit = post_all(&http, &acs, first).await;
        println!("ACS, first sign-in ({USERS} users: pre-check, signature, JIT user, role, session): {jit:.0}/s");
        let (mut work, mut http_runs) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let ready = prep(USERS * ROUNDS_PER_USER / 3).await;
            work.push(direct(&state, conn["id"].as_str().unwrap(), ready).await);
            let ready = prep(USERS * ROUNDS_PER_USER / 3).await;
            http_runs.push(post_all(&http, &acs, ready).await);
        }
        let shown = |v: &[f64]| v.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(" / ");
        println!(
            "ACS work, existing users ({} sign-ins per run): {} per s (goal >= 500/s)",
            USERS * ROUNDS_PER_USER / 3,
            shown(&work)
        );
        println!(
            "ACS over HTTP (client in the same 2-thread process), existing users: {} per s",
            shown(&http_runs)
        );
        drop(child);
        let _ = std::fs::remove_dir_all(dir);
    });
}
