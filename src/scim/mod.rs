//! SCIM 2.0 provisioning (RFC 7643, RFC 7644): identity providers push users and groups to
//! `/scim/v2` (also `/api/scim/v2`) with a per-tenant bearer token; the token decides the tenant
//! and no cookie ever authenticates SCIM.
//!
//! Built so far (issue 6 is in progress): SCIM tokens (`/api/scim/tokens`), the SCIM
//! authentication and error format, and `ServiceProviderConfig`, which advertises only what is
//! built. Users, Groups, filters, PATCH and Bulk are next.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod tokens;

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let scim = discovery::routes();
    Router::new()
        .merge(tokens::routes())
        .nest("/scim/v2", scim.clone())
        .nest("/api/scim/v2", scim)
}
