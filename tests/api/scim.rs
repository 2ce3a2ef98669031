//! SCIM 2.0 (issue 6): tokens, discovery, Users, Groups, filters, PATCH (Entra ID and Okta shapes),
//! ETags, groups driving roles, tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn scim_get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

async fn create_token(app: &TestApp, admin: &Session, name: &str) -> Value {
    expect(
        app.post("/api/scim/tokens", admin, json!({"name": name}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn scim_tokens_authenticate_only_scim_and_can_be_rotated_and_revoked() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let created = create_token(&app, &admin, "Entra provisioning").await;
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("scim_"));
    let id = created["id"].as_str().unwrap().to_string();
    // Listed without the secret.
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("token").is_none());
    // SCIM answers with the token, at both base paths.
    for base in ["/scim/v2", "/api/scim/v2"] {
        let r = scim_get(&app, &format!("{base}/ServiceProviderConfig"), Some(&token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
        );
        assert_eq!(body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    }
    // No token, a wrong one, the admin's access token or session cookie: 401 in SCIM format.
    let wrong = format!("{token}x");
    for credential in [None, Some(wrong.as_str()), Some(admin.token.as_str())] {
        let r = scim_get(&app, "/scim/v2/ServiceProviderConfig", credential).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        assert!(r.headers().contains_key("www-authenticate"));
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            e["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(e["status"], "401");
    }
    let r = app
        .client
        .get(app.url("/scim/v2/ServiceProviderConfig"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no cookie authenticates SCIM"
    );
    // A SCIM token is not an API credential.
    let r = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Rotation: the old secret stops at once, the new one works.
    let rotated = expect(
        app.post(&format!("/api/scim/tokens/{id}/rotate"), &admin, json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let new = rotated["token"].as_str().unwrap().to_string();
    assert_ne!(new, token);
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&new))
            .await
            .status(),
        StatusCode::OK
    );
    // Last use is recorded.
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");
    // Revocation.
    let r = app
        .delete(&format!("/api/scim/tokens/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        scim_get(&app, "/scim/v2/ServiceProviderConfig", Some(&new))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Audited.
    let audit = expect(
        app.get("/api/audit?action=scim.token_rotate", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_tenant_admins_manage_scim_tokens_and_tenants_stay_apart() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let user = app
        .user_with_role(&admin, "rita@example.com", "requester")
        .await;
    let r = app
        .post("/api/scim/tokens", &user, json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A token of another tenant cannot be seen, rotated or revoked from this one.
    app.create_tenant(&admin, "acme", "console").await;
    let other = expect(
        app.post(
            "/api/scim/tokens",
            &admin,
            json!({"name": "acme okta", "tenant": "acme"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = other["id"].as_str().unwrap();
    let r = app
        .post(&format!("/api/scim/tokens/{id}/rotate"), &admin, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .delete(&format!("/api/scim/tokens/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let list = expect(
        app.get("/api/scim/tokens", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let r = app
        .post("/api/scim/tokens", &admin, json!({"name": ""}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
}

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client of one tenant.
pub struct Scim<'a> {
    app: &'a TestApp,
    pub token: String,
}

impl<'a> Scim<'a> {
    pub async fn new(app: &'a TestApp, admin: &Session, tenant: Option<&str>) -> Self {
        let mut body = json!({"name": format!("idp {}", tenant.unwrap_or("main"))});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let v = expect(
            app.post("/api/scim/tokens", admin, body)
                .send()
                .await
                .unwrap(),
            StatusCode::CREATED,
        )
        .await;
        Scim {
            app,
            token: v["token"].as_str().unwrap().to_string(),
        }
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH], "Operations": ops})),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.send(reqwest::Method::DELETE, path, None).await.0
    }

    pub async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER], "userName": user_name, "active": true});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = self.post("/Users", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn filter(&self, kind: &str, filter: &str) -> (StatusCode, Value) {
        let q = url_encode(filter);
        self.get(&format!("/{kind}?filter={q}")).await
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn role_names(app: &TestApp, admin: &Session, user_id: &str) -> Vec<(String, String)> {
    let v = expect(
        app.get(&format!("/api/users/{user_id}/roles"), admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut out: Vec<(String, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["role_name"]
                    .as_str()
                    .or(i["role"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                i["source"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn discovery_documents_and_unknown_endpoints() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let (s, v) = scim.get("/Schemas").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["totalResults"], 3);
    let ids: Vec<&str> = v["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&USER) && ids.contains(&ENTERPRISE), "{ids:?}");
    let (s, v) = scim.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(s, StatusCode::OK);
    let user_name = v["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let (s, v) = scim.get("/ResourceTypes/User").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["endpoint"], "/Users");
    assert_eq!(v["schemaExtensions"][0]["schema"], ENTERPRISE);
    let (s, v) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["patch"]["supported"], true);
    assert_eq!(v["etag"]["supported"], true);
    assert_eq!(v["filter"]["supported"], true);
    for (path, status) in [
        ("/Schemas/urn:nope", StatusCode::NOT_FOUND),
        ("/ResourceTypes/Nope", StatusCode::NOT_FOUND),
        ("/Nope", StatusCode::NOT_FOUND),
        (
            "/Users/0190f0f0-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, v) = scim.get(path).await;
        assert_eq!(s, status, "{path}");
        assert_eq!(
            v["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
    let (s, v) = scim.post("/ServiceProviderConfig", json!({})).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["status"], "405");
}

#[tokio::test]
async fn users_are_created_linked_read_updated_and_deprovisioned() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    // Entra's existence check before create: an empty ListResponse, never 404.
    let (s, v) = scim.filter("Users", "externalId eq \"e-1\"").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["totalResults"], 0);
    // Okta sends a password and an empty groups list: accepted, password discarded.
    let created = scim
        .create_user(
            "Alice@Example.com",
            json!({"externalId": "e-1", "password": "1mz050nq", "groups": [],
                "name": {"givenName": "Alice", "familyName": "Liddell"},
                "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
                ENTERPRISE: {"employeeNumber": "701", "department": "Eng", "manager": {"value": "m-1"}},
                "urn:example:custom:1.0:User": {"badge": "B-9"}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created.get("password").is_none(), "{created}");
    assert_eq!(created["schemas"][0], USER);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(created[ENTERPRISE]["department"], "Eng");
    assert_eq!(
        created["urn:example:custom:1.0:User"]["badge"], "B-9",
        "unknown extensions are kept"
    );
    // Case-insensitive uniqueness: 409 uniqueness.
    let (s, v) = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "alice@example.COM"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["scimType"], "uniqueness");
    // The linked idbridge user exists, is a member with the default role from SCIM.
    let u = expect(
        app.get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["first_name"], "Alice");
    let roles = role_names(&app, &admin, &id).await;
    assert!(
        roles.iter().all(|(_, s)| s == "scim") && !roles.is_empty(),
        "{roles:?}"
    );
    // Filters by userName (any case), externalId, email, with and/or.
    for f in [
        "userName eq \"alice@example.com\"",
        "USERNAME EQ \"ALICE@EXAMPLE.COM\"",
        "externalId eq \"e-1\"",
        "emails[type eq \"work\"].value eq \"Alice@example.com\"",
        "emails.value eq \"alice@example.com\" and active eq true",
        "userName sw \"ali\" or userName eq \"nobody\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701\"",
        "name.familyName co \"iddel\"",
        "not (userName eq \"bob\")",
    ] {
        let (s, v) = scim.filter("Users", f).await;
        assert_eq!(s, StatusCode::OK, "{f}: {v}");
        assert_eq!(v["totalResults"], 1, "{f}: {v}");
        assert_eq!(v["Resources"][0]["id"], id.as_str(), "{f}");
    }
    let (s, v) = scim.filter("Users", "externalId eq \"E-1\"").await;
    assert_eq!(
        (s, v["totalResults"].clone()),
        (StatusCode::OK, json!(0)),
        "externalId is case-exact"
    );
    // Entra legacy PATCH shapes.
    let (s, v) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@example.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Alicia"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "CC-1"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"]["givenName"], "Alicia");
    assert_eq!(v["name"]["familyName"], "Liddell");
    assert_eq!(v[ENTERPRISE]["costCenter"], "CC-1");
    assert_eq!(v[ENTERPRISE]["employeeNumber"], "701");
    assert_eq!(
        v["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert_eq!(v["meta"]["version"], "W/\"2\"");
    let u = expect(
        app.get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["first_name"], "Alicia");
    // attributes / excludedAttributes.
    let (_, v) = scim
        .get(&format!("/Users/{id}?attributes=userName,name.givenName"))
        .await;
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "name", "schemas", "userName"], "{v}");
    assert_eq!(v["name"], json!({"givenName": "Alicia"}));
    let (_, v) = scim
        .get(&format!(
            "/Users/{id}?excludedAttributes=emails,{ENTERPRISE}"
        ))
        .await;
    assert!(
        v.get("emails").is_none() && v.get(ENTERPRISE).is_none() && v.get("userName").is_some(),
        "{v}"
    );
    // Bad PATCHes change nothing.
    for (ops, t) in [
        (
            json!([{"op": "Replace", "path": "active", "value": "no"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "merge", "path": "active", "value": true}]),
            "invalidValue",
        ),
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "replace", "path": "displayName", "value": "X"}, {"op": "replace", "path": "bogus[", "value": 1}]),
            "invalidPath",
        ),
    ] {
        let (s, v) = scim.patch(&format!("/Users/{id}"), ops.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{ops}");
        assert_eq!(v["scimType"], t, "{ops}: {v}");
    }
    let (_, v) = scim.get(&format!("/Users/{id}")).await;
    assert!(
        v.get("displayName").is_none(),
        "a failed PATCH applied nothing: {v}"
    );
    assert_eq!(v["meta"]["version"], "W/\"2\"");
    // Okta: PUT without active leaves it; deactivate by pathless replace.
    let (s, v) = scim
        .put(&format!("/Users/{id}"), json!({"schemas": [USER], "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "L"}, "emails": [{"value": "alice@example.com", "primary": true}]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["active"], true);
    assert!(v.get(ENTERPRISE).is_none(), "PUT replaces: {v}");
    let (s, v) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["active"], false);
    let u = expect(
        app.get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["status"], "inactive");
    // Still readable while inactive (Okta's checks fail on 404).
    assert_eq!(scim.get(&format!("/Users/{id}")).await.0, StatusCode::OK);
    let (s, _) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let u = expect(
        app.get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["status"], "active");
    // DELETE deprovisions; a second DELETE and a GET are 404; the userName is free again.
    assert_eq!(
        scim.delete(&format!("/Users/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim.get(&format!("/Users/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        scim.delete(&format!("/Users/{id}")).await,
        StatusCode::NOT_FOUND
    );
    let r = app
        .get(&format!("/api/users/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "removed from the tenant");
    // Re-created: a new resource. The released account is linked again only by the linking
    // rule (scim_email_linking on a verified domain of the organisation); without it the
    // record stays unlinked.
    let unlinked = scim.create_user("alice@example.com", json!({})).await;
    assert_ne!(unlinked["id"], id.as_str());
    let r = app
        .get(&format!("/api/users/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not linked");
    assert_eq!(
        scim.delete(&format!("/Users/{}", unlinked["id"].as_str().unwrap()))
            .await,
        StatusCode::NO_CONTENT
    );
    app.verify_domain(&admin, "default", "example.com").await;
    expect(
        app.patch(
            "/api/tenants/default",
            &admin,
            json!({"settings": {"scim_email_linking": true}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let again = scim.create_user("alice@example.com", json!({})).await;
    assert_ne!(
        again["id"],
        id.as_str(),
        "a re-created user is a new resource"
    );
    // The same person is linked again, active, with only the default role.
    let u = expect(
        app.get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["status"], "active");
    // Audited with source scim.
    let audit = expect(
        app.get("/api/audit?action=scim.user_deleted", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    // The request log shows requests and error details, no secrets.
    let log = expect(
        app.get("/api/scim/log", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let items = log["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["status"] == 409
                && e["detail"].as_str().is_some_and(|d| d.contains("userName"))),
        "{log}"
    );
    assert!(!log.to_string().contains(&scim.token));
    assert!(!log.to_string().contains("1mz050nq"));
}

/// Creates read whether the person's email has a user before their write turn; creates racing
/// for one new email must still all succeed: one creates the user, the others find it taken
/// on the unique key and link again (here: stay unlinked, the user already has a record).
#[tokio::test]
async fn concurrent_creates_for_one_new_email_all_succeed() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let results = futures_util::future::join_all((0..8).map(|i| {
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": format!("race{i}@corp.example"),
                "emails": [{"value": "same@corp.example", "primary": true}]}),
        )
    }))
    .await;
    let mut linked = 0;
    for (s, v) in results {
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap();
        // A record that created its user shares the user's id.
        let r = app
            .get(&format!("/api/users/{id}"), &admin)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            linked += 1;
            assert_eq!(
                r.json::<Value>().await.unwrap()["email"],
                "same@corp.example"
            );
        }
    }
    assert_eq!(linked, 1);
}

#[tokio::test]
async fn deactivation_ends_sessions_of_an_adopted_user() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let uid = app.create_user(&admin, "bob@example.com", "Bob").await;
    let bob = app.login("bob@example.com", PASSWORD).await;
    let me = app.get("/api/me", &bob).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Adopted by email (the tenant links by email on its verified domain): the user of this
    // tenant is linked (the SCIM record has its own id).
    app.verify_domain(&admin, "default", "example.com").await;
    expect(
        app.patch(
            "/api/tenants/default",
            &admin,
            json!({"settings": {"scim_email_linking": true}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let created = scim.create_user("bob@example.com", json!({})).await;
    let sid = created["id"].as_str().unwrap();
    assert_ne!(sid, uid.as_str());
    let (s, _) = scim
        .patch(
            &format!("/Users/{sid}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let me = app.get("/api/me", &bob).send().await.unwrap();
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "sessions end at once"
    );
    assert_eq!(
        app.try_login("bob@example.com", PASSWORD, None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

/// One membership change over more users than one query takes (500): every user's roles are
/// reconciled, with the mapped role added, then taken away again.
#[tokio::test]
async fn a_membership_change_of_many_users_reconciles_every_one() {
    let app = spawn_app_with(|s| s.sso.group_role_map = "Big:fulfiller".into()).await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let mut ids = Vec::new();
    for batch in (0..520).collect::<Vec<_>>().chunks(20) {
        let names: Vec<String> = batch
            .iter()
            .map(|i| format!("many{i:03}@corp.example"))
            .collect();
        let created =
            futures_util::future::join_all(names.iter().map(|n| scim.create_user(n, json!({}))))
                .await;
        ids.extend(
            created
                .into_iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
    }
    let (s, g) = scim
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Big"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap();
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (s, v) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": members}]),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    for id in [&ids[0], &ids[499], &ids[500], &ids[519]] {
        let roles = role_names(&app, &admin, id).await;
        assert!(
            roles.contains(&("fulfiller".to_string(), "scim".to_string())),
            "{id}: {roles:?}"
        );
    }
    let (s, v) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "members", "value": []}]),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    for id in [&ids[0], &ids[519]] {
        let roles = role_names(&app, &admin, id).await;
        assert!(
            !roles.iter().any(|(r, _)| r == "fulfiller") && !roles.is_empty(),
            "{id}: {roles:?}"
        );
    }
}

#[tokio::test]
async fn groups_drive_roles_with_entra_and_okta_membership_shapes() {
    let app =
        spawn_app_with(|s| s.sso.group_role_map = "Helpdesk:fulfiller,Ops:operator".into()).await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let a = scim.create_user("ann@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = scim.create_user("ben@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let default_roles = role_names(&app, &admin, &a).await;
    let (s, g) = scim
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Helpdesk", "members": [{"value": a, "display": "Ann"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["members"][0]["value"], a.as_str());
    assert_eq!(g["members"][0]["display"], "Ann");
    assert_eq!(
        role_names(&app, &admin, &a).await,
        vec![("fulfiller".to_string(), "scim".to_string())]
    );
    // The user shows the group.
    let (_, u) = scim.get(&format!("/Users/{a}")).await;
    assert_eq!(u["groups"][0]["value"], gid.as_str());
    assert_eq!(u["groups"][0]["display"], "Helpdesk");
    // Group displayName is unique (Entra matches groups by it).
    let (s, v) = scim
        .post("/Groups", json!({"displayName": "helpdesk"}))
        .await;
    assert_eq!(
        (s, v["scimType"].clone()),
        (StatusCode::CONFLICT, json!("uniqueness"))
    );
    // Entra: add with $ref null, then remove by value array: only that member goes.
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": b}]}]),
        )
        .await;
    assert!(s == StatusCode::NO_CONTENT || s == StatusCode::OK, "{s}");
    assert_eq!(
        role_names(&app, &admin, &b).await,
        vec![("fulfiller".to_string(), "scim".to_string())]
    );
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}]),
        )
        .await;
    assert!(s.is_success());
    let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
    let members: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [b.as_str()]);
    assert_eq!(
        role_names(&app, &admin, &a).await,
        default_roles,
        "back to the default role"
    );
    // Okta: remove by filter + add in one request; then a full push by replace.
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([
            {"op": "remove", "path": format!("members[value eq \"{b}\"]")},
            {"op": "add", "path": "members", "value": [{"value": a, "display": "ann"}]}]),
        )
        .await;
    assert!(s.is_success());
    let (_, g) = scim
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(g.get("members").is_none());
    let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 1);
    assert_eq!(g["members"][0]["value"], a.as_str());
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": b}]}]),
        )
        .await;
    assert!(s.is_success());
    assert_eq!(
        role_names(&app, &admin, &b).await,
        vec![("fulfiller".to_string(), "scim".to_string())]
    );
    // Okta rename with the id repeated: the group takes the new name's mapping ("Ops" was never
    // borne) and keeps the one it holds ("Helpdesk").
    let (s, v) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Ops"}}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let both = vec![
        ("fulfiller".to_string(), "scim".to_string()),
        ("operator".to_string(), "scim".to_string()),
    ];
    assert_eq!(role_names(&app, &admin, &a).await, both);
    // Nested groups: members of a member group get its roles.
    let (_, inner) = scim
        .post(
            "/Groups",
            json!({"displayName": "Night shift", "members": [{"value": b}]}),
        )
        .await;
    let inner_id = inner["id"].as_str().unwrap().to_string();
    let (_, outer) = scim
        .post(
            "/Groups",
            json!({"displayName": "Support", "members": [{"value": inner_id, "type": "Group"}]}),
        )
        .await;
    let outer_id = outer["id"].as_str().unwrap().to_string();
    assert_eq!(outer["members"][0]["type"], "Group");
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")},
                   {"op": "add", "path": "members", "value": [{"value": outer_id, "type": "Group"}]}]),
        )
        .await;
    assert!(s.is_success());
    assert_eq!(
        role_names(&app, &admin, &b).await,
        both,
        "through two levels"
    );
    // A made-up member id is refused; nothing changes.
    let (s, v) = scim
        .patch(&format!("/Groups/{gid}"), json!([{"op": "add", "path": "members", "value": [{"value": "0190f0f0-0000-7000-8000-000000000000"}]}]))
        .await;
    assert_eq!(
        (s, v["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
    // Deleting the middle group takes its roles away.
    assert_eq!(
        scim.delete(&format!("/Groups/{outer_id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_names(&app, &admin, &b).await, default_roles);
    // Filters on groups.
    let (_, v) = scim
        .filter("Groups", &format!("members.value eq \"{a}\""))
        .await;
    assert_eq!(v["totalResults"], 1);
    let (_, v) = scim.filter("Groups", "displayName eq \"ops\"").await;
    assert_eq!(v["Resources"][0]["id"], gid.as_str());
}

/// A page at a `startIndex` no earlier page ended at, past the first thousand rows, starts from
/// an anchor position (a keyset query plus a short OFFSET): it must be the same page an OFFSET
/// over everything would give, in every order, and follow writes.
#[tokio::test]
async fn pages_at_any_start_index_match_the_full_order() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let tenant_id = {
        let mut c = app.state.store.acquire().await.unwrap();
        idbridge::store::tenants::get_by_slug(c.conn(), "default")
            .await
            .unwrap()
            .unwrap()
            .id
    };
    // Names in an order unrelated to the ids' order; created times in yet another order.
    let n = 2_600usize;
    let mut rows = Vec::new();
    {
        let mut tx = app.state.store.begin().await.unwrap();
        for i in 0..n {
            let name = format!("u{:04}@corp.example", (i * 7_919) % n);
            let row = idbridge::store::scim::ScimUserRow {
                id: idbridge::domain::new_id(),
                tenant_id: tenant_id.clone(),
                user_id: None,
                user_name_norm: name.clone(),
                resource: json!({"userName": name, "active": true}).to_string(),
                user_name: name,
                external_id: None,
                display_name_norm: None,
                active: true,
                version: 1,
                created_at: ((i * 131) % n) as i64,
                updated_at: 0,
            };
            idbridge::store::scim::insert_user(tx.conn(), &row)
                .await
                .unwrap();
            rows.push(row);
        }
        tx.commit().await.unwrap();
    }
    let page = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    };
    let mut by_id = rows.clone();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    let by_id: Vec<String> = by_id.into_iter().map(|r| r.user_name).collect();
    let mut by_name: Vec<String> = rows.iter().map(|r| r.user_name.clone()).collect();
    by_name.sort();
    let mut by_created = rows.clone();
    by_created.sort_by_key(|r| r.created_at);
    let by_created: Vec<String> = by_created.into_iter().map(|r| r.user_name).collect();
    let descending: Vec<String> = by_name.iter().rev().cloned().collect();
    for (query, want) in [
        ("", &by_id),
        ("&sortBy=userName", &by_name),
        ("&sortBy=userName&sortOrder=descending", &descending),
        ("&sortBy=meta.created", &by_created),
    ] {
        // 1,000 and 2,000 are anchor positions; 2,555 runs past the end.
        for start in [1_000usize, 1_001, 1_777, 2_000, 2_001, 2_555] {
            let (s, v) = scim
                .get(&format!("/Users?startIndex={start}&count=50{query}"))
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["totalResults"], n);
            let end = (start - 1 + 50).min(n);
            assert_eq!(page(&v), want[start - 1..end], "{query} at {start}");
        }
    }
    // A write: the anchors are stale, and the pages follow the new order at once.
    let (s, _) = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "a-first@corp.example"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, v) = scim
        .get("/Users?startIndex=1501&count=3&sortBy=userName")
        .await;
    assert_eq!(v["totalResults"], n + 1);
    assert_eq!(page(&v), by_name[1_499..1_502]);
}

#[tokio::test]
async fn filters_paging_sorting_and_their_errors() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    for i in 0..25 {
        scim.create_user(
            &format!("user{i:02}@corp.example"),
            json!({"displayName": format!("User {i:02}"),
            "active": i % 2 == 0}),
        )
        .await;
    }
    let (_, v) = scim.filter("Users", "active eq false").await;
    assert_eq!(v["totalResults"], 12);
    let (_, v) = scim.filter("Users", "userName ew \"7@corp.example\"").await;
    assert_eq!(v["totalResults"], 2);
    let (_, v) = scim
        .filter(
            "Users",
            "(userName sw \"user0\" or userName sw \"user1\") and active eq true",
        )
        .await;
    assert_eq!(v["totalResults"], 10);
    let (_, v) = scim.filter("Users", "userName co \"r2\"").await;
    assert_eq!(v["totalResults"], 5);
    let (_, v) = scim
        .filter("Users", "meta.created gt \"2000-01-01T00:00:00Z\"")
        .await;
    assert_eq!(v["totalResults"], 25);
    // `not` over attributes a user may lack: absent is "not equal" (SQL's NULL must not drop it).
    let (_, v) = scim.filter("Users", "not (externalId eq \"x\")").await;
    assert_eq!(v["totalResults"], 25);
    let (_, v) = scim
        .filter("Users", "not (displayName eq \"User 01\")")
        .await;
    assert_eq!(v["totalResults"], 24);
    // Paging: three pages of 10, then an empty one; integers; no duplicates.
    let mut seen = Vec::new();
    for start in [1, 11, 21] {
        let (s, v) = scim
            .get(&format!(
                "/Users?startIndex={start}&count=10&sortBy=userName"
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["totalResults"], 25);
        assert_eq!(v["startIndex"], start);
        for r in v["Resources"].as_array().unwrap() {
            seen.push(r["userName"].as_str().unwrap().to_string());
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "stable, sorted, no duplicates");
    assert_eq!(seen.len(), 25);
    let (_, v) = scim.get("/Users?count=0").await;
    assert_eq!(v["totalResults"], 25);
    assert_eq!(v["Resources"].as_array().unwrap().len(), 0);
    let (_, v) = scim
        .get("/Users?startIndex=-5&count=2&sortBy=userName&sortOrder=descending")
        .await;
    assert_eq!(v["startIndex"], 1);
    assert_eq!(v["Resources"][0]["userName"], "user24@corp.example");
    // POST .search with a SearchRequest.
    let (s, v) = scim
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"user03@corp.example\"", "attributes": ["userName"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["totalResults"], 1);
    assert!(v["Resources"][0].get("displayName").is_none());
    let (s, v) = scim
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["totalResults"], 25);
    // Invalid filters are 400 invalidFilter, never "all rows"; injections are literal.
    let deep = format!(
        "{}userName eq \"x\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    for f in [
        "userName eq",
        "userName eq \"a\" garbage",
        "userName eq \"a\" and",
        "userName like \"a\"",
        "active gt true",
        deep.as_str(),
    ] {
        let (s, v) = scim.post("/Users/.search", json!({"filter": f})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{}", &f[..f.len().min(40)]);
        assert_eq!(v["scimType"], "invalidFilter");
    }
    for f in [
        "userName eq \"x\\\" or userName pr\"",
        "userName eq \"x' OR 1=1 --\"",
    ] {
        let (s, v) = scim.filter("Users", f).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(v["totalResults"], 0, "{f}");
    }
    let (s, v) = scim.get("/Users?sortBy=nickName").await;
    assert_eq!(
        (s, v["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
}

#[tokio::test]
async fn etags_guard_writes_and_answer_conditional_reads() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let u = scim.create_user("carol@example.com", json!({})).await;
    let id = u["id"].as_str().unwrap();
    let r = scim
        .req(reqwest::Method::GET, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    let r = scim
        .req(reqwest::Method::GET, &format!("/Users/{id}"))
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let ops = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "C"}]});
    let r = scim
        .req(reqwest::Method::PATCH, &format!("/Users/{id}"))
        .header("if-match", "W/\"1\"")
        .json(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "W/\"2\"");
    let r = scim
        .req(reqwest::Method::PATCH, &format!("/Users/{id}"))
        .header("if-match", "W/\"1\"")
        .json(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Without If-Match, concurrent PATCHes are serialised: none is lost.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = scim
            .req(reqwest::Method::PATCH, &format!("/Users/{id}"))
            .json(
                &json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails",
                "value": [{"value": format!("c{i}@example.com")}]}]}),
            );
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, v) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(v["emails"].as_array().unwrap().len(), 20);
    assert_eq!(v["meta"]["version"], "W/\"22\"");
}

#[tokio::test]
async fn tenants_never_see_or_touch_each_other() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_tenant(&admin, "acme", "console").await;
    let a = Scim::new(&app, &admin, None).await;
    let b = Scim::new(&app, &admin, Some("acme")).await;
    let bu = b.create_user("dana@example.com", json!({})).await;
    let bid = bu["id"].as_str().unwrap();
    let (_, bg) = b.post("/Groups", json!({"displayName": "B group"})).await;
    let bgid = bg["id"].as_str().unwrap();
    for path in [format!("/Users/{bid}"), format!("/Groups/{bgid}")] {
        assert_eq!(a.get(&path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            a.patch(
                &path,
                json!([{"op": "replace", "path": "externalId", "value": "x"}])
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(a.delete(&path).await, StatusCode::NOT_FOUND);
    }
    let (_, v) = a.filter("Users", "userName eq \"dana@example.com\"").await;
    assert_eq!(v["totalResults"], 0);
    // The same userName in A is a separate resource; B's user is untouched and not taken over.
    let au = a.create_user("dana@example.com", json!({})).await;
    assert_ne!(au["id"], bu["id"]);
    let (_, v) = b.get(&format!("/Users/{bid}")).await;
    assert_eq!(v["active"], true);
    let (s, _) = a
        .patch(
            &format!("/Users/{}", au["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let u = expect(
        app.get(&format!("/api/users/{bid}?tenant=acme"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(u["status"], "active", "A's IdP cannot deactivate B's user");
    // A cannot add B's user to A's group.
    let (_, ag) = a.post("/Groups", json!({"displayName": "A group"})).await;
    let (s, v) = a
        .patch(
            &format!("/Groups/{}", ag["id"].as_str().unwrap()),
            json!([{"op": "add", "path": "members", "value": [{"value": bid}]}]),
        )
        .await;
    assert_eq!(
        (s, v["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );
}

#[tokio::test]
async fn concurrent_duplicate_creates_give_one_user() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let req = scim
            .req(reqwest::Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": [USER], "userName": "eve@example.com"}).to_string());
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
}

/// The PyPI SCIM conformance tester (scim2-cli + scim2-tester, installed by `scripts/test` in
/// `interop/.venv-scim`) runs every check against idbridge: all must succeed (a skipped check
/// fails too).
#[tokio::test]
async fn scim2_tester_passes_every_check() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/.venv-scim/bin/scim2");
    assert!(
        std::path::Path::new(bin).exists(),
        "scim2-cli is not installed: run scripts/test (it creates interop/.venv-scim)"
    );
    let out = tokio::process::Command::new(bin)
        .arg("--url")
        .arg(app.url("/scim/v2"))
        .arg("test")
        .env(
            "SCIM_CLI_HEADERS",
            format!("Authorization: Bearer {}", scim.token),
        )
        .output()
        .await
        .expect("scim2 runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let results: Vec<&str> = text
        .lines()
        .filter(|l| {
            [
                "SUCCESS ",
                "COMPLIANT ",
                "ACCEPTABLE ",
                "DEVIATION ",
                "ERROR ",
                "CRITICAL ",
                "SKIPPED ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    let failed: Vec<&&str> = results
        .iter()
        .filter(|l| !l.starts_with("SUCCESS "))
        .collect();
    assert!(
        out.status.success() && failed.is_empty() && results.len() >= 100,
        "scim2-tester: {} results, {} not SUCCESS:\n{text}",
        results.len(),
        failed.len()
    );
}

#[tokio::test]
async fn bulk_resolves_references_and_stops_after_fail_on_errors() {
    let app = spawn_app_with(|s| s.sso.group_role_map = "Helpdesk:fulfiller".into()).await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let (s, v) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["bulk"]["supported"], true);
    // The group refers to a user created later in the same request.
    let (s, v) = scim
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Helpdesk",
                    "members": [{"type": "User", "value": "bulkId:u"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"schemas": [USER], "userName": "fay@example.com"}},
                {"method": "PATCH", "path": "/Users/bulkId:u", "data": {"schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "Fay"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "FAY@example.com"}},
                {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"displayName": "X", "members": [{"value": "bulkId:missing"}]}}
            ]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = v["Operations"].as_array().unwrap();
    let status: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["201", "201", "200", "409", "409"], "{v}");
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let uid = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, u) = scim.get(&format!("/Users/{uid}")).await;
    assert_eq!(u["displayName"], "Fay");
    assert_eq!(u["groups"][0]["display"], "Helpdesk");
    assert_eq!(
        role_names(&app, &admin, &uid).await,
        vec![("fulfiller".to_string(), "scim".to_string())]
    );
    // failOnErrors: 1 stops at the first error; later operations do not run.
    let (s, v) = scim
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "fay@example.com"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "gus@example.com"}}
            ]}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["Operations"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = scim
        .filter("Users", "userName eq \"gus@example.com\"")
        .await;
    assert_eq!(v["totalResults"], 0);
    let (s, v) = scim.post("/Bulk", json!({"Operations": []})).await;
    assert_eq!(
        (s, v["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidSyntax"))
    );
}

#[tokio::test]
async fn scim_roles_and_entitlements_never_grant_permissions() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let u = scim
        .create_user(
            "hal@example.com",
            json!({"roles": [{"value": "admin"}], "entitlements": [{"value": "*"}]}),
        )
        .await;
    let id = u["id"].as_str().unwrap();
    assert_eq!(u["roles"][0]["value"], "admin", "stored as sent");
    let (s, _) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "roles", "value": [{"value": "super_admin"}]}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let roles = role_names(&app, &admin, id).await;
    assert!(roles.iter().all(|(r, _)| r != "admin"), "{roles:?}");
}

#[tokio::test]
async fn large_member_lists_are_set_operations() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let mut ops = Vec::new();
    for i in 0..600 {
        ops.push(
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
            "data": {"userName": format!("m{i:04}@example.com")}}),
        );
    }
    let (s, v) = scim
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<String> = v["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["location"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 600);
    let (_, g) = scim.post("/Groups", json!({"displayName": "All"})).await;
    let gid = g["id"].as_str().unwrap();
    let all: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": all}]),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NO_CONTENT,
        "member-only PATCH answers 204, without echoing members"
    );
    // Okta's full push: the list becomes exactly these (a diff, not a rebuild).
    let odd: Vec<Value> = ids
        .iter()
        .skip(1)
        .step_by(2)
        .map(|id| json!({"value": id}))
        .collect();
    let (s, _) = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "members", "value": odd}]),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
    let mut got: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<&str> = ids.iter().skip(1).step_by(2).map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
    // PUT replaces the whole group: an empty member list empties it.
    let (s, v) = scim
        .put(
            &format!("/Groups/{gid}"),
            json!({"displayName": "All", "members": []}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("members").is_none(), "{v}");
    let (_, v) = scim
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22All%22")
        .await;
    assert!(v["Resources"][0].get("members").is_none());
}

/// Catalog 129, last admin via provisioning. The choice: SCIM wins for who works there (an IdP
/// deactivation is never refused, or the IdP would retry it forever), the tenant is left without
/// an active admin and that is audited as `tenant.admin_orphaned`; a platform admin recovers by
/// assigning a new admin (break-glass, audited like any assignment).
#[tokio::test]
async fn deactivating_the_last_admin_through_scim_orphans_the_tenant_and_a_platform_admin_recovers()
{
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let admin = app.org_admin(&platform, "acme").await;
    app.verify_domain(&platform, "acme", "acme.test").await;
    expect(
        app.patch(
            "/api/tenants/acme",
            &admin,
            json!({"settings": {"scim_email_linking": true}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let scim = Scim::new(&app, &admin, Some("acme")).await;
    let rec = scim.create_user("admin@acme.test", json!({})).await;
    let (s, _) = scim
        .patch(
            &format!("/Users/{}", rec["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "a SCIM deactivation is not refused");
    assert_eq!(
        app.try_login("admin@acme.test", PASSWORD, None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let audit = expect(
        app.get(
            "/api/audit?action=tenant.admin_orphaned&tenant=acme",
            &platform,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    // Break-glass: the platform admin makes someone else admin, who can then act.
    let rescue = app
        .member_with_role(&platform, "acme", "rescue@acme.test", "admin")
        .await;
    expect(
        app.get("/api/users?tenant=acme", &rescue)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
}

/// Catalog 137: an IdP group renamed to a mapped name, or a new group created under one after the
/// original went, gains no role. Keys stay with the group that first bore them; the admin moves
/// one on, and only an admin who may grant its roles can.
#[tokio::test]
async fn a_group_renamed_or_created_under_a_held_name_gains_no_role() {
    let app =
        spawn_app_with(|s| s.sso.group_role_map = "Admins:admin,Helpdesk:fulfiller".into()).await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let alice = id(scim.create_user("alice@example.com", json!({})).await);
    let mallory = id(scim.create_user("mallory@example.com", json!({})).await);
    let default_roles = role_names(&app, &admin, &mallory).await;
    let admin_role = vec![("admin".to_string(), "scim".to_string())];
    let (_, g) = scim
        .post(
            "/Groups",
            json!({"displayName": "Admins", "members": [{"value": alice}]}),
        )
        .await;
    let admins = id(g);
    let (_, g) = scim
        .post(
            "/Groups",
            json!({"displayName": "Interns", "members": [{"value": mallory}]}),
        )
        .await;
    let interns = id(g);
    assert_eq!(role_names(&app, &admin, &alice).await, admin_role);
    let rename = |gid: String, name: &'static str| {
        let scim = &scim;
        async move {
            let (s, v) = scim
                .patch(
                    &format!("/Groups/{gid}"),
                    json!([{"op": "replace", "path": "displayName", "value": name}]),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    };
    // The original is renamed away: its members keep the role.
    rename(admins.clone(), "Admins (old)").await;
    assert_eq!(role_names(&app, &admin, &alice).await, admin_role);
    // Another group takes the mapped name: nothing.
    rename(interns.clone(), "Admins").await;
    assert_eq!(role_names(&app, &admin, &mallory).await, default_roles);
    // Nor does a brand-new group under the name once both are gone, nor its members.
    assert_eq!(
        scim.delete(&format!("/Groups/{interns}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim.delete(&format!("/Groups/{admins}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_names(&app, &admin, &alice).await, default_roles);
    let (s, g) = scim
        .post(
            "/Groups",
            json!({"displayName": "ADMINS", "members": [{"value": mallory}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let newcomer = id(g);
    assert_eq!(role_names(&app, &admin, &mallory).await, default_roles);
    let audit = expect(
        app.get("/api/audit?action=scim.group_created", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        audit.to_string().contains("keys_held_by_other_groups"),
        "the refusal is visible: {audit}"
    );
    // The admin sees the held key and who holds it.
    let held = expect(
        app.get("/api/scim/group-keys", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let item = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "admins")
        .unwrap_or_else(|| panic!("admins is held: {held}"))
        .clone();
    assert_eq!(item["group_id"], admins.as_str());
    assert_eq!(item["group_deleted"], true);
    assert_eq!(item["roles"], json!(["admin"]));

    // Refused: a lesser role that manages SCIM but cannot grant admin, another tenant's admin,
    // a user with no role.
    expect(
        app.post(
            "/api/roles",
            &admin,
            json!({"name": "scim-keeper", "permissions": ["scim:manage"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let keeper = app
        .user_with_role(&admin, "keeper@example.com", "scim-keeper")
        .await;
    let release = |s: &Session, body: Value| app.post("/api/scim/group-keys/release", s, body);
    expect_error(
        release(&keeper, json!({"key": "Admins"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "privilege_escalation",
    )
    .await;
    let nobody = app
        .user_with_role(&admin, "nobody@example.com", "requester")
        .await;
    expect_error(
        release(&nobody, json!({"key": "Admins"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let other = app.org_admin(&admin, "other").await;
    let r = release(&other, json!({"key": "Admins", "tenant": "default"}))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.status()
    );
    expect_error(
        release(&other, json!({"key": "Admins"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        release(&admin, json!({"key": "  "})).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_key",
    )
    .await;
    assert_eq!(
        role_names(&app, &admin, &mallory).await,
        default_roles,
        "nothing moved"
    );
    // The key "helpdesk" maps to a role the keeper may not grant either; "interns" maps to none:
    // releasing it is the keeper's to do (it holds no role to hand out).
    let v = expect(
        release(&keeper, json!({"key": "interns"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["from_group"], interns.as_str());
    assert_eq!(v["to_group"], Value::Null);

    // The admin releases the key: it moves to the group bearing the name now.
    let v = expect(
        release(&admin, json!({"key": "Admins"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["to_group"], newcomer.as_str(), "{v}");
    assert_eq!(v["users_reconciled"], 1);
    assert_eq!(role_names(&app, &admin, &mallory).await, admin_role);
    let held = expect(
        app.get("/api/scim/group-keys", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        !held["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"] == "admins"),
        "{held}"
    );
    let audit = expect(
        app.get("/api/audit?action=scim.group_key_released", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
}

/// An IdP that deletes a group and provisions it again (Entra after "restart provisioning")
/// sends the same externalId: that is the same IdP group, and it takes its keys back. A group
/// with another externalId, or none, under the old name does not.
#[tokio::test]
async fn a_group_provisioned_again_with_its_external_id_takes_its_keys_back() {
    let app = spawn_app_with(|s| s.sso.group_role_map = "Helpdesk:fulfiller".into()).await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let bob = scim.create_user("bob@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let default_roles = role_names(&app, &admin, &bob).await;
    let fulfiller = vec![("fulfiller".to_string(), "scim".to_string())];
    let oid = "6a1f09b6-1b5e-4a6c-9b0e-2f4d1c3e5a70";
    let create = |ext: Option<&str>| {
        let mut body = json!({"displayName": "Helpdesk", "members": [{"value": bob}]});
        if let Some(e) = ext {
            body["externalId"] = json!(e);
        }
        let scim = &scim;
        async move {
            let (s, g) = scim.post("/Groups", body).await;
            assert_eq!(s, StatusCode::CREATED, "{g}");
            g["id"].as_str().unwrap().to_string()
        }
    };
    let first = create(Some(oid)).await;
    assert_eq!(role_names(&app, &admin, &bob).await, fulfiller);
    assert_eq!(
        scim.delete(&format!("/Groups/{first}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_names(&app, &admin, &bob).await, default_roles);
    // Same name, no externalId (a different IdP object as far as anyone can tell): nothing.
    let stranger = create(None).await;
    assert_eq!(role_names(&app, &admin, &bob).await, default_roles);
    assert_eq!(
        scim.delete(&format!("/Groups/{stranger}")).await,
        StatusCode::NO_CONTENT
    );
    let (_, g) = scim
        .post("/Groups", json!({"displayName": "Helpdesk", "externalId": "another-object", "members": [{"value": bob}]}))
        .await;
    assert_eq!(role_names(&app, &admin, &bob).await, default_roles);
    assert_eq!(
        scim.delete(&format!("/Groups/{}", g["id"].as_str().unwrap()))
            .await,
        StatusCode::NO_CONTENT
    );
    // The same object again: its keys come back, the role with them.
    create(Some(oid)).await;
    assert_eq!(role_names(&app, &admin, &bob).await, fulfiller);
}

/// Found by schemathesis: an attribute name whose first character takes several bytes (in a
/// body, `attributes` or a PATCH path) crashed the URN check. Each is a client error or ignored,
/// never a 500.
#[tokio::test]
async fn attribute_names_that_begin_with_a_multi_byte_character_are_refused_not_crashed_on() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let odd = "\u{c1}\u{5d72d}O";
    let user = scim.create_user("odd@corp.example", json!({})).await;
    let id = user["id"].as_str().unwrap();

    let mut body = json!({"schemas": [USER], "userName": "odd2@corp.example"});
    body[odd] = json!("x");
    let (s, v) = scim.post("/Users", body).await;
    assert!(s.is_success() || s.is_client_error(), "{s} {v}");

    let (s, v) = scim
        .get(&format!("/Users/{id}?attributes={}", url_encode(odd)))
        .await;
    assert!(s.is_success() || s.is_client_error(), "{s} {v}");
    let (s, v) = scim
        .get(&format!("/Users?excludedAttributes={}", url_encode(odd)))
        .await;
    assert!(s.is_success() || s.is_client_error(), "{s} {v}");

    let (s, v) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": odd, "value": "x"}]),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let (s, v) = scim
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "attributes": [odd]}),
        )
        .await;
    assert!(s.is_success() || s.is_client_error(), "{s} {v}");
    // The gateway still answers.
    let (s, _) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::OK);
}

/// A stored resource that is not a JSON object is refused on every path that reads it (a 500
/// in SCIM's error format, the cause logged), and a PATCH never writes an empty resource over it.
#[tokio::test]
async fn a_corrupt_stored_resource_is_refused_never_read_as_empty() {
    let (log, _guard) = crate::helpers::LogBuffer::capture("idbridge=error");
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let scim = Scim::new(&app, &admin, None).await;
    let id = scim.create_user("bob@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut c = app.state.store.acquire().await.unwrap();
        let id = id.clone();
        idbridge::on_conn!(c.conn(), |c| sqlx::query(
            "UPDATE scim_users SET resource = 'not json' WHERE id = $1"
        )
        .bind(&id)
        .execute(c)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let (s, v) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_eq!(v["detail"], "internal error");
    let (s, _) = scim.get("/Users").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let (s, _) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "displayName", "value": "Bob"}]),
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let logged = log
        .wait_for("stored SCIM resource is not a JSON object")
        .await;
    assert!(!logged.is_empty());
    let mut c = app.state.store.acquire().await.unwrap();
    let kept: (String,) = idbridge::on_conn!(c.conn(), |c| sqlx::query_as(
        "SELECT resource FROM scim_users WHERE id = $1"
    )
    .bind(&id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(kept.0, "not json", "the PATCH wrote nothing");
}
