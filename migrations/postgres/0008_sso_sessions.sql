-- Which upstream sign-in an idbridge session came from, for logout at the IdP (OIDC
-- RP-initiated logout: the ID token as id_token_hint, sealed with the master key).
CREATE TABLE sso_sessions (
    session_id      TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    id_token_sealed TEXT,
    created_at      BIGINT NOT NULL
);
