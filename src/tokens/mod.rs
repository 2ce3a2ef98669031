//! Tokens idbridge issues: signing keys, access-token JWTs, integration tokens.

pub mod api_tokens;
pub mod jwt;
pub mod keys;
