//! Roles, permissions and decisions.

pub mod cache;
pub mod grant;
pub mod handlers;
pub mod ordering;
pub mod presets;
pub mod roles;
pub mod service;
