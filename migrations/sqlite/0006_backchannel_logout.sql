-- OpenID Connect Back-Channel Logout 1.0.
-- Which clients received an ID token for which session: they are told when it ends.
CREATE TABLE oidc_client_sessions (
    session_id TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

-- Logout tokens to deliver (an outbox written in the transaction that ends the session, so no
-- ending is lost; every replica's worker claims due rows, retries with backoff, gives up after
-- a bounded number of attempts).
CREATE TABLE backchannel_outbox (
    session_id      TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    uri             TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX backchannel_outbox_due_idx ON backchannel_outbox (next_attempt_at);
