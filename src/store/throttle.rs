//! Failed sign-ins per account and client address (the back-off that holds across replicas).

use super::Conn;
use crate::error::Result;
use crate::on_conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureRow {
    pub source: String,
    pub failures: i64,
    pub blocked_until: i64,
}

/// The rows of `account` for these sources.
pub async fn rows(c: Conn<'_>, account: &str, sources: [&str; 3]) -> Result<Vec<FailureRow>> {
    Ok(on_conn!(c, |c| sqlx::query_as::<_, FailureRow>(
        "SELECT source, failures, blocked_until FROM sign_in_failures \
         WHERE account = $1 AND source IN ($2, $3, $4)"
    )
    .bind(account)
    .bind(sources[0])
    .bind(sources[1])
    .bind(sources[2])
    .fetch_all(c)
    .await)?)
}

pub async fn put(
    c: Conn<'_>,
    account: &str,
    source: &str,
    failures: i64,
    blocked_until: i64,
    now: i64,
) -> Result<()> {
    on_conn!(c, |c| {
        sqlx::query(
        "INSERT INTO sign_in_failures (account, source, failures, blocked_until, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account, source) DO UPDATE SET \
         failures = excluded.failures, blocked_until = excluded.blocked_until, updated_at = excluded.updated_at"
    )
    .bind(account)
    .bind(source)
    .bind(failures)
    .bind(blocked_until)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn clear(c: Conn<'_>, account: &str, sources: [&str; 2]) -> Result<()> {
    on_conn!(c, |c| sqlx::query(
        "DELETE FROM sign_in_failures WHERE account = $1 AND source IN ($2, $3)"
    )
    .bind(account)
    .bind(sources[0])
    .bind(sources[1])
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Forgets failures untouched since `failures_before` and known addresses untouched since
/// `known_before` (housekeeping).
pub async fn purge(c: Conn<'_>, failures_before: i64, known_before: i64) -> Result<u64> {
    Ok(on_conn!(c, |c| sqlx::query(
        "DELETE FROM sign_in_failures WHERE (source NOT LIKE 'ok:%' AND updated_at < $1) \
         OR (source LIKE 'ok:%' AND updated_at < $2)"
    )
    .bind(failures_before)
    .bind(known_before)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}
