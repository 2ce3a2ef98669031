//! Reading the store's generation counters (`auth`, `rbac`, `keys`) into this process's view
//! (`super::generations`), by a background task: PostgreSQL `LISTEN idbridge_changes` wakes it
//! at once, and a short poll (SQLite, or a missed notification) bounds the staleness.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::pool::{Conn, Db, Store};
use crate::error::Result;
use crate::on_conn;

pub use super::generations::{CHANNEL, Counter, Generations};

impl Generations {
    /// Reads every counter once; returns whether any moved.
    pub async fn refresh(&self, store: &Store) -> Result<bool> {
        let mut c = store.acquire().await?;
        let rows = read(c.conn()).await?;
        let mut moved = false;
        for (name, value) in rows {
            let Some(counter) = Counter::parse(&name) else {
                continue;
            };
            // Any change, up or down (a restored backup), is a move.
            if self.seen[counter as usize].swap(value, Ordering::AcqRel) != value {
                self.epochs[counter as usize].fetch_add(1, Ordering::AcqRel);
                moved = true;
            }
        }
        Ok(moved)
    }
}

async fn read(c: Conn<'_>) -> Result<Vec<(String, i64)>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, (String, i64)>(
        "SELECT name, value FROM counters"
    )
    .fetch_all(c)
    .await)?)
}

/// Keeps `g` fresh until the task is aborted: every `poll`, and at once on a PostgreSQL
/// notification. `on_change` runs after a move (reload keys, drop caches).
pub async fn watch(
    store: Store,
    g: Arc<Generations>,
    poll: Duration,
    on_change: impl Fn() + Send + 'static,
) {
    let mut listener = match store.db() {
        Db::Postgres(pool) => match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; falling back to polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no LISTEN connection; falling back to polling");
                None
            }
        },
        Db::Sqlite(..) => None,
    };
    loop {
        match listener.as_mut() {
            Some(l) => {
                // Either a notification or the poll interval, whichever comes first. A lost
                // connection answers at once (`try_recv` reconnects on its next call): wait a
                // poll interval before trying again, or a database outage would spin this loop
                // at full speed, warning on every turn.
                match tokio::time::timeout(poll, l.try_recv()).await {
                    Ok(Ok(Some(_))) | Err(_) => {}
                    Ok(Ok(None) | Err(_)) => tokio::time::sleep(poll).await,
                }
            }
            None => tokio::time::sleep(poll).await,
        }
        match g.refresh(&store).await {
            Ok(true) => on_change(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading generation counters failed"),
        }
    }
}

/// Tells other replicas to look now (PostgreSQL); a no-op on SQLite, where they poll.
pub async fn notify(c: Conn<'_>) -> Result<()> {
    if let Conn::Postgres(c) = c {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(c)
            .await?;
    }
    Ok(())
}
