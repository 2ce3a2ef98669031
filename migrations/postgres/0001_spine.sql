-- idbridge spine (PostgreSQL twin of migrations/sqlite/0001): tenants, users, memberships, roles, assignments, groups, sessions, one-time
-- links, tokens, audit, signing keys. Ids are UUID text, times are epoch milliseconds (BIGINT),
-- so that the same SQL runs on SQLite and PostgreSQL. Unique constraints are named: the
-- application turns them into 409s by name (error.rs).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    parent_id   TEXT REFERENCES tenants(id),
    root_id     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    preset      TEXT NOT NULL,
    rbac_tier   TEXT NOT NULL,
    boundary    TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);
CREATE INDEX tenants_parent_idx ON tenants (parent_id);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_norm      TEXT NOT NULL,
    first_name      TEXT NOT NULL,
    last_name       TEXT,
    sort_name       TEXT NOT NULL,
    search_text     TEXT NOT NULL,
    status          TEXT NOT NULL,
    password_hash   TEXT,
    platform_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    session_version BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_login_at   BIGINT,
    deleted_at      BIGINT,
    CONSTRAINT users_email_key UNIQUE (email_norm)
);
CREATE INDEX users_created_idx ON users (created_at, id);
CREATE INDEX users_sort_name_idx ON users (sort_name, id);
CREATE INDEX users_last_login_idx ON users (last_login_at, id);
CREATE INDEX users_status_idx ON users (status);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE roles (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    name_norm    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    builtin      BOOLEAN NOT NULL DEFAULT FALSE,
    is_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    tier         TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT roles_tenant_name_key UNIQUE (tenant_id, name_norm)
);

CREATE TABLE role_permissions (
    role_id         TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission      TEXT NOT NULL,
    scope_tenant_id TEXT NOT NULL DEFAULT '',
    CONSTRAINT role_permissions_pkey PRIMARY KEY (role_id, permission, scope_tenant_id)
);

CREATE TABLE role_assignments (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    role_id     TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    assigned_by TEXT,
    assigned_at BIGINT NOT NULL,
    CONSTRAINT role_assignments_key UNIQUE (user_id, tenant_id, role_id, source)
);
CREATE INDEX role_assignments_tenant_role_idx ON role_assignments (tenant_id, role_id);
CREATE INDEX role_assignments_role_idx ON role_assignments (role_id);

CREATE TABLE groups (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    display_name      TEXT NOT NULL,
    display_name_norm TEXT NOT NULL,
    external_id       TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT groups_tenant_name_key UNIQUE (tenant_id, display_name_norm)
);

CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,
    CONSTRAINT group_members_pkey PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member_idx ON group_members (member_id);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id),
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    session_version BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    revoked_at      BIGINT,
    ip              TEXT,
    user_agent      TEXT,
    CONSTRAINT sessions_token_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    email       TEXT NOT NULL,
    email_norm  TEXT NOT NULL,
    role_id     TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT invites_token_key UNIQUE (token_hash)
);

CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT password_resets_token_key UNIQUE (token_hash)
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    role_id      TEXT REFERENCES roles(id) ON DELETE SET NULL,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT api_tokens_token_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_tenant_name_key UNIQUE (tenant_id, kind, name)
);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    tenant_id   TEXT,
    actor_id    TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    before_json TEXT,
    after_json  TEXT,
    source      TEXT NOT NULL,
    request_id  TEXT
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, at);
CREATE INDEX audit_events_at_idx ON audit_events (at);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    state          TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT
);

-- Generation counters: every replica compares them per request to drop stale caches.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('rbac', 0);

-- At most one active signing key, whatever number of replicas race to create one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

-- Substring search on users (name or email) stays indexed on PostgreSQL.
-- The extension lives in `public` so that every schema (one per test, or per deployment) finds it.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX users_search_trgm_idx ON users USING gin (search_text public.gin_trgm_ops);
