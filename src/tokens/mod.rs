//! Tokens idbridge issues: signing keys and their rotation, access-token JWTs, integration
//! tokens, OAuth clients and the OpenID Connect provider, forward auth.

pub mod api_tokens;
pub mod backchannel;
pub mod forward_auth;
pub mod handlers;
pub mod keys;
pub mod oauth;
pub mod protocol;
pub mod provider;
