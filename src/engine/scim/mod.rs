//! SCIM 2.0 without HTTP or SQL: the schemas (RFC 7643), resources as JSON, filters and PATCH
//! paths (RFC 7644 §3.4.2.2, §3.5.2) and PATCH itself.

pub mod error;
pub mod filter;
pub mod patch;
pub mod resource;
pub mod schema;
