-- SCIM 2.0 (issue 6). A SCIM user is the IdP's directory record in one tenant: its own id, the
-- attributes the IdP pushed (JSON, unknown extensions kept), and the columns filters use. It
-- links to the idbridge user it provisioned (user_id) when it carries a usable email; a record
-- whose email belongs to a user of another tenant stays unlinked (no cross-tenant takeover).
CREATE TABLE scim_users (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    user_id           TEXT REFERENCES users(id),
    user_name         TEXT NOT NULL,
    user_name_norm    TEXT NOT NULL,
    external_id       TEXT,
    display_name_norm TEXT,
    active            BOOLEAN NOT NULL,
    resource          TEXT NOT NULL,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT scim_users_user_name_key UNIQUE (tenant_id, user_name_norm)
);
CREATE INDEX scim_users_tenant_idx ON scim_users (tenant_id, id);
CREATE INDEX scim_users_external_idx ON scim_users (tenant_id, external_id);
CREATE INDEX scim_users_display_idx ON scim_users (tenant_id, display_name_norm);
CREATE INDEX scim_users_modified_idx ON scim_users (tenant_id, updated_at, id);
CREATE INDEX scim_users_created_idx ON scim_users (tenant_id, created_at, id);
CREATE INDEX scim_users_user_idx ON scim_users (user_id);

-- Substring filters (co, sw, ew) on userName: an FTS5 trigram index, kept in step by triggers.
CREATE VIRTUAL TABLE scim_users_search USING fts5(user_name_norm, content = 'scim_users', content_rowid = 'rowid', tokenize = 'trigram');
CREATE TRIGGER scim_users_search_insert AFTER INSERT ON scim_users BEGIN
    INSERT INTO scim_users_search (rowid, user_name_norm) VALUES (new.rowid, new.user_name_norm);
END;
CREATE TRIGGER scim_users_search_delete AFTER DELETE ON scim_users BEGIN
    INSERT INTO scim_users_search (scim_users_search, rowid, user_name_norm) VALUES ('delete', old.rowid, old.user_name_norm);
END;
CREATE TRIGGER scim_users_search_update AFTER UPDATE OF user_name_norm ON scim_users BEGIN
    INSERT INTO scim_users_search (scim_users_search, rowid, user_name_norm) VALUES ('delete', old.rowid, old.user_name_norm);
    INSERT INTO scim_users_search (rowid, user_name_norm) VALUES (new.rowid, new.user_name_norm);
END;

-- Every email value of a SCIM user, lower-cased: `emails.value eq` filters and Entra's
-- uniqueness lookups hit this index whatever the position or type of the email.
CREATE TABLE scim_emails (
    scim_user_id TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    value_norm   TEXT NOT NULL
);
CREATE INDEX scim_emails_value_idx ON scim_emails (tenant_id, value_norm);
CREATE INDEX scim_emails_user_idx ON scim_emails (scim_user_id);

-- SCIM groups live in the spine's groups table; members are SCIM users or groups.
ALTER TABLE groups ADD COLUMN resource TEXT NOT NULL DEFAULT '{}';
ALTER TABLE groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- The display text a client sent with a member, echoed back as sent.
ALTER TABLE group_members ADD COLUMN display TEXT;
CREATE INDEX groups_tenant_idx ON groups (tenant_id, id);
CREATE INDEX groups_external_idx ON groups (tenant_id, external_id);
CREATE INDEX groups_modified_idx ON groups (tenant_id, updated_at, id);
