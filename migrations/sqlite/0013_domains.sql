-- Email domains an organisation claims. A domain becomes verified by a DNS TXT record
-- (`idbridge-verification=<token>`) or by a platform admin, for one organisation at a time.
-- Verified domains decide who may link accounts by email, who may create accounts with that
-- domain, and which connection home-realm discovery picks.
CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    domain      TEXT NOT NULL,
    token       TEXT NOT NULL,
    verified_at BIGINT,
    -- `dns`, or `admin:<user id>` for a platform admin's verification.
    verified_by TEXT,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    CONSTRAINT domains_tenant_domain_key UNIQUE (tenant_id, domain)
);
CREATE UNIQUE INDEX domains_verified_key ON domains (domain) WHERE verified_at IS NOT NULL;

-- A connection a platform admin configured (and nobody else changed since): the only kind
-- through which a platform admin's account may sign in.
ALTER TABLE sso_connections ADD COLUMN platform_managed BOOLEAN NOT NULL DEFAULT FALSE;
