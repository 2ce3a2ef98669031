//! Shared by the in-process benchmarks (`sso_login`, `saml_acs`): idbridge on SQLite in a
//! temporary folder, and its first admin's access token.

use idbridge::config::Settings;
use idbridge::startup::App;
use serde_json::{Value, json};

/// A running idbridge: its state, base URL and data folder (remove it when done).
pub struct Running {
    pub state: idbridge::state::AppState,
    pub base: String,
    pub dir: std::path::PathBuf,
}

pub async fn start() -> Running {
    start_on(None).await
}

/// As [`start`], on the given database URL (PostgreSQL) instead of the embedded SQLite.
pub async fn start_on(database_url: Option<&str>) -> Running {
    let dir =
        std::env::temp_dir().join(format!("idbridge-bench-{}", uuid::Uuid::new_v4().simple()));
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.insecure_dev_cookies = true;
    settings.data.dir = dir.clone();
    settings.log.level = "error".into();
    // Throughput is measured here, not the per-token SCIM limit (200/s by default).
    settings.throttle.scim_requests_per_second = 0;
    if let Some(url) = database_url {
        settings.database.url = idbridge::config::Secret::new(fresh_schema(url).await);
    }
    let app = App::build(settings).await.unwrap();
    let state = app.state().clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    Running { state, base, dir }
}

/// A new schema for this run (the database may hold anything else); the schemas of earlier runs
/// are dropped first, so at most the last run's data stays behind.
async fn fresh_schema(url: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at the benchmark URL is unreachable: {e}"));
    let old: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'bench\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for s in old {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {s} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        .execute(&mut conn)
        .await
        .ok();
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

/// Registers the first admin and signs in: the access token.
pub async fn admin_token(
    http: &reqwest::Client,
    state: &idbridge::state::AppState,
    base: &str,
) -> String {
    let creds = json!({"email": "ada@example.com", "password": "Passw0rd-Strong", "first_name": "Ada",
        "bootstrap_token": idbridge::auth::service::bootstrap_token(state)});
    http.post(format!("{base}/api/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    let admin: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": "Passw0rd-Strong"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    admin["access_token"].as_str().unwrap().to_string()
}
