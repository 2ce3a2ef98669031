-- OAuth 2.0 / OpenID Connect clients of idbridge's provider, per tenant (tenant_id) or global
-- (tenant_id NULL). Secrets are 256-bit random, stored as SHA-256 only.
CREATE TABLE oauth_clients (
    id                        TEXT PRIMARY KEY,
    tenant_id                 TEXT REFERENCES tenants(id),
    name                      TEXT NOT NULL,
    secret_hash               TEXT,
    confidential              BOOLEAN NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    backchannel_logout_uri    TEXT,
    created_by                TEXT,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);
CREATE INDEX oauth_clients_tenant_idx ON oauth_clients (tenant_id);

-- Revoked access tokens (RFC 7009) until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
