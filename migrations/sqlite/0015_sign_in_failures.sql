-- Failed password sign-ins, kept in the database so that the back-off holds across replicas and
-- restarts. `account` is the lower-cased email as typed (known or not: no enumeration);
-- `source` is `ip:<address>` (one client address), `*` (all addresses together), or
-- `ok:<address>` (an address this account signed in from: the account-wide back-off spares it).
CREATE TABLE sign_in_failures (
    account       TEXT NOT NULL,
    source        TEXT NOT NULL,
    failures      BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT sign_in_failures_pkey PRIMARY KEY (account, source)
);
CREATE INDEX sign_in_failures_updated_idx ON sign_in_failures (updated_at);
