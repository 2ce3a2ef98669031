//! `/api/me/preferences`: each person's console layouts, theirs alone, checked whole.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn read(app: &TestApp, s: &Session) -> Value {
    expect(
        app.get("/api/me/preferences", s).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn save(app: &TestApp, s: &Session, doc: Value) -> Value {
    expect(
        app.put("/api/me/preferences", s, doc).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

fn layout(page_size: u32) -> Value {
    json!({"tables": {"users": {
        "columns": [{"id": "name"}, {"id": "email", "width": 240}, {"id": "status", "visible": false}],
        "page_size": page_size,
        "sort": {"column": "last_login", "order": "desc"}}}})
}

#[tokio::test]
async fn preferences_follow_the_person_to_a_new_session_and_stay_theirs_alone() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    assert_eq!(read(&app, &admin).await, json!({"tables": {}}));
    let saved = save(&app, &admin, layout(25)).await;
    assert_eq!(saved["tables"]["users"]["columns"][0]["visible"], true);
    // Another browser: a new sign-in reads the same document.
    let again = app.login(&admin.email, PASSWORD).await;
    assert_eq!(read(&app, &again).await, saved);
    // Through the session cookie too, as the console reads it.
    let by_cookie: Value = app
        .client
        .get(app.url("/api/me/preferences"))
        .header("cookie", &again.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_cookie, saved);

    // Another person, even one the admin outranks, sees and changes only their own.
    let bob = app
        .user_with_role(&admin, "bob@example.com", "requester")
        .await;
    assert_eq!(read(&app, &bob).await, json!({"tables": {}}));
    save(&app, &bob, layout(100)).await;
    assert_eq!(read(&app, &admin).await["tables"]["users"]["page_size"], 25);
    assert_eq!(read(&app, &bob).await["tables"]["users"]["page_size"], 100);
    // A PUT replaces the whole document.
    save(&app, &bob, json!({})).await;
    assert_eq!(read(&app, &bob).await, json!({"tables": {}}));
}

#[tokio::test]
async fn a_bad_document_is_refused_with_its_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    save(&app, &admin, layout(50)).await;
    let before = read(&app, &admin).await;
    for (body, field) in [
        (layout(7), "tables.users.page_size"),
        (
            json!({"tables": {"users": {"columns": [{"id": "name", "width": 5000}]}}}),
            "tables.users.columns[0].width",
        ),
        (
            json!({"tables": {"users": {"columns": [{"id": "a"}, {"id": "a"}]}}}),
            "tables.users.columns[1].id",
        ),
        (json!({"tables": {"users": {}}, "theme": "dark"}), "theme"),
        (json!({"tables": {"<script>": {}}}), "tables"),
        (json!("users"), "preferences"),
    ] {
        let r = app
            .put("/api/me/preferences", &admin, body.clone())
            .send()
            .await
            .unwrap();
        let e = expect_error(r, StatusCode::BAD_REQUEST, "invalid_preferences").await;
        assert_eq!(e["field"], field, "{body}: {e}");
    }
    // Not JSON at all.
    let r = app
        .client
        .put(app.url("/api/me/preferences"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{\"tables\":")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(read(&app, &admin).await, before);
}

#[tokio::test]
async fn preferences_refuse_an_integration_token_a_stranger_and_a_cross_site_write() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .get(app.url("/api/me/preferences"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let token = expect(
        app.post(
            "/api/tokens",
            &admin,
            json!({"name": "ci", "role": "operator"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client
        .put(app.url("/api/me/preferences"))
        .bearer_auth(&token)
        .json(&layout(25))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "user_required").await;
    // A page on another site posting with the admin's cookie.
    let r = app
        .client
        .put(app.url("/api/me/preferences"))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .json(&layout(10))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    assert_eq!(read(&app, &admin).await, json!({"tables": {}}));
}

/// A stored document that no longer parses (a corrupt row) refuses the read and is logged; it
/// is never shown as an empty layout, and a new PUT replaces it.
#[tokio::test]
async fn a_corrupt_stored_document_is_refused_not_read_as_empty() {
    let (log, _guard) = LogBuffer::capture("idbridge=error");
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    save(&app, &admin, layout(25)).await;
    {
        let mut c = app.state.store.acquire().await.unwrap();
        let id = admin.user_id.clone();
        idbridge::on_conn!(c.conn(), |c| sqlx::query(
            r#"UPDATE user_preferences SET preferences = '{"tables": {"users": {"page_size": 3}}}' WHERE user_id = $1"#
        )
        .bind(&id)
        .execute(c)
        .await
        .map(|_| ()))
        .unwrap();
    }
    let r = app.get("/api/me/preferences", &admin).send().await.unwrap();
    expect_error(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    log.wait_for("the stored preferences").await;
    save(&app, &admin, layout(50)).await;
    assert_eq!(read(&app, &admin).await["tables"]["users"]["page_size"], 50);
}
