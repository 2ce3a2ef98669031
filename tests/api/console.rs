//! The admin console over HTTP: the front door and first run, the page kit's security headers,
//! the one browser-write rule on every console form, and the users page (content, search,
//! filters, sort, paging, row actions) with the people who must be refused. The same pages in
//! a real browser are in `browser`.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::*;

/// A console page fetched with the session's cookie, as a browser navigates.
async fn page(app: &TestApp, s: &Session, path: &str) -> (StatusCode, HeaderMap, String) {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", &s.cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// A console form posted from idbridge's own page of this session (origin and `_csrf`).
async fn submit(
    app: &TestApp,
    s: &Session,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let token = app.csrf(s);
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("_csrf", &token));
    let r = app
        .client
        .post(app.url(path))
        .header("cookie", &s.cookie)
        .header("origin", &app.state.public_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, r.text().await.unwrap())
}

async fn user(app: &TestApp, admin: &Session, id: &str) -> Value {
    expect(
        app.get(&format!("/api/users/{id}?include_deleted=true"), admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// A role that may read users and nothing else.
async fn reader(app: &TestApp, admin: &Session, email: &str) -> Session {
    let r = app
        .post(
            "/api/roles",
            admin,
            json!({"name": "Readers", "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    app.user_with_role(admin, email, "Readers").await
}

fn assert_page_headers(h: &HeaderMap) {
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
}

// ---------------------------------------------------------------------------------------------
// The front door and the first run

#[tokio::test]
async fn the_front_door_sends_a_browser_to_first_run_then_sign_in_then_the_console() {
    let app = spawn_app().await;
    let get = |accept: &'static str, cookie: Option<String>| {
        let app = &app;
        async move {
            let mut r = app.client.get(app.url("/")).header("accept", accept);
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r.send().await.unwrap()
        }
    };
    // An API client asking for JSON gets the API's 404, not a page.
    expect_error(
        get("application/json", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let r = get("text/html", None).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/setup");
    let admin = app.register_admin().await;
    let r = get("text/html", None).await;
    assert_eq!(r.headers()["location"], "/login?rd=/console");
    let r = get("text/html", Some(admin.cookie.clone())).await;
    assert_eq!(r.headers()["location"], "/console");
    // Signed out, a console page sends the browser to the sign-in and back to where it was.
    let r = app
        .client
        .get(app.url("/console/users?status=active"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        "/login?rd=%2Fconsole%2Fusers%3Fstatus%3Dactive"
    );
}

#[tokio::test]
async fn first_run_creates_the_first_admin_only_with_the_bootstrap_token() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_page_headers(r.headers());
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"bootstrap_token\""), "{html}");
    let form = |token: String| {
        vec![
            ("bootstrap_token", token),
            ("tenant_name", "Acme".to_string()),
            ("email", "first@example.com".to_string()),
            ("first_name", "First".to_string()),
            ("password", PASSWORD.to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>, origin: &'static str| {
        let app = &app;
        async move {
            let origin = if origin.is_empty() {
                app.state.public_url.clone()
            } else {
                origin.to_string()
            };
            app.client
                .post(app.url("/setup"))
                .header("origin", origin)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    // Whoever reaches a fresh deployment first cannot claim it without the printed token.
    for token in ["", "not-the-token"] {
        let r = post(form(token.into()), "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let html = r.text().await.unwrap();
        assert!(html.contains("bootstrap token"), "{html}");
        // The form keeps what was typed, but never the password or the token.
        assert!(html.contains("value=\"first@example.com\""), "{html}");
        assert!(!html.contains(PASSWORD), "{html}");
    }
    // A foreign page cannot post it, even with the token.
    let r = post(form(app.bootstrap_token()), "https://evil.example").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        app.try_login("first@example.com", PASSWORD, None)
            .await
            .status()
            != StatusCode::OK
    );
    // A weak password is named, nothing is created.
    let mut weak = form(app.bootstrap_token());
    weak[4].1 = "short".into();
    let r = post(weak, "").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("password"));
    // With the token: the admin exists, is signed in, and lands in the console.
    let r = post(form(app.bootstrap_token()), "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.contains("idbridge_session="))
        .expect("signed in");
    let me = expect(
        app.client
            .get(app.url("/api/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["user"]["email"], "first@example.com");
    assert_eq!(me["tenant"]["name"], "Acme");
    assert!(me["roles"].to_string().contains("admin"), "{me}");
    // Once a user exists the page is gone, and the form claims nothing.
    let r = app.client.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?rd=/console");
    let mut again = form(app.bootstrap_token());
    again[2].1 = "second@example.com".into();
    let r = post(again, "").await;
    assert_eq!(r.headers()["location"], "/login?rd=/console");
    assert!(
        app.try_login("second@example.com", PASSWORD, None)
            .await
            .status()
            != StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------
// The page kit

#[tokio::test]
async fn console_pages_and_assets_carry_a_strict_policy_and_no_inline_script_or_style() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for path in ["/console/users", "/console/users/new"] {
        let (status, headers, html) = page(&app, &admin, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_page_headers(&headers);
        assert!(
            !html.contains("<script>") && !html.contains("style=\""),
            "{path}: {html}"
        );
        assert!(html.contains("<script src=\"/assets/console.js\" defer></script>"));
        assert!(html.contains(&format!(
            "<meta name=\"csrf-token\" content=\"{}\">",
            app.csrf(&admin)
        )));
        assert!(html.contains("<html lang=\"en\">"), "{path}");
    }
    for (name, kind) in [
        ("console.css", "text/css"),
        ("console.js", "text/javascript"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/assets/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let etag = r.headers()["etag"].clone();
        let again = app
            .client
            .get(app.url(&format!("/assets/{name}")))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    let r = app
        .client
        .get(app.url("/assets/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .get(app.url("/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn what_people_type_is_escaped_on_the_page() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    // Reflected: the search box shows back what was searched.
    let (status, _, html) = page(
        &app,
        &admin,
        "/console/users?search=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(
        html.contains("&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    // Stored: a tenant name in the top bar.
    let r = app
        .patch(
            "/api/tenants/default",
            &admin,
            json!({"name": "<img src=x onerror=alert(2)>"}),
        )
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::OK {
        let (_, _, html) = page(&app, &admin, "/console/users").await;
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(
            html.contains("&#60;img src=x onerror=alert(2)&#62;"),
            "{html}"
        );
    } else {
        // Tenant names that carry markup are refused outright: nothing to escape.
        expect_error(r, StatusCode::BAD_REQUEST, "invalid").await;
    }
}

// ---------------------------------------------------------------------------------------------
// The users page

#[tokio::test]
async fn the_users_page_shows_the_cards_and_searches_filters_sorts_and_pages() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let mut ids = Vec::new();
    for (email, first) in [
        ("bea@example.com", "Bea"),
        ("cyd@example.com", "Cyd"),
        ("dan@example.com", "Dan"),
    ] {
        ids.push(app.create_user(&admin, email, first).await);
    }
    let r = app
        .patch(
            &format!("/api/users/{}", ids[2]),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let (status, _, html) = page(&app, &admin, "/console/users").await;
    assert_eq!(status, StatusCode::OK);
    for card in [
        "data-stat=\"total\">4<",
        "data-stat=\"admins\">1<",
        "data-stat=\"active\">3<",
        "data-stat=\"new_this_week\">4<",
    ] {
        assert!(html.contains(card), "{card}: {html}");
    }
    // Rows: initials, name and email, the admin's red badge, status.
    assert!(
        html.contains("<span class=\"avatar\" aria-hidden=\"true\">AL</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"badge admin\">admin</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"status inactive\">Inactive</span>"),
        "{html}"
    );
    let emails = |html: &str| -> Vec<String> {
        html.split("data-email=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        emails(&html),
        [
            "ada@example.com",
            "bea@example.com",
            "cyd@example.com",
            "dan@example.com"
        ]
    );
    // Search by name or email, status filter, sort both ways.
    let (_, _, html) = page(&app, &admin, "/console/users?search=cy").await;
    assert_eq!(emails(&html), ["cyd@example.com"]);
    let (_, _, html) = page(&app, &admin, "/console/users?search=Bea").await;
    assert_eq!(emails(&html), ["bea@example.com"]);
    let (_, _, html) = page(&app, &admin, "/console/users?status=inactive").await;
    assert_eq!(emails(&html), ["dan@example.com"]);
    let (_, _, html) = page(&app, &admin, "/console/users?sort=name&order=desc").await;
    assert_eq!(
        emails(&html),
        [
            "dan@example.com",
            "cyd@example.com",
            "bea@example.com",
            "ada@example.com"
        ]
    );
    assert!(html.contains("aria-sort=\"descending\""), "{html}");
    // The search-as-you-type fragment is the table alone.
    let (_, _, fragment) = page(&app, &admin, "/console/users?search=dan&fragment=table").await;
    assert!(
        !fragment.contains("<html") && fragment.contains("<table"),
        "{fragment}"
    );
    assert_eq!(emails(&fragment), ["dan@example.com"]);
    // Keyset paging with the page size the user saved.
    let r = app
        .put(
            "/api/me/preferences",
            &admin,
            json!({"tables": {"users": {"page_size": 10}}}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    for i in 0..10 {
        app.create_user(&admin, &format!("p{i:02}@example.com"), "Pat")
            .await;
    }
    let (_, _, first) = page(&app, &admin, "/console/users?sort=email").await;
    assert_eq!(emails(&first).len(), 10);
    let next = first
        .split("rel=\"next\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    assert!(
        next.starts_with("/console/users?") && next.contains("cursor="),
        "{next}"
    );
    let (_, _, second) = page(&app, &admin, &next).await;
    let (a, b) = (emails(&first), emails(&second));
    assert_eq!(b.len(), 4);
    assert!(a.iter().all(|e| !b.contains(e)), "{a:?} {b:?}");
    assert!(!second.contains("rel=\"next\""));
    assert!(second.contains("First page"));
    // A cursor that does not parse starts again from the first page.
    let (status, _, _) = page(&app, &admin, "/console/users?cursor=garbage").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn row_actions_need_the_form_token_and_deactivating_ends_the_users_session_at_once() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let grace = app
        .user_with_role(&admin, "grace@example.com", "requester")
        .await;
    let id = grace.user_id.clone();
    let path = format!("/console/users/{id}/deactivate");
    // Forged: no token, another session's token, a foreign origin with the right token.
    let other = app.login("ada@example.com", PASSWORD).await;
    let forged: [(&str, Vec<(&str, String)>); 3] = [
        (app.state.public_url.as_str(), vec![]),
        (
            app.state.public_url.as_str(),
            vec![("_csrf", app.csrf(&other))],
        ),
        ("https://evil.example", vec![("_csrf", app.csrf(&admin))]),
    ];
    for (origin, form) in forged {
        let r = app
            .client
            .post(app.url(&path))
            .header("cookie", &admin.cookie)
            .header("origin", origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin} {form:?}");
    }
    assert_eq!(user(&app, &admin, &id).await["active"], true);
    assert_eq!(
        app.get("/api/me", &grace).send().await.unwrap().status(),
        StatusCode::OK
    );
    // From the page: done, and Grace's open session is refused on its next request.
    let (status, location, _) = submit(&app, &admin, &path, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/users?done=deactivated"));
    assert_eq!(user(&app, &admin, &id).await["active"], false);
    for s in [&grace] {
        let r = app
            .client
            .get(app.url("/api/me"))
            .header("cookie", &s.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (_, _, html) = page(&app, &admin, "/console/users?done=deactivated").await;
    assert!(html.contains("role=\"status\""), "{html}");
    // Activate, delete, restore.
    let (status, ..) = submit(&app, &admin, &format!("/console/users/{id}/activate"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(user(&app, &admin, &id).await["active"], true);
    let (status, ..) = submit(&app, &admin, &format!("/console/users/{id}/delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(user(&app, &admin, &id).await["deleted_at"].is_string());
    let (_, _, html) = page(&app, &admin, "/console/users").await;
    assert!(
        !html.contains("grace@example.com"),
        "deleted rows hide by default"
    );
    let (_, _, html) = page(&app, &admin, "/console/users?include_deleted=true").await;
    assert!(
        html.contains(&format!("/console/users/{id}/restore")),
        "{html}"
    );
    let (status, ..) = submit(&app, &admin, &format!("/console/users/{id}/restore"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(user(&app, &admin, &id).await["deleted_at"].is_null());
    // An unknown action is a 404 page, and changes nothing.
    let (status, ..) = submit(&app, &admin, &format!("/console/users/{id}/promote"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn your_own_row_has_no_deactivate_or_delete_and_posting_them_anyway_is_refused() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let me = admin.user_id.clone();
    let (_, _, html) = page(&app, &admin, "/console/users").await;
    assert!(
        !html.contains(&format!("/console/users/{me}/deactivate")),
        "{html}"
    );
    assert!(
        !html.contains(&format!("/console/users/{me}/delete")),
        "{html}"
    );
    for verb in ["deactivate", "delete"] {
        let (status, _, html) =
            submit(&app, &admin, &format!("/console/users/{me}/{verb}"), &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{verb}: {html}");
        assert!(html.contains("Not allowed"), "{html}");
    }
    let me_now = user(&app, &admin, &me).await;
    assert_eq!(me_now["active"], true);
    assert!(me_now["deleted_at"].is_null());
}

#[tokio::test]
async fn a_reader_sees_the_table_without_actions_and_cannot_post_them() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let victim = app
        .create_user(&admin, "victim@example.com", "Victim")
        .await;
    let reader = reader(&app, &admin, "reader@example.com").await;
    let (status, _, html) = page(&app, &reader, "/console/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("victim@example.com"));
    assert!(
        !html.contains("/deactivate") && !html.contains("New user"),
        "{html}"
    );
    let (status, ..) = submit(
        &app,
        &reader,
        &format!("/console/users/{victim}/deactivate"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, ..) = submit(
        &app,
        &reader,
        "/console/users/new",
        &[
            ("email", "sneaky@example.com"),
            ("first_name", "Sneaky"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(user(&app, &admin, &victim).await["active"], true);
    // Someone with no user permission at all gets the refusal page, not the list.
    let nobody = app
        .user_with_role(&admin, "nobody@example.com", "requester")
        .await;
    let (status, _, html) = page(&app, &nobody, "/console/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(!html.contains("victim@example.com"));
}

#[tokio::test]
async fn another_tenants_admin_can_neither_see_nor_touch_a_user_through_the_console() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let victim = app
        .create_user(&platform, "victim@example.com", "Victim")
        .await;
    let other = app.org_admin(&platform, "other").await;
    let (status, _, html) = page(&app, &other, "/console/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("victim@example.com"), "{html}");
    for verb in ["deactivate", "delete"] {
        let (status, ..) = submit(
            &app,
            &other,
            &format!("/console/users/{victim}/{verb}"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{verb}");
    }
    let v = user(&app, &platform, &victim).await;
    assert_eq!(v["active"], true);
    assert!(v["deleted_at"].is_null());
}

#[tokio::test]
async fn the_new_user_form_names_the_problem_keeps_the_input_and_then_creates() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_user(&admin, "taken@example.com", "Taken").await;
    let (status, _, html) = page(&app, &admin, "/console/users/new").await;
    assert_eq!(status, StatusCode::OK);
    for label in [
        "Basic Information",
        "Security",
        "name=\"email\"",
        "name=\"password\"",
    ] {
        assert!(html.contains(label), "{label}: {html}");
    }
    let cases: [(&str, &str, &str); 3] = [
        ("not-an-email", PASSWORD, "email"),
        ("new@example.com", "short", "password"),
        ("taken@example.com", PASSWORD, "email"),
    ];
    for (email, password, field) in cases {
        let (status, _, html) = submit(
            &app,
            &admin,
            "/console/users/new",
            &[
                ("email", email),
                ("first_name", "Newt"),
                ("password", password),
            ],
        )
        .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT,
            "{status}"
        );
        assert!(html.contains("role=\"alert\""), "{html}");
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "keeps the email: {html}"
        );
        assert!(html.contains("value=\"Newt\""), "keeps the name");
        assert!(!html.contains(PASSWORD), "never echoes the password");
        let input = html
            .split(&format!("<input id=\"{field}\""))
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .unwrap_or_default();
        assert!(
            input.contains("aria-invalid=\"true\""),
            "marks {field}: {html}"
        );
    }
    let (status, location, _) = submit(
        &app,
        &admin,
        "/console/users/new",
        &[
            ("email", "new@example.com"),
            ("first_name", "Newt"),
            ("last_name", "Scamander"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/users?done=created"));
    let s = app.login("new@example.com", PASSWORD).await;
    let me = expect(app.get("/api/me", &s).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me["user"]["name"], "Newt Scamander");
}

// ---------------------------------------------------------------------------------------------
// One user: profile, reset link, Manage roles

async fn roles_of(app: &TestApp, admin: &Session, id: &str) -> Vec<Value> {
    let v = expect(
        app.get(&format!("/api/users/{id}/roles"), admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_user_page_edits_the_name_but_never_the_email_and_has_no_password_field() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let id = app.create_user(&admin, "grace@example.com", "Grace").await;
    let path = format!("/console/users/{id}");
    let (status, headers, html) = page(&app, &admin, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(&headers);
    assert!(
        html.contains("<input id=\"email\" type=\"email\" value=\"grace@example.com\" disabled"),
        "{html}"
    );
    assert!(
        !html.contains("name=\"email\""),
        "the email is never a form field"
    );
    assert!(!html.contains("type=\"password\""), "{html}");
    // A posted email is ignored: only the names change.
    let (status, location, _) = submit(
        &app,
        &admin,
        &format!("{path}/profile"),
        &[
            ("first_name", "Gracie"),
            ("last_name", "Hopper"),
            ("email", "evil@example.com"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.unwrap(), format!("{path}?done=updated"));
    let u = user(&app, &admin, &id).await;
    assert_eq!(
        (u["name"].as_str(), u["email"].as_str()),
        (Some("Gracie Hopper"), Some("grace@example.com"))
    );
    let (status, _, html) = submit(
        &app,
        &admin,
        &format!("{path}/profile"),
        &[("first_name", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("role=\"alert\""), "{html}");
    assert_eq!(user(&app, &admin, &id).await["name"], "Gracie Hopper");
    // The reset link is shown on the answer to the form, once.
    let (status, _, html) = submit(&app, &admin, &format!("{path}/reset-link"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let link = html
        .split("id=\"reset-url\"")
        .nth(1)
        .and_then(|r| r.split("value=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .expect("the link")
        .replace("&#38;", "&");
    assert!(link.contains("/reset") || link.contains("token="), "{link}");
    let (_, _, again) = page(&app, &admin, &path).await;
    assert!(!again.contains(&link) && !again.contains("reset-url"));
    // Not for oneself (the own account changes its password in My account).
    let (_, _, own) = page(&app, &admin, &format!("/console/users/{}", admin.user_id)).await;
    assert!(!own.contains("/reset-link"));
}

#[tokio::test]
async fn manage_roles_shows_where_from_who_and_when_and_offers_only_what_the_admin_may_grant() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let id = app.create_user(&admin, "grace@example.com", "Grace").await;
    let path = format!("/console/users/{id}");
    let (_, _, html) = page(&app, &admin, &path).await;
    assert!(html.contains("No roles in this organisation."), "{html}");
    assert!(
        html.contains("<option value=\"admin\">"),
        "an admin may grant admin: {html}"
    );
    let (status, location, _) = submit(
        &app,
        &admin,
        &format!("{path}/roles"),
        &[("role", "fulfiller")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location:?}");
    let held = roles_of(&app, &admin, &id).await;
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0]["role"].as_str(), held[0]["source"].as_str()),
        (Some("fulfiller"), Some("manual"))
    );
    let (_, _, html) = page(&app, &admin, &path).await;
    let row = html
        .split("data-role=\"fulfiller\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        row.contains("<td>Manual</td>") && row.contains("<td>ada@example.com</td>"),
        "{row}"
    );
    assert!(row.contains("<time datetime=\""), "{row}");
    assert!(
        !html.contains("<option value=\"fulfiller\">"),
        "a held role is not offered again"
    );
    // A CSV import's grant says so.
    let r = app
        .client
        .post(app.url("/api/users/import"))
        .bearer_auth(&admin.token)
        .header("content-type", "text/csv")
        .body("email,name,initial_roles\ncsv@example.com,Cee Ess,requester\n")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let csv_user = expect(
        app.get("/api/users?search=csv%40example.com", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, html) = page(&app, &admin, &format!("/console/users/{csv_user}")).await;
    assert!(html.contains("<td>CSV import</td>"), "{html}");
    // Remove.
    let role_id = held[0]["role_id"].as_str().unwrap();
    let (status, ..) = submit(&app, &admin, &format!("{path}/roles/{role_id}/remove"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(roles_of(&app, &admin, &id).await.is_empty());
    // The last admin cannot take away their own admin role: the page says why.
    let own = format!("/console/users/{}", admin.user_id);
    let mine = roles_of(&app, &admin, &admin.user_id).await;
    let admin_role = mine.iter().find(|a| a["role"] == "admin").unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, html) = submit(
        &app,
        &admin,
        &format!("{own}/roles/{admin_role}/remove"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("role=\"alert\""));
    assert_eq!(
        roles_of(&app, &admin, &admin.user_id).await.len(),
        mine.len()
    );
}

#[tokio::test]
async fn an_assigner_is_offered_only_roles_within_their_own_permissions_and_cannot_post_others() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/roles",
            &admin,
            json!({"name": "Assigners", "permissions": ["users:read", "rbac:assign"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let assigner = app
        .user_with_role(&admin, "assigner@example.com", "Assigners")
        .await;
    let id = app.create_user(&admin, "grace@example.com", "Grace").await;
    let path = format!("/console/users/{id}");
    let (status, _, html) = page(&app, &assigner, &path).await;
    assert_eq!(status, StatusCode::OK);
    let offered: Vec<&str> = html
        .split("<option value=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(offered, ["Assigners"], "{html}");
    // No profile edits without users:write: the fields are read-only and there is no Save.
    assert!(!html.contains(">Save</button>"), "{html}");
    assert!(html.contains("value=\"Grace\" disabled"), "{html}");
    for role in ["admin", "fulfiller"] {
        let (status, _, html) =
            submit(&app, &assigner, &format!("{path}/roles"), &[("role", role)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {html}");
        assert!(html.contains("role=\"alert\""), "{html}");
    }
    assert!(roles_of(&app, &admin, &id).await.is_empty());
    let (status, ..) = submit(
        &app,
        &assigner,
        &format!("{path}/profile"),
        &[("first_name", "Hacked")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(user(&app, &admin, &id).await["first_name"], "Grace");
}

#[tokio::test]
async fn another_tenants_admin_gets_not_found_for_a_user_page_and_its_forms() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let victim = app
        .create_user(&platform, "victim@example.com", "Victim")
        .await;
    let other = app.org_admin(&platform, "other").await;
    let path = format!("/console/users/{victim}");
    let (status, _, html) = page(&app, &other, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("victim@example.com"));
    for (form, fields) in [
        ("roles", vec![("role", "admin")]),
        ("profile", vec![("first_name", "Owned")]),
        ("reset-link", vec![]),
    ] {
        let (status, _, html) = submit(&app, &other, &format!("{path}/{form}"), &fields).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{form}: {html}");
        assert!(!html.contains("victim@example.com"));
    }
    assert!(roles_of(&app, &platform, &victim).await.is_empty());
    assert_eq!(user(&app, &platform, &victim).await["first_name"], "Victim");
}

// ---------------------------------------------------------------------------------------------
// CSV import

#[tokio::test]
async fn csv_import_previews_every_row_writes_nothing_then_imports_the_rows_that_pass() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let csv = "email,name,initial_roles\nbea@example.com,Bea Smith,requester\nbroken,Bad Row,requester\ncyd@example.com,Cyd Jones,nosuchrole\n";
    let (status, _, html) = page(&app, &admin, "/console/users/import").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<textarea id=\"csv\" name=\"csv\""), "{html}");
    let (status, _, html) = submit(
        &app,
        &admin,
        "/console/users/import",
        &[("csv", csv), ("mode", "preview")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Preview: nothing written yet"), "{html}");
    assert!(
        html.contains("3 rows: 1 new, 0 added, 0 unchanged, 2 failed"),
        "{html}"
    );
    assert!(
        html.contains("data-line=\"3\" data-outcome=\"failed\""),
        "{html}"
    );
    assert!(
        html.contains("data-line=\"4\" data-outcome=\"failed\""),
        "{html}"
    );
    assert!(
        html.contains("name=\"mode\" value=\"import\""),
        "offers the import: {html}"
    );
    // The preview kept the rows in the form, and wrote nothing.
    assert!(
        html.contains("bea@example.com,Bea Smith,requester"),
        "{html}"
    );
    let stats = expect(
        app.get("/api/users/stats", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stats["total"], 1);
    let (status, _, html) = submit(
        &app,
        &admin,
        "/console/users/import",
        &[("csv", csv), ("mode", "import")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h2 id=\"report-title\">Imported</h2>"),
        "{html}"
    );
    assert!(
        html.contains("3 rows: 1 new, 0 added, 0 unchanged, 2 failed; 1 roles assigned"),
        "{html}"
    );
    let stats = expect(
        app.get("/api/users/stats", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stats["total"], 2);
    // A file that is not CSV at all is named, not a crash.
    let (status, _, html) = submit(
        &app,
        &admin,
        "/console/users/import",
        &[("csv", "just words"), ("mode", "preview")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("role=\"alert\""));
    // Without users:write: refused, nothing written.
    let reader = reader(&app, &admin, "reader@example.com").await;
    let (status, ..) = submit(
        &app,
        &reader,
        "/console/users/import",
        &[
            ("csv", "email,name\nzed@example.com,Zed Zed\n"),
            ("mode", "import"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stats = expect(
        app.get("/api/users/stats", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stats["total"], 3, "the two imported and the reader");
}

// ---------------------------------------------------------------------------------------------
// Bulk role assignment

async fn names_of_roles(app: &TestApp, admin: &Session, id: &str) -> Vec<String> {
    let mut v: Vec<String> = roles_of(app, admin, id)
        .await
        .iter()
        .map(|a| a["role"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn bulk_assign_confirms_how_many_users_change_then_does_all_of_it() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let a = app.create_user(&admin, "bea@example.com", "Bea").await;
    let b = app.create_user(&admin, "cyd@example.com", "Cyd").await;
    let c = app.create_user(&admin, "dan@example.com", "Dan").await;
    let (_, _, html) = page(&app, &admin, "/console/users").await;
    assert!(html.contains("id=\"bulk-form\""), "{html}");
    assert!(html.contains(&format!("name=\"user\" value=\"{a}\" form=\"bulk-form\"")));
    // Bea already holds fulfiller: adding it to Bea and Cyd changes one user.
    let r = app
        .post(
            &format!("/api/users/{a}/roles"),
            &admin,
            json!({"role": "fulfiller"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let review = [
        ("step", "review"),
        ("mode", "add"),
        ("role", "fulfiller"),
        ("user", a.as_str()),
        ("user", b.as_str()),
    ];
    let (status, _, html) = submit(&app, &admin, "/console/users/bulk", &review).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("This changes 1 user<"), "{html}");
    assert!(html.contains("for 2 selected users"), "{html}");
    assert!(
        names_of_roles(&app, &admin, &b).await.is_empty(),
        "the review wrote nothing"
    );
    let mut apply = review.to_vec();
    apply[0] = ("step", "apply");
    let (status, location, _) = submit(&app, &admin, "/console/users/bulk", &apply).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/console/users?done=bulk_done"));
    assert_eq!(names_of_roles(&app, &admin, &b).await, ["fulfiller"]);
    // Replace, for everyone matching a search.
    let replace = [
        ("step", "apply"),
        ("mode", "replace"),
        ("role", "operator"),
        ("all_matching", "true"),
        ("search", "example.com"),
        ("status", ""),
    ];
    let (status, _, html) = submit(&app, &admin, "/console/users/bulk", &replace[..]).await;
    // Everyone matching includes Ada, the last admin: replacing her roles would leave no
    // admin, so nothing at all is done.
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert_eq!(names_of_roles(&app, &admin, &b).await, ["fulfiller"]);
    let mut narrower = replace.to_vec();
    narrower[4] = ("search", "cyd");
    let (status, ..) = submit(&app, &admin, "/console/users/bulk", &narrower).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(names_of_roles(&app, &admin, &b).await, ["operator"]);
    assert_eq!(names_of_roles(&app, &admin, &a).await, ["fulfiller"]);
    // Remove.
    let remove = [
        ("step", "apply"),
        ("mode", "remove"),
        ("role", "fulfiller"),
        ("user", a.as_str()),
        ("user", c.as_str()),
    ];
    let (status, ..) = submit(&app, &admin, "/console/users/bulk", &remove).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(names_of_roles(&app, &admin, &a).await.is_empty());
    // Nothing chosen is named, not a crash.
    let (status, _, html) = submit(
        &app,
        &admin,
        "/console/users/bulk",
        &[("step", "review"), ("mode", "add"), ("role", "fulfiller")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let (status, ..) = submit(
        &app,
        &admin,
        "/console/users/bulk",
        &[
            ("step", "review"),
            ("mode", "promote"),
            ("user", a.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_assign_is_refused_to_a_reader_and_to_another_tenants_admin() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let victim = app
        .create_user(&admin, "victim@example.com", "Victim")
        .await;
    let reader = reader(&app, &admin, "reader@example.com").await;
    let (_, _, html) = page(&app, &reader, "/console/users").await;
    assert!(!html.contains("bulk-form"), "{html}");
    let form = [
        ("step", "apply"),
        ("mode", "add"),
        ("role", "admin"),
        ("user", victim.as_str()),
    ];
    let (status, ..) = submit(&app, &reader, "/console/users/bulk", &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = app.org_admin(&admin, "other").await;
    let (status, _, html) = submit(&app, &other, "/console/users/bulk", &form).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    // "All matching" only ever reaches the caller's own tenant.
    let all = [
        ("step", "apply"),
        ("mode", "add"),
        ("role", "admin"),
        ("all_matching", "true"),
        ("search", "victim"),
    ];
    let (status, _, html) = submit(&app, &other, "/console/users/bulk", &all).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "nobody matches there: {html}"
    );
    assert!(names_of_roles(&app, &admin, &victim).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Roles

#[tokio::test]
async fn the_roles_page_lists_holders_and_badges_and_locks_a_role_the_tier_does_not_offer() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let r = app
        .post(
            "/api/tenants",
            &platform,
            json!({"slug": "iam", "name": "IAM", "preset": "iam-tiers", "rbac_tier": "basic"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let iam = app
        .member_with_role(&platform, "iam", "admin@iam.test", "Organization.Admin")
        .await;
    let (status, _, html) = page(&app, &iam, "/console/roles").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-stat=\"roles\">14<"), "{html}");
    assert!(html.contains("data-stat=\"tier\">basic<"), "{html}");
    let row = |html: &str, name: &str| {
        html.split(&format!("data-role=\"{name}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("{name}: {html}"))
            .to_string()
    };
    assert!(row(&html, "Integrations.Viewer").contains("data-locked"));
    assert!(!row(&html, "Integrations.Manager").contains("data-locked"));
    assert!(row(&html, "Organization.Admin").contains("<td data-holders>1</td>"));
    let (_, _, found) = page(&app, &iam, "/console/roles?search=integrations").await;
    assert!(found.contains("Integrations.Viewer") && !found.contains("data-role=\"Member\""));
    // Another organisation's roles are not there.
    let (_, _, html) = page(&app, &iam, "/console/roles").await;
    assert!(!html.contains("data-role=\"fulfiller\""), "{html}");
    // Nothing to see without any of rbac:read, rbac:manage, users:read.
    let nobody = app
        .user_with_role(&platform, "req@example.com", "requester")
        .await;
    let (status, _, html) = page(&app, &nobody, "/console/roles").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("data-role="));
}

#[tokio::test]
async fn a_role_page_shows_the_permission_grid_scoped_permissions_and_holders() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .post(
            "/api/tenants",
            &admin,
            json!({"slug": "sub-a", "name": "Sub A", "parent": "default"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    let role = expect(
        app.post(
            "/api/roles",
            &admin,
            json!({"name": "Runners", "permissions": ["users:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .put(
            &format!("/api/rbac/role-permissions?role_id={}", role["id"].as_str().unwrap()),
            &admin,
            json!({"permissions": ["users:read", "itsm:*", "runbooks:run", {"permission": "reports:read", "scope": "sub-a"}]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let id = role["id"].as_str().unwrap();
    let holder = app
        .user_with_role(&admin, "runner@example.com", "Runners")
        .await;
    let (status, _, html) = page(&app, &admin, &format!("/console/roles/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let row = |entity: &str| {
        html.split(&format!("data-entity=\"{entity}\""))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("{entity}: {html}"))
            .to_string()
    };
    let yes = |cells: &str| cells.matches("<span class=\"sr-only\">yes</span>").count();
    assert_eq!(yes(&row("users")), 1, "read only");
    assert_eq!(yes(&row("itsm")), 4, "everything");
    assert!(row("itsm").contains(">all<"));
    assert!(row("runbooks").contains("<code>run</code>"));
    assert!(
        html.contains(&format!(
            "href=\"/console/users/{}\">runner@example.com",
            holder.user_id
        )),
        "{html}"
    );
    assert!(html.contains("Holders (1)"));
    assert!(
        html.contains("<li><code>reports:read</code> in <strong>sub-a</strong></li>"),
        "{html}"
    );
    // Another organisation's admin cannot open it.
    let other = app.org_admin(&admin, "other").await;
    let (status, _, html) = page(&app, &other, &format!("/console/roles/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(!html.contains("runner@example.com"));
}
