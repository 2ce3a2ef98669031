//! User management: create and validate, list (search, filters, sort, pages), stats, detail,
//! edit, activate and deactivate, soft delete and restore, sessions, the last-admin rule,
//! permissions and tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Local helpers

/// Status of `GET /api/me` with the session's bearer token.
async fn token_status(app: &TestApp, s: &Session) -> StatusCode {
    app.get("/api/me", s).send().await.unwrap().status()
}

/// Status of `GET /api/me` with the session's cookie only.
async fn cookie_status(app: &TestApp, s: &Session) -> StatusCode {
    app.client
        .get(app.url("/api/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// `GET /api/users?{query}` as `s`, expecting 200.
async fn list(app: &TestApp, s: &Session, query: &str) -> Value {
    expect(
        app.get(&format!("/api/users?{query}"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// A string field of every item of a list page.
fn field(page: &Value, name: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u[name].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn get_user(app: &TestApp, s: &Session, id: &str) -> Value {
    expect(
        app.get(&format!("/api/users/{id}"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn create_raw(app: &TestApp, s: &Session, body: Value) -> reqwest::Response {
    app.post("/api/users", s, body).send().await.unwrap()
}

async fn set_active(app: &TestApp, s: &Session, id: &str, active: bool) -> reqwest::Response {
    app.patch(&format!("/api/users/{id}"), s, json!({"active": active}))
        .send()
        .await
        .unwrap()
}

async fn stats(app: &TestApp, s: &Session) -> Value {
    expect(
        app.get("/api/users/stats", s).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

/// Role names of a user in the caller's tenant, read through `/api/users/{id}/roles`.
async fn role_names(app: &TestApp, s: &Session, id: &str) -> Vec<String> {
    let body = expect(
        app.get(&format!("/api/users/{id}/roles"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap().to_string())
        .collect()
}

/// Ada (platform admin) and Bob, a non-platform admin who is the only admin of `default`
/// (Bob removed Ada's `admin` role while there were two admins).
async fn bob_is_the_last_admin(app: &TestApp) -> (Session, Session) {
    let ada = app.register_admin().await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    // Ada steps down herself (a tenant admin may not act on a platform admin).
    let r = app
        .delete(&format!("/api/users/{}/roles/admin", ada.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert!(role_names(app, &bob, &ada.user_id).await.is_empty());
    (ada, bob)
}

// ---------------------------------------------------------------------------------------------
// Create and validation

#[tokio::test]
async fn creating_a_user_makes_them_an_active_member_without_a_role() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let r = create_raw(
        &app,
        &ada,
        json!({"email": "Grace.Hopper@Example.com", "password": PASSWORD, "first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    let created = expect(r, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["email"], "Grace.Hopper@Example.com");
    assert_eq!(created["first_name"], "Grace");
    assert_eq!(created["last_name"], "Hopper");
    assert_eq!(created["name"], "Grace Hopper");
    assert_eq!(created["status"], "active");
    assert_eq!(created["active"], true);
    assert_eq!(created["platform_admin"], false);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let detail = get_user(&app, &ada, &id).await;
    assert_eq!(detail["roles"], json!([]));
    assert!(role_names(&app, &ada, &id).await.is_empty());
    let page = list(&app, &ada, "search=grace").await;
    assert_eq!(field(&page, "id"), vec![id.clone()]);
    assert_eq!(page["items"][0]["roles"], json!([]));

    // A member of the tenant: they can sign in there.
    let grace = app.login("grace.hopper@example.com", PASSWORD).await;
    assert_eq!(grace.user_id, id);
    let me = expect(
        app.get("/api/me", &grace).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["tenant"]["slug"], "default");
    assert_eq!(me["roles"], json!([]));
}

#[tokio::test]
async fn creating_a_user_accepts_unicode_names_with_spaces_dots_and_hyphens() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    for (i, (first, last)) in [
        ("Zoë", Some("Ørsted")),
        ("Jean-Luc", Some("Picard")),
        ("J. R. R.", Some("Tolkien")),
        ("李雷", None),
        ("Al", None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({"email": format!("u{i}@example.com"), "password": PASSWORD, "first_name": first});
        if let Some(l) = last {
            body["last_name"] = json!(l);
        }
        let created = expect(create_raw(&app, &ada, body).await, StatusCode::CREATED).await;
        assert_eq!(created["first_name"], first);
        assert_eq!(created["last_name"], last.map_or(Value::Null, |l| json!(l)));
    }
}

#[tokio::test]
async fn creating_a_user_fails_with_invalid_name_when_the_first_name_is_short_or_has_other_characters()
 {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    for bad in ["", "A", " B ", "R2D2", "<script>", "a_b", "Bob!"] {
        let r = create_raw(
            &app,
            &ada,
            json!({"email": "x@example.com", "password": PASSWORD, "first_name": bad}),
        )
        .await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
        assert_eq!(body["field"], "first_name", "{bad:?}: {body}");
    }
    assert!(
        list(&app, &ada, "search=x@example.com").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn creating_a_user_fails_with_invalid_name_when_the_last_name_is_invalid() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    for bad in ["X", "O'Br1en", "Smith_Jones"] {
        let r = create_raw(
            &app,
            &ada,
            json!({"email": "x@example.com", "password": PASSWORD, "first_name": "Xavier", "last_name": bad}),
        )
        .await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
        assert_eq!(body["field"], "last_name", "{bad:?}: {body}");
    }
    // Optional: leaving it out is fine.
    let created = expect(
        create_raw(
            &app,
            &ada,
            json!({"email": "x@example.com", "password": PASSWORD, "first_name": "Xavier"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["last_name"], Value::Null);
    assert_eq!(created["name"], "Xavier");
}

#[tokio::test]
async fn creating_a_user_fails_with_invalid_email_when_malformed_or_longer_than_254() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(186)); // 255
    assert_eq!(too_long.chars().count(), 255);
    for bad in [
        "",
        "not-an-email",
        "a@b",
        "@example.com",
        "a b@example.com",
        "a@@example.com",
        too_long.as_str(),
    ] {
        let r = create_raw(
            &app,
            &ada,
            json!({"email": bad, "password": PASSWORD, "first_name": "Xavier"}),
        )
        .await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_email").await;
        assert_eq!(body["field"], "email", "{bad:?}: {body}");
    }
    let longest = format!("{}@{}.com", "a".repeat(64), "b".repeat(185)); // 254
    assert_eq!(longest.chars().count(), 254);
    let created = expect(
        create_raw(
            &app,
            &ada,
            json!({"email": longest, "password": PASSWORD, "first_name": "Xavier"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["email"], longest);
}

#[tokio::test]
async fn creating_a_user_fails_with_email_taken_when_the_email_exists_in_any_case() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    app.create_user(&ada, "grace@example.com", "Grace").await;
    for dup in ["grace@example.com", "GRACE@Example.COM", "ADA@example.com"] {
        let r = create_raw(
            &app,
            &ada,
            json!({"email": dup, "password": PASSWORD, "first_name": "Other"}),
        )
        .await;
        let body = expect_error(r, StatusCode::CONFLICT, "email_taken").await;
        assert_eq!(body["field"], "email");
    }
    let page = list(&app, &ada, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(!field(&page, "first_name").contains(&"Other".to_string()));
}

#[tokio::test]
async fn creating_a_user_fails_with_weak_password_when_it_lacks_length_upper_lower_or_digit() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    for weak in ["Sh0rt", "alllower1", "ALLUPPER1", "NoDigitsHere", ""] {
        let r = create_raw(
            &app,
            &ada,
            json!({"email": "x@example.com", "password": weak, "first_name": "Xavier"}),
        )
        .await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "weak_password").await;
        assert_eq!(body["field"], "password", "{weak:?}");
    }
    assert_eq!(
        list(&app, &ada, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = create_raw(
        &app,
        &ada,
        json!({"email": "x@example.com", "password": "Abcdefg1", "first_name": "Xavier"}),
    )
    .await;
    expect(r, StatusCode::CREATED).await;
}

// ---------------------------------------------------------------------------------------------
// List: search, filters, sort, pages

#[tokio::test]
async fn listing_users_searches_name_and_email_case_insensitively() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app
        .create_user(&ada, "grace@navy.example.com", "Grace")
        .await;
    let r = create_raw(
        &app,
        &ada,
        json!({"email": "alan@example.com", "password": PASSWORD, "first_name": "Alan", "last_name": "Turing"}),
    )
    .await;
    let alan = expect(r, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    assert_eq!(
        field(&list(&app, &ada, "search=GRACE").await, "id"),
        vec![grace.clone()]
    );
    assert_eq!(
        field(&list(&app, &ada, "search=NAVY").await, "id"),
        vec![grace]
    );
    assert_eq!(
        field(&list(&app, &ada, "search=tUrInG").await, "id"),
        vec![alan.clone()]
    );
    // Full name across first and last.
    assert_eq!(
        field(&list(&app, &ada, "search=alan%20turing").await, "id"),
        vec![alan]
    );
    // Matches anywhere: both example.com addresses and Ada's.
    assert_eq!(
        list(&app, &ada, "search=Example.COM").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        list(&app, &ada, "search=nobody").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn listing_users_treats_percent_and_underscore_in_search_literally() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let under = app.create_user(&ada, "a_b@example.com", "Under").await;
    app.create_user(&ada, "axb@example.com", "Cross").await;
    let pct = app
        .create_user(&ada, "100%off@example.com", "Percent")
        .await;
    app.create_user(&ada, "100xoff@example.com", "Plain").await;

    assert_eq!(
        field(&list(&app, &ada, "search=a_b").await, "id"),
        vec![under]
    );
    assert_eq!(
        field(&list(&app, &ada, "search=0%25o").await, "id"),
        vec![pct]
    );
    assert!(
        list(&app, &ada, "search=%25%25").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        list(&app, &ada, "search=__").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn listing_users_filters_by_status_active_and_inactive() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app.create_user(&ada, "grace@example.com", "Grace").await;
    let alan = app.create_user(&ada, "alan@example.com", "Alan").await;
    expect(set_active(&app, &ada, &alan, false).await, StatusCode::OK).await;

    let inactive = list(&app, &ada, "status=inactive").await;
    assert_eq!(field(&inactive, "id"), vec![alan.clone()]);
    assert_eq!(inactive["items"][0]["status"], "inactive");
    assert_eq!(inactive["items"][0]["active"], false);

    let mut active = field(&list(&app, &ada, "status=active").await, "id");
    active.sort();
    let mut want = vec![ada.user_id.clone(), grace];
    want.sort();
    assert_eq!(active, want);

    // No filter: both, but never a bad status value.
    assert_eq!(
        list(&app, &ada, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    expect_error(
        app.get("/api/users?status=banned", &ada)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_status",
    )
    .await;
}

#[tokio::test]
async fn listing_users_hides_deleted_users_unless_include_deleted_or_status_deleted() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app.create_user(&ada, "grace@example.com", "Grace").await;
    let gone = app.create_user(&ada, "gone@example.com", "Gone").await;
    let r = app
        .delete(&format!("/api/users/{gone}"), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;

    let ids = field(&list(&app, &ada, "").await, "id");
    assert!(ids.contains(&grace) && !ids.contains(&gone), "{ids:?}");
    let ids = field(&list(&app, &ada, "include_deleted=false").await, "id");
    assert!(!ids.contains(&gone));

    let all = list(&app, &ada, "include_deleted=true").await;
    let ids = field(&all, "id");
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&gone));

    let deleted = list(&app, &ada, "status=deleted").await;
    assert_eq!(field(&deleted, "id"), vec![gone]);
    assert_eq!(deleted["items"][0]["status"], "deleted");
    assert!(deleted["items"][0]["deleted_at"].is_string());
}

#[tokio::test]
async fn listing_users_sorts_by_name_email_created_and_last_login_in_both_orders() {
    let app = spawn_app_with_clock().await;
    let clock = app.clock.clone().unwrap();
    let ada = app.register_admin().await; // "Ada Lovelace", ada@example.com
    let tick = || clock.advance_ms(1_000);
    tick();
    let zed = app.create_user(&ada, "aaa@example.com", "Zed").await;
    tick();
    let mia = app.create_user(&ada, "mmm@example.com", "mia").await;
    tick();
    let bea = app.create_user(&ada, "zzz@example.com", "Bea").await;
    tick();
    app.login("mmm@example.com", PASSWORD).await;
    tick();
    app.login("aaa@example.com", PASSWORD).await;
    let a = ada.user_id.clone();

    let cases: [(&str, Vec<&String>); 4] = [
        ("name", vec![&a, &bea, &mia, &zed]),
        ("email", vec![&zed, &a, &mia, &bea]),
        ("created", vec![&a, &zed, &mia, &bea]),
        // Never signed in sorts as the oldest sign-in.
        ("last_login", vec![&bea, &a, &mia, &zed]),
    ];
    for (sort, asc) in cases {
        let asc: Vec<String> = asc.into_iter().cloned().collect();
        let got = field(
            &list(&app, &ada, &format!("sort={sort}&order=asc")).await,
            "id",
        );
        assert_eq!(got, asc, "sort={sort} asc");
        let mut desc = asc.clone();
        desc.reverse();
        let got = field(
            &list(&app, &ada, &format!("sort={sort}&order=desc")).await,
            "id",
        );
        assert_eq!(got, desc, "sort={sort} desc");
    }
    // Defaults: by name, ascending.
    assert_eq!(
        field(&list(&app, &ada, "").await, "id"),
        vec![a, bea, mia, zed]
    );
}

/// Follows `next_cursor` with pages of two until the end.
async fn walk(app: &TestApp, s: &Session, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut q = format!("{query}&page_size=2");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = list(app, s, &q).await;
        let items = field(&page, "id");
        assert!(items.len() <= 2, "a page of at most 2: {items:?}");
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(page["next_cursor"].is_null());
                return seen;
            }
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn listing_users_in_pages_of_two_visits_every_user_once_and_ends_with_a_null_cursor() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    // Same first names on purpose: ties in the sort key must not lose or repeat anyone.
    for (i, first) in ["Kim", "Kim", "Lee", "Kim", "Ann", "Zoe"]
        .iter()
        .enumerate()
    {
        app.create_user(&ada, &format!("user{i}@example.com"), first)
            .await;
    }
    for query in [
        "sort=name&order=asc",
        "sort=name&order=desc",
        "sort=email&order=asc",
        "sort=created&order=desc",
        "sort=last_login&order=asc",
    ] {
        let all = field(&list(&app, &ada, query).await, "id");
        assert_eq!(all.len(), 7);
        let walked = walk(&app, &ada, query).await;
        assert_eq!(
            walked, all,
            "{query}: same users, same order, no gaps or repeats"
        );
    }
    // Exactly one full page: no cursor.
    let one = list(&app, &ada, "page_size=7").await;
    assert_eq!(one["items"].as_array().unwrap().len(), 7);
    assert!(one["next_cursor"].is_null());
}

#[tokio::test]
async fn listing_users_fails_with_400_for_an_invalid_sort_order_page_size_or_cursor() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    app.create_user(&ada, "grace@example.com", "Grace").await;
    app.create_user(&ada, "alan@example.com", "Alan").await;
    for (query, code, fld) in [
        ("sort=password", "invalid_sort", "sort"),
        ("sort=NAME", "invalid_sort", "sort"),
        ("order=up", "invalid_order", "order"),
        ("page_size=0", "invalid_page_size", "page_size"),
        ("page_size=201", "invalid_page_size", "page_size"),
        ("page_size=-1", "invalid_page_size", "page_size"),
        ("cursor=not-a-cursor!", "invalid_cursor", "cursor"),
        ("cursor=eyJmb28iOjF9", "invalid_cursor", "cursor"),
    ] {
        let r = app
            .get(&format!("/api/users?{query}"), &ada)
            .send()
            .await
            .unwrap();
        let body = expect_error(r, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(body["field"], fld, "{query}");
    }
    // A cursor only fits the sort and order it came from.
    let page = list(&app, &ada, "sort=name&page_size=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    for other in ["sort=email", "sort=name&order=desc", "sort=created"] {
        let r = app
            .get(
                &format!("/api/users?{other}&page_size=1&cursor={cursor}"),
                &ada,
            )
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
    let ok = list(
        &app,
        &ada,
        &format!("sort=name&page_size=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(ok["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn listing_users_shows_the_roles_of_each_user() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let op = app.user_with_role(&ada, "op@example.com", "operator").await;
    let plain = app.create_user(&ada, "plain@example.com", "Plain").await;
    let r = app
        .post(
            &format!("/api/users/{plain}/roles"),
            &ada,
            json!({"role": "requester"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    app.post(
        &format!("/api/users/{plain}/roles"),
        &ada,
        json!({"role": "fulfiller"}),
    )
    .send()
    .await
    .unwrap();
    let none = app.create_user(&ada, "none@example.com", "Nobody").await;

    let page = list(&app, &ada, "").await;
    for item in page["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let want = if id == ada.user_id {
            json!(["admin"])
        } else if id == op.user_id {
            json!(["operator"])
        } else if id == plain {
            json!(["fulfiller", "requester"])
        } else if id == none {
            json!([])
        } else {
            panic!("unexpected user {item}");
        };
        assert_eq!(item["roles"], want, "{item}");
    }
}

// ---------------------------------------------------------------------------------------------
// Stats

#[tokio::test]
async fn user_stats_count_total_admins_active_and_new_this_week() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 1, "admins": 1, "active": 1, "new_this_week": 1})
    );
    let grace = app.create_user(&ada, "grace@example.com", "Grace").await;
    let alan = app.create_user(&ada, "alan@example.com", "Alan").await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 4, "admins": 2, "active": 4, "new_this_week": 4})
    );

    expect(set_active(&app, &ada, &grace, false).await, StatusCode::OK).await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 4, "admins": 2, "active": 3, "new_this_week": 4})
    );

    let r = app
        .delete(&format!("/api/users/{alan}"), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 3, "admins": 2, "active": 2, "new_this_week": 3})
    );

    let r = app
        .delete(&format!("/api/users/{}", bob.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 2, "admins": 1, "active": 1, "new_this_week": 2})
    );

    let r = app
        .post(&format!("/api/users/{alan}/restore"), &ada, json!({}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    assert_eq!(
        stats(&app, &ada).await,
        json!({"total": 3, "admins": 1, "active": 2, "new_this_week": 3})
    );
}

#[tokio::test]
async fn user_stats_do_not_count_users_created_more_than_a_week_ago_as_new() {
    let app = spawn_app_with_clock().await;
    let clock = app.clock.clone().unwrap();
    let now = clock_now(&clock);
    let ada = app.register_admin().await;
    // Ten days ago (the session cookie is fine with an earlier clock; access tokens are not).
    clock.set_ms(now - 10 * 24 * 3_600_000);
    for email in ["old1@example.com", "old2@example.com"] {
        let r = app
            .client
            .post(app.url("/api/users"))
            .header("cookie", &ada.cookie)
            .header("x-csrf-token", app.csrf(&ada))
            .json(&json!({"email": email, "password": PASSWORD, "first_name": "Old"}))
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::CREATED).await;
    }
    clock.set_ms(now);
    app.create_user(&ada, "new@example.com", "New").await;
    let s = stats(&app, &ada).await;
    assert_eq!(s["total"], 4);
    assert_eq!(s["new_this_week"], 2, "{s}");
}

fn clock_now(c: &idbridge::clock::FixedClock) -> i64 {
    use idbridge::clock::Clock;
    c.now_ms()
}

// ---------------------------------------------------------------------------------------------
// Detail and edit

#[tokio::test]
async fn getting_a_user_returns_the_profile_with_roles() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let op = app.user_with_role(&ada, "op@example.com", "operator").await;
    let u = get_user(&app, &ada, &op.user_id).await;
    assert_eq!(u["id"], op.user_id.as_str());
    assert_eq!(u["email"], "op@example.com");
    assert_eq!(u["first_name"], "Test");
    assert_eq!(u["status"], "active");
    assert_eq!(u["roles"], json!(["operator"]));
    assert!(u["created_at"].is_string() && u["last_login_at"].is_string());
}

#[tokio::test]
async fn getting_a_user_is_404_when_the_id_is_unknown_or_not_a_uuid() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    for id in [
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_string(),
        "1".to_string(),
        "%27%20OR%201%3D1".to_string(),
    ] {
        let r = app
            .get(&format!("/api/users/{id}"), &ada)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn patching_a_user_changes_and_clears_names() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "gh@example.com", "Grace").await;
    let r = app
        .patch(
            &format!("/api/users/{id}"),
            &ada,
            json!({"first_name": "Amazing", "last_name": "Hopper"}),
        )
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["name"], "Amazing Hopper");
    let u = get_user(&app, &ada, &id).await;
    assert_eq!(u["first_name"], "Amazing");
    assert_eq!(u["last_name"], "Hopper");
    assert_eq!(u["email"], "gh@example.com");
    // The search and sort keys follow the new name.
    assert_eq!(
        field(&list(&app, &ada, "search=amazing%20hopper").await, "id"),
        vec![id.clone()]
    );
    assert!(
        list(&app, &ada, "search=grace").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Only the fields sent change.
    let r = app
        .patch(
            &format!("/api/users/{id}"),
            &ada,
            json!({"first_name": "Grace"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    assert_eq!(get_user(&app, &ada, &id).await["last_name"], "Hopper");

    // `null` and `""` clear the optional last name.
    for clear in [Value::Null, json!("")] {
        let r = app
            .patch(
                &format!("/api/users/{id}"),
                &ada,
                json!({"last_name": "Hopper"}),
            )
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::OK).await;
        let r = app
            .patch(
                &format!("/api/users/{id}"),
                &ada,
                json!({"last_name": clear}),
            )
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::OK).await;
        let u = get_user(&app, &ada, &id).await;
        assert_eq!(u["last_name"], Value::Null, "cleared by {clear}");
        assert_eq!(u["name"], "Grace");
    }

    let r = app
        .patch(
            &format!("/api/users/{id}"),
            &ada,
            json!({"first_name": "A"}),
        )
        .send()
        .await
        .unwrap();
    let err = expect_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
    assert_eq!(err["field"], "first_name");
    assert_eq!(get_user(&app, &ada, &id).await["first_name"], "Grace");
}

#[tokio::test]
async fn patching_a_user_fails_with_email_immutable_when_the_body_has_an_email() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "grace@example.com", "Grace").await;
    let r = app
        .patch(
            &format!("/api/users/{id}"),
            &ada,
            json!({"email": "other@example.com", "first_name": "Changed"}),
        )
        .send()
        .await
        .unwrap();
    let err = expect_error(r, StatusCode::BAD_REQUEST, "email_immutable").await;
    assert_eq!(err["field"], "email");
    let u = get_user(&app, &ada, &id).await;
    assert_eq!(u["email"], "grace@example.com");
    assert_eq!(u["first_name"], "Grace");
    app.login("grace@example.com", PASSWORD).await;
}

#[tokio::test]
async fn deactivating_a_user_ends_their_token_and_cookie_at_once() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app
        .user_with_role(&ada, "grace@example.com", "requester")
        .await;
    assert_eq!(token_status(&app, &grace).await, StatusCode::OK);
    assert_eq!(cookie_status(&app, &grace).await, StatusCode::OK);

    let body = expect(
        set_active(&app, &ada, &grace.user_id, false).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["status"], "inactive");
    assert_eq!(body["active"], false);
    let u = get_user(&app, &ada, &grace.user_id).await;
    assert_eq!(u["status"], "inactive");

    assert_eq!(token_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    assert_eq!(cookie_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    expect_error(
        app.try_login("grace@example.com", PASSWORD, None).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn reactivating_a_user_lets_them_sign_in_again_but_old_sessions_stay_ended() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app
        .user_with_role(&ada, "grace@example.com", "requester")
        .await;
    expect(
        set_active(&app, &ada, &grace.user_id, false).await,
        StatusCode::OK,
    )
    .await;
    let body = expect(
        set_active(&app, &ada, &grace.user_id, true).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["status"], "active");
    assert_eq!(
        get_user(&app, &ada, &grace.user_id).await["status"],
        "active"
    );

    assert_eq!(token_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    assert_eq!(cookie_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    let again = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(token_status(&app, &again).await, StatusCode::OK);
    assert_eq!(cookie_status(&app, &again).await, StatusCode::OK);
}

#[tokio::test]
async fn changing_your_own_status_is_forbidden() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    for s in [&ada, &bob] {
        for active in [false, true] {
            let r = set_active(&app, s, &s.user_id, active).await;
            expect_error(r, StatusCode::FORBIDDEN, "cannot_change_own_status").await;
        }
        assert_eq!(get_user(&app, s, &s.user_id).await["status"], "active");
        assert_eq!(token_status(&app, s).await, StatusCode::OK);
    }
}

// ---------------------------------------------------------------------------------------------
// Delete and restore

#[tokio::test]
async fn deleting_a_user_soft_deletes_them_ends_their_sessions_and_refuses_sign_in() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app
        .user_with_role(&ada, "grace@example.com", "requester")
        .await;
    let r = app
        .delete(&format!("/api/users/{}", grace.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;

    let u = get_user(&app, &ada, &grace.user_id).await;
    assert_eq!(u["status"], "deleted");
    assert_eq!(u["active"], false);
    assert!(u["deleted_at"].is_string());
    assert!(!field(&list(&app, &ada, "").await, "id").contains(&grace.user_id));
    assert!(field(&list(&app, &ada, "include_deleted=true").await, "id").contains(&grace.user_id));

    assert_eq!(token_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    assert_eq!(cookie_status(&app, &grace).await, StatusCode::UNAUTHORIZED);
    let r = app.try_login("grace@example.com", PASSWORD, None).await;
    assert_ne!(r.status(), StatusCode::OK);
    expect_error(r, StatusCode::FORBIDDEN, "account_disabled").await;

    // A deleted user comes back through restore, not through reactivation.
    let r = set_active(&app, &ada, &grace.user_id, true).await;
    expect_error(r, StatusCode::CONFLICT, "user_deleted").await;
    assert_eq!(
        get_user(&app, &ada, &grace.user_id).await["status"],
        "deleted"
    );

    // Deleting again: nothing left to delete.
    let r = app
        .delete(&format!("/api/users/{}", grace.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn deleting_yourself_is_forbidden() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    for s in [&ada, &bob] {
        let r = app
            .delete(&format!("/api/users/{}", s.user_id), s)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::FORBIDDEN, "cannot_delete_self").await;
        assert_eq!(get_user(&app, s, &s.user_id).await["status"], "active");
        assert_eq!(token_status(&app, s).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn restoring_a_deleted_user_brings_back_an_active_account_with_its_profile() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let r = create_raw(
        &app,
        &ada,
        json!({"email": "Grace@Example.com", "password": PASSWORD, "first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    let id = expect(r, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .delete(&format!("/api/users/{id}"), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;

    let r = app
        .post(&format!("/api/users/{id}/restore"), &ada, json!({}))
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["status"], "active");
    let u = get_user(&app, &ada, &id).await;
    assert_eq!(u["status"], "active");
    assert_eq!(u["active"], true);
    assert_eq!(u["deleted_at"], Value::Null);
    assert_eq!(u["email"], "Grace@Example.com");
    assert_eq!(u["first_name"], "Grace");
    assert_eq!(u["last_name"], "Hopper");
    assert!(field(&list(&app, &ada, "").await, "id").contains(&id));

    let grace = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(grace.user_id, id);
    assert_eq!(token_status(&app, &grace).await, StatusCode::OK);
}

#[tokio::test]
async fn restoring_a_user_who_is_not_deleted_fails_with_user_not_deleted() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let grace = app.create_user(&ada, "grace@example.com", "Grace").await;
    let alan = app.create_user(&ada, "alan@example.com", "Alan").await;
    expect(set_active(&app, &ada, &alan, false).await, StatusCode::OK).await;
    for (id, status) in [(&grace, "active"), (&alan, "inactive")] {
        let r = app
            .post(&format!("/api/users/{id}/restore"), &ada, json!({}))
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::CONFLICT, "user_not_deleted").await;
        assert_eq!(get_user(&app, &ada, id).await["status"], status);
    }
}

// ---------------------------------------------------------------------------------------------
// The last admin

#[tokio::test]
async fn removing_the_admin_role_of_the_last_active_admin_fails_with_last_admin() {
    let app = spawn_app().await;
    let (ada, bob) = bob_is_the_last_admin(&app).await;
    for caller in [&bob, &ada] {
        let r = app
            .delete(&format!("/api/users/{}/roles/admin", bob.user_id), caller)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    }
    assert_eq!(role_names(&app, &ada, &bob.user_id).await, vec!["admin"]);
    assert_eq!(stats(&app, &bob).await["admins"], 1);
    // Bob still administers: he can create users.
    app.create_user(&bob, "after@example.com", "After").await;
}

#[tokio::test]
async fn deactivating_the_last_active_admin_fails_with_last_admin() {
    let app = spawn_app().await;
    let (ada, bob) = bob_is_the_last_admin(&app).await;
    let r = set_active(&app, &ada, &bob.user_id, false).await;
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    let u = get_user(&app, &ada, &bob.user_id).await;
    assert_eq!(u["status"], "active");
    assert_eq!(u["roles"], json!(["admin"]));
    // Nothing was rolled half-way: Bob's sessions are alive.
    assert_eq!(token_status(&app, &bob).await, StatusCode::OK);
    assert_eq!(cookie_status(&app, &bob).await, StatusCode::OK);
}

#[tokio::test]
async fn deleting_the_last_active_admin_fails_with_last_admin() {
    let app = spawn_app().await;
    let (ada, bob) = bob_is_the_last_admin(&app).await;
    let r = app
        .delete(&format!("/api/users/{}", bob.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    let u = get_user(&app, &ada, &bob.user_id).await;
    assert_eq!(u["status"], "active");
    assert_eq!(u["deleted_at"], Value::Null);
    assert!(field(&list(&app, &ada, "").await, "id").contains(&bob.user_id));
    assert_eq!(token_status(&app, &bob).await, StatusCode::OK);
    assert_eq!(cookie_status(&app, &bob).await, StatusCode::OK);
}

#[tokio::test]
async fn an_inactive_admin_does_not_count_as_the_remaining_admin() {
    let app = spawn_app().await;
    let (ada, bob) = bob_is_the_last_admin(&app).await;
    let carol = app.user_with_role(&bob, "carol@example.com", "admin").await;
    // Two active admins: Bob may deactivate Carol.
    expect(
        set_active(&app, &bob, &carol.user_id, false).await,
        StatusCode::OK,
    )
    .await;
    // Carol is inactive, so Bob is the last active admin again.
    let r = app
        .delete(&format!("/api/users/{}/roles/admin", bob.user_id), &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    let r = app
        .delete(&format!("/api/users/{}", bob.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(role_names(&app, &ada, &bob.user_id).await, vec!["admin"]);
    // Back to two active admins: now the change is allowed.
    expect(
        set_active(&app, &bob, &carol.user_id, true).await,
        StatusCode::OK,
    )
    .await;
    let r = app
        .delete(&format!("/api/users/{}/roles/admin", bob.user_id), &ada)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    assert!(role_names(&app, &ada, &bob.user_id).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Sessions and reset links

#[tokio::test]
async fn revoking_a_users_sessions_ends_every_token_and_cookie() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let first = app
        .user_with_role(&ada, "grace@example.com", "requester")
        .await;
    let second = app.login("grace@example.com", PASSWORD).await;
    let r = app
        .delete(&format!("/api/users/{}/sessions", first.user_id), &ada)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect(r, StatusCode::OK).await,
        json!({"revoked_sessions": 2})
    );
    for s in [&first, &second] {
        assert_eq!(token_status(&app, s).await, StatusCode::UNAUTHORIZED);
        assert_eq!(cookie_status(&app, s).await, StatusCode::UNAUTHORIZED);
    }
    // The account itself is fine.
    assert_eq!(
        get_user(&app, &ada, &first.user_id).await["status"],
        "active"
    );
    let again = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(token_status(&app, &again).await, StatusCode::OK);
    // Ada's own session is untouched.
    assert_eq!(token_status(&app, &ada).await, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_reset_link_lets_the_user_choose_a_new_password() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let id = app.create_user(&ada, "grace@example.com", "Grace").await;
    let r = app
        .post(
            &format!("/api/users/{id}/password-reset-link"),
            &ada,
            json!({}),
        )
        .send()
        .await
        .unwrap();
    let link = expect(r, StatusCode::CREATED).await;
    let url = link["url"].as_str().unwrap();
    assert!(url.contains("/reset-password?token="), "{url}");
    assert!(link["expires_in"].as_i64().unwrap() > 0);
    let token = url.split("token=").nth(1).unwrap();
    let r = app
        .client
        .post(app.url("/api/auth/reset-password"))
        .json(&json!({"token": token, "password": "Brand-new-Pass9"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NO_CONTENT).await;
    app.login("grace@example.com", "Brand-new-Pass9").await;
}

// ---------------------------------------------------------------------------------------------
// Permissions

#[tokio::test]
async fn a_requester_cannot_list_create_edit_or_delete_users() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let req = app
        .user_with_role(&ada, "req@example.com", "requester")
        .await;
    let target = app.create_user(&ada, "grace@example.com", "Grace").await;
    let path = format!("/api/users/{target}");
    let attempts = [
        app.get("/api/users", &req),
        app.get("/api/users/stats", &req),
        app.post(
            "/api/users",
            &req,
            json!({"email": "new@example.com", "password": PASSWORD, "first_name": "New"}),
        ),
        app.patch(&path, &req, json!({"first_name": "Hacked"})),
        app.patch(&path, &req, json!({"active": false})),
        app.delete(&path, &req),
        app.delete(&format!("{path}/sessions"), &req),
        app.post(&format!("{path}/password-reset-link"), &req, json!({})),
    ];
    for a in attempts {
        let r = a.send().await.unwrap();
        expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    }
    let u = get_user(&app, &ada, &target).await;
    assert_eq!(u["first_name"], "Grace");
    assert_eq!(u["status"], "active");
    assert!(
        list(&app, &ada, "search=new@").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_operator_can_list_users_but_not_create_or_change_them() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let op = app.user_with_role(&ada, "op@example.com", "operator").await;
    let target = app.create_user(&ada, "grace@example.com", "Grace").await;
    let page = list(&app, &op, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        get_user(&app, &op, &target).await["email"],
        "grace@example.com"
    );
    assert_eq!(stats(&app, &op).await["total"], 3);

    let r = create_raw(
        &app,
        &op,
        json!({"email": "new@example.com", "password": PASSWORD, "first_name": "New"}),
    )
    .await;
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = app
        .patch(
            &format!("/api/users/{target}"),
            &op,
            json!({"first_name": "Changed"}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_eq!(
        list(&app, &op, "").await["items"].as_array().unwrap().len(),
        3
    );
    assert_eq!(get_user(&app, &op, &target).await["first_name"], "Grace");
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation

/// A user who only belongs to tenant `beta`, as its admin; returns the user's id.
async fn beta_admin(app: &TestApp, ada: &Session) -> String {
    app.create_tenant(ada, "beta", "itsm").await;
    let r = create_raw(
        app,
        ada,
        json!({"email": "beth@beta.example.com", "password": PASSWORD, "first_name": "Beth", "tenant": "beta"}),
    )
    .await;
    let id = expect(r, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            &format!("/api/users/{id}/roles"),
            ada,
            json!({"role": "admin", "tenant": "beta"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;
    id
}

#[tokio::test]
async fn a_tenant_admin_cannot_see_or_change_users_of_another_tenant() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    let beth = beta_admin(&app, &ada).await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;

    let path = format!("/api/users/{beth}");
    for a in [
        app.get(&path, &bob),
        app.patch(&path, &bob, json!({"first_name": "Hacked"})),
        app.patch(&path, &bob, json!({"active": false})),
        app.delete(&path, &bob),
        app.delete(&format!("{path}/sessions"), &bob),
        app.post(&format!("{path}/restore"), &bob, json!({})),
    ] {
        let r = a.send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = app
        .get("/api/users?tenant=beta", &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    let r = create_raw(
        &app,
        &bob,
        json!({"email": "sneaky@example.com", "password": PASSWORD, "first_name": "Sneaky", "tenant": "beta"}),
    )
    .await;
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    assert!(!field(&list(&app, &bob, "").await, "id").contains(&beth));

    // Beth is untouched, as seen from her own tenant.
    let r = app
        .get(&format!("/api/users/{beth}?tenant=beta"), &ada)
        .send()
        .await
        .unwrap();
    let u = expect(r, StatusCode::OK).await;
    assert_eq!(u["first_name"], "Beth");
    assert_eq!(u["status"], "active");
    assert_eq!(u["roles"], json!(["admin"]));
    let beta = app.login("beth@beta.example.com", PASSWORD).await;
    assert_eq!(
        list(&app, &beta, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn deactivating_a_user_who_also_belongs_to_another_tenant_is_forbidden_for_an_admin_of_one() {
    let app = spawn_app().await;
    let ada = app.register_admin().await;
    beta_admin(&app, &ada).await;
    let bob = app.user_with_role(&ada, "bob@example.com", "admin").await;
    let carol = app.create_user(&ada, "carol@example.com", "Carol").await;
    let r = app
        .post(
            "/api/tenants/beta/members",
            &ada,
            json!({"email": "carol@example.com", "roles": ["requester"]}),
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;

    let r = set_active(&app, &bob, &carol, false).await;
    expect_error(r, StatusCode::FORBIDDEN, "user_in_other_tenants").await;
    let r = app
        .delete(&format!("/api/users/{carol}"), &bob)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "user_in_other_tenants").await;
    let u = get_user(&app, &bob, &carol).await;
    assert_eq!(u["status"], "active");
    app.login("carol@example.com", PASSWORD).await;

    // The platform admin administers both tenants.
    expect(set_active(&app, &ada, &carol, false).await, StatusCode::OK).await;
    assert_eq!(get_user(&app, &bob, &carol).await["status"], "inactive");
}

#[tokio::test]
async fn user_search_is_served_by_a_substring_index_on_both_databases() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    app.create_user(&admin, "grace.hopper@navy.example", "Grace")
        .await;
    app.create_user(&admin, "alan@example.com", "Alan").await;
    // Correct results through the index path (3+ characters) and the scan path (2 characters).
    for (term, expected) in [
        ("hopp", vec!["grace.hopper@navy.example"]),
        ("NAVY", vec!["grace.hopper@navy.example"]),
        ("al", vec!["alan@example.com"]),
    ] {
        let body = expect(
            app.get(&format!("/api/users?search={term}"), &admin)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let emails: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, expected, "{term}");
    }
    let mut c = app.state.store.acquire().await.unwrap();
    match c.conn() {
        idbridge::store::Conn::Sqlite(c) => {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
                "EXPLAIN QUERY PLAN SELECT u.id FROM users u WHERE u.rowid IN (SELECT rowid FROM users_search WHERE search_text LIKE '%hopp%')",
            )
            .fetch_all(c)
            .await
            .unwrap();
            assert!(
                plan.iter()
                    .any(|(_, _, _, d)| d.contains("VIRTUAL TABLE INDEX")),
                "{plan:?}"
            );
        }
        idbridge::store::Conn::Postgres(c) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_search_trgm_idx' AND schemaname = current_schema()",
            )
            .fetch_one(c)
            .await
            .unwrap();
            assert_eq!(n, 1);
        }
    }
}

#[tokio::test]
async fn email_check_answers_what_create_would_say_and_only_to_those_who_may_create() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    app.create_user(&platform, "taken@example.com", "Taken")
        .await;
    let other = app.org_admin(&platform, "bcorp").await;
    app.verify_domain(&platform, "bcorp", "b.example").await;
    let check = |s: &Session, email: &str| {
        let app = &app;
        let path = format!(
            "/api/users/email-check?email={}",
            idbridge::engine::url::url_encode(email)
        );
        let s = s.clone();
        async move { app.get(&path, &s).send().await.unwrap() }
    };
    let answer = |r| async { expect(r, StatusCode::OK).await };
    let a = answer(check(&platform, "free@example.com").await).await;
    assert_eq!(a, json!({"available": true, "code": null, "message": ""}));
    for (email, code) in [
        ("Taken@Example.com", "email_taken"),
        ("not an email", "invalid"),
        ("someone@b.example", "domain_owned"),
    ] {
        let a = answer(check(&platform, email).await).await;
        assert_eq!(a["available"], false, "{email}: {a}");
        assert_eq!(a["code"], code, "{email}: {a}");
        assert!(!a["message"].as_str().unwrap().is_empty());
        // And create says the same.
        let r = app
            .post(
                "/api/users",
                &platform,
                json!({"email": email, "password": PASSWORD, "first_name": "Same"}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{email}");
    }
    // The organisation that verified the domain may take it.
    let a = answer(check(&other, "someone@b.example").await).await;
    assert_eq!(a["available"], true, "{a}");
    // Someone who may not create users learns nothing about who exists.
    let requester = app
        .user_with_role(&platform, "req@example.com", "requester")
        .await;
    expect_error(
        check(&requester, "taken@example.com").await,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
}
