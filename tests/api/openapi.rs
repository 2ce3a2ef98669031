//! The OpenAPI document against the router it describes: every route has its operation and
//! every operation its route, the document is valid OpenAPI 3.1 by a real validator, and it is
//! what `/api/openapi.json` serves.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

/// Routes the document leaves out, each for its reason. Every entry must be a real route (the
/// test fails on one that is not), so the list cannot outlive what it excuses.
const NOT_DOCUMENTED: &[(&str, &str, &str)] = &[
    // HTML pages: the sign-in, sign-out and tenant-switch forms a browser fills in. Apps send
    // people there (`/oauth2/authorize` redirects to `/login`); no API client calls them.
    ("GET", "/login", "HTML sign-in page"),
    ("POST", "/login", "HTML sign-in form"),
    ("POST", "/login/tenant", "HTML tenant choice form"),
    ("GET", "/logout", "HTML sign-out page"),
    ("POST", "/logout", "HTML sign-out form"),
    ("POST", "/oauth2/consent", "HTML consent form"),
    // The console's entry points and its stylesheet and script (every `/console/...` page is
    // HTML too: see CONSOLE).
    (
        "GET",
        "/",
        "the console's front door (JSON 404 for API clients)",
    ),
    ("GET", "/setup", "HTML first-run page"),
    ("POST", "/setup", "HTML first-run form"),
    (
        "GET",
        "/assets/{name}",
        "the console's stylesheet and script",
    ),
    // SCIM discovery answers writes with a SCIM 405 of its own: refusals, not operations.
    ("POST", "/scim/v2/ServiceProviderConfig", "SCIM 405"),
    ("PUT", "/scim/v2/ServiceProviderConfig", "SCIM 405"),
    ("PATCH", "/scim/v2/ServiceProviderConfig", "SCIM 405"),
    ("DELETE", "/scim/v2/ServiceProviderConfig", "SCIM 405"),
    ("POST", "/scim/v2/Schemas", "SCIM 405"),
    ("PUT", "/scim/v2/Schemas", "SCIM 405"),
    ("PATCH", "/scim/v2/Schemas", "SCIM 405"),
    ("DELETE", "/scim/v2/Schemas", "SCIM 405"),
    ("POST", "/scim/v2/Schemas/{id}", "SCIM 405"),
    ("PUT", "/scim/v2/Schemas/{id}", "SCIM 405"),
    ("PATCH", "/scim/v2/Schemas/{id}", "SCIM 405"),
    ("DELETE", "/scim/v2/Schemas/{id}", "SCIM 405"),
    ("POST", "/scim/v2/ResourceTypes", "SCIM 405"),
    ("PUT", "/scim/v2/ResourceTypes", "SCIM 405"),
    ("PATCH", "/scim/v2/ResourceTypes", "SCIM 405"),
    ("DELETE", "/scim/v2/ResourceTypes", "SCIM 405"),
    ("POST", "/scim/v2/ResourceTypes/{id}", "SCIM 405"),
    ("PUT", "/scim/v2/ResourceTypes/{id}", "SCIM 405"),
    ("PATCH", "/scim/v2/ResourceTypes/{id}", "SCIM 405"),
    ("DELETE", "/scim/v2/ResourceTypes/{id}", "SCIM 405"),
];

/// The admin console's pages and forms: HTML for people, over the same services as the API.
const CONSOLE: &str = "/console";

/// `/api/scim/v2/...` is `/scim/v2/...` again, for proxies that pass only `/api`: the document
/// lists each SCIM operation once, under `/scim/v2`.
const SCIM_ALIAS: &str = "/api/scim/v2/";

/// Operations the document holds that the feature router does not mount (forward auth,
/// `GET /auth/verify`, has a lean pipeline of its own outside it: see `http::router::build`).
const OUTSIDE_THE_ROUTER: &[(&str, &str)] = &[("GET", "/auth/verify")];

type Ops = BTreeSet<(String, String)>;

/// The routes and methods of the router, read from its `Debug` form (axum has no other way to
/// list them): `RouteId(n): "path"` in the path table, and each route's `Allow` header value.
fn router_routes() -> Ops {
    let (router, _) = idbridge::http::router::api().split_for_parts();
    let debug = format!("{router:?}");
    // Only the path router: the fallback router holds the fallbacks of nested routers.
    let debug = debug
        .split(", fallback_router:")
        .next()
        .expect("a Router's Debug form");
    let (routes, node) = debug
        .split_once("node: Node { paths: {")
        .expect("the path table in a Router's Debug form (has axum changed it?)");
    let mut paths = std::collections::HashMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("RouteId(n): \"path\"");
        let path = rest.split('"').next().unwrap();
        paths.insert(id.to_string(), path.to_string());
    }
    let mut ops = Ops::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once(')').unwrap();
        let Some(path) = paths.get(id) else { continue };
        let allow = rest
            .split_once("allow_header: Bytes(b\"")
            .map(|(_, a)| a.split('"').next().unwrap())
            .unwrap_or_else(|| panic!("no Allow header for {path}: {rest}"));
        for method in allow.split(',').filter(|m| *m != "HEAD") {
            ops.insert((method.to_string(), path.clone()));
        }
    }
    assert!(
        ops.len() > 50,
        "read only {} routes from the router: has axum's Debug form changed?",
        ops.len()
    );
    ops
}

fn document_ops(doc: &Value) -> Ops {
    let mut ops = Ops::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn document() -> Value {
    serde_json::to_value(idbridge::http::router::document()).unwrap()
}

#[test]
fn every_route_has_its_operation_and_every_operation_its_route() {
    let routes = router_routes();
    let doc = document_ops(&document());
    let excused: Ops = NOT_DOCUMENTED
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    for op in &excused {
        assert!(
            routes.contains(op),
            "{op:?} is excused from the document but is no route: drop it from NOT_DOCUMENTED"
        );
        assert!(!doc.contains(op), "{op:?} is excused yet documented");
    }
    let alias: Ops = routes
        .iter()
        .filter(|(_, p)| p.starts_with(SCIM_ALIAS))
        .cloned()
        .collect();
    assert!(alias.len() > 10, "the SCIM alias is mounted: {alias:?}");
    for (m, p) in &alias {
        let original = p.replacen("/api/scim/v2/", "/scim/v2/", 1);
        assert!(
            routes.contains(&(m.clone(), original.clone())),
            "{m} {p} has no {original} twin"
        );
    }
    let undocumented: Vec<_> = routes
        .iter()
        .filter(|op| {
            let console = op.1 == CONSOLE || op.1.starts_with(&format!("{CONSOLE}/"));
            !(excused.contains(*op) || alias.contains(*op) || doc.contains(*op) || console)
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation in the OpenAPI document (annotate the handler with \
         #[utoipa::path] and mount it with routes!): {undocumented:#?}"
    );
    let outside: Ops = OUTSIDE_THE_ROUTER
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let unrouted: Vec<_> = doc
        .iter()
        .filter(|op| !routes.contains(*op) && !outside.contains(*op))
        .collect();
    assert!(
        unrouted.is_empty(),
        "operations in the document that no route serves: {unrouted:#?}"
    );
    for op in &outside {
        assert!(doc.contains(op), "{op:?} is documented");
        assert!(
            !routes.contains(op),
            "{op:?} is in the feature router now: drop it from OUTSIDE_THE_ROUTER"
        );
    }
}

#[test]
fn every_operation_says_what_it_answers_and_who_may_call_it() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut problems = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().expect("responses");
            if !responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3'))
            {
                problems.push(format!("{name}: no success response"));
            }
            if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
                problems.push(format!("{name}: no tag"));
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: no summary (the handler's doc comment)"));
            }
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let api = path.starts_with("/api/") && path != "/api/openapi.json";
            if api && !public {
                let description = op["description"].as_str().unwrap_or("");
                if !description.contains("Permission:") {
                    problems.push(format!("{name}: its description names no `Permission:`"));
                }
                if !responses.contains_key("401") {
                    problems.push(format!("{name}: no 401"));
                }
            }
            for (status, r) in responses {
                if status.starts_with('4') && r.get("content").is_none() {
                    problems.push(format!("{name}: {status} has no body schema"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_document_is_valid_openapi_3_1_by_openapi_spec_validator() {
    let file = std::env::temp_dir().join(format!(
        "idbridge-openapi-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, serde_json::to_vec(&document()).unwrap()).unwrap();
    let bin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/interop/.venv-api/bin/openapi-spec-validator"
    );
    assert!(
        std::path::Path::new(bin).exists(),
        "openapi-spec-validator is not installed: run scripts/test (it creates interop/.venv-api)"
    );
    let out = Command::new(bin)
        .args(["--schema", "3.1.0"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document (kept in {}):\n{text}",
        file.display()
    );
    let _ = std::fs::remove_file(&file);
    assert!(text.contains("OK"), "{text}");
}

#[tokio::test]
async fn the_gateway_serves_its_document() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let served: Value = res.json().await.unwrap();
    assert_eq!(served, document());
    assert!(served["paths"]["/api/users"]["get"].is_object());
    assert!(served["paths"]["/scim/v2/Users"]["post"].is_object());
    assert!(served["paths"].get("/api/scim/v2/Users").is_none());
    assert!(served["components"]["securitySchemes"]["bearer"].is_object());
}
