//! Single sign-on through each tenant's identity provider: connections, the OIDC relying party,
//! just-in-time users and group -> role mapping. SAML feeds the same `ExternalIdentity`
//! into the same JIT code.

pub mod cache;
pub mod connection;
pub mod connections;
pub mod explain;
pub mod fail;
pub mod handlers;
pub mod jit;
pub mod linking;
pub mod oidc;
pub mod pages;
pub mod saml_sp;
pub mod signin;

/// A verified identity from an upstream IdP, protocol-neutral.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct ExternalIdentity {
    pub connection_id: String,
    pub tenant_id: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// The connection allows linking to an existing user by verified email.
    pub allow_email_linking: bool,
    /// A platform admin configured the connection (and nobody else changed it since).
    #[serde(default)]
    pub platform_managed: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The IdP's groups; `None` when they are unknown this time (Entra overage without an
    /// endpoint): the groups of the last login are kept.
    pub groups: Option<Vec<String>>,
}
