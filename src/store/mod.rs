//! The only module that touches sqlx.
//!
//! One [`Store`] serves SQLite (embedded default) and PostgreSQL (shared by replicas). Queries
//! are written once, with `$1`-style placeholders that both drivers bind by number, and run
//! through [`on_conn!`], which expands the same body for each backend. Where the SQL must
//! differ, the function matches on [`Conn`] itself.
//!
//! Services open one [`Tx`] per request (SQLite: `BEGIN IMMEDIATE`, so writers queue on the
//! busy timeout instead of failing to upgrade) and commit once; dropping it rolls back.

pub mod audit;
pub mod backchannel;
pub mod keys;
pub mod oauth;
pub mod roles;
pub mod scim;
pub mod sessions;
pub mod sso;
pub mod tenants;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub enum Store {
    /// The pool and the in-process writer queue: SQLite has one writer at a time, and writers
    /// that collide inside SQLite sleep in its busy handler (1, 2, 5, 10 ... ms); queueing them
    /// here hands the lock over at once.
    Sqlite(SqlitePool, Arc<tokio::sync::Mutex<()>>),
    Postgres(PgPool),
}

/// A borrowed connection of either backend; store functions take one.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A transaction of either backend.
pub enum Tx {
    /// A write transaction carries its place in the writer queue until it ends.
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A pooled connection outside a transaction (single-statement reads on hot paths).
pub enum PoolConn {
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    Postgres(sqlx::pool::PoolConnection<Postgres>),
}

/// Runs `$body` with `$c` bound to the backend's `&mut Connection`; the body is written once.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Postgres($c) => $body,
        }
    };
}

impl Conn<'_> {
    /// A shorter-lived borrow, to run several statements on one connection.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t, _) => Conn::Sqlite(&mut *t),
            Tx::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _writer) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

impl PoolConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PoolConn::Sqlite(c) => Conn::Sqlite(&mut *c),
            PoolConn::Postgres(c) => Conn::Postgres(&mut *c),
        }
    }
}

impl Store {
    /// Opens the pool for `url` (creating the SQLite file and its folder when missing).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::internal(format!("database.url: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(parent) = opts.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::internal(format!(
                        "cannot create the database folder {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(2))
                // A ping per checkout is a round trip to the connection's worker thread; a local
                // file cannot drop a connection the way a network peer can.
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(|e| Error::internal(format!("cannot open the SQLite database: {e}")))?;
            Ok(Store::Sqlite(pool, Arc::default()))
        } else {
            let opts = PgConnectOptions::from_str(url).map_err(|e| {
                Error::internal(format!("database.url is not a valid postgres URL: {e}"))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| {
                    Error::internal(format!(
                        "cannot connect to PostgreSQL ({e}); check database.url and that the server is running"
                    ))
                })?;
            Ok(Store::Postgres(pool))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(..) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        let (migrator, before) = match self {
            Store::Sqlite(p, _) => (&SQLITE_MIGRATIONS, applied_sqlite(p).await),
            Store::Postgres(p) => (&POSTGRES_MIGRATIONS, applied_pg(p).await),
        };
        match self {
            Store::Sqlite(p, _) => migrator.run(p).await,
            Store::Postgres(p) => migrator.run(p).await,
        }
        .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        Ok(migrator.iter().count().saturating_sub(before))
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(p, writer) => {
                // Bounded like SQLite's own busy timeout: a stuck writer is an error, not a hang.
                let turn = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    writer.clone().lock_owned(),
                )
                .await
                .map_err(|_| Error::internal("the database stayed busy for 10 s"))?;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read transaction: a consistent snapshot for multi-query reads.
    pub async fn read(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(p, _) => Tx::Sqlite(p.begin().await?, None),
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A plain pooled connection for single-statement reads.
    pub async fn acquire(&self) -> Result<PoolConn> {
        Ok(match self {
            Store::Sqlite(p, _) => PoolConn::Sqlite(p.acquire().await?),
            Store::Postgres(p) => PoolConn::Postgres(p.acquire().await?),
        })
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.acquire().await?;
        on_conn!(c.conn(), |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(p, _) => p.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }
}

async fn applied_sqlite(p: &SqlitePool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(p)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

async fn applied_pg(p: &PgPool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(p)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

/// Reads a generation counter (`rbac`).
pub async fn counter(c: Conn<'_>, name: &str) -> Result<i64> {
    let v = on_conn!(c, |c| sqlx::query_scalar::<_, i64>(
        "SELECT value FROM counters WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(c)
    .await)?;
    Ok(v.unwrap_or(0))
}

/// Bumps a generation counter so every replica drops what it cached under the old value.
pub async fn bump_counter(c: Conn<'_>, name: &str) -> Result<()> {
    match c {
        Conn::Sqlite(c) => {
            sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1")
                .bind(name)
                .execute(c)
                .await?;
        }
        Conn::Postgres(c) => {
            sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1")
                .bind(name)
                .execute(&mut *c)
                .await?;
            // Delivered at commit: the other replicas re-read the counters at once.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::tokens::generations::CHANNEL)
                .bind(name)
                .execute(c)
                .await?;
        }
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Anything that can lend a [`Conn`]: a transaction or a pooled connection.
pub trait AsConn: Send {
    fn conn(&mut self) -> Conn<'_>;
}

impl AsConn for Tx {
    fn conn(&mut self) -> Conn<'_> {
        Tx::conn(self)
    }
}

impl AsConn for PoolConn {
    fn conn(&mut self) -> Conn<'_> {
        PoolConn::conn(self)
    }
}

/// Serialises first-admin registration: PostgreSQL takes a transaction advisory lock; SQLite's
/// `BEGIN IMMEDIATE` already admits one writer.
pub async fn lock_bootstrap(c: Conn<'_>) -> Result<()> {
    if let Conn::Postgres(c) = c {
        sqlx::query("SELECT pg_advisory_xact_lock(7301)")
            .execute(c)
            .await?;
    }
    Ok(())
}
