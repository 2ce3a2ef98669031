//! `POST /api/users/import`: CSV import, row by row, with a dry run, under the grant rules.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rbac::role_names_of;

async fn import(app: &TestApp, s: &Session, query: &str, csv: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/users/import{query}")))
        .bearer_auth(&s.token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap()
}

async fn report(app: &TestApp, s: &Session, query: &str, csv: &str) -> Value {
    expect(import(app, s, query, csv).await, StatusCode::OK).await
}

fn outcome(r: &Value, email: &str) -> (String, Value) {
    let row = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == email)
        .unwrap_or_else(|| panic!("no row for {email}: {r}"));
    (row["outcome"].as_str().unwrap().to_string(), row.clone())
}

async fn user_id_of(app: &TestApp, s: &Session, email: &str) -> Option<String> {
    let v = expect(
        app.get(&format!("/api/users?search={email}"), s)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .map(|u| u["id"].as_str().unwrap().to_string())
}

const FILE: &str = "email,name,initial_roles
john.doe@example.com,John Doe,\"requester,fulfiller\"
jane.smith@example.com,Jane Smith,
carol@example.com,Carol Existing,requester
not-an-email,Nobody,requester
JOHN.DOE@example.com,John Again,requester
eve@example.com,Eve,\"requester,Wizards\"
dave@globex.test,Dave Elsewhere,requester
";

#[tokio::test]
async fn a_dry_run_reports_what_the_import_then_does_and_a_rerun_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let carol = app.create_user(&admin, "carol@example.com", "Carol").await;
    app.org_admin(&admin, "globex").await;
    app.member_with_role(&admin, "globex", "dave@globex.test", "requester")
        .await;

    let dry = report(&app, &admin, "?dry_run=true", FILE).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["rows"], 7);
    assert_eq!(
        (
            &dry["created"],
            &dry["added"],
            &dry["unchanged"],
            &dry["failed"]
        ),
        (&json!(2), &json!(1), &json!(0), &json!(4)),
        "{dry}"
    );
    let failed: Vec<(String, String)> = dry["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| {
            (
                r["email"].as_str().unwrap().to_string(),
                r["error"]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("not-an-email".to_string(), "invalid_email".to_string()),
            ("JOHN.DOE@example.com".into(), "duplicate_row".into()),
            ("eve@example.com".into(), "role_refused".into()),
            ("dave@globex.test".into(), "other_organisation".into()),
        ]
    );
    assert_eq!(outcome(&dry, "eve@example.com").1["line"], 7);
    // Nothing was written.
    assert_eq!(user_id_of(&app, &admin, "john.doe@example.com").await, None);
    assert!(role_names_of(&app, &admin, &carol).await.is_empty());

    let done = report(&app, &admin, "", FILE).await;
    assert_eq!(done["dry_run"], false);
    for k in [
        "rows",
        "created",
        "added",
        "unchanged",
        "failed",
        "roles_assigned",
    ] {
        assert_eq!(done[k], dry[k], "{k}: the dry run said what the import did");
    }
    let john = user_id_of(&app, &admin, "john.doe@example.com")
        .await
        .expect("john was created");
    assert_eq!(
        role_names_of(&app, &admin, &john).await,
        ["fulfiller", "requester"]
    );
    let assignments = expect(
        app.get(&format!("/api/users/{john}/roles"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        assignments["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["source"] == "csv"),
        "{assignments}"
    );
    assert_eq!(role_names_of(&app, &admin, &carol).await, ["requester"]);
    // A placeholder profile has no password to sign in with.
    expect_error(
        app.try_login("john.doe@example.com", PASSWORD, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
    )
    .await;
    // The person of another organisation was not added.
    assert_eq!(user_id_of(&app, &admin, "dave@globex.test").await, None);
    // The audit trail names the source.
    let audit = expect(
        app.get("/api/audit?action=role.assign", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(audit.to_string().contains("\"source\":\"csv\""), "{audit}");

    let again = report(&app, &admin, "", FILE).await;
    assert_eq!(
        (
            &again["created"],
            &again["added"],
            &again["unchanged"],
            &again["failed"]
        ),
        (&json!(0), &json!(0), &json!(3), &json!(4)),
        "{again}"
    );
    assert_eq!(again["roles_assigned"], 0);
}

#[tokio::test]
async fn an_importer_needs_users_write_and_grants_only_what_they_hold() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let operator = app
        .user_with_role(&admin, "op@example.com", "operator")
        .await;
    let r = import(&app, &operator, "", "email,name\nx@example.com,X\n").await;
    expect_error(r, StatusCode::FORBIDDEN, "permission_denied").await;
    assert_eq!(user_id_of(&app, &admin, "x@example.com").await, None);

    expect(
        app.post(
            "/api/roles",
            &admin,
            json!({"name": "People", "permissions": ["users:write", "users:read", "itsm:*", "knowledge:read"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let people = app.user_with_role(&admin, "hr@example.com", "People").await;
    let r = report(
        &app,
        &people,
        "",
        "email,name,initial_roles\nboss@example.com,Boss,admin\nann@example.com,Ann,requester\n",
    )
    .await;
    let (o, row) = outcome(&r, "boss@example.com");
    assert_eq!(o, "failed");
    assert_eq!(row["error"]["code"], "role_refused", "{row}");
    assert_eq!(outcome(&r, "ann@example.com").0, "created");
    assert_eq!(user_id_of(&app, &admin, "boss@example.com").await, None);
    // Nor on someone who holds more than they do.
    let r = report(
        &app,
        &people,
        "",
        "email,name,initial_roles\nada@example.com,Ada,requester\n",
    )
    .await;
    let (o, row) = outcome(&r, "ada@example.com");
    assert_eq!(
        (o.as_str(), &row["error"]["code"]),
        ("failed", &json!("outranked")),
        "{r}"
    );

    // Another organisation's admin cannot import into this tenant.
    let globex = app.org_admin(&admin, "globex").await;
    let r = import(
        &app,
        &globex,
        "?tenant=default",
        "email,name\nmole@example.com,Mole\n",
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(user_id_of(&app, &admin, "mole@example.com").await, None);
}

#[tokio::test]
async fn a_file_that_is_not_the_import_format_is_refused_whole() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for csv in [
        "mail,fullname\nx@example.com,X\n",
        "email,name,initial_roles\nx@example.com,X,requester\ny@example.com,Y\n",
        "",
    ] {
        let r = import(&app, &admin, "", csv).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_csv").await;
    }
    assert_eq!(user_id_of(&app, &admin, "x@example.com").await, None);
    let r = app
        .client
        .post(app.url("/api/users/import"))
        .bearer_auth(&admin.token)
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // A page on another site posting a file with the admin's cookie.
    let r = app
        .client
        .post(app.url("/api/users/import"))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "text/csv")
        .body("email,name\nx@example.com,X\n")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "csrf").await;
    assert_eq!(user_id_of(&app, &admin, "x@example.com").await, None);
}

/// `idbridge import-users`: the same import from the command line, dry run first, a summary
/// with every failed row, a non-zero exit when a row failed, and a re-run that changes nothing.
#[test]
fn the_import_users_command_dry_runs_imports_reports_failed_rows_and_reruns_to_no_change() {
    let dir = std::env::temp_dir().join(format!("idbridge-imp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .args(args)
            .current_dir(&dir)
            .env_remove("IDBRIDGE_TEST_DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("IDBRIDGE_DATA__DIR", dir.join("data"))
            .env("IDBRIDGE_BOOTSTRAP_PASSWORD", PASSWORD)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, text) = run(&["bootstrap", "--email", "ada@example.com"]);
    assert_eq!(code, Some(0), "{text}");
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        "email,name,initial_roles\n\
         bea@example.com,Bea Smith,requester\n\
         not-an-email,Broken Row,requester\n\
         cyd@example.com,Cyd Jones,\"requester,fulfiller\"\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    let (code, text) = run(&["import-users", file, "--tenant", "default", "--dry-run"]);
    assert_eq!(
        code,
        Some(1),
        "a failed row makes the exit non-zero: {text}"
    );
    assert!(text.contains("line 3: not-an-email:"), "{text}");
    assert!(
        text.contains("dry run: 3 rows in tenant `default`: 2 created, 0 added, 0 unchanged, 1 failed; 3 roles assigned (nothing was written)"),
        "{text}"
    );
    // Nothing was written: the real run creates the same two.
    let (code, text) = run(&["import-users", file, "--tenant", "default"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("3 rows in tenant `default`: 2 created, 0 added, 0 unchanged, 1 failed; 3 roles assigned"), "{text}");
    assert!(text.contains("the other rows were imported"), "{text}");
    // Fixed and run again: the two are unchanged, the fixed row is created.
    std::fs::write(
        &csv,
        "email,name,initial_roles\n\
         bea@example.com,Bea Smith,requester\n\
         dan@example.com,Dan Fixed,requester\n\
         cyd@example.com,Cyd Jones,\"requester,fulfiller\"\n",
    )
    .unwrap();
    let (code, text) = run(&["import-users", file, "--tenant", "default"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("3 rows in tenant `default`: 1 created, 0 added, 2 unchanged, 0 failed; 1 roles assigned"), "{text}");
    // The command acts as an account whose permissions are checked like any caller's.
    let (code, text) = run(&["import-users", file, "--tenant", "nowhere"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("no tenant `nowhere`"), "{text}");
    let (code, text) = run(&[
        "import-users",
        file,
        "--tenant",
        "default",
        "--as",
        "bea@example.com",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("no active account") || text.contains("permission"),
        "{text}"
    );
    let (code, text) = run(&[
        "import-users",
        &format!("{file}.missing"),
        "--tenant",
        "default",
    ]);
    assert_eq!(code, Some(1));
    assert!(text.contains("cannot read"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
