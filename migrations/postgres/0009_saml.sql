-- SAML (issue 5): assertion ids already consumed, per connection, kept until the assertion
-- expires, so a captured response cannot be posted again on any replica.
CREATE TABLE saml_replay (
    connection_id TEXT NOT NULL REFERENCES sso_connections(id) ON DELETE CASCADE,
    assertion_id  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_replay_expires_idx ON saml_replay (expires_at);

-- The SAML subject of an idbridge session, for single logout in both directions.
ALTER TABLE sso_sessions ADD COLUMN saml_name_id TEXT;
ALTER TABLE sso_sessions ADD COLUMN saml_name_id_format TEXT;
ALTER TABLE sso_sessions ADD COLUMN saml_session_index TEXT;
CREATE INDEX sso_sessions_saml_idx ON sso_sessions (connection_id, saml_name_id);
