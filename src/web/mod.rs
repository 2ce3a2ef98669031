//! What a browser touches: the HTML kit every page is built with, the same-origin rule of
//! cookie-authorised writes, redirect targets a sign-in may continue to, and URL helpers.

pub mod cookies;
pub mod csrf;
pub mod html;
pub mod redirect;
pub mod session;
pub mod url;
