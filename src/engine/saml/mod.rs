//! Upstream SAML 2.0, the service-provider side, without HTTP: IdP metadata, SP metadata and
//! keys, AuthnRequests, and the response checks.
//!
//! samael (with xmlsec) verifies XML signatures against the configured IdP certificates only, and
//! keeps only the signed content. Its gaps are closed here:
//! - a structural pre-check runs before any XML library sees the input (see [`precheck`]);
//! - a response is rejected when the connection has no IdP certificate;
//! - signature and digest algorithms come from an allow-list;
//! - `Conditions` and `AudienceRestriction` are required;
//! - InResponseTo is checked for unsolicited responses too;
//! - times are checked with the injected clock, on top of samael's own checks;
//! - replay is stopped by the caller's database cache of assertion ids ([`Asserted::id`]).
//!
//! Everything here is synchronous: callers run it on the blocking pool (`spawn_blocking`),
//! because XML-DSig work must not stall the async runtime.

mod logout;
mod metadata;
mod precheck;
mod request;
mod response;
mod shared;

pub use self::logout::*;
pub use self::metadata::*;
pub use self::precheck::*;
pub use self::request::*;
pub use self::response::*;
pub use self::shared::*;

#[cfg(test)]
mod tests;
