//! The shapes every list of the API shares: a page of items with its cursor, and the `tenant`
//! query parameter that selects the tenant a request works in.

use serde::{Deserialize, Serialize};

/// One page of a list; `next_cursor` is `null` on the last.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Every item in one page (no cursor).
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// The tenant's slug; default: the caller's current tenant.
    pub tenant: Option<String>,
}
