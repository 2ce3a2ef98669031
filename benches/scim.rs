//! SCIM throughput and latency (issue 6).
//!
//! `cargo bench --bench scim` runs idbridge in this process (2 worker threads) on SQLite, or on
//! PostgreSQL with `IDBRIDGE_BENCH_DATABASE_URL=postgres://...` (each run in a schema of its
//! own, `bench_*`; the previous run's is dropped). Over HTTP with 8 concurrent clients it
//! measures (`IDBRIDGE_BENCH_SCIM_WRITES` users, default 4,000):
//! - `POST /Users` per second (new users: SCIM record, idbridge user, membership, default role);
//! - `PATCH /Users/{id}` per second (Entra's replace of displayName and a work email);
//! - one group PATCH adding all of them, and Okta's replace with half of them.
//!
//! It then loads `IDBRIDGE_BENCH_SCIM_USERS` (default 1,000,000; 0 stops after the writes) SCIM
//! users straight into the store and measures, one request at a time, the latency of
//! `filter=userName eq`, a forward walk of
//! pages of 100 (`startIndex` + `count`, as Okta and Entra page), a page at a random
//! `startIndex`, and `co` / `sw` filters on userName.

use std::time::{Duration, Instant};

mod support;

use idbridge::store::scim::ScimUserRow;
use serde_json::{Value, json};

const CLIENTS: usize = 8;
const SAMPLES: usize = 400;

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn timed(http: &reqwest::Client, url: &str, token: &str) -> (Duration, Value) {
    let t = Instant::now();
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    let v: Value = r.json().await.unwrap();
    (t.elapsed(), v)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = std::env::var("IDBRIDGE_BENCH_DATABASE_URL").ok();
        let load: usize = std::env::var("IDBRIDGE_BENCH_SCIM_USERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        // Users created and patched, then put in one group (default 4,000).
        let writes: usize = std::env::var("IDBRIDGE_BENCH_SCIM_WRITES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4_000);
        let support::Running { state, base, dir } = match db.as_deref() {
            Some(url) => support::start_on(Some(url)).await,
            None => support::start().await,
        };
        let backend = if db.is_some() { "PostgreSQL" } else { "SQLite" };
        let http = reqwest::Client::new();
        let admin = support::admin_token(&http, &state, &base).await;
        let tok: Value = http
            .post(format!("{base}/api/scim/tokens"))
            .bearer_auth(&admin)
            .json(&json!({"name": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tok["token"].as_str().unwrap().to_string();
        let scim = format!("{base}/scim/v2");

        // POST /Users, 8 clients.
        let t = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (http, scim, token) = (http.clone(), scim.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (c..writes).step_by(CLIENTS) {
                    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("bench{i:06}@corp.example"), "active": true, "externalId": format!("ext-{i}"),
                        "name": {"givenName": "Bench", "familyName": "User"},
                        "emails": [{"value": format!("bench{i:06}@corp.example"), "type": "work", "primary": true}]});
                    let r = http.post(format!("{scim}/Users")).bearer_auth(&token)
                        .header("content-type", "application/scim+json").body(body.to_string()).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                    let v: Value = r.json().await.unwrap();
                    ids.push(v["id"].as_str().unwrap().to_string());
                }
                ids
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.extend(t.await.unwrap());
        }
        let post_rate = writes as f64 / t.elapsed().as_secs_f64();

        // PATCH /Users/{id}, 8 clients.
        let t = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (http, scim, token) = (http.clone(), scim.clone(), token.clone());
            let mine: Vec<String> = ids.iter().skip(c).step_by(CLIENTS).cloned().collect();
            tasks.push(tokio::spawn(async move {
                for (n, id) in mine.iter().enumerate() {
                    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                        {"op": "Replace", "path": "displayName", "value": format!("Bench {n}")},
                        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("b{n}.{id}@corp.example")}]});
                    let r = http.patch(format!("{scim}/Users/{id}")).bearer_auth(&token)
                        .header("content-type", "application/scim+json").body(body.to_string()).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let patch_rate = ids.len() as f64 / t.elapsed().as_secs_f64();
        println!("{backend}: POST /Users {post_rate:.0}/s, PATCH /Users {patch_rate:.0}/s ({CLIENTS} clients, {writes} each)");

        // One group PATCH adding every bench user, then Okta's full push of half of them
        // (a diff: the other half removed); each is one transaction with role reconciliation.
        let g: Value = http
            .post(format!("{scim}/Groups"))
            .bearer_auth(&token)
            .json(&json!({"displayName": "Everyone"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let gid = g["id"].as_str().unwrap();
        let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        let t = Instant::now();
        let r = http
            .patch(format!("{scim}/Groups/{gid}"))
            .bearer_auth(&token)
            .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": members}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let add_ms = t.elapsed().as_secs_f64() * 1000.0;
        let half: Vec<Value> = ids.iter().step_by(2).map(|id| json!({"value": id})).collect();
        let t = Instant::now();
        let r = http
            .patch(format!("{scim}/Groups/{gid}"))
            .bearer_auth(&token)
            .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "members", "value": half}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let replace_ms = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{backend}: group PATCH add {} members: {add_ms:.0} ms; replace with {} of them: {replace_ms:.0} ms",
            ids.len(),
            half.len()
        );

        if load == 0 {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        // Load SCIM records straight into the store (no linked users: filters and paging only
        // read scim_users).
        let tenant_id = {
            let mut c = state.store.acquire().await.unwrap();
            idbridge::store::tenants::list(c.conn()).await.unwrap()[0].id.clone()
        };
        let t = Instant::now();
        let mut done = 0usize;
        while done < load {
            let mut tx = state.store.begin().await.unwrap();
            let end = (done + 10_000).min(load);
            for i in done..end {
                let name = format!("load{i:07}@corp.example");
                let row = ScimUserRow {
                    id: idbridge::domain::new_id(),
                    tenant_id: tenant_id.clone(),
                    user_id: None,
                    user_name_norm: name.clone(),
                    resource: json!({"userName": name, "active": true}).to_string(),
                    user_name: name,
                    external_id: Some(format!("x{i}")),
                    display_name_norm: None,
                    active: true,
                    version: 1,
                    created_at: i as i64,
                    updated_at: i as i64,
                };
                idbridge::store::scim::insert_user(tx.conn(), &row).await.unwrap();
            }
            tx.commit().await.unwrap();
            done = end;
        }
        println!("{backend}: loaded {load} SCIM users in {:.0} s", t.elapsed().as_secs_f64());

        let mut eq = Vec::new();
        for n in 0..SAMPLES {
            let i = (n * 7919) % load;
            let (d, v) = timed(&http, &format!("{scim}/Users?filter=userName%20eq%20%22load{i:07}%40corp.example%22"), &token).await;
            assert_eq!(v["totalResults"], 1);
            eq.push(d);
        }
        let mut walk = Vec::new();
        let mut start = 1;
        for _ in 0..SAMPLES.min(load / 100) {
            let (d, v) = timed(&http, &format!("{scim}/Users?startIndex={start}&count=100"), &token).await;
            assert_eq!(v["Resources"].as_array().unwrap().len(), 100);
            walk.push(d);
            start += 100;
        }
        let mut random = Vec::new();
        for n in 0..SAMPLES / 4 {
            let s = 1 + (n * 104_729) % (load - 100);
            let (d, _) = timed(&http, &format!("{scim}/Users?startIndex={s}&count=100"), &token).await;
            random.push(d);
        }
        let mut co = Vec::new();
        let mut sw = Vec::new();
        for n in 0..SAMPLES / 4 {
            let i = (n * 7919) % load;
            let (d, _) = timed(&http, &format!("{scim}/Users?filter=userName%20co%20%22{:05}%40corp%22&count=100", i % 100_000), &token).await;
            co.push(d);
            let (d, _) = timed(&http, &format!("{scim}/Users?filter=userName%20sw%20%22load{:05}%22&count=100", i / 100), &token).await;
            sw.push(d);
        }
        let show = |name: &str, v: Vec<Duration>| {
            println!("{backend}: {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)", pct(v.clone(), 0.5), pct(v.clone(), 0.99), pct(v.clone(), 1.0), v.len());
        };
        show("filter userName eq", eq);
        show("page of 100, forward walk", walk);
        show("page of 100, random startIndex", random);
        show("filter userName co", co);
        show("filter userName sw", sw);
        let _ = std::fs::remove_dir_all(dir);
    });
}
