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
pub mod counters;
pub mod domains;
pub mod generations;
pub mod keys;
pub mod oauth;
mod pool;
pub mod preferences;
pub mod roles;
pub mod scim;
pub mod sessions;
pub mod sso;
pub mod stmt;
pub mod tenants;
pub mod throttle;
pub mod tokens;
mod types;
pub mod users;

pub use generations::Counter;
pub use pool::{
    AsConn, Backend, Conn, PoolConn, Store, Tx, WriteTx, Writer, WriterConn, lock_bootstrap,
};

use crate::error::Result;
use crate::on_conn;

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

#[cfg(test)]
mod group_commit_tests {
    use super::*;

    async fn insert(tx: &mut Tx, name: &str) -> Result<()> {
        on_conn!(tx.conn(), |c| sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, 0)"
        )
        .bind(name)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn exists(store: &Store, name: &str) -> bool {
        let mut c = store.acquire().await.unwrap();
        on_conn!(c.conn(), |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM counters WHERE name = $1"
        )
        .bind(name)
        .fetch_one(c)
        .await)
        .unwrap()
            == 1
    }

    /// Concurrent writers share transactions: each one's work is its own (a failure or a drop
    /// undoes only it), and `commit` returns once the data is visible to other connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_members_commit_or_fail_alone() {
        let dir = std::env::temp_dir().join(format!("idbridge-group-{}", crate::domain::new_id()));
        let url = format!("sqlite:{}", dir.join("db.sqlite").display());
        let store = Store::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..90 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("w{i}");
                let mut tx = store.begin().await.unwrap();
                insert(&mut tx, &name).await.unwrap();
                match i % 3 {
                    // Committed: visible at once to a reader on another connection.
                    0 => {
                        tx.commit().await.unwrap();
                        assert!(
                            exists(&store, &name).await,
                            "{name} committed but not visible"
                        );
                    }
                    // A statement fails (duplicate key), then the request gives up.
                    1 => {
                        assert!(insert(&mut tx, &name).await.is_err());
                        drop(tx);
                    }
                    // Dropped without a commit.
                    _ => drop(tx),
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The turn passes on after a dropped transaction's rollback: take it once more.
        store.begin().await.unwrap().commit().await.unwrap();
        for i in 0..90 {
            assert_eq!(exists(&store, &format!("w{i}")).await, i % 3 == 0, "w{i}");
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
