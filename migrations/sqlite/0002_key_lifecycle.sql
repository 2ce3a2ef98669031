-- Signing keys now live through next -> active -> retired -> expired; replicas reload them
-- when this counter moves.
INSERT INTO counters (name, value) VALUES ('keys', 0);
