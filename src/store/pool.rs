//! Connections, transactions and the SQLite writer of either backend: what every store
//! function runs on. Opening the store applies the migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

use super::generations::Generations;
use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database and this process's view of its generation counters: a transaction that moved
/// a counter moves the local view at commit (see [`Tx::bump`]).
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    generations: Arc<Generations>,
}

#[derive(Clone, Debug)]
pub(super) enum Db {
    /// The readers' pool and the writer: SQLite has one writer at a time, and writers that
    /// collide inside SQLite sleep in its busy handler (1, 2, 5, 10 ... ms); queueing them here
    /// hands the lock over at once. Every write runs on the writer's one connection, whose page
    /// cache stays warm: a connection that did not make the last write must re-read every page
    /// it touches from the file.
    Sqlite(SqlitePool, Writer),
    Postgres(PgPool),
}

/// SQLite's writer: one connection, taken in turn (a fair queue), with group commit.
///
/// A write transaction is a savepoint inside a SQLite transaction that several requests share
/// while others are queued: each request's work is its own (a failure rolls back to its
/// savepoint), and the last one in line commits for all. Every member returns from `commit` only
/// once that COMMIT is done, with its result; a COMMIT is one WAL append instead of one per
/// request. A group is at most [`GROUP_MAX`] requests or [`GROUP_AGE`] old.
#[derive(Clone, Debug)]
pub struct Writer {
    conn: Arc<tokio::sync::Mutex<WriterConn>>,
    /// Writers queued for the connection.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

const GROUP_MAX: usize = 64;
const GROUP_AGE: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub struct WriterConn {
    conn: SqliteConnection,
    /// The open transaction's group, and whether the savepoint of its last member is open.
    group: Option<Arc<Group>>,
    savepoint: bool,
}

/// The requests in one SQLite transaction; `done` carries the COMMIT's outcome.
#[derive(Debug)]
struct Group {
    done: tokio::sync::watch::Sender<Option<std::result::Result<(), String>>>,
    members: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
}

/// Counts a queued writer until it has its turn or gives up.
struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Writer {
    async fn begin(&self) -> Result<WriteTx> {
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let queued = Queued(&self.waiting);
        // Bounded like SQLite's own busy timeout: a stuck writer is an error, not a hang.
        let mut turn =
            tokio::time::timeout(Duration::from_secs(10), self.conn.clone().lock_owned())
                .await
                .map_err(|_| Error::internal("the database stayed busy for 10 s"))?;
        drop(queued);
        let w = &mut *turn;
        let opening = w.group.is_none();
        let sql = match (opening, w.savepoint) {
            (true, _) => "BEGIN IMMEDIATE; SAVEPOINT w",
            (false, true) => "RELEASE w; SAVEPOINT w",
            (false, false) => "SAVEPOINT w",
        };
        if let Err(e) = sqlx::raw_sql(sql).execute(&mut w.conn).await {
            if opening {
                // BEGIN may have run and SAVEPOINT failed: end it (an error when none is open).
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut w.conn).await;
                w.savepoint = false;
            } else {
                // The shared transaction is unusable: its members learn it at COMMIT.
                finish(w, false).await;
            }
            return Err(e.into());
        }
        if opening {
            w.group = Some(Arc::new(Group {
                done: tokio::sync::watch::channel(None).0,
                members: Default::default(),
                started: std::time::Instant::now(),
            }));
        }
        w.savepoint = true;
        let group = w.group.clone().expect("a group is open");
        group
            .members
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(WriteTx {
            guard: Some(turn),
            writer: self.clone(),
            group,
        })
    }

    /// Whether the holder should leave the transaction open for the next writer in line.
    fn keep_open(&self, g: &Group) -> bool {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0
            && g.members.load(std::sync::atomic::Ordering::SeqCst) < GROUP_MAX
            && g.started.elapsed() < GROUP_AGE
    }
}

/// Ends the open transaction: COMMIT (or ROLLBACK when `commit` is false or COMMIT fails) and
/// tells every member.
async fn finish(w: &mut WriterConn, commit: bool) {
    let outcome = if commit {
        match sqlx::raw_sql("COMMIT").execute(&mut w.conn).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    } else {
        Err("the shared write transaction failed".to_string())
    };
    if outcome.is_err() {
        // A failed COMMIT may have ended the transaction already: then this errors, harmlessly.
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut w.conn).await;
    }
    if let Some(g) = w.group.take() {
        g.done.send_replace(Some(outcome));
    }
    w.savepoint = false;
}

/// A write transaction on the writer connection (see [`Writer`]).
pub struct WriteTx {
    guard: Option<tokio::sync::OwnedMutexGuard<WriterConn>>,
    writer: Writer,
    group: Arc<Group>,
}

impl WriteTx {
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.guard.as_mut().expect("an open write transaction").conn
    }

    async fn commit(mut self) -> Result<()> {
        let mut done = self.group.done.subscribe();
        let mut turn = self.guard.take().expect("an open write transaction");
        if !self.writer.keep_open(&self.group) {
            finish(&mut turn, true).await;
        }
        drop(turn);
        loop {
            if let Some(outcome) = done.borrow_and_update().clone() {
                return outcome.map_err(|e| Error::internal(format!("commit failed: {e}")));
            }
            tokio::select! {
                _ = done.changed() => {}
                // The writer that was queued went away: commit the group here.
                () = tokio::time::sleep(GROUP_AGE) => {
                    let mut w = self.writer.conn.clone().lock_owned().await;
                    if w.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &self.group)) {
                        finish(&mut w, true).await;
                    }
                }
            }
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut turn) = self.guard.take() else {
            return;
        };
        // Undoes this request's work before the turn passes on (the guard moves into the
        // task); the others' work in the group stays and is committed.
        let writer = self.writer.clone();
        let undo = async move {
            let w = &mut *turn;
            match sqlx::raw_sql("ROLLBACK TO w; RELEASE w")
                .execute(&mut w.conn)
                .await
            {
                Ok(_) => {
                    w.savepoint = false;
                    if w.group.as_ref().is_some_and(|g| !writer.keep_open(g)) {
                        finish(w, true).await;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "SQLite rollback to savepoint failed");
                    finish(w, false).await;
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(undo);
            }
            Err(_) => tracing::error!("a SQLite write transaction dropped outside a runtime"),
        }
    }
}

/// A borrowed connection of either backend; store functions take one.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A transaction of either backend, and the generation counters it moved (applied to this
/// process's view when it commits).
pub struct Tx {
    kind: TxKind,
    write: bool,
    /// The counters moved, as bits (`Counter::bit`); see `Tx::bump` (in `stmt`).
    pub(super) moved: u8,
    /// The counters statements of this transaction said they move (`Tx::changing`,
    /// `Tx::exec`): moved at commit.
    pub(super) pending: u8,
    generations: Arc<Generations>,
}

enum TxKind {
    /// A write transaction carries its place in the writer queue until it ends.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    SqliteWrite(WriteTx),
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
    fn new(kind: TxKind, write: bool, generations: &Arc<Generations>) -> Self {
        Tx {
            kind,
            write,
            moved: 0,
            pending: 0,
            generations: generations.clone(),
        }
    }

    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.kind {
            TxKind::Sqlite(t) => Conn::Sqlite(&mut *t),
            TxKind::SqliteWrite(w) => Conn::Sqlite(w.conn()),
            TxKind::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }

    pub async fn commit(mut self) -> Result<()> {
        self.move_pending().await?;
        let Tx {
            kind,
            write,
            moved,
            pending: _,
            generations,
        } = self;
        match kind {
            TxKind::Sqlite(t) => t.commit().await?,
            TxKind::SqliteWrite(w) => w.commit().await?,
            TxKind::Postgres(t) => t.commit().await?,
        }
        if write {
            generations.wrote_here();
        }
        generations.moved_here(moved);
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.kind {
            TxKind::Sqlite(_) | TxKind::SqliteWrite(_) => Backend::Sqlite,
            TxKind::Postgres(_) => Backend::Postgres,
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
    fn new(db: Db) -> Self {
        Store {
            db,
            generations: Arc::default(),
        }
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// This process's view of the generation counters (kept fresh by `counters::watch`).
    pub fn generations(&self) -> &Arc<Generations> {
        &self.generations
    }

    /// Database connections: (in use, idle, most the pool opens). On SQLite, the readers' pool
    /// (the writer is one more connection).
    pub fn pool_stats(&self) -> (u32, u32, u32) {
        let (size, idle, max) = match &self.db {
            Db::Sqlite(p, _) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Db::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), idle, max)
    }

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
                .connect_with(opts.clone())
                .await
                .map_err(|e| Error::internal(format!("cannot open the SQLite database: {e}")))?;
            // Its page cache is the write path's working set: 32 MiB at most. Checkpoints run
            // in the background (below), off the write path; 40 MiB of WAL is the backstop.
            let conn = opts
                .pragma("cache_size", "-32768")
                .pragma("wal_autocheckpoint", "10000")
                .connect()
                .await
                .map_err(|e| Error::internal(format!("cannot open the SQLite database: {e}")))?;
            tokio::spawn(checkpoints(pool.clone()));
            Ok(Store::new(Db::Sqlite(
                pool,
                Writer {
                    conn: Arc::new(tokio::sync::Mutex::new(WriterConn {
                        conn,
                        group: None,
                        savepoint: false,
                    })),
                    waiting: Arc::default(),
                },
            )))
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
            Ok(Store::new(Db::Postgres(pool)))
        }
    }

    pub fn backend(&self) -> Backend {
        match &self.db {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        let (migrator, before) = match &self.db {
            Db::Sqlite(p, _) => (&SQLITE_MIGRATIONS, applied_sqlite(p).await),
            Db::Postgres(p) => (&POSTGRES_MIGRATIONS, applied_pg(p).await),
        };
        match &self.db {
            Db::Sqlite(p, _) => migrator.run(p).await,
            Db::Postgres(p) => migrator.run(p).await,
        }
        .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        Ok(migrator.iter().count().saturating_sub(before))
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        let kind = match &self.db {
            Db::Sqlite(_, writer) => TxKind::SqliteWrite(writer.begin().await?),
            Db::Postgres(p) => TxKind::Postgres(p.begin().await?),
        };
        Ok(Tx::new(kind, true, &self.generations))
    }

    /// A read transaction: a consistent snapshot for multi-query reads.
    pub async fn read(&self) -> Result<Tx> {
        let kind = match &self.db {
            Db::Sqlite(p, _) => TxKind::Sqlite(p.begin().await?),
            Db::Postgres(p) => TxKind::Postgres(p.begin().await?),
        };
        Ok(Tx::new(kind, false, &self.generations))
    }

    /// A plain pooled connection for single-statement reads.
    pub async fn acquire(&self) -> Result<PoolConn> {
        Ok(match &self.db {
            Db::Sqlite(p, _) => PoolConn::Sqlite(p.acquire().await?),
            Db::Postgres(p) => PoolConn::Postgres(p.acquire().await?),
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
        match &self.db {
            Db::Sqlite(p, _) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Copies the WAL into the database file every second, beside the writer rather than inside
/// a commit (PASSIVE: it never waits for the writer or readers).
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "SQLite checkpoint skipped");
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
