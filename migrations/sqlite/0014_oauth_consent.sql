-- Only a client a platform admin marked first-party signs users in without asking them; every
-- other client shows a consent screen listing its scopes, remembered per user, client and tenant.
ALTER TABLE oauth_clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE oauth_consents (
    user_id    TEXT NOT NULL REFERENCES users(id),
    client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    -- The granted scopes, space-separated.
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    CONSTRAINT oauth_consents_pkey PRIMARY KEY (user_id, client_id, tenant_id)
);
