//! Shared web plumbing: the error mapping for `/api`, extractors, middleware, health and
//! metrics endpoints, and the router that mounts every feature's routes.

pub mod access;
pub mod client;
pub mod error;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod page;
pub mod router;

pub use client::ClientInfo;
pub use error::{ApiError, ApiResult};
pub use extract::{AppJson, AppQuery, RequestId};
