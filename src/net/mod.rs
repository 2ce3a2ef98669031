//! The network edge toward the outside: the guarded outbound HTTP client and the DNS stub
//! resolver it (and domain verification) uses.

pub mod dns;
pub mod outbound;

pub use outbound::{Answer, Outbound, OutboundError};
