//! Tokens idbridge issues: signing keys and their rotation, access-token JWTs, integration
//! tokens, and the generation counters replicas watch to learn of changes.

pub mod api_tokens;
pub mod backchannel;
pub mod forward_auth;
pub mod generations;
pub mod handlers;
pub mod jwt;
pub mod keys;
pub mod oauth;
pub mod oidc;
