//! Protocol engines: pure functions over parsed input, with no axum, no sqlx and no `AppState`.
//! They take time and randomness as inputs where they need them, so they are tested (and the
//! SCIM parsers fuzzed) without a server. Services call them; they call only `domain`, `crypto`,
//! `error` and each other (a structure test holds that line).

pub mod group_map;
pub mod jwt;
pub mod markup;
pub mod rbac;
pub mod saml;
pub mod scim;
pub mod url;
