//! `App::build(settings)`: data folder and secrets, store and migrations, keys, state,
//! listener (port 0 picks a free one), background housekeeping. Tests and `idbridge serve`
//! both start here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::mail::Mailer;
use crate::auth::password::PasswordHasher;
use crate::auth::verified::VerifiedCache;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::engine::jwt::keys::KeyAlg;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::rbac::cache::RbacCache;
use crate::state::{AppState, Inner};
use crate::store::counters;
use crate::store::{self, Store};
use crate::tokens::keys::{self, KeyPolicy, KeyRing};

pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind)
            .await
            .map_err(|e| {
                Error::internal(format!(
                    "cannot listen on {} ({e}): set server.bind to a free address",
                    settings.server.bind
                ))
            })?;
        let addr = listener.local_addr().map_err(Error::internal)?;
        let state = build_state(settings, clock, addr).await?;
        Ok(Self {
            listener,
            addr,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let watcher = tokio::spawn(watch(self.state.clone()));
        let rotation = tokio::spawn(key_schedule(self.state.clone()));
        let backchannel = tokio::spawn(crate::tokens::backchannel::run(self.state.clone()));
        let saml = tokio::spawn(saml_checks(self.state.clone()));
        let throttle = tokio::spawn(throttle_housekeeping(self.state.clone()));
        let served = axum::serve(
            self.listener,
            crate::http::router::MakeDispatch::new(self.state.clone()),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::internal);
        housekeeping.abort();
        watcher.abort();
        rotation.abort();
        backchannel.abort();
        saml.abort();
        throttle.abort();
        self.state.store.close().await;
        served
    }
}

/// Every minute: the in-memory rate limiters forget addresses that are back to full.
async fn throttle_housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.throttle.housekeep();
    }
}

/// Hourly: SAML metadata refresh (URL-configured connections) and the certificate expiry check.
async fn saml_checks(state: AppState) {
    let period = std::time::Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        period,
    );
    loop {
        tick.tick().await;
        if let Err(e) = crate::sso::saml_sp::check_all(&state).await {
            tracing::warn!(error = %e, "SAML metadata check failed");
        }
    }
}

/// Everything but the listener: used by `serve` and by the CLI commands that need the services.
pub async fn build_state(
    settings: Settings,
    clock: Arc<dyn Clock>,
    bound: SocketAddr,
) -> Result<AppState> {
    prepare_data_dir(&settings)?;
    let master_key = master_key(&settings)?;
    let store = Store::connect(&settings.database_url(), settings.database.max_connections).await?;
    if settings.database.migrate_on_start {
        let ran = store.migrate().await?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database migrated");
        }
    }
    let key_policy = key_policy(&settings);
    let keys = KeyRing::load_or_create(&store, &master_key, &key_policy, clock.now_ms()).await?;
    let generations = store.generations().clone();
    generations.refresh(&store).await?;
    let public_url = settings.public_url(bound);
    let inner = Inner {
        cookie_name: settings.cookie_name(),
        hasher: PasswordHasher::new(&settings.auth, settings.throttle.hash_queue)?,
        throttle: crate::auth::throttle::Throttle::new(&settings.throttle),
        mailer: Mailer::new(&settings.mail)?,
        public_url,
        store,
        clock,
        master_key,
        keys,
        key_policy,
        generations,
        verified: VerifiedCache::new(&settings.forward_auth),
        rbac: RbacCache::default(),
        metrics: Metrics::default(),
        outbound: crate::net::Outbound::new(&settings.outbound, configured_resolver(&settings))?,
        dns: configured_resolver(&settings).unwrap_or_else(crate::net::dns::Resolver::system),
        sso: Default::default(),
        scim_log: Default::default(),
        scim_lists: Default::default(),
        user_stats: Default::default(),
        settings,
    };
    Ok(AppState::new(inner))
}

/// The key lifecycle from settings: retired keys stay published for the longest token lifetime
/// plus a minute of leeway.
pub fn key_policy(s: &Settings) -> KeyPolicy {
    KeyPolicy {
        alg: KeyAlg::parse(&s.keys.algorithm).unwrap_or(KeyAlg::Es256),
        rotation_ms: i64::from(s.keys.rotation_days) * 86_400_000,
        publish_ms: (s.keys.jwks_max_age_secs as i64) * 1000,
        retained_ms: (s.session.access_token_ttl_secs + 60) * 1000,
    }
}

/// Follows the other replicas: re-reads the generation counters (at once on a PostgreSQL
/// notification, else every `forward_auth.revocation_poll_ms`) and reloads the signing keys
/// when they moved.
async fn watch(state: AppState) {
    let poll =
        std::time::Duration::from_millis(state.settings.forward_auth.revocation_poll_ms.max(50));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    // Dropping a `JoinHandle` does not stop its task: the guard aborts the counter watcher
    // when this task is aborted at shutdown, or it would poll a closed pool forever.
    let _watcher = AbortOnDrop(tokio::spawn(counters::watch(
        state.store.clone(),
        state.generations.clone(),
        poll,
        move || {
            let _ = tx.try_send(());
        },
    )));
    while rx.recv().await.is_some() {
        if let Err(e) = state.keys.reload(&state.store, &state.master_key).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the key rotation schedule on every replica (the store lock makes one of them act).
async fn key_schedule(state: AppState) {
    let period = std::time::Duration::from_secs(state.settings.keys.check_interval_secs);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        match keys::maintain(
            &state.store,
            &state.master_key,
            &state.key_policy,
            state.now_ms(),
        )
        .await
        {
            Ok(true) => {
                tracing::info!("signing keys rotated or renewed");
                if let Err(e) = state.keys.reload(&state.store, &state.master_key).await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "signing key maintenance failed"),
        }
    }
}

/// Creates the data folder (0700) when the embedded database or a generated secret lives there.
fn prepare_data_dir(s: &Settings) -> Result<()> {
    let needs = s.database.url.is_empty() || s.secrets.master_key.is_empty();
    if needs && !s.data.dir.exists() {
        std::fs::create_dir_all(&s.data.dir).map_err(|e| {
            Error::internal(format!(
                "cannot create the data folder {} ({e}): set data.dir",
                s.data.dir.display()
            ))
        })?;
        set_mode(&s.data.dir, 0o700);
    }
    Ok(())
}

/// Keeps the bootstrap token for the operator while there are no users: written to
/// `<data>/bootstrap.token` (0600, the data folder created 0700 when missing), or removed once a
/// user exists. Returns the file's path when it was written.
pub fn keep_bootstrap_token(s: &Settings, token: Option<&str>) -> Option<PathBuf> {
    let path = s.bootstrap_token_path();
    let _ = std::fs::remove_file(&path);
    let token = token?;
    if !s.data.dir.exists() {
        std::fs::create_dir_all(&s.data.dir).ok()?;
        set_mode(&s.data.dir, 0o700);
    }
    write_secret(&path, token).ok()?;
    Some(path)
}

/// The master key from config, else `<data>/master.key`, generated (0600) on first start.
fn master_key(s: &Settings) -> Result<MasterKey> {
    if !s.secrets.master_key.is_empty() {
        return MasterKey::from_base64(s.secrets.master_key.expose());
    }
    let path = s.data.dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::internal(format!("cannot read {} ({e})", path.display())))?;
        return MasterKey::from_base64(&text);
    }
    let key = MasterKey::generate();
    write_secret(&path, &key.to_base64())?;
    tracing::info!(path = %path.display(), "generated the master key; back it up: it encrypts the signing keys");
    Ok(key)
}

fn write_secret(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Error::internal(format!("cannot write {} ({e})", path.display())))?;
    f.write_all(contents.as_bytes()).map_err(Error::internal)?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// The resolver named by `dns.resolver`, if any (validated with the settings).
fn configured_resolver(s: &Settings) -> Option<crate::net::dns::Resolver> {
    s.dns
        .resolver
        .parse::<SocketAddr>()
        .ok()
        .map(crate::net::dns::Resolver::new)
}

/// Hourly: delete sessions that ended more than a day ago.
async fn housekeeping(state: AppState) {
    let period = std::time::Duration::from_secs(3600);
    // First run one period after start: nothing is old yet, and tests stop long before.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        let cutoff = state.now_ms() - 24 * 3_600_000;
        let result = async {
            let mut tx = state.store.begin().await?;
            let n = store::sessions::purge(tx.conn(), cutoff).await?;
            store::backchannel::purge_orphans(tx.conn()).await?;
            store::sso::purge_sessions(tx.conn()).await?;
            store::sso::purge_pending(tx.conn(), state.now_ms()).await?;
            store::sso::purge_assertions(tx.conn(), state.now_ms()).await?;
            // Failures older than a day are forgotten; known addresses after 90 days.
            store::throttle::purge(
                tx.conn(),
                state.now_ms() - 24 * 3_600_000,
                state.now_ms() - 90 * 24 * 3_600_000,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(n)
        }
        .await;
        match result {
            Ok(n) if n > 0 => tracing::info!(purged = n, "old sessions deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session housekeeping failed"),
        }
    }
}

/// Whether any user exists (for the first-run hint).
pub async fn has_users(state: &AppState) -> Result<bool> {
    let mut c = state.store.acquire().await?;
    Ok(store::users::count(c.conn()).await? > 0)
}
