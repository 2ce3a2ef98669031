//! The per-tenant SCIM request log (`GET /api/scim/log`): the last requests of each tenant,
//! method, path, status and error detail, so an operator can see why Entra or Okta reports a
//! failure. No bodies, no query strings (filters carry user data), no tokens. Kept in memory on
//! the replica that served the request.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Entries kept per tenant.
pub const KEEP: usize = 200;

/// One SCIM request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ScimLogEntry)]
pub struct Entry {
    /// When it was answered.
    #[schema(format = DateTime)]
    pub at: String,
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The SCIM error's detail, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The name of the SCIM token that authenticated it.
    pub token: String,
}

#[derive(Default)]
pub struct Log(Mutex<HashMap<String, VecDeque<Entry>>>);

impl Log {
    pub fn push(&self, tenant_id: &str, e: Entry) {
        if let Ok(mut m) = self.0.lock() {
            let q = m.entry(tenant_id.to_string()).or_default();
            if q.len() >= KEEP {
                q.pop_front();
            }
            q.push_back(e);
        }
    }

    /// Newest first.
    pub fn entries(&self, tenant_id: &str) -> Vec<Entry> {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(tenant_id).map(|q| q.iter().rev().cloned().collect()))
            .unwrap_or_default()
    }
}
