-- Upstream identity providers (issue 4: OIDC; SAML shares the table).
CREATE TABLE sso_connections (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    -- Kind-specific settings as JSON (issuer, client id, scopes, claim names, ...); never secrets.
    config        TEXT NOT NULL,
    -- The client secret sealed with the master key (AES-256-GCM), never returned by the API.
    secret_sealed TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT sso_connections_name_key UNIQUE (tenant_id, name)
);

-- Home-realm discovery: an email domain belongs to at most one connection.
CREATE TABLE sso_domains (
    domain        TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_connection_idx ON sso_domains (connection_id);

-- External identities: (connection, issuer, subject) -> user. Never keyed by email.
CREATE TABLE sso_identities (
    connection_id TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id),
    email         TEXT,
    -- The groups the IdP sent at the last login (JSON array), kept on Entra group overage.
    groups        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, issuer, subject)
);
CREATE INDEX sso_identities_user_idx ON sso_identities (user_id);

-- Sign-ins in flight (state -> what the callback needs), single use, short-lived. The browser
-- binding is the SHA-256 of a pre-auth cookie, so a callback from another browser fails.
CREATE TABLE sso_pending (
    state_hash    TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    binding_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_sealed   TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    return_to     TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sso_pending_expires_idx ON sso_pending (expires_at);
