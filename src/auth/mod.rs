//! Who is calling ([`authenticate`], from the verified-credential cache), local sign-in,
//! sessions, invites, password resets and `/api/me`.

pub mod attempts;
pub mod authenticate;
pub mod bearer;
pub mod handlers;
pub mod invites;
pub mod mail;
pub mod password;
pub mod principal;
pub mod service;
pub mod throttle;
pub mod verified;
