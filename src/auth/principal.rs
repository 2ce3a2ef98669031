//! Who is calling: a signed-in user (cookie or access token) or an integration token.

#[derive(Debug, Clone)]
pub enum Actor {
    User {
        id: String,
        email: String,
        name: String,
        platform_admin: bool,
    },
    Token {
        id: String,
        name: String,
        role_id: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    /// The tenant the caller is working in (session tenant, token `tid`, or the token's tenant).
    pub tenant_id: String,
    pub session_id: Option<String>,
    /// Authenticated by the session cookie (state-changing requests then need a same-origin check).
    pub via_cookie: bool,
    /// The RBAC generation seen while authenticating.
    pub rbac_generation: i64,
}

impl Principal {
    pub fn user_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::Token { .. } => None,
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        matches!(
            self.actor,
            Actor::User {
                platform_admin: true,
                ..
            }
        )
    }

    /// Key of the RBAC cache.
    pub fn cache_key(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => id.clone(),
            Actor::Token { id, .. } => format!("token:{id}"),
        }
    }

    /// How the audit log names the caller.
    pub fn label(&self) -> String {
        match &self.actor {
            Actor::User { email, .. } => email.clone(),
            Actor::Token { name, .. } => format!("token:{name}"),
        }
    }
}
