//! Typed, layered settings.
//!
//! Layers, later wins: built-in defaults < `config/default.toml` (when present in the working
//! directory) < `--config FILE` < environment `IDBRIDGE_<SECTION>__<KEY>`. Every secret can also be
//! read from a file named by the matching `*_file` key (`IDBRIDGE_SECRETS__MASTER_KEY_FILE`).
//! Unknown keys are an error that names the key. Secrets never print in `Debug`.
//!
//! Two aliases from the reference platforms are honoured: `SSO_GROUP_ROLE_MAP` and
//! `SSO_JIT_DEFAULT_ROLE` set `sso.group_role_map` and `sso.jit_default_role`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"[redacted]\"")
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub data: DataSettings,
    pub secrets: SecretSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
    pub mail: MailSettings,
    pub sso: SsoSettings,
    pub keys: KeySettings,
    pub forward_auth: ForwardAuthSettings,
    pub outbound: OutboundSettings,
    pub dns: DnsSettings,
    pub throttle: ThrottleSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
}

/// Throttling per route class (429 `rate_limited` with `Retry-After`); 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Sign-in attempts per client address and minute (password sign-in, invite and reset
    /// exchanges, forgot-password), on each replica.
    pub sign_in_per_minute: u32,
    pub sign_in_burst: u32,
    /// Failed password sign-ins of one account from one address before the back-off starts
    /// (1 s, doubling up to `account_max_delay_secs`); kept in the database.
    pub account_free_failures: u32,
    /// Failed sign-ins of one account from all addresses together before the back-off applies
    /// to every address the account has not signed in from before.
    pub account_wide_free_failures: u32,
    pub account_max_delay_secs: u64,
    /// Password-reset requests per email and hour.
    pub forgot_password_per_hour: u32,
    /// Failed client authentications (SCIM bearer tokens, `/oauth2/*` client credentials) per
    /// address and minute.
    pub auth_failures_per_minute: u32,
    /// SCIM requests per token and second (an IdP's client), and the burst above it.
    pub scim_requests_per_second: u32,
    pub scim_burst: u32,
    /// Password hashes that may wait for a free slot (`auth.max_concurrent_hashes`); beyond
    /// this a sign-in is answered 503 `overloaded` at once, so a flood never queues everyone.
    pub hash_queue: usize,
    /// A sign-in refused by the per-address limit is answered after this long (a tarpit, as
    /// nginx `limit_req` delays excess requests): a client that waits for each answer, as
    /// HTTP/1.1 clients do, then sends one attempt per connection and delay instead of
    /// thousands a second. At most `refusal_delay_max_held` refusals wait at once; the ones
    /// beyond are answered at once. 0 answers every refusal at once.
    pub refusal_delay_ms: u64,
    pub refusal_delay_max_held: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            sign_in_per_minute: 30,
            sign_in_burst: 10,
            account_free_failures: 5,
            account_wide_free_failures: 20,
            account_max_delay_secs: 900,
            forgot_password_per_hour: 3,
            auth_failures_per_minute: 60,
            scim_requests_per_second: 200,
            scim_burst: 1000,
            hash_queue: 32,
            refusal_delay_ms: 1000,
            refusal_delay_max_held: 4096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// Allow plain http and loopback/private addresses for every outbound call (IdPs,
    /// metadata, back-channel logout). For tests and labs only: never on a deployment that
    /// tenants configure.
    pub allow_private: bool,
    /// A call (connect, request, answer) is cut off after this long.
    pub timeout_secs: u64,
    /// Answers larger than this are refused.
    pub max_response_bytes: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout_secs: 15,
            max_response_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSettings {
    /// `host:port` of the DNS resolver for domain verification (TXT) and outbound names.
    /// Empty: names resolve through the system; TXT lookups go to the first nameserver of
    /// /etc/resolv.conf.
    pub resolver: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: String,
    /// The URL users and apps reach idbridge at; the token issuer. Empty: `http://<bind>`.
    pub public_url: String,
    /// Drops `Secure` and the `__Host-` prefix from cookies so plain-http localhost works.
    pub insecure_dev_cookies: bool,
    /// Request bodies larger than this are refused with 413.
    pub body_limit_bytes: usize,
    /// Requests taking longer than this are cut off with 408.
    pub request_timeout_secs: u64,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            insecure_dev_cookies: false,
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. Empty: `<data.dir>/idbridge.db`.
    pub url: Secret,
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    /// Run pending migrations at start (`idbridge migrate` does it explicitly).
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            url_file: None,
            max_connections: 10,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// Folder for the SQLite database and generated secrets (created 0700, files 0600).
    pub dir: PathBuf,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// 32 random bytes, base64: encrypts private keys and connection secrets at rest.
    /// Empty: read or generate `<data.dir>/master.key`. Every replica must share it.
    pub master_key: Secret,
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Absolute lifetime of a browser session.
    pub lifetime_secs: i64,
    /// Lifetime of access tokens (JWT).
    pub access_token_ttl_secs: i64,
    /// Cookie name; gets the `__Host-` prefix unless `cookie_domain` is set or cookies are insecure.
    pub cookie_name: String,
    /// Set for apps on sibling subdomains: adds `Domain=` and drops `__Host-`.
    pub cookie_domain: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Access tokens carry a `permissions` claim when its JSON fits in this many bytes (0: never).
    pub max_permissions_claim_bytes: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime_secs: 8 * 3600,
            access_token_ttl_secs: 600,
            cookie_name: "idbridge_session".into(),
            cookie_domain: String::new(),
            audience: "idbridge".into(),
            max_permissions_claim_bytes: 2048,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub invite_ttl_hours: i64,
    pub reset_ttl_minutes: i64,
    /// Preset for the first tenant and for tenants created without one.
    pub default_preset: String,
    /// Argon2id cost: memory in KiB, iterations, lanes (OWASP: 19456 / 2 / 1).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// At most this many password hashes run at once (each takes `argon2_memory_kib`).
    pub max_concurrent_hashes: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            invite_ttl_hours: 72,
            reset_ttl_minutes: 60,
            default_preset: "itsm".into(),
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// `smtp://host:port` (plain or STARTTLS when offered), `smtps://host:port` (implicit TLS).
    /// Empty: mail is off; invite links are returned by the API, and a reset link only by
    /// `POST /api/users/{id}/password-reset-link` to an admin (never to the log).
    pub smtp_url: String,
    pub username: String,
    pub password: Secret,
    pub password_file: Option<PathBuf>,
    pub from: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: None,
            from: "idbridge <no-reply@localhost>".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SsoSettings {
    /// Global IdP group -> role map, `Group:role,Group2:role2` (alias env `SSO_GROUP_ROLE_MAP`).
    pub group_role_map: String,
    /// Role for JIT users whose groups match nothing (alias env `SSO_JIT_DEFAULT_ROLE`).
    pub jit_default_role: String,
    /// SAML connections with an `idp_metadata_url` refetch it this often (0 = never).
    pub saml_metadata_refresh_hours: u32,
}

impl Default for SsoSettings {
    fn default() -> Self {
        Self {
            group_role_map: String::new(),
            jit_default_role: String::new(),
            saml_metadata_refresh_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Algorithm of new signing keys: `ES256` (default), `EdDSA` (Ed25519) or `RS256` (RSA-2048,
    /// signed by aws-lc-rs).
    pub algorithm: String,
    /// An active signing key is replaced this many days after it started signing.
    pub rotation_days: u32,
    /// `Cache-Control: max-age` of `/.well-known/jwks.json`; a next key is published at least
    /// this long before it signs.
    pub jwks_max_age_secs: u64,
    /// How often each replica checks the rotation schedule and the other replicas' changes.
    pub check_interval_secs: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            algorithm: "ES256".into(),
            rotation_days: 30,
            jwks_max_age_secs: 300,
            check_interval_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthSettings {
    /// Response headers carrying the identity (oauth2-proxy's names by default).
    pub user_header: String,
    pub email_header: String,
    pub tenant_header: String,
    pub roles_header: String,
    pub groups_header: String,
    /// Also return a fresh access token in `Authorization: Bearer` for the upstream.
    pub pass_access_token: bool,
    /// Origins (`https://app.example.com`) that `rd` may send the browser back to, besides
    /// idbridge's own.
    pub allowed_redirect_origins: Vec<String>,
    /// Per-upstream rules, each naming the tenant its decision is made in:
    /// `{ host = "admin.example.com", path_prefix = "/admin", tenant = "acme",
    ///    permission = "users:read", audience = "https://admin.example.com" }`.
    pub rules: Vec<ForwardAuthRule>,
    /// How often (milliseconds) each replica re-reads the revocation counters; PostgreSQL
    /// also pushes changes with LISTEN/NOTIFY.
    pub revocation_poll_ms: u64,
}

/// One upstream behind forward auth: requests for `host` (and `path_prefix`) are decided in
/// `tenant` (the caller's membership and roles there; a suspended tenant answers 403).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthRule {
    pub host: String,
    /// Only paths starting with this (default: every path); the longest match wins.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Slug of the tenant the decision is made in.
    pub tenant: String,
    /// A permission the caller must hold there.
    #[serde(default)]
    pub permission: Option<String>,
    /// The upstream's audience: bearer tokens with this `aud` are accepted (no other bearer
    /// token is), and the token passed upstream (`pass_access_token`) carries it. Default for
    /// minted tokens: `https://<host>`.
    #[serde(default)]
    pub audience: Option<String>,
}

impl Default for ForwardAuthSettings {
    fn default() -> Self {
        Self {
            user_header: "X-Auth-Request-User".into(),
            email_header: "X-Auth-Request-Email".into(),
            tenant_header: "X-Auth-Request-Tenant".into(),
            roles_header: "X-Auth-Request-Roles".into(),
            groups_header: "X-Auth-Request-Groups".into(),
            pass_access_token: false,
            allowed_redirect_origins: Vec::new(),
            rules: Vec::new(),
            revocation_poll_ms: 500,
        }
    }
}

impl ForwardAuthSettings {
    /// The rule for a request to `host` (compared without port, ASCII case-insensitively) and
    /// `path`: the one with the longest matching `path_prefix`.
    pub fn rule_for(&self, host: &str, path: &str) -> Option<&ForwardAuthRule> {
        let host = host.split(':').next().unwrap_or(host);
        self.rules
            .iter()
            .filter(|r| r.host.eq_ignore_ascii_case(host))
            .filter(|r| r.path_prefix.as_deref().is_none_or(|p| path.starts_with(p)))
            .max_by_key(|r| r.path_prefix.as_deref().map_or(0, str::len))
    }

    /// Whether `rd` may be redirected to: an absolute http(s) URL on an allowed origin (or
    /// idbridge's own), nothing that a browser could read as another host.
    pub fn redirect_allowed(&self, rd: &str, public_url: &str) -> bool {
        if rd.len() > 2048
            || rd
                .chars()
                .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        {
            return false;
        }
        let Some(rest) = rd
            .strip_prefix("https://")
            .or_else(|| rd.strip_prefix("http://"))
        else {
            return false;
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.is_empty() || authority.contains('@') {
            return false;
        }
        let origin = &rd[..rd.len() - rest.len() + authority_end];
        let own = crate::engine::url::origin_of(public_url);
        origin.eq_ignore_ascii_case(own)
            || self
                .allowed_redirect_origins
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (one object per line) or `pretty`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `idbridge=debug,tower_http=info`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// OpenTelemetry traces over OTLP/HTTP (protobuf), off unless an endpoint is set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// The collector's OTLP/HTTP base URL (`http://otel-collector:4318`); spans go to
    /// `<endpoint>/v1/traces`. Empty: no traces. Set by the operator, so it may be a private
    /// address (the outbound guard is for URLs that tenants set).
    pub otlp_endpoint: String,
    /// `service.name` of the spans.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "idbridge".into(),
        }
    }
}

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads the layered settings. `file` is `--config FILE`.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let default_toml = Path::new("config/default.toml");
        if default_toml.exists() {
            fig = fig.merge(Toml::file(default_toml));
        }
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::ReadFile {
                    path: file.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            fig = fig.merge(Toml::file(file));
        }
        // `IDBRIDGE_TEST_DATABASE_URL` and `IDBRIDGE_TEST_LOG_DIR` belong to the test suite, and
        // `IDBRIDGE_BOOTSTRAP_PASSWORD` to `idbridge bootstrap --password`, not to the settings.
        fig = fig.merge(
            Env::prefixed("IDBRIDGE_")
                .ignore(&["test_database_url", "test_log_dir", "bootstrap_password"])
                .split("__"),
        );
        if let Ok(map) = std::env::var("SSO_GROUP_ROLE_MAP") {
            fig = fig.merge(Serialized::default("sso.group_role_map", map));
        }
        if let Ok(role) = std::env::var("SSO_JIT_DEFAULT_ROLE") {
            fig = fig.merge(Serialized::default("sso.jit_default_role", role));
        }
        let mut settings: Settings = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        settings.resolve_files()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads every `*_file` secret into its value.
    pub fn resolve_files(&mut self) -> Result<(), ConfigError> {
        fn read(path: &Path) -> Result<Secret, ConfigError> {
            std::fs::read_to_string(path)
                .map(|s| Secret::new(s.trim_end_matches(['\n', '\r'])))
                .map_err(|source| ConfigError::ReadFile {
                    path: path.to_path_buf(),
                    source,
                })
        }
        if let Some(p) = self.database.url_file.clone() {
            self.database.url = read(&p)?;
        }
        if let Some(p) = self.secrets.master_key_file.clone() {
            self.secrets.master_key = read(&p)?;
        }
        if let Some(p) = self.mail.password_file.clone() {
            self.mail.password = read(&p)?;
        }
        Ok(())
    }

    /// Checks the values that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "server.bind = {:?} is not an address:port such as 127.0.0.1:8080",
                self.server.bind
            ));
        }
        if !has_prefix(&self.server.public_url, &["http://", "https://"]) {
            return bad(format!(
                "server.public_url = {:?} must start with https:// (or http:// for local use)",
                self.server.public_url
            ));
        }
        let url = self.database.url.expose();
        if !has_prefix(url, &["sqlite:", "postgres://", "postgresql://"]) {
            return bad(
                "database.url must start with sqlite: or postgres:// (the value is not shown: it may hold a password)"
                    .into(),
            );
        }
        if self.session.access_token_ttl_secs < 30 || self.session.access_token_ttl_secs > 3600 {
            return bad("session.access_token_ttl_secs must be between 30 and 3600".into());
        }
        if self.session.lifetime_secs < 60 {
            return bad("session.lifetime_secs must be at least 60".into());
        }
        if !has_prefix(&self.telemetry.otlp_endpoint, &["http://", "https://"]) {
            return bad(format!(
                "telemetry.otlp_endpoint = {:?} must be an http:// or https:// URL such as http://127.0.0.1:4318 (or empty: no traces)",
                self.telemetry.otlp_endpoint
            ));
        }
        if self.throttle.refusal_delay_ms > 10_000 {
            return bad(
                "throttle.refusal_delay_ms must be at most 10000 (a held refusal keeps its connection open)"
                    .into(),
            );
        }
        if !["json", "pretty"].contains(&self.log.format.as_str()) {
            return bad(format!(
                "log.format = {:?}: use \"json\" or \"pretty\"",
                self.log.format
            ));
        }
        if !["ES256", "EdDSA", "RS256"].contains(&self.keys.algorithm.as_str()) {
            return bad(format!(
                "keys.algorithm = {:?}: use \"ES256\", \"EdDSA\" or \"RS256\"",
                self.keys.algorithm
            ));
        }
        if self.keys.rotation_days == 0 || self.keys.check_interval_secs == 0 {
            return bad(
                "keys.rotation_days and keys.check_interval_secs must be at least 1".into(),
            );
        }
        for rule in &self.forward_auth.rules {
            if let Some(p) = &rule.permission
                && crate::domain::PermissionPattern::parse(p).is_err()
            {
                return bad(format!(
                    "forward_auth.rules: `{p}` is not a permission (resource:action)"
                ));
            }
            if crate::domain::Slug::parse(&rule.tenant).is_err() {
                return bad(format!(
                    "forward_auth.rules: host `{}` needs `tenant`, the slug of the tenant its requests are decided in (got {:?})",
                    rule.host, rule.tenant
                ));
            }
            if rule
                .path_prefix
                .as_deref()
                .is_some_and(|p| !p.starts_with('/'))
            {
                return bad(format!(
                    "forward_auth.rules: host `{}`: path_prefix must start with /",
                    rule.host
                ));
            }
            if rule
                .audience
                .as_deref()
                .is_some_and(|a| a.is_empty() || a.len() > 256)
            {
                return bad(format!(
                    "forward_auth.rules: host `{}`: audience must be 1-256 characters",
                    rule.host
                ));
            }
        }
        if !self.dns.resolver.is_empty() && self.dns.resolver.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "dns.resolver = {:?} is not an ip:port such as 127.0.0.1:53",
                self.dns.resolver
            ));
        }
        if self.outbound.max_response_bytes < 1024 {
            return bad("outbound.max_response_bytes must be at least 1024".into());
        }
        if self.auth.max_concurrent_hashes == 0 {
            return bad("auth.max_concurrent_hashes must be at least 1".into());
        }
        if !has_prefix(&self.mail.smtp_url, &["smtp://", "smtps://"]) {
            return bad(format!(
                "mail.smtp_url = {:?} must start with smtp:// or smtps://",
                self.mail.smtp_url
            ));
        }
        Ok(())
    }

    /// The database URL after defaults: SQLite in the data folder when none is set.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose();
        if url.is_empty() {
            format!("sqlite://{}", self.data.dir.join("idbridge.db").display())
        } else {
            url.to_string()
        }
    }

    /// Where `idbridge serve` writes the bootstrap token while there are no users (0600).
    pub fn bootstrap_token_path(&self) -> PathBuf {
        self.data.dir.join("bootstrap.token")
    }

    /// The public URL without a trailing slash.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.server.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The session cookie's full name (with `__Host-` when it may carry it).
    pub fn cookie_name(&self) -> String {
        if self.session.cookie_domain.is_empty() && !self.server.insecure_dev_cookies {
            format!("__Host-{}", self.session.cookie_name)
        } else {
            self.session.cookie_name.clone()
        }
    }
}

/// Empty (unset) or starting with one of `prefixes`.
fn has_prefix(value: &str, prefixes: &[&str]) -> bool {
    value.is_empty() || prefixes.iter().any(|p| value.starts_with(p))
}

fn describe(err: figment::Error) -> String {
    let mut out = Vec::new();
    for e in err {
        let key = if e.path.is_empty() {
            String::new()
        } else {
            e.path.join(".")
        };
        let text = match &e.kind {
            figment::error::Kind::UnknownField(field, expected) => {
                // figment's path already ends with the unknown field when it is nested.
                let full = if key.is_empty() {
                    field.clone()
                } else if key == *field || key.ends_with(&format!(".{field}")) {
                    key.clone()
                } else {
                    format!("{key}.{field}")
                };
                let parent = full.rsplit_once('.').map(|(p, _)| p);
                let name = |k: &str| parent.map_or(k.to_string(), |p| format!("{p}.{k}"));
                let from = match e.metadata.as_ref() {
                    // An unknown section came from a variable that names a key in it as well.
                    Some(m) if m.name.contains("environment") => format!(
                        " (from the environment variable IDBRIDGE_{}{})",
                        full.to_ascii_uppercase().replace('.', "__"),
                        if parent.is_none() { "__..." } else { "" }
                    ),
                    Some(figment::Metadata {
                        source: Some(figment::Source::File(path)),
                        ..
                    }) => format!(" (in {})", path.display()),
                    _ => String::new(),
                };
                let hint = match closest(field, expected) {
                    Some(k) => format!("did you mean `{}`?", name(k)),
                    None if expected.is_empty() => String::new(),
                    None => format!(
                        "the keys there are: {}.",
                        expected
                            .iter()
                            .map(|k| name(k))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                format!(
                    "unknown key `{full}`{from}: {hint} config/default.toml lists every key with its meaning"
                )
            }
            _ if key.is_empty() => e.to_string(),
            _ => format!("`{key}`: {}", e.kind),
        };
        out.push(text);
    }
    out.join("; ")
}

/// The expected key nearest to a misspelt one (at most 2 edits, or a different case), if any.
fn closest<'a>(typed: &str, expected: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    expected
        .iter()
        .map(|k| (edit_distance(&typed, k), *k))
        .filter(|(d, k)| *d <= 2.min(k.len() / 2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"[redacted]\"");
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let fig = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("[server]\nbindd = \"x\"\n"));
        let err = fig.extract::<Settings>().map_err(describe).unwrap_err();
        assert!(err.contains("unknown key `server.bindd`"), "{err}");
        assert!(err.contains("did you mean `server.bind`?"), "{err}");
        assert!(err.contains("config/default.toml lists every key"), "{err}");
    }

    #[test]
    fn an_unknown_key_far_from_any_lists_the_keys_there_are() {
        let fig = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("[session]\nlifetime_forever = 1\n"));
        let err = fig.extract::<Settings>().map_err(describe).unwrap_err();
        assert!(
            err.contains("unknown key `session.lifetime_forever`"),
            "{err}"
        );
        assert!(err.contains("the keys there are: session."), "{err}");
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn the_documented_default_toml_matches_the_built_in_defaults() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
        let loaded: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .extract()
            .unwrap();
        assert_eq!(loaded, Settings::default());
        let text = std::fs::read_to_string(file).unwrap();
        for section in [
            "server",
            "database",
            "data",
            "secrets",
            "session",
            "auth",
            "mail",
            "sso",
            "keys",
            "forward_auth",
            "outbound",
            "dns",
            "throttle",
            "log",
        ] {
            assert!(
                text.contains(&format!("[{section}]")),
                "config/default.toml documents [{section}]"
            );
        }
    }

    #[test]
    fn default_settings_validate() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn redirects_only_to_allowed_origins() {
        let f = ForwardAuthSettings {
            allowed_redirect_origins: vec!["https://app.example.com".into()],
            ..Default::default()
        };
        let own = "https://id.example.com";
        for ok in [
            "https://app.example.com/x?y=1",
            "https://id.example.com/",
            "https://APP.example.com",
        ] {
            assert!(f.redirect_allowed(ok, own), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "javascript:alert(1)",
            "https://app.example.com/\r\nLocation: x",
            "/relative",
            "http://app.example.com",
        ] {
            assert!(!f.redirect_allowed(bad, own), "{bad}");
        }
    }

    #[test]
    fn cookie_name_drops_host_prefix_with_a_domain() {
        let mut s = Settings::default();
        assert_eq!(s.cookie_name(), "__Host-idbridge_session");
        s.session.cookie_domain = "example.com".into();
        assert_eq!(s.cookie_name(), "idbridge_session");
    }
}
