//! Web plumbing: health, readiness, metrics, JWKS, error format, body handling, request ids,
//! CSRF for cookie sessions, access-token verification and cookie attributes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::roles_of;

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn jwt_header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

async fn role_names(app: &TestApp, s: &Session) -> Vec<String> {
    let mut names: Vec<String> = roles_of(app, s, None)
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Health, metrics, keys

#[tokio::test]
async fn healthz_and_readyz_return_200_when_the_app_runs() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["status"], "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(expect(r, StatusCode::OK).await["status"], "ready");
}

/// The binary's JSON log (the default `log.format`) has one line per request with what an
/// operator filters on: request id (the one the response carries), method, route template,
/// status, latency and the tenant the request acted in (from a session or a SCIM token); and
/// no line holds a secret that went through the gateway: passwords (right and wrong), the
/// bootstrap token (printed only on a terminal; here stderr is a pipe, as under systemd or in a
/// container), access and session tokens, SCIM tokens, raw ids in paths.
#[tokio::test]
async fn json_log_lines_carry_request_id_tenant_route_status_and_latency_and_no_secret() {
    let mut bin = Binary::serve(&[]).await;
    let http = reqwest::Client::new();
    let bootstrap = bin.bootstrap_token();
    let password = "Log-Scan-Passw0rd";
    let wrong = "Wrong-Log-Passw0rd";
    let r = http
        .post(bin.url("/api/auth/register"))
        .json(&json!({"bootstrap_token": bootstrap, "email": "ada@example.com", "password": password, "first_name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .post(bin.url("/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .post(bin.url("/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let login = expect(r, StatusCode::OK).await;
    let token = login["access_token"].as_str().unwrap().to_string();
    let anna = expect(
        http.post(bin.url("/api/users"))
            .bearer_auth(&token)
            .json(&json!({"email": "anna@example.com", "password": "Annas-Passw0rd", "first_name": "Anna"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .get(bin.url(&format!("/api/users/{anna}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let get_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.status(), StatusCode::OK);
    let scim = expect(
        http.post(bin.url("/api/scim/tokens"))
            .bearer_auth(&token)
            .json(&json!({"name": "Entra ID"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .get(bin.url("/scim/v2/Users"))
        .bearer_auth(&scim)
        .send()
        .await
        .unwrap();
    let scim_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.status(), StatusCode::OK);
    let me = expect(
        http.get(bin.url("/api/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let tenant = me["tenant"]["id"].as_str().unwrap().to_string();
    http.get(bin.url("/nope")).send().await.unwrap();
    bin.stop().await;

    let lines = bin.json_lines();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|v| v["target"] == "idbridge::access")
        .collect();
    let line = |rid: &str| {
        *access
            .iter()
            .find(|v| v["request_id"] == rid)
            .unwrap_or_else(|| panic!("no access line for {rid}:\n{}", bin.text()))
    };
    let get = line(&get_id);
    assert_eq!(get["level"], "INFO");
    assert_eq!(get["method"], "GET");
    assert_eq!(get["route"], "/api/users/{id}");
    assert_eq!(get["status"], 200);
    assert!(
        get["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{get}"
    );
    assert_eq!(get["tenant"], tenant.as_str());
    let scim_line = line(&scim_id);
    assert_eq!(scim_line["route"], "/scim/v2/Users");
    assert_eq!(scim_line["tenant"], tenant.as_str());
    let unmatched = access.iter().find(|v| v["route"] == "unmatched").unwrap();
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["tenant"], "");
    assert!(access.len() >= 8, "a line per request: {access:?}");
    // Everything the process wrote: the log lines and the first-run banner.
    let log = bin.text();
    for (what, secret) in [
        ("the password", password),
        ("a wrong password", wrong),
        ("a new user's password", "Annas-Passw0rd"),
        ("the bootstrap token", bootstrap.as_str()),
        ("the access token", token.as_str()),
        ("the session token", session.as_str()),
        ("the SCIM token", scim.as_str()),
        ("a raw id in a path", anna.as_str()),
    ] {
        assert!(!log.contains(secret), "{what} is in the log:\n{log}");
    }
}

/// With `telemetry.otlp_endpoint` set, each request is a server span exported over OTLP/HTTP
/// (protobuf) to the collector, named after its route, with the request id, tenant, route and
/// status as attributes, and a child of the caller's trace when a `traceparent` came with it.
#[tokio::test]
async fn request_spans_reach_an_otlp_collector_with_request_id_tenant_and_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message;

    // The collector: keeps every body posted to /v1/traces.
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let sink = bodies.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            sink.lock().unwrap().push(body.to_vec());
            async { StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await.ok() });

    // A quiet log does not quieten the traces.
    let mut bin = Binary::serve(&[
        ("IDBRIDGE_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
        ("IDBRIDGE_LOG__LEVEL", "warn"),
    ])
    .await;
    let http = reqwest::Client::new();
    let token = bin.first_admin(&http).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = http
        .get(bin.url("/api/me"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let me = expect(r, StatusCode::OK).await;
    let tenant = me["tenant"]["id"].as_str().unwrap().to_string();
    // A caller that marks its trace unsampled (flag 00) cannot hide its request from the traces.
    let hidden = "0af7651916cd43dd8448eb211c80319c";
    let r = http
        .get(bin.url("/api/me"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{hidden}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    let unsampled_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.status(), StatusCode::OK);
    bin.stop().await; // SIGTERM flushes the last batch

    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                ExportTraceServiceRequest::decode(b.as_slice()).expect("an OTLP protobuf body")
            })
            .flat_map(|req| req.resource_spans)
            .flat_map(|rs| {
                let service = rs
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter())
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.clone()?.value);
                rs.scope_spans
                    .into_iter()
                    .flat_map(|ss| ss.spans)
                    .map(move |s| (service.clone(), s))
            })
            .collect::<Vec<_>>();
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let attr = |s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        s.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone()?.value)
    };
    let (service, span) = spans
        .iter()
        .find(|(_, s)| attr(s, "request_id") == Some(Any::StringValue(request_id.clone())))
        .unwrap_or_else(|| {
            panic!(
                "no span for request {request_id} among {} spans:\n{}",
                spans.len(),
                bin.text()
            )
        });
    assert_eq!(service, &Some(Any::StringValue("idbridge".into())));
    assert_eq!(span.name, "GET /api/me");
    assert_eq!(span.kind, 2, "a server span");
    assert_eq!(
        crate::helpers::hex(&span.trace_id),
        trace_id,
        "the caller's trace"
    );
    assert_eq!(crate::helpers::hex(&span.parent_span_id), caller_span);
    assert_eq!(attr(span, "tenant"), Some(Any::StringValue(tenant)));
    assert_eq!(
        attr(span, "route"),
        Some(Any::StringValue("/api/me".into()))
    );
    assert_eq!(attr(span, "status"), Some(Any::IntValue(200)));
    let unsampled = spans
        .iter()
        .find(|(_, s)| attr(s, "request_id") == Some(Any::StringValue(unsampled_id.clone())))
        .map(|(_, s)| crate::helpers::hex(&s.trace_id));
    assert_eq!(
        unsampled.as_deref(),
        Some(hidden),
        "exported, in the caller's trace"
    );
}

/// `/metrics` as Prometheus reads it: the exposition passes `promtool check metrics` (the
/// Debian `prometheus` package; `scripts/test` installs it), with pool, hashing-queue and cache
/// gauges that show what the process holds.
#[tokio::test]
async fn metrics_pass_promtool_and_show_pool_queue_and_cache_gauges() {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("promtool is not installed: run scripts/test (it installs the Debian package `prometheus`) or apt-get install prometheus");
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    // Counters, events and caches with something in them: a failed sign-in, a forward-auth
    // verification, a 404.
    let r = app
        .try_login("ada@example.com", "Wrong-passw0rd", None)
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_credentials").await;
    let r = app
        .client
        .get(app.url("/auth/verify?tenant=default"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.client.get(app.url("/nope")).send().await.unwrap();
    let text = app.metrics_text().await;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(value("idbridge_db_pool_max_connections") >= 1.0);
    assert!(value("idbridge_db_pool_connections{state=\"idle\"}") >= 0.0);
    assert_eq!(value("idbridge_password_hashes_in_line"), 0.0);
    assert!(value("idbridge_password_hash_queue_capacity") >= 1.0);
    assert!(value("idbridge_cache_entries{cache=\"forward_auth\"}") >= 1.0);
    assert!(value("idbridge_cache_entries{cache=\"rbac_user_tenant\"}") >= 1.0);
    assert_eq!(
        value("idbridge_events_total{event=\"sign_in_failed\"}"),
        1.0
    );
    let build_info = format!(
        "idbridge_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&build_info), 1.0);
    // Every name is `idbridge_`, snake case; counters end in `_total`, durations in `_seconds`.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split(' ').skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(name.starts_with("idbridge_"), "{line}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{line}"
        );
        assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        if kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{line}");
        }
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_not_raw_path() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let a = app.create_user(&admin, "a@example.com", "Anna").await;
    let b = app.create_user(&admin, "b@example.com", "Bert").await;
    for id in [&a, &b] {
        expect(
            app.get(&format!("/api/users/{id}"), &admin)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
    }
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE idbridge_http_requests_total counter"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("idbridge_http_requests_total{")
                && l.contains("method=\"GET\"")
                && l.contains("route=\"/api/users/{id}\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no series for /api/users/{{id}}: {text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(!text.contains(&a) && !text.contains(&b), "{text}");
}

#[tokio::test]
async fn jwks_publishes_p256_keys_one_of_which_signs_access_tokens() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks = expect(r, StatusCode::OK).await;
    let keys = jwks["keys"].as_array().unwrap();
    // The active key and the next one (published before it signs; see tests/api/keys.rs).
    assert_eq!(keys.len(), 2, "{jwks}");
    for k in keys {
        assert_eq!(k["kty"], "EC");
        assert_eq!(k["crv"], "P-256");
        assert_eq!(k["alg"], "ES256");
        assert!(k["x"].as_str().is_some() && k["y"].as_str().is_some());
        assert!(k.get("d").is_none(), "no private part: {k}");
    }
    let header = jwt_header(&admin.token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(
        keys.iter().any(|k| k["kid"] == header["kid"]),
        "the signing key is published"
    );
}

// ---------------------------------------------------------------------------------------------
// Error format and bodies

#[tokio::test]
async fn unknown_path_returns_404_json_not_found() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for path in ["/nope", "/api/nope", "/api/users/x/y/z"] {
        let r = app.get(path, &admin).send().await.unwrap();
        assert!(r.headers().get("x-request-id").is_some());
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn post_returns_400_invalid_json_when_the_body_is_malformed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    for body in [
        "{not json",
        "",
        "[1, 2",
        "{\"name\": \"x\", \"permissions\": 5}",
    ] {
        let r = app
            .client
            .post(app.url("/api/roles"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_400_when_the_body_has_an_unknown_field() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "permissions": ["users:read"], "colour": "blue"}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_415_when_the_content_type_is_not_json() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .client
        .post(app.url("/api/roles"))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body(r#"{"name": "Readers", "permissions": ["users:read"]}"#)
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/roles"))
        .bearer_auth(&admin.token)
        .body(r#"{"name": "Readers", "permissions": ["users:read"]}"#)
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn post_returns_413_when_the_body_is_larger_than_the_limit() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 1024).await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Big", "description": "x".repeat(2000), "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(role_names(&app, &admin).await, before);
    // Just under the limit is fine.
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Small", "description": "x".repeat(500), "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_when_it_succeeds_or_fails() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let responses = vec![
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        app.get("/api/me", &admin).send().await.unwrap(),
        app.client.get(app.url("/api/me")).send().await.unwrap(),
        app.client.get(app.url("/nope")).send().await.unwrap(),
        app.post("/api/roles", &admin, json!({"name": ""}))
            .send()
            .await
            .unwrap(),
        app.client
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    ];
    let mut ids = std::collections::HashSet::new();
    for r in responses {
        let id = r
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {}", r.url()))
            .to_str()
            .unwrap()
            .to_string();
        assert!(!id.is_empty());
        ids.insert(id);
    }
    assert_eq!(ids.len(), 6, "each request has its own id");
}

#[tokio::test]
async fn failed_request_changes_nothing_when_one_permission_is_invalid() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Mixed", "permissions": ["users:read", "Not Valid", "audit:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    assert_eq!(role_names(&app, &admin).await, before);
    let audit = expect(
        app.get("/api/audit?action=role.create", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"], json!([]));
}

#[tokio::test]
async fn failed_patch_rolls_back_the_part_already_written() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let role = expect(
        app.post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "description": "before", "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = role["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/roles/{id}"),
            &admin,
            json!({"name": "Renamed", "description": "after", "permissions": ["users:read", "Not Valid"]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_permission").await;
    let back = expect(
        app.get(&format!("/api/roles/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["name"], "Readers");
    assert_eq!(back["description"], "before");
    assert_eq!(back["permissions"], json!(["users:read"]));
    let audit = expect(
        app.get(
            &format!("/api/audit?action=role.update&target_id={id}"),
            &admin,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// CSRF

/// A cookie-authorised write carrying the session's own anti-forgery token, as our pages send it.
fn cookie_post(app: &TestApp, s: &Session, path: &str, body: Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", app.csrf(s))
        .json(&body)
}

#[tokio::test]
async fn cookie_post_returns_403_csrf_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let r = cookie_post(
            &app,
            &admin,
            "/api/roles",
            json!({"name": "Evil", "permissions": ["users:read"]}),
        )
        .header("origin", origin)
        .send()
        .await
        .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    }
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn cookie_post_returns_403_csrf_when_sec_fetch_site_is_cross_site() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let before = role_names(&app, &admin).await;
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Evil", "permissions": ["users:read"]}),
    )
    .header("sec-fetch-site", "cross-site")
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    // Even with our own Origin, the browser said cross-site.
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Evil", "permissions": ["users:read"]}),
    )
    .header("sec-fetch-site", "cross-site")
    .header("origin", app.base.as_str())
    .send()
    .await
    .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn cookie_post_is_allowed_when_the_origin_is_our_own() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = cookie_post(
        &app,
        &admin,
        "/api/roles",
        json!({"name": "Readers", "permissions": ["users:read"]}),
    )
    .header("origin", app.base.as_str())
    .header("sec-fetch-site", "same-origin")
    .send()
    .await
    .unwrap();
    expect(r, StatusCode::CREATED).await;
    assert!(role_names(&app, &admin).await.contains(&"Readers".into()));
}

#[tokio::test]
async fn cookie_post_from_our_own_origin_needs_the_sessions_csrf_token() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let other = app.login_in(&admin.email, PASSWORD, None).await;
    let before = role_names(&app, &admin).await;
    let body = json!({"name": "Evil", "permissions": ["users:read"]});
    let other_token = app.csrf(&other);
    for token in [None, Some(""), Some("forged"), Some(other_token.as_str())] {
        let mut r = app
            .client
            .post(app.url("/api/roles"))
            .header("cookie", &admin.cookie)
            .header("origin", app.base.as_str())
            .header("sec-fetch-site", "same-origin")
            .json(&body);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        expect_error(r.send().await.unwrap(), StatusCode::FORBIDDEN, "csrf").await;
    }
    // A request with no Origin at all (a script outside a browser that stole the cookie) is
    // refused without the token too.
    let r = app
        .client
        .post(app.url("/api/roles"))
        .header("cookie", &admin.cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    assert_eq!(role_names(&app, &admin).await, before);
}

#[tokio::test]
async fn cookie_get_is_allowed_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn bearer_post_is_allowed_when_the_origin_is_foreign() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Readers", "permissions": ["users:read"]}),
        )
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    assert!(role_names(&app, &admin).await.contains(&"Readers".into()));
}

// ---------------------------------------------------------------------------------------------
// Access-token verification

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn access_token_returns_401_when_the_signature_is_tampered() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    expect(me_with(&app, &admin.token).await, StatusCode::OK).await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut sig: Vec<u8> = parts[2].as_bytes().to_vec();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).unwrap()
    );
    assert_ne!(tampered, admin.token);
    expect_error(
        me_with(&app, &tampered).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn access_token_returns_401_when_the_payload_is_changed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = json!(["admin", "root"]);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let forged = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    expect_error(
        me_with(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn access_token_returns_401_when_the_header_is_forged() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let parts: Vec<&str> = admin.token.split('.').collect();
    let kid = jwt_header(&admin.token)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        // alg none, no signature
        (json!({"alg": "none", "typ": "at+jwt", "kid": kid}), ""),
        // alg none, original signature
        (
            json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
            parts[2],
        ),
        // unknown kid
        (
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "es256-0000000000000000"}),
            parts[2],
        ),
        // no kid
        (json!({"alg": "ES256", "typ": "at+jwt"}), parts[2]),
        // plain JWT instead of an access token
        (json!({"alg": "ES256", "typ": "JWT", "kid": kid}), parts[2]),
        // algorithm confusion
        (
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            parts[2],
        ),
    ];
    for (header, sig) in cases {
        let token = format!("{}.{}.{}", b64_json(&header), parts[1], sig);
        let r = me_with(&app, &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}");
        expect_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // The untouched token still works.
    expect(me_with(&app, &admin.token).await, StatusCode::OK).await;
}

// ---------------------------------------------------------------------------------------------
// Cookies

#[tokio::test]
async fn login_cookie_has_the_domain_and_no_host_prefix_when_a_cookie_domain_is_set() {
    let app = spawn_app_with(|s| s.session.cookie_domain = "example.com".into()).await;
    app.register_admin().await;
    let r = app.try_login("ada@example.com", PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.contains("idbridge_session="))
        .expect("a session cookie");
    assert!(cookie.starts_with("idbridge_session="), "{cookie}");
    assert!(!cookie.contains("__Host-"), "{cookie}");
    for attr in ["; Domain=example.com", "; Path=/", "; HttpOnly", "; Secure"] {
        assert!(cookie.contains(attr), "missing {attr}: {cookie}");
    }
    let s = session_from(r, "ada@example.com").await;
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    expect(me, StatusCode::OK).await;
    // The __Host- name is not accepted under this configuration.
    let value = s.cookie.split_once('=').unwrap().1;
    let other = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("__Host-idbridge_session={value}"))
        .send()
        .await
        .unwrap();
    expect_error(other, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// `idbridge bootstrap` takes the password from `IDBRIDGE_BOOTSTRAP_PASSWORD`, as its help says
/// (out of the shell history): the settings loader, which refuses unknown `IDBRIDGE_*` keys,
/// leaves that one to the command.
#[test]
fn bootstrap_reads_its_password_from_the_environment() {
    let dir = std::env::temp_dir().join(format!("idbridge-boot-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
        .args(["bootstrap", "--email", "ada@example.com"])
        .current_dir(&dir)
        .env_remove("IDBRIDGE_TEST_DATABASE_URL")
        .env("IDBRIDGE_DATA__DIR", dir.join("data"))
        .env("IDBRIDGE_BOOTSTRAP_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains(PASSWORD),
        "the password is not echoed: {text}"
    );
}

/// `Authorization: Bearer` is read one way everywhere (RFC 7235: the scheme is
/// case-insensitive): the admin API and SCIM accept any case, and refuse other schemes.
#[tokio::test]
async fn the_bearer_scheme_is_read_without_regard_to_case_everywhere() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = crate::scim::Scim::new(&app, &admin, None).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url("/api/me"))
            .header("authorization", format!("{scheme} {}", admin.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "/api/me with {scheme}");
        let r = app
            .client
            .get(app.url("/scim/v2/Users"))
            .header("authorization", format!("{scheme}  {}", scim.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "SCIM with {scheme}");
    }
    for value in [
        format!("Basic {}", admin.token),
        format!("Bearer{}", admin.token),
        "Bearer ".to_string(),
    ] {
        let r = app
            .client
            .get(app.url("/api/me"))
            .header("authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{value:?}");
    }
}
