//! One integration test binary. Each module covers one surface of the API; every test starts
//! its own app on its own database (see `helpers`).

mod helpers;

mod audit;
mod auth;
mod backchannel;
mod browser;
mod caches;
mod catalog;
mod consent;
mod console;
mod domains;
mod forward_auth;
mod http;
mod import;
mod invites;
mod isolation;
mod jose;
mod keys;
mod loose_ends;
mod nginx;
mod oauth;
mod oidc;
mod openapi;
mod ordering;
mod outbound;
mod preferences;
mod rbac;
mod saml;
mod scim;
mod sso;
mod sso_rogue;
mod structure;
mod tenants;
mod throttle;
mod tokens;
mod users;
