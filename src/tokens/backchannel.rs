//! OpenID Connect Back-Channel Logout 1.0: when an idbridge session ends (logout, "sign out
//! everywhere", deactivation, deletion, SCIM deprovisioning), every client that received an ID
//! token for it and registered a `backchannel_logout_uri` is sent a signed logout token.
//!
//! The revoking transaction writes an outbox row per client (`store::backchannel`), so an ending
//! is never lost to a crash. A worker on every replica delivers due rows: it claims a row
//! (optimistically, so two replicas never both send it), POSTs `logout_token=<JWT>` with a short
//! timeout and no redirects, deletes the row on a 2xx, and otherwise retries with exponential
//! backoff up to `MAX_ATTEMPTS` before giving up with a warning in the log.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::new_id;
use crate::engine::jwt;
use crate::error::Result;
use crate::net::OutboundError;
use crate::state::AppState;
use crate::store;
use crate::store::backchannel::OutboxRow;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const MAX_ATTEMPTS: i64 = 8;
const BATCH: i64 = 32;
/// How long a claimed delivery is reserved for the replica sending it.
const LEASE_MS: i64 = 60_000;
const POLL: Duration = Duration::from_millis(500);

/// The logout token (OIDC Back-Channel Logout §2.4): no `nonce`, an `events` member, `typ`
/// `logout+jwt`, short-lived.
#[derive(Debug, Serialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: Value,
}

pub fn logout_token(s: &AppState, row: &OutboxRow, now_secs: i64) -> Result<String> {
    let claims = LogoutClaims {
        iss: s.public_url.clone(),
        aud: row.client_id.clone(),
        iat: now_secs,
        exp: now_secs + 120,
        jti: new_id(),
        sub: row.user_id.clone(),
        sid: row.session_id.clone(),
        events: json!({ EVENT: {} }),
    };
    jwt::mint_typed(&s.keys, &claims, "logout+jwt")
}

/// Delay before attempt `n + 1` after `n` failures: 5 s, 10 s, 20 s ... capped at 30 min.
fn backoff_ms(attempts: i64) -> i64 {
    (5_000i64 << attempts.clamp(0, 20)).min(1_800_000)
}

/// One pass: delivers what is due. Returns how many were delivered.
pub async fn deliver_due(s: &AppState) -> Result<usize> {
    let now = s.now_ms();
    let due = {
        let mut c = s.store.acquire().await?;
        store::backchannel::due(c.conn(), now, BATCH).await?
    };
    let mut delivered = 0;
    for row in due {
        let claimed = {
            let mut tx = s.store.begin().await?;
            let ok = store::backchannel::claim(tx.conn(), &row, now + LEASE_MS).await?;
            tx.commit().await?;
            ok
        };
        if !claimed {
            continue;
        }
        let attempts = row.attempts + 1;
        let outcome = send(s, &row).await;
        let mut tx = s.store.begin().await?;
        match outcome {
            Ok(()) => {
                store::backchannel::remove(tx.conn(), &row.session_id, &row.client_id).await?;
                delivered += 1;
                s.metrics.count("backchannel_logout_delivered");
            }
            // A URL the outbound rule refuses never becomes acceptable by retrying.
            Err(e) if attempts >= MAX_ATTEMPTS || e.is_refused() => {
                tracing::warn!(client_id = %row.client_id, session_id = %row.session_id, error = %e,
                    attempts, "back-channel logout abandoned: the client did not accept the logout token");
                store::backchannel::remove(tx.conn(), &row.session_id, &row.client_id).await?;
                s.metrics.count("backchannel_logout_abandoned");
            }
            Err(e) => {
                tracing::info!(client_id = %row.client_id, error = %e, attempts,
                    "back-channel logout failed; will retry");
                store::backchannel::reschedule(
                    tx.conn(),
                    &row.session_id,
                    &row.client_id,
                    s.now_ms() + backoff_ms(attempts - 1),
                    &e.to_string(),
                )
                .await?;
                s.metrics.count("backchannel_logout_failed");
            }
        }
        tx.commit().await?;
    }
    Ok(delivered)
}

async fn send(s: &AppState, row: &OutboxRow) -> std::result::Result<(), OutboundError> {
    let token = logout_token(s, row, s.now_ms() / 1000)
        .map_err(|e| OutboundError::Failed(e.to_string()))?;
    let url = s.outbound.check_url(&row.uri)?;
    let a = s
        .outbound
        .send(
            s.outbound
                .request(reqwest::Method::POST, url)
                .timeout(Duration::from_secs(5))
                .header("cache-control", "no-store")
                .form(&[("logout_token", token.as_str())]),
        )
        .await?;
    if a.status.is_success() {
        Ok(())
    } else {
        Err(OutboundError::Failed(format!(
            "the client answered {}",
            a.status.as_u16()
        )))
    }
}

/// The worker loop every replica runs.
pub async fn run(s: AppState) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = deliver_due(&s).await {
            tracing::warn!(error = %e, "back-channel logout pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(0), 5_000);
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(3), 40_000);
        assert_eq!(backoff_ms(30), 1_800_000);
    }
}
