//! idbridge: an SSO and SCIM identity bridge gateway.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Tests and the binary both start
//! the service through [`startup::App::build`].

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod rbac;
pub mod scim;
pub mod sso;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod web;
