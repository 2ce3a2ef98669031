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

/// How the caller signed in. A tenant with `password_login: false` refuses the password class
/// (`Password`, `Invite`) by every path (see `rbac::service::compiled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    /// The password set when accepting an invite.
    Invite,
    Sso,
    /// An integration token (no sign-in).
    Token,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Invite => "invite",
            Self::Sso => "sso",
            Self::Token => "token",
        }
    }

    /// A session's stored method; anything unknown counts as a password (the stricter class).
    pub fn parse(s: &str) -> Self {
        match s {
            "sso" => Self::Sso,
            "invite" => Self::Invite,
            _ => Self::Password,
        }
    }

    pub fn is_password(self) -> bool {
        matches!(self, Self::Password | Self::Invite)
    }
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
    pub method: Method,
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
