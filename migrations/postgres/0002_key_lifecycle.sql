-- Signing keys live through next -> active -> retired -> expired; replicas reload them when
-- `keys` moves. `auth` moves with every session revocation, so forward auth on every replica
-- drops what it had verified.
INSERT INTO counters (name, value) VALUES ('keys', 0);
INSERT INTO counters (name, value) VALUES ('auth', 0);
