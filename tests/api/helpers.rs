//! The test harness: every test gets its own database (a SQLite file, or a fresh PostgreSQL
//! schema when `IDBRIDGE_TEST_DATABASE_URL` is set) and its own app on a random port, started
//! through the same `App::build` as production.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use idbridge::clock::{Clock, FixedClock, SystemClock};
use idbridge::config::{Secret, Settings};
use idbridge::startup::App;
use idbridge::state::AppState;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "Passw0rd-Strong";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub clock: Option<FixedClock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: DbGuard,
}

/// A signed-in caller: access token, session cookie (`name=value`) and user id.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub cookie: String,
    pub user_id: String,
    pub email: String,
}

pub async fn spawn_app() -> TestApp {
    spawn(|_| {}, None).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(configure, None).await
}

/// An app whose clock only moves when the test says so (starts at the wall clock).
pub async fn spawn_app_with_clock() -> TestApp {
    let clock = FixedClock::new(SystemClock.now_ms());
    spawn(|_| {}, Some(clock)).await
}

/// With `IDBRIDGE_TEST_LOG_DIR` set (CI sets it), everything this test process logs at debug
/// goes to a file there, in the binary's JSON format; `scripts/scan-test-logs` then looks
/// through a whole run's logs for every kind of secret the tests create.
fn log_suite_to_file() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::env::var("IDBRIDGE_TEST_LOG_DIR") else {
            return;
        };
        std::fs::create_dir_all(&dir).expect("IDBRIDGE_TEST_LOG_DIR");
        let path = std::path::Path::new(&dir).join(format!(
            "api-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::sync::Arc::new(std::fs::File::create(&path).expect("a test log file"));
        let subscriber = idbridge::logging::subscriber(
            "json",
            tracing_subscriber::EnvFilter::new("debug"),
            move || file.clone(),
            None,
        );
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

async fn spawn(configure: impl FnOnce(&mut Settings), clock: Option<FixedClock>) -> TestApp {
    log_suite_to_file();
    let dir = std::env::temp_dir().join(format!("idbridge-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.data.dir = dir.clone();
    // Cheap hashes keep the suite fast; production defaults are tested in the unit tests.
    settings.auth.argon2_memory_kib = 1024;
    settings.auth.argon2_iterations = 1;
    settings.database.max_connections = 5;
    // The IdPs, metadata servers and back-channel clients of the tests listen on loopback over
    // plain http: a lab deployment. The SSRF tests turn this off (`tests/api/outbound.rs`).
    settings.outbound.allow_private = true;
    // The suite signs in many times from 127.0.0.1 within seconds: the address limits are the
    // throttling tests' to set (tests/api/throttle.rs); the per-account back-off stays on.
    settings.throttle.sign_in_per_minute = 0;
    settings.throttle.auth_failures_per_minute = 0;
    settings.throttle.forgot_password_per_hour = 0;
    settings.throttle.scim_requests_per_second = 0;
    settings.throttle.refusal_delay_ms = 0;
    let (url, schema) = test_database().await;
    settings.database.url = Secret::new(url);
    configure(&mut settings);
    let app = match &clock {
        Some(c) => App::build_with_clock(settings, Arc::new(c.clone()) as Arc<dyn Clock>).await,
        None => App::build(settings).await,
    }
    .expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        base,
        client,
        state,
        clock,
        shutdown: Some(tx),
        _db: DbGuard { dir, schema },
    }
}

/// Where this test's data lives: a SQLite file in the temp dir, or a new PostgreSQL schema.
async fn test_database() -> (String, Option<String>) {
    match std::env::var("IDBRIDGE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            use sqlx::Connection;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
                panic!("IDBRIDGE_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
            sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
                .execute(&mut conn)
                .await
                .ok();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .expect("create schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}options[search_path]={schema}"),
                Some(schema),
            )
        }
        _ => (String::new(), None),
    }
}

struct DbGuard {
    dir: PathBuf,
    schema: Option<String>,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let (Some(schema), Ok(url)) = (
            self.schema.take(),
            std::env::var("IDBRIDGE_TEST_DATABASE_URL"),
        ) {
            // Drop the schema from a separate thread: the test's runtime may be shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    use sqlx::Connection;
                    let mut c = sqlx::PgConnection::connect(&url).await.ok()?;
                    // The test's runtime is blocked in this drop, so a background task of the
                    // app (session housekeeping runs at start) may be frozen inside an open
                    // transaction holding locks in the schema: end those connections first, or
                    // DROP SCHEMA waits forever.
                    sqlx::query(
                        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                         JOIN pg_class c ON c.oid = l.relation \
                         JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&mut c)
                    .await
                    .ok();
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut c)
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, s: &Session) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&s.token)
    }

    pub fn post(&self, path: &str, s: &Session, body: Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(&s.token)
            .json(&body)
    }

    pub fn patch(&self, path: &str, s: &Session, body: Value) -> RequestBuilder {
        self.client
            .patch(self.url(path))
            .bearer_auth(&s.token)
            .json(&body)
    }

    pub fn put(&self, path: &str, s: &Session, body: Value) -> RequestBuilder {
        self.client
            .put(self.url(path))
            .bearer_auth(&s.token)
            .json(&body)
    }

    pub fn delete(&self, path: &str, s: &Session) -> RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(&s.token)
    }

    /// The token `idbridge serve` prints while there are no users.
    pub fn bootstrap_token(&self) -> String {
        idbridge::auth::service::bootstrap_token(&self.state)
    }

    /// The `/metrics` exposition.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Registers the first platform admin (`ada@example.com`, tenant `default`, preset itsm)
    /// and signs in.
    pub async fn register_admin(&self) -> Session {
        let r = self
            .client
            .post(self.url("/api/auth/register"))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace", "bootstrap_token": self.bootstrap_token()}))
            .send()
            .await
            .expect("register");
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "register: {}",
            r.text().await.unwrap_or_default()
        );
        self.login("ada@example.com", PASSWORD).await
    }

    pub async fn try_login(&self, email: &str, password: &str, tenant: Option<&str>) -> Response {
        let mut body = json!({"email": email, "password": password});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        self.client
            .post(self.url("/api/auth/login"))
            .json(&body)
            .send()
            .await
            .expect("login request")
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        self.login_in(email, password, None).await
    }

    pub async fn login_in(&self, email: &str, password: &str, tenant: Option<&str>) -> Session {
        let r = self.try_login(email, password, tenant).await;
        assert_eq!(r.status(), StatusCode::OK, "login {email}");
        session_from(r, email).await
    }

    /// Creates a user in the caller's tenant (no role) and returns its id.
    pub async fn create_user(&self, admin: &Session, email: &str, first: &str) -> String {
        let r = self
            .post(
                "/api/users",
                admin,
                json!({"email": email, "password": PASSWORD, "first_name": first}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "create user {email}");
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a user, gives them `role` in the caller's tenant, and signs them in.
    pub async fn user_with_role(&self, admin: &Session, email: &str, role: &str) -> Session {
        let id = self.create_user(admin, email, "Test").await;
        let r = self
            .post(
                &format!("/api/users/{id}/roles"),
                admin,
                json!({"role": role}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "assign {role}");
        self.login(email, PASSWORD).await
    }

    /// Platform admin creates an organisation.
    pub async fn create_tenant(&self, admin: &Session, slug: &str, preset: &str) -> Value {
        let r = self
            .post(
                "/api/tenants",
                admin,
                json!({"slug": slug, "name": slug, "preset": preset}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "create tenant {slug}");
        r.json().await.unwrap()
    }

    pub async fn can_i(&self, s: &Session, permission: &str) -> Value {
        let r = self
            .get(&format!("/api/rbac/can-i?permission={permission}"), s)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

impl TestApp {
    /// The anti-forgery token idbridge's pages hold for this session (sent as `x-csrf-token`
    /// with a cookie-authorised API write).
    pub fn csrf(&self, s: &Session) -> String {
        self.csrf_for(&s.cookie)
    }

    /// [`Self::csrf`] of a `name=value` session cookie.
    pub fn csrf_for(&self, cookie: &str) -> String {
        let value = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
        idbridge::web::csrf::token(&self.state.master_key, value)
    }
}

/// Reads the token and the session cookie out of a sign-in response.
pub async fn session_from(r: Response, email: &str) -> Session {
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("idbridge_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .expect("a session cookie");
    let body: Value = r.json().await.expect("json body");
    Session {
        token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        user_id: body["user"]["id"].as_str().expect("user id").to_string(),
        cookie,
        email: email.to_string(),
    }
}

/// Asserts the status and returns the JSON body (or Null for empty bodies).
pub async fn expect(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts an `/api` error: status and `error` code.
pub async fn expect_error(r: Response, status: StatusCode, code: &str) -> Value {
    let body = expect(r, status).await;
    assert_eq!(body["error"], code, "error body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a human message: {body}"
    );
    body
}

/// Starts one of the Node.js fixtures in `interop/` (installed by `scripts/test`) on a free
/// loopback port with `IDP_CONFIG`; returns the child (killed on drop) and the base URL from its
/// `READY <url>` line.
pub async fn node_fixture(
    script: &str,
    package: &str,
    config: &serde_json::Value,
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/interop");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules")
            .join(package)
            .exists(),
        "npm {package} is not installed: run scripts/test (it runs `npm ci --prefix interop`)"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(format!("{dir}/{script}"))
        .env("PORT", "0")
        .env("IDP_CONFIG", config.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install Node.js 20+)");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{script} starts within 30 s"))
        .unwrap()
        .expect("a READY line");
    let base = ready
        .strip_prefix("READY ")
        .expect("READY <url>")
        .to_string();
    (child, base)
}

impl TestApp {
    /// A platform admin's new organisation `slug` (preset itsm) with an `admin` there
    /// (`admin@<slug>.test`), signed in to it: a tenant admin, the attacker of most isolation tests.
    pub async fn org_admin(&self, platform: &Session, slug: &str) -> Session {
        self.create_tenant(platform, slug, "itsm").await;
        self.member_with_role(platform, slug, &format!("admin@{slug}.test"), "admin")
            .await
    }

    /// A user created in tenant `slug` with `role` there (`None`: no role), signed in to it.
    pub async fn member_with_role(
        &self,
        by: &Session,
        slug: &str,
        email: &str,
        role: &str,
    ) -> Session {
        let r = self
            .post(
                "/api/users",
                by,
                json!({"email": email, "password": PASSWORD, "first_name": "Member", "tenant": slug}),
            )
            .send()
            .await
            .unwrap();
        let id = expect(r, StatusCode::CREATED).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        if !role.is_empty() {
            let r = self
                .post(
                    &format!("/api/users/{id}/roles"),
                    by,
                    json!({"role": role, "tenant": slug}),
                )
                .send()
                .await
                .unwrap();
            expect(r, StatusCode::CREATED).await;
        }
        self.login_in(email, PASSWORD, Some(slug)).await
    }
}

/// A TCP listener on loopback that counts the connections it accepts (and closes them): the
/// target of requests that must never be made.
pub struct Sink {
    pub port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Sink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(s);
            }
        });
        Self { port, accepted }
    }

    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl TestApp {
    /// Claims `domain` for the organisation of `tenant` and has the platform admin verify it
    /// (`method: admin`): what a connection's `email_domains` and email linking stand on.
    pub async fn verify_domain(&self, platform: &Session, tenant: &str, domain: &str) -> Value {
        let r = self
            .post(
                "/api/domains",
                platform,
                json!({"domain": domain, "tenant": tenant}),
            )
            .send()
            .await
            .unwrap();
        let claim = expect(r, StatusCode::CREATED).await;
        let r = self
            .post(
                &format!("/api/domains/{}/verify", claim["id"].as_str().unwrap()),
                platform,
                json!({"method": "admin"}),
            )
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::OK).await
    }
}

/// A second replica of a test app: another `App` on the same database and master key.
pub struct Replica {
    pub base: String,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl TestApp {
    /// Starts another replica on this app's database (for rules that must hold across them).
    pub async fn replica(&self) -> Replica {
        let mut settings = self.state.settings.clone();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.public_url = String::new();
        let app = App::build(settings).await.expect("the replica builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Replica {
            base,
            state,
            shutdown: Some(tx),
        }
    }
}

/// What the server writes to its log, captured for one test: everything this (single-threaded)
/// test runtime runs logs through it, the server included.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// Captures, until the guard drops, what this test's thread logs at `filter`, in the
    /// binary's own JSON format (`idbridge::logging`).
    pub fn capture(filter: &str) -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Self::default();
        let writer = log.clone();
        let subscriber = idbridge::logging::subscriber(
            "json",
            tracing_subscriber::EnvFilter::new(filter),
            move || writer.clone(),
            None,
        );
        let guard = tracing::subscriber::set_default(subscriber);
        // Callsites that other tests' threads hit first (without a subscriber) cached "never".
        tracing::callsite::rebuild_interest_cache();
        (log, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..100 {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("`{needle}` never logged:\n{}", self.text());
    }
}

/// The idbridge binary (`scripts/serve` runs it), served from an empty folder on its defaults (SQLite, JSON logs), with
/// its stderr collected.
pub struct Binary {
    child: std::process::Child,
    pub base: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    dir: std::path::PathBuf,
}

impl Binary {
    /// `env`: extra settings (`IDBRIDGE_...`).
    pub async fn serve(env: &[(&str, &str)]) -> Self {
        // For the test's own reqwest clients, as the app would install it.
        idbridge::crypto::install_tls_provider();
        use std::io::BufRead;
        let dir =
            std::env::temp_dir().join(format!("idbridge-bin-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("serve")
            .current_dir(&dir)
            .env_remove("IDBRIDGE_TEST_DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("IDBRIDGE_SERVER__BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the idbridge binary starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut bin = Binary {
            child,
            base: String::new(),
            stderr,
            dir,
        };
        for _ in 0..200 {
            // The banner (on stderr whatever the log level): "idbridge 0.1.0 is running at URL".
            let text = bin.text();
            let url = text.lines().find_map(|l| {
                l.split_once(" is running at ")
                    .map(|(_, u)| u.trim().to_string())
            });
            if let Some(url) = url {
                bin.base = url;
                return bin;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("idbridge serve did not start:\n{}", bin.text());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The bootstrap token, from the file the first-run output names (stderr is not a terminal
    /// here, so the token itself is not printed).
    pub fn bootstrap_token(&self) -> String {
        let file = self.dir.join("data/bootstrap.token");
        let text = self.text();
        assert!(
            text.contains(&format!(
                "$(cat {})",
                file.strip_prefix(&self.dir).unwrap().display()
            )),
            "the first-run output names the token's file:\n{text}"
        );
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    }

    /// Creates the first admin over HTTP with the bootstrap token and signs in: the access token.
    pub async fn first_admin(&self, http: &Client) -> String {
        let r = http
            .post(self.url("/api/auth/register"))
            .json(&json!({"bootstrap_token": self.bootstrap_token(), "email": "ada@example.com", "password": PASSWORD, "first_name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        expect(r, StatusCode::OK).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The log lines (the first-run banner on the terminal is not one).
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Stops it the way an orchestrator does (SIGTERM) and waits for the last lines, without
    /// blocking the test's runtime (a peer served there, such as a collector, keeps answering).
    pub async fn stop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) only sends a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
