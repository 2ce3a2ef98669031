//! Where a browser may be sent after a sign-in or sign-out: the one check of a redirect target.

use crate::state::AppState;

/// Where a sign-in may continue to: a path on idbridge (not `//host`), or an allow-listed origin.
pub fn safe_rd(s: &AppState, rd: Option<&str>) -> Option<String> {
    let rd = rd?.trim();
    let local = rd.starts_with('/')
        && !rd.starts_with("//")
        && !rd.starts_with("/\\")
        && !rd.chars().any(|c| c.is_control() || c == '\\');
    if local || s.settings.forward_auth.redirect_allowed(rd, &s.public_url) {
        Some(rd.to_string())
    } else {
        None
    }
}
