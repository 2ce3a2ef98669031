//! Write statements as values: built by the store's functions, run alone or several in one
//! [`Batch`]. SQLite has one writer, and every statement sent to it is a round trip to its
//! worker thread while the writer is held; a batch is one round trip for all of its statements
//! (their `$N` placeholders renumbered into one argument list). On PostgreSQL a run of INSERTs
//! is one statement of data-modifying CTEs (`WITH s0 AS (INSERT ...) INSERT ...`); any other
//! statement runs alone, in order.

use sqlx::AssertSqlSafe;

use super::generations::{CHANNEL, Counter};
use super::pool::{Conn, Db, Store, Tx};
use crate::error::Result;

/// A bind parameter of a dynamic statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
    /// A text column that may be NULL (typed, for PostgreSQL).
    OptText(Option<String>),
    /// An integer column that may be NULL.
    OptInt(Option<i64>),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_string())
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}
impl From<&Option<String>> for Arg {
    fn from(s: &Option<String>) -> Self {
        Arg::OptText(s.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Self {
        Arg::OptText(s.map(str::to_string))
    }
}
impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Self {
        Arg::OptInt(i)
    }
}

/// `args![a, b, ...]`: a statement's arguments, in `$1, $2, ...` order.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::store::stmt::Arg::from($a)),*]
    };
}

/// Binds `$args` in order on a sqlx query.
#[macro_export]
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        use $crate::store::stmt::Arg;
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Bool(b) => q.bind(*b),
                Arg::OptText(s) => q.bind(s.clone()),
                Arg::OptInt(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// `$first, $first+1, ...`: `n` placeholders for an `IN (...)` list.
pub fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One write statement: SQL with `$1..$n` placeholders and their arguments, and the
/// generation counters its change moves.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: String,
    pub args: Vec<Arg>,
    /// [`Counter::bit`]s: whoever runs the statement in a [`Batch`] or through [`Tx::exec`]
    /// moves these counters in the same transaction.
    moves: u8,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, args: Vec<Arg>) -> Self {
        Stmt {
            sql: sql.into(),
            args,
            moves: 0,
        }
    }

    /// Marks a statement whose change invalidates what `counter` guards (the store's
    /// functions that write roles, permissions, assignments, memberships and tenants do so;
    /// the architecture test `store::rbac_writes_tests` holds them to it).
    pub fn moving(mut self, counter: Counter) -> Self {
        self.moves |= counter.bit();
        self
    }

    /// For a statement about a user created in the same transaction: no cache anywhere can
    /// hold anything of that user yet, so no counter needs to move (JIT and SCIM creates, which
    /// come in bursts, keep every replica's caches).
    pub fn for_user_created_here(mut self) -> Self {
        self.moves = 0;
        self
    }

    /// Runs the statement alone; the number of rows it changed. A statement that moves a
    /// counter runs through [`Tx::exec`] instead.
    pub async fn run(&self, c: Conn<'_>) -> Result<u64> {
        debug_assert_eq!(
            self.moves, 0,
            "{} moves a counter: run it with Tx::exec",
            self.sql
        );
        self.execute(c).await
    }

    /// Sends the statement; the counters it moves are the caller's to record.
    async fn execute(&self, c: Conn<'_>) -> Result<u64> {
        Ok(crate::on_conn!(c, |c| bind_all!(
            sqlx::query(AssertSqlSafe(self.sql.as_str())),
            &self.args
        )
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

/// Statements that need nothing back from each other, run together.
#[derive(Debug, Default)]
pub struct Batch {
    stmts: Vec<Stmt>,
    /// Counters bumped: PostgreSQL also notifies the other replicas.
    bumped: Vec<Counter>,
}

impl Batch {
    pub fn push(&mut self, s: Stmt) {
        let moves = s.moves;
        self.stmts.push(s);
        for counter in Counter::ALL {
            if moves & counter.bit() != 0 {
                self.bump_counter(counter);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }

    pub fn extend(&mut self, s: impl IntoIterator<Item = Stmt>) {
        for s in s {
            self.push(s);
        }
    }

    /// Whether PostgreSQL runs the whole batch as one statement (no counter to notify).
    pub fn is_one_statement_on_postgres(&self) -> bool {
        self.bumped.is_empty() && parts(&self.stmts, is_insert).len() == 1
    }

    /// Bumps a generation counter so every replica drops what it cached under the old value;
    /// on PostgreSQL the other replicas are notified (delivered at commit).
    pub fn bump_counter(&mut self, counter: Counter) {
        if !self.bumped.contains(&counter) {
            self.bumped.push(counter);
            self.push(Stmt::new(
                "UPDATE counters SET value = value + 1 WHERE name = $1",
                args![counter.name()],
            ));
        }
    }

    /// The counters this batch moves, as a mask of [`Counter::bit`].
    pub(super) fn moved(&self) -> u8 {
        self.bumped.iter().fold(0, |m, c| m | c.bit())
    }

    /// Runs the batch on `c`. Outside the store, batches run through [`super::Tx::run`] or
    /// [`Store::write`], which apply the counters they move to this process's view at commit.
    pub(super) async fn run(self, c: Conn<'_>) -> Result<()> {
        match c {
            Conn::Sqlite(c) => {
                for part in parts(&self.stmts, |_| true) {
                    let (sql, args) = join(part);
                    bind_all!(sqlx::query(AssertSqlSafe(sql.as_str())), &args)
                        .execute(&mut *c)
                        .await?;
                }
            }
            Conn::Postgres(c) => {
                for part in parts(&self.stmts, is_insert) {
                    let (sql, args) = join_ctes(part);
                    bind_all!(sqlx::query(AssertSqlSafe(sql.as_str())), &args)
                        .execute(&mut *c)
                        .await?;
                }
                for counter in &self.bumped {
                    // Delivered at commit: the other replicas re-read the counters at once.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(counter.name())
                        .execute(&mut *c)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// At most this many statements or arguments go in one round trip: SQLite's limit on bind
/// parameters is 32,766, and a prepared text of a few hundred statements is reused.
const PART_STMTS: usize = 256;
const PART_ARGS: usize = 16_000;

/// The batch cut into round trips of at most [`PART_STMTS`] statements and [`PART_ARGS`]
/// arguments; a statement that is not `joinable` goes alone.
fn parts(stmts: &[Stmt], joinable: impl Fn(&Stmt) -> bool) -> Vec<&[Stmt]> {
    let mut out = Vec::new();
    let (mut from, mut args) = (0, 0);
    for (i, s) in stmts.iter().enumerate() {
        let alone = !joinable(s) || (i > from && !joinable(&stmts[i - 1]));
        if i > from && (alone || i - from == PART_STMTS || args + s.args.len() > PART_ARGS) {
            out.push(&stmts[from..i]);
            (from, args) = (i, 0);
        }
        args += s.args.len();
    }
    if from < stmts.len() {
        out.push(&stmts[from..]);
    }
    out
}

/// PostgreSQL joins only INSERTs (as data-modifying CTEs of one statement): they touch no row
/// another statement of the batch reads or changes, so seeing one snapshot changes nothing.
fn is_insert(s: &Stmt) -> bool {
    s.sql
        .trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("INSERT"))
}

/// Each statement with its `$k` renumbered to `$(k + arguments before it)`, and all the
/// arguments. Quoted text and identifiers are copied as they are.
fn renumber(stmts: &[Stmt]) -> (Vec<String>, Vec<Arg>) {
    let mut out = Vec::with_capacity(stmts.len());
    let mut args = Vec::new();
    for s in stmts {
        let offset = args.len();
        let mut sql = String::with_capacity(s.sql.len() + 8);
        let mut chars = s.sql.chars().peekable();
        let mut quote: Option<char> = None;
        while let Some(ch) = chars.next() {
            match quote {
                Some(q) => {
                    if ch == q {
                        quote = None;
                    }
                    sql.push(ch);
                }
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    sql.push(ch);
                }
                None if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                    let mut n = 0usize;
                    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                        n = n * 10 + d as usize;
                        chars.next();
                    }
                    sql.push('$');
                    sql.push_str(&(n + offset).to_string());
                }
                None => sql.push(ch),
            }
        }
        out.push(sql);
        args.extend(s.args.iter().cloned());
    }
    (out, args)
}

/// SQLite: the statements one after another in one text.
fn join(stmts: &[Stmt]) -> (String, Vec<Arg>) {
    let (texts, args) = renumber(stmts);
    let mut sql = String::new();
    for t in texts {
        sql.push_str(&t);
        sql.push_str(";\n");
    }
    (sql, args)
}

/// PostgreSQL: INSERTs as one statement, `WITH s0 AS (INSERT ...), ... INSERT ...`.
fn join_ctes(stmts: &[Stmt]) -> (String, Vec<Arg>) {
    let (mut texts, args) = renumber(stmts);
    let last = texts.pop().unwrap_or_default();
    let mut sql = String::new();
    for (i, t) in texts.iter().enumerate() {
        sql.push_str(if i == 0 { "WITH " } else { ", " });
        sql.push_str(&format!("s{i} AS ({t})"));
    }
    if !sql.is_empty() {
        sql.push(' ');
    }
    sql.push_str(&last);
    (sql, args)
}

impl Tx {
    /// Moves a generation counter in this transaction (once however often it is called): every
    /// replica drops what it cached under the old value. This process does so at commit, before
    /// `commit` returns, so the next request here sees the change; the others when their
    /// watcher reads the counters (at once on a PostgreSQL notification, else within
    /// `forward_auth.revocation_poll_ms`).
    pub async fn bump(&mut self, counter: Counter) -> Result<()> {
        if self.moved & counter.bit() == 0 {
            let mut b = Batch::default();
            b.bump_counter(counter);
            self.run(b).await?;
        }
        Ok(())
    }

    /// Runs a batch in this transaction (recording the counters it moves).
    pub async fn run(&mut self, batch: Batch) -> Result<()> {
        let moved = batch.moved();
        batch.run(self.conn()).await?;
        self.moved |= moved;
        Ok(())
    }

    /// Runs one statement in this transaction; the counters it moves move at commit.
    pub async fn exec(&mut self, s: &Stmt) -> Result<u64> {
        self.pending |= s.moves;
        s.execute(self.conn()).await
    }

    /// The connection for a statement whose change invalidates what `counter` guards: the
    /// counter moves when this transaction commits (once, however many such statements ran).
    /// The one door for the store's functions that write what cached permissions are compiled
    /// from, so no service can change roles and forget the caches.
    pub fn changing(&mut self, counter: Counter) -> Conn<'_> {
        self.pending |= counter.bit();
        self.conn()
    }

    /// Moves the counters statements marked as pending and not moved yet: the last step
    /// before COMMIT.
    pub(super) async fn move_pending(&mut self) -> Result<()> {
        let due = self.pending & !self.moved;
        if due != 0 {
            let mut b = Batch::default();
            for counter in Counter::ALL {
                if due & counter.bit() != 0 {
                    b.bump_counter(counter);
                }
            }
            self.run(b).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Runs a batch as a transaction of its own. On PostgreSQL a batch that is one statement
    /// (a run of INSERTs) runs without BEGIN and COMMIT: a statement is atomic by itself.
    pub async fn write(&self, batch: Batch) -> Result<()> {
        match self.db() {
            Db::Postgres(p) if batch.is_one_statement_on_postgres() => {
                let mut c = p.acquire().await?;
                batch.run(Conn::Postgres(&mut c)).await?;
                self.generations().wrote_here();
                Ok(())
            }
            _ => {
                let mut tx = self.begin().await?;
                tx.run(batch).await?;
                tx.commit().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_past_the_statements_before() {
        let (sql, args) = join(&[
            Stmt::new("INSERT INTO a (x, y) VALUES ($1, $2)", args!["p", 1i64]),
            Stmt::new(
                "UPDATE b SET z = '$1 stays' WHERE id = $2 AND k = $1 AND \"c$1\" = $10",
                args![true, "q", 3i64, 4i64, 5i64, 6i64, 7i64, 8i64, 9i64, 10i64],
            ),
        ]);
        assert_eq!(
            sql,
            "INSERT INTO a (x, y) VALUES ($1, $2);\n\
             UPDATE b SET z = '$1 stays' WHERE id = $4 AND k = $3 AND \"c$1\" = $12;\n"
        );
        assert_eq!(args.len(), 12);
        assert_eq!(args[2], Arg::Bool(true));
    }

    #[test]
    fn big_batches_are_cut_under_the_limits() {
        let one = Stmt::new("UPDATE t SET n = $1", args![1i64]);
        let many = vec![one; PART_STMTS * 2 + 1];
        let sizes: Vec<usize> = parts(&many, |_| true).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![PART_STMTS, PART_STMTS, 1]);
        let wide = Stmt::new("INSERT", vec![Arg::Int(0); PART_ARGS / 2 + 1]);
        let sizes: Vec<usize> = parts(&[wide.clone(), wide.clone(), wide], |_| true)
            .iter()
            .map(|p| p.len())
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(parts(&[], |_| true).is_empty());
        // On PostgreSQL only runs of INSERTs share a round trip.
        let ins = Stmt::new("INSERT INTO t VALUES ($1)", args![1i64]);
        let upd = Stmt::new("UPDATE t SET n = $1", args![1i64]);
        let mixed = [ins.clone(), ins.clone(), upd.clone(), ins.clone(), upd, ins];
        let sizes: Vec<usize> = parts(&mixed, is_insert).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1, 1]);
        let mut b = Batch::default();
        b.extend([mixed[0].clone(), mixed[1].clone()]);
        assert!(b.is_one_statement_on_postgres());
        b.bump_counter(Counter::Rbac);
        assert!(
            !b.is_one_statement_on_postgres(),
            "an UPDATE and a notify follow"
        );
        let (sql, args) = join_ctes(&mixed[..2]);
        assert_eq!(
            sql,
            "WITH s0 AS (INSERT INTO t VALUES ($1)) INSERT INTO t VALUES ($2)"
        );
        assert_eq!(args.len(), 2);
    }

    #[tokio::test]
    async fn a_batch_runs_every_statement_or_fails_on_the_first_error() {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, note TEXT)")
            .execute(&mut c)
            .await
            .unwrap();
        let mut b = Batch::default();
        b.push(Stmt::new(
            "INSERT INTO t (id, n, note) VALUES ($1, $2, $3)",
            args!["a", 1i64, &None::<String>],
        ));
        b.push(Stmt::new(
            "INSERT INTO t (id, n, note) VALUES ($1, $2, $3)",
            args!["b", 2i64, Some("two")],
        ));
        b.push(Stmt::new(
            "UPDATE t SET n = n + $1 WHERE id = $2",
            args![10i64, "a"],
        ));
        b.run(Conn::Sqlite(&mut c)).await.unwrap();
        let rows: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT id, n, note FROM t ORDER BY id")
                .fetch_all(&mut c)
                .await
                .unwrap();
        assert_eq!(
            rows,
            vec![
                ("a".to_string(), 11, None),
                ("b".to_string(), 2, Some("two".to_string()))
            ]
        );
        // A duplicate key fails the batch with the database's error.
        let mut b = Batch::default();
        b.push(Stmt::new(
            "INSERT INTO t (id, n) VALUES ($1, $2)",
            args!["c", 3i64],
        ));
        b.push(Stmt::new(
            "INSERT INTO t (id, n) VALUES ($1, $2)",
            args!["a", 4i64],
        ));
        let e = b.run(Conn::Sqlite(&mut c)).await.unwrap_err();
        assert!(e.to_string().contains("conflict"), "{e}");
    }
}
